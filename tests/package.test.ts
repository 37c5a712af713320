// segloss as a package a user installs. `npm pack` (which runs `prepare`, the
// build) makes the tarball; a fresh project in a temporary folder installs it
// with npm itself, offline: `npm ci --offline` on a lockfile that pins the
// tarball and, for its "dependencies", the versions and integrity hashes of
// this repository's lockfile (npm's cache holds those tarballs since this
// checkout's `npm ci`; a plain `npm install --offline` would also need the
// registry's metadata, which the cache lacks: ENOTCACHED). The optional peers
// (gpu.js, webgpu, katex, tfjs-backend-wasm) are not installed, as for a user.
// Then, in that project, as the user would: `import { load } from 'segloss'`,
// `import { toTfjs } from 'segloss/tfjs'`, `npx segloss`, and `tsc --noEmit`
// against the shipped .d.ts.
//
// Oracles: the float64 reference backend of this tree (value and gradient),
// the training loss falling, the check's own comparisons, package.json's
// version, the commands' own registration (the CLI's lazy help table), and
// package.json's peerDependencies (what a missing optional package names).

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SeglossError, compile, load } from '../src/index.ts';

const ROOT = resolve(import.meta.dirname, '..');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string>; peerDependencies: Record<string, string> };
const work = mkdtempSync(join(tmpdir(), 'segloss-package-'));
const project = join(work, 'project');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const SHAPE = [2, 8, 8, 1];
const N = SHAPE.reduce((a, b) => a * b);
// The same numbers in the project's scripts and here.
const P_SRC = 'Float32Array.from({ length: N }, (_, i) => 0.05 + 0.9 * ((i * 37) % 101) / 101)';
const G_SRC = 'Float32Array.from({ length: N }, (_, i) => ((i * 53) % 7) < 3 ? 1 : 0)';

