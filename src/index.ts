// segloss's public API (Node). Everything a user's program needs: compile a
// formula or load a library loss, run value and gradient on a backend, plug it
// into TensorFlow.js training, and the errors to catch. What is not exported
// here is internal and may move.
//
//   import { load, toTfjs } from './src/index.ts';   // 'segloss' once installed as a package
//   const dice = await load('dice', { smooth_nr: 1e-5 }, { backend: 'js', layout: 'nhwc' });
//   const { value, grad } = await dice.valueAndGrad({ p, g }, [4, 256, 256, 1]);

import { located } from './runtime/checks.ts';
import { compile as compileLoss, load as loadLoss } from './runtime/loss.ts';

export {
  type AutoChoice, type Backend, type CompileOptions, type GradOptions, type GradResult, type Inputs, type ValueResult,
  AUTO_ORDER, BACKENDS, CompiledLoss, measureAuto, pickBackend,
} from './runtime/loss.ts';

/** Compile a formula (its text) into a loss; a SeglossError's message says where (file:line:col and the line). */
export const compile: typeof compileLoss = (source, options) => compileLoss(source, options).catch(located);
/** Load a library loss by name; a SeglossError's message says where (file:line:col and the line). */
export const load: typeof loadLoss = (name, params, options) => loadLoss(name, params, options).catch(located);
export { type SyncValueAndGrad, type TfjsLoss, type ToTfjsOptions, toTfjs } from './runtime/tfjs-bridge.ts';
export { type DeviceLossSource, type TfjsDeviceLoss, type ToTfjsDeviceOptions, toTfjsDevice } from './runtime/tfjs-device.ts';
export { type GpuBackend, BackendUnavailable, GPU_BACKENDS, probeBackends } from './runtime/backends/gpujs.ts';
export { LIBRARY_DIR, catalogue, describeLoss, frontend, frontendFile, libraryNames, readSource } from './runtime/sources.ts';
export { oneHot } from './runtime/labels.ts';
// The compiler, for tools built on it (printing, plans, the float64 reference interpreter).
export * from './compiler/index.ts';
