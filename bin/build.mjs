#!/usr/bin/env node
// npm run build: the sources to ESM JavaScript in dist/ and .d.ts in dist/types/ (tsc -p
// tsconfig.build.json), then what the built code reads at run time:
// - dist/bin/segloss.js, the command on the built code (package.json's "bin");
// - the files the sources open next to themselves (the js backend's worker,
//   the benchmark's PyTorch peer);
// - losses/ as dist/losses/: runtime/sources.ts finds the library two folders
//   above itself (src/runtime/ → the root in the repository, dist/ built);
// - the TypeScript of runtime/standalone.ts and what it imports: the module
//   writer (tools/module.ts) bundles it from there with esbuild (the .d.ts
//   live in dist/types/, so a user's tsc never reads these .ts files).
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');

rmSync(DIST, { recursive: true, force: true });
execFileSync(join(ROOT, 'node_modules', '.bin', process.platform === 'win32' ? 'tsc.cmd' : 'tsc'), ['-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit', shell: process.platform === 'win32' });

const copy = (rel) => { mkdirSync(dirname(join(DIST, rel)), { recursive: true }); cpSync(join(ROOT, rel), join(DIST, rel), { recursive: true }); };
copy('src/runtime/backends/js-worker.mjs');
copy('src/tools/bench/torch_peer.py');
copy('losses');

const { buildSync } = await import('esbuild');
const meta = buildSync({ absWorkingDir: ROOT, entryPoints: ['src/runtime/standalone.ts'], bundle: true, format: 'iife', platform: 'neutral', write: false, metafile: true, logLevel: 'silent' }).metafile;
for (const input of Object.keys(meta.inputs)) copy(input);

mkdirSync(join(DIST, 'bin'), { recursive: true });
writeFileSync(join(DIST, 'bin', 'segloss.js'), `#!/usr/bin/env node
// The segloss command, built (npm run build): our code runs as built JavaScript.
// tsx's CommonJS hook stays for one thing: src/tools/tfjs.ts require()s
// TensorFlow.js's gradient and chained-op side-effect files, which are ESM with
// extensionless imports that plain Node cannot load (the TensorFlow.js oracle
// of check, new and bench needs them).
import { register } from 'tsx/cjs/api';
register();
await import('../src/cli/main.js');
`);
chmodSync(join(DIST, 'bin', 'segloss.js'), 0o755);