function run(cmd: string, args: string[], cwd = project) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', npm_config_offline: 'true' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  const packs = join(work, 'packs');
  mkdirSync(packs);
  const out = execFileSync('npm', ['pack', '--pack-destination', packs, '--json'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const tarball = join(packs, (JSON.parse(out) as { filename: string }[])[0]!.filename);

  const tgz = `file:${join('..', 'packs', (JSON.parse(out) as { filename: string }[])[0]!.filename)}`;
  // The project's lockfile: segloss from the tarball, and every package this repository installs for
  // its "dependencies" (lockfile entries not marked dev or peer), at the same paths, versions and hashes.
  type Entry = Record<string, unknown> & { dev?: boolean; devOptional?: boolean; peer?: boolean; link?: boolean };
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, Entry> };
  const self = lock.packages['']!;
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', version: '1.0.0', dependencies: { segloss: tgz } },
    'node_modules/segloss': {
      version: PKG.version, resolved: tgz, integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
      dependencies: self.dependencies, peerDependencies: self.peerDependencies, peerDependenciesMeta: self.peerDependenciesMeta, bin: self.bin, engines: self.engines,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path && !entry.dev && !entry.devOptional && !entry.peer && !entry.link) packages[path] = entry;
  }
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module', dependencies: { segloss: tgz } }));
  writeFileSync(join(project, 'package-lock.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages }));
  execFileSync('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: project, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  writeFileSync(join(project, 'value.mjs'), `import { load } from 'segloss';
const shape = ${JSON.stringify(SHAPE)};
const N = ${N};
const p = ${P_SRC};
const g = ${G_SRC};
const dice = await load('dice', {}, { backend: 'js' });
const { value, grad } = await dice.valueAndGrad({ p, g }, shape);
process.stdout.write(JSON.stringify({ value, grad: Array.from(grad) }));
`);
  // A model of one logit per pixel; the loss applies the sigmoid (activation=sigmoid), so the only
  // gradient the graph needs is the bridge's own (tf.customGrad). A model with tfjs layers needs
  // TensorFlow.js's gradients registered, which importing '@tensorflow/tfjs' does.
  writeFileSync(join(project, 'train.mjs'), `import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { load } from 'segloss';
import { toTfjs } from 'segloss/tfjs';
await tf.setBackend('cpu');
const shape = ${JSON.stringify(SHAPE)};
const N = ${N};
const yTrue = tf.tensor4d(${G_SRC}, shape);
const z = tf.variable(tf.zeros(shape));
const fn = await toTfjs(await load('dice', { activation: 'sigmoid' }, { backend: 'js' }));
const opt = tf.train.adam(0.5);
const losses = [];
for (let s = 0; s < 6; s++) losses.push(await fn.trainStep(opt, () => z, yTrue, [z]));
const cost = opt.minimize(() => fn(yTrue, z), true, [z]);
losses.push(cost.dataSync()[0]);
process.stdout.write(JSON.stringify(losses));
`);
  writeFileSync(join(project, 'mine.loss'), `# My loss: Dice plus squared error
use "dice.loss"

loss mine(p: prob, g: target; w = 0.5)
  = w * mean(1 - dice_score(p, g)) + (1 - w) * mean((p - g)^2)
`);
  writeFileSync(join(project, 'types.ts'), `import { type CompiledLoss, SeglossError, compile, load } from 'segloss';
import { type TfjsLoss, toTfjs } from 'segloss/tfjs';
import { type BrowserLoss, compile as compileInPage } from 'segloss/browser';
const inPage: Promise<BrowserLoss> = compileInPage('loss l(p: prob, g: target) = mean((p - g)^2)', { backend: 'js' });
const loss: CompiledLoss = await load('dice', { smooth_nr: 1e-5 }, { backend: 'js' });
const fn: TfjsLoss = await toTfjs(loss);
const r = await loss.valueAndGrad({ p: new Float32Array(4), g: new Float32Array(4) }, [1, 2, 2, 1]);
const v: number = r.value;
const grad: Float32Array | Float64Array = r.grad;
export { compile, fn, v, grad, SeglossError, inPage };
`);
  writeFileSync(join(project, 'types-wrong.ts'), `import { load } from 'segloss';
const n: string = (await load('dice')).valueAndGrad;
export { n };
`);
  const tsconfig = (file: string, skipLibCheck = true) => JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck, types: [] }, files: [file] });
  writeFileSync(join(project, 'tsconfig.json'), tsconfig('types.ts'));
  writeFileSync(join(project, 'tsconfig.libcheck.json'), tsconfig('types.ts', false));
  writeFileSync(join(project, 'tsconfig.wrong.json'), tsconfig('types-wrong.ts'));
  writeFileSync(join(project, 'optional.mjs'), `import { load } from 'segloss';
const out = {};
for (const backend of ['cpu', 'webgpu']) {
  try { await load('dice', {}, { backend }); out[backend] = 'started'; } catch (e) { out[backend] = e.name + ': ' + e.message; }
}
process.stdout.write(JSON.stringify(out));
`);
}, 180_000);

describe('the packed package in a fresh project', () => {
  test("import { load } from 'segloss': Dice's value and gradient on the js backend equal the float64 reference", async () => {
    const r = run(process.execPath, ['value.mjs']);
    expect(r.code, r.err).toBe(0);
    const got = JSON.parse(r.out) as { value: number; grad: number[] };
    const p = new Function('N', `return ${P_SRC}`)(N) as Float32Array;
    const g = new Function('N', `return ${G_SRC}`)(N) as Float32Array;
    const ref = await (await load('dice', {}, { backend: 'reference' })).valueAndGrad({ p, g }, SHAPE);
    // float32 kernels against float64: rounding only (observed ~1e-7 relative).
    expect(Math.abs(got.value - ref.value)).toBeLessThanOrEqual(1e-6 * Math.abs(ref.value));
    const scale = Math.max(...Array.from(ref.grad, Math.abs));
    expect(got.grad).toHaveLength(N);
    expect(Math.max(...got.grad.map((x, i) => Math.abs(x - ref.grad[i]!))) / scale).toBeLessThanOrEqual(1e-5);
  });

  test("import { toTfjs } from 'segloss/tfjs': trainStep (async) and optimizer.minimize (sync) lower the loss", () => {
    const r = run(process.execPath, ['train.mjs']);
    expect(r.code, r.err).toBe(0);
    const losses = JSON.parse(r.out) as number[];
    expect(losses).toHaveLength(7);
    for (let i = 1; i < losses.length; i++) expect(losses[i]!, `step ${i}`).toBeLessThan(losses[i - 1]!);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! / 4);
  });

  test('npx segloss --version prints the package version; check passes on a formula of the project that uses "dice.loss"', () => {
    const v = run('npx', ['--no-install', 'segloss', '--version']);
    expect(v.code, v.err).toBe(0);
    expect(v.out.trim()).toBe(PKG.version);
    const c = run('npx', ['--no-install', 'segloss', 'check', 'mine.loss']);
    expect(c.code, c.err).toBe(0);
    expect(c.out).toMatch(/^mine +binary-2d +\S+ +kernels \(js\)/m);
    expect(c.out).toContain('1 losses, 9 comparisons: 9 ok, 0 mismatched\n');
  });

  test('only the dependencies are installed: the optional peers are absent, and the features that need them say which package to install', () => {
    const modules = join(project, 'node_modules');
    expect(existsSync(join(modules, 'segloss', 'dist', 'src', 'index.js'))).toBe(true);
    // segloss/browser: the one-file browser build (tests/browser.test.ts runs it in Chromium).
    expect(existsSync(join(modules, 'segloss', 'dist', 'browser', 'segloss.js'))).toBe(true);
    for (const dep of Object.keys(PKG.dependencies)) expect(existsSync(join(modules, dep, 'package.json')), dep).toBe(true);
    for (const peer of Object.keys(PKG.peerDependencies)) expect(existsSync(join(modules, peer)), peer).toBe(false);
    for (const dev of ['tsx', 'esbuild', 'typescript', 'vitest']) expect(existsSync(join(modules, dev)), dev).toBe(false);
    const r = run(process.execPath, ['optional.mjs']);
    expect(r.code, r.err).toBe(0);
    const got = JSON.parse(r.out) as Record<string, string>;
    expect(got.cpu).toBe(`BackendUnavailable: cpu: the optional package \`gpu.js\` is not installed (the cpu, webasm, headlessgl and webgpu backends run on it; the default js backend does not): \`npm install gpu.js@${PKG.peerDependencies['gpu.js']}\``);
    expect(got.webgpu).toContain('`npm install gpu.js@');
    const docs = run('npx', ['--no-install', 'segloss', 'docs', 'dice', '--out', 'site']);
    expect(docs.code).toBe(2);
    expect(docs.err).toBe(`segloss: segloss docs typesets the formulas with KaTeX, an optional package: \`npm install katex@${PKG.peerDependencies.katex}\`\n`);
    expect(existsSync(join(project, 'site'))).toBe(false);
  });

  test('tsc --noEmit in the project: the shipped .d.ts type a correct program and reject a wrong one', () => {
    const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
    const ok = run(tsc, ['--noEmit', '-p', 'tsconfig.json']);
    expect(ok.code, ok.out + ok.err).toBe(0);
    // With skipLibCheck off, segloss's own declarations check clean (tfjs-core's own have errors of theirs).
    const lib = run(tsc, ['--noEmit', '-p', 'tsconfig.libcheck.json']);
    const ours = lib.out.split('\n').filter((l) => l.includes('node_modules/segloss/'));
    expect(ours, lib.out).toEqual([]);
    const wrong = run(tsc, ['--noEmit', '-p', 'tsconfig.wrong.json']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.out).toMatch(/types-wrong\.ts.*TS2322/);
  });
});

