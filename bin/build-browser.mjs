#!/usr/bin/env node
// The browser build (`segloss/browser`): src/browser.ts bundled by esbuild for
// platform=browser into one ES module, dist/browser/segloss.js, with gpu.js's
// browser build and the library's formulas (losses/*.loss, registered as texts
// before any user code runs). No Node built-in may end up in it: the build
// fails if one does. Runnable on its own (`node bin/build-browser.mjs`); npm run
// build calls it after tsc (the types are dist/types/src/browser.d.ts).
//
//   node bin/build-browser.mjs [--outdir DIR] [--no-minify]
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Bundle the browser entry into `outdir`; returns the written file, its size and the bundle's inputs. */
export async function buildBrowser({ outdir = join(ROOT, 'dist', 'browser'), minify = true } = {}) {
  const losses = join(ROOT, 'losses');
  const library = Object.fromEntries(readdirSync(losses).filter((f) => f.endsWith('.loss')).sort()
    .map((f) => [f.slice(0, -'.loss'.length), readFileSync(join(losses, f), 'utf8')]));
  // The entry registers the library, then is src/browser.ts (ES modules run the imports first, so the
  // registration precedes any importer's code; the library module itself holds no formulas).
  const entry = `import { registerLibrary } from './src/runtime/browser/library.ts';\n` +
    `registerLibrary(${JSON.stringify(library)});\n` +
    `export * from './src/browser.ts';\n`;
  const outfile = join(outdir, 'segloss.js');
  const result = await build({
    stdin: { contents: entry, resolveDir: ROOT, sourcefile: 'segloss-browser.ts', loader: 'ts' },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    outfile,
    minify,
    legalComments: 'eof',
    metafile: true,
    write: false,
    logLevel: 'silent',
  });
  const nodeImports = Object.keys(result.metafile.inputs).filter((p) => p.startsWith('node:') || builtinModules.includes(p.split('/')[0]));
  if (nodeImports.length) throw new Error(`the browser build imports Node built-ins: ${nodeImports.join(', ')}`);
  mkdirSync(outdir, { recursive: true });
  const code = result.outputFiles[0].text;
  writeFileSync(outfile, code);
  return { file: outfile, bytes: Buffer.byteLength(code), inputs: Object.keys(result.metafile.inputs), losses: Object.keys(library).length };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--outdir');
  const r = await buildBrowser({ outdir: at >= 0 ? resolve(args[at + 1]) : undefined, minify: !args.includes('--no-minify') });
  console.log(`${r.file}: ${(r.bytes / 1024).toFixed(0)} KiB, ${r.losses} library losses`);
}
