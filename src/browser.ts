// segloss's public API in a browser (`segloss/browser`): the Node API's compile,
// load, value and valueAndGrad (src/index.ts), on the browser's backends: `js`
// (the generated loops on the page's thread or Web Workers) and gpu.js's
// `webgl2`, `webgl`, `webgpu` and `cpu` modes, plus the float64 `reference`.
// Every result names the backend that ran; a backend that cannot start throws
// BackendUnavailable saying why (no silent fallback). The library's formulas
// are bundled (bin/build-browser.mjs registers them); no Node built-in.
//
//   import { load } from 'segloss/browser';
//   const dice = await load('dice', {}, { backend: 'webgl2' });
//   const { value, grad, backend } = await dice.valueAndGrad({ p, g }, [4, 256, 256, 1]);

import { located } from './runtime/checks.ts';
import { compile as compileLoss, load as loadLoss } from './runtime/browser/loss.ts';

export {
  type BrowserBackend, type BrowserCompileOptions, type BrowserGradResult, type BrowserValueResult,
  BROWSER_BACKENDS, BrowserLoss, probeBackends,
} from './runtime/browser/loss.ts';
export { type Inputs } from './runtime/checks.ts';
export { BackendUnavailable } from './runtime/backends/unavailable.ts';
export { libraryNames, librarySource, registerLibrary } from './runtime/browser/library.ts';
export { oneHot } from './runtime/labels.ts';
// The compiler, for tools built on it (printing, plans, the float64 reference interpreter).
export * from './compiler/index.ts';

/** Compile a formula (its text) into a loss; a SeglossError's message says where (file:line:col and the line). */
export const compile: typeof compileLoss = (source, options) => compileLoss(source, options).catch(located);
/** Load a library loss by name; a SeglossError's message says where (file:line:col and the line). */
export const load: typeof loadLoss = (name, params, options) => loadLoss(name, params, options).catch(located);