describe('the CLI loads commands lazily', () => {
  // Oracle: the commands' own registration. The top-level help (printed from
  // main.ts's table, without loading a command) lists what they register.
  test("segloss --help's command list is the one the command modules register", async () => {
    const full = new Command('segloss').version(PKG.version, '-V, --version', 'print the version of segloss').configureHelp({ helpWidth: 80 });
    // The README's order (issue 12: help lists commands as the README introduces them); bench is `npm run bench` there.
    const names = ['list', 'show', 'grad', 'plan', 'check', 'compile', 'eval', 'docs', 'bench', 'new', 'fmt'];
    const readme = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/segloss (\w+)/g)].map((m) => m[1]!).filter((c, i, all) => names.includes(c) && all.indexOf(c) === i);
    expect(readme).toEqual(names.filter((n) => readme.includes(n)));
    for (const name of names) ((await import(`../src/cli/commands/${name}.ts`)) as { register(p: Command): void }).register(full);
    const commands = (text: string) => text.slice(text.indexOf('Commands:'), text.indexOf('\n\n', text.indexOf('Commands:')));
    const r = run(process.execPath, [join(ROOT, 'bin', 'segloss.js'), '--help'], ROOT);
    expect(r.code, r.err).toBe(0);
    expect(commands(r.out)).toBe(commands(full.helpInformation()));
  });
});

describe('API errors are located', () => {
  // Oracle: the formula's own text (line 2, column 14 is the unknown name) and the CLI's format.
  test("a SeglossError from compile or load says file:line:col, shows the line and a caret, the hint; diagnostics kept", async () => {
    const e = await compile('loss x(p: prob, g: target)\n  = mean(p * q)\n', { file: 'mine.loss' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SeglossError);
    const err = e as SeglossError;
    expect(err.message).toBe("mine.loss:2:14: error[E201]: unknown name 'q'\n  |\n2 |   = mean(p * q)\n  |              ^\n  hint: did you mean 'g'?");
    expect(err.diagnostics.map((d) => d.code)).toEqual(['E201']);
    expect(err.stack).toContain('mine.loss:2:14: error[E201]');
    const l = await load('bce', { activation: 'sigmoid', log_eps: 1e-7 }).catch((x: unknown) => x) as SeglossError;
    expect(l).toBeInstanceOf(SeglossError);
    expect(l.message).toMatch(/losses\/bce\.loss:\d+:\d+: error\[E230\]: /);
    expect(l.message).toMatch(/\n\d+ \| loss bce\(/);
  });
});
