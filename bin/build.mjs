#!/usr/bin/env node
// npm run build: the sources to ESM JavaScript in dist/ and .d.ts in dist/types/ (tsc -p
// tsconfig.build.json), then what the built code reads at run time:
// - dist/bin/segloss.js, the command on the built code (package.json's "bin");
// - the files the sources open next to themselves (the js backend's worker,
//   the benchmark's PyTorch peer);
// - chevrotain bundled into dist/grammar/chevrotain.js (one file loads in a
//   fraction of the time its 600-file ESM build takes; it is then not a dependency);
// - runtime/standalone.ts bundled by esbuild (the module writer's executor,
//   tools/module.ts's standaloneBuildOptions) as dist/src/runtime/standalone.bundle.txt,
//   so the installed package needs neither esbuild nor the TypeScript sources.
// - dist/browser/segloss.js, the browser build (bin/build-browser.mjs: the
//   compiler, the browser runtime, gpu.js's browser build and the library, one
//   ES module; package.json's "./browser").
// - dist/playground/, the playground page built (src/playground/write.ts:
//   esbuild + KaTeX's assets), which `segloss docs` copies beside the catalogue
//   in an installed package (it has no TypeScript sources to bundle).
// The library (losses/) ships once, at the package root: runtime/sources.ts
// finds it beside the nearest package.json above itself.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');

rmSync(DIST, { recursive: true, force: true });
try {
  execFileSync(join(ROOT, 'node_modules', '.bin', process.platform === 'win32' ? 'tsc.cmd' : 'tsc'), ['-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit', shell: process.platform === 'win32' });
} catch (e) {
  console.error(e.status === undefined ? `build: tsc did not run: ${e.message}` : 'build: tsc reported the errors above; nothing was built');
  process.exit(1);
}

const copy = (rel) => { mkdirSync(dirname(join(DIST, rel)), { recursive: true }); cpSync(join(ROOT, rel), join(DIST, rel), { recursive: true }); };
copy('src/runtime/backends/js-worker.mjs');
copy('src/tools/bench/torch_peer.py');

const { buildSync } = await import('esbuild');
// chevrotain as one bundled file in place of grammar/chevrotain.ts's re-export (see that file).
buildSync({ absWorkingDir: ROOT, entryPoints: ['grammar/chevrotain.ts'], bundle: true, format: 'esm', platform: 'node', target: 'node20', minify: true, legalComments: 'eof', outfile: join(DIST, 'grammar', 'chevrotain.js'), allowOverwrite: true, logLevel: 'warning' });
const { PREBUILT_BUNDLE, standaloneBuildOptions } = await import('../dist/src/tools/module.js');
writeFileSync(join(DIST, PREBUILT_BUNDLE), `${buildSync(standaloneBuildOptions(ROOT)).outputFiles[0].text.trim()}\n`);

mkdirSync(join(DIST, 'bin'), { recursive: true });
writeFileSync(join(DIST, 'bin', 'segloss.js'), `#!/usr/bin/env node
// The segloss command, built (npm run build): plain Node on built JavaScript.
await import('../src/cli/main.js');
`);
chmodSync(join(DIST, 'bin', 'segloss.js'), 0o755);

const { buildBrowser } = await import('./build-browser.mjs');
await buildBrowser();

const { PREBUILT: PLAYGROUND, writePlayground } = await import('../dist/src/playground/write.js');
await writePlayground(join(ROOT, PLAYGROUND));
