// `segloss compile --out`: the standalone module, written to a temporary
// directory, imported and run. Oracle: the float64 reference backend (the
// unfused interpreter of the same IR) on the same inputs, for every library
// loss; the file system for "no half-written file"; the module's own text for
// "imports nothing".

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type ModuleTarget, emitModule, executorBundle } from '../src/tools/module.ts';
import { OPS } from '../src/compiler/core/ops/index.ts';
import { kernelBackend, openGpu } from '../src/runtime/backends/gpujs.ts';
import { type CompiledLoss, type CompileOptions, compile } from '../src/index.ts';
import { backendCases } from './backends.ts';
import { F32_TOL, inputsFor as drawInputs, relErr } from './draw.ts';

const LOSSES = readdirSync('losses').filter((f) => f.endsWith('.loss')).sort();
const dir = mkdtempSync(join(tmpdir(), 'segloss-module-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Case { name: string; shape: number[]; layout: 'nhwc' | 'nchw' }
const CASES: Case[] = [
  { name: 'binary 2-D', shape: [2, 9, 9, 1], layout: 'nhwc' },
  { name: '3-class 2-D, nchw', shape: [2, 3, 7, 6], layout: 'nchw' },
  { name: 'binary 3-D', shape: [1, 3, 4, 5, 1], layout: 'nhwc' },
];

/** The module's exports (js: value and valueAndGrad; glsl, wgsl: createLoss). */
interface LossFns {
  value(x: Record<string, ArrayLike<number>>): number | Promise<number>;
  valueAndGrad(x: Record<string, ArrayLike<number>>, out?: Float32Array): Result | Promise<Result>;
}
interface Result { value: number; grad: Float32Array; values?: Float64Array }
interface LossModule extends LossFns {
  name: string; shape: number[]; layout: string; target: string; wrt: string;
  inputs: { name: string; role: string }[];
  createLoss(gpu?: unknown): LossFns & { kernels?: unknown[]; destroy?: () => void };
}

/** Inputs as runtime.test.ts draws them: one class per pixel when there are several. */
function inputsFor(loss: CompiledLoss, c: Case, seed: number): Record<string, Float32Array> {
  const C = c.layout === 'nhwc' ? c.shape.at(-1)! : c.shape[1]!;
  return drawInputs(loss, { ...c, target: C === 1 ? 'random' : 'onehot' }, seed);
}



let written = 0;
async function importModule(text: string): Promise<LossModule> {
  const file = join(dir, `m${written++}.mjs`);
  writeFileSync(file, text);
  return (await import(/* @vite-ignore */ pathToFileURL(file).href)) as LossModule;
}

/** Module against reference on one case: value, gradient, value(), and the `out` buffer. */
async function expectMatches(fns: LossFns, ref: CompiledLoss, c: Case, what: string): Promise<void> {
  const x = inputsFor(ref, c, 7);
  const want = await ref.valueAndGrad(x, c.shape);
  const out = new Float32Array(x[ref.wrt]!.length);
  const got = await fns.valueAndGrad(x, out);
  expect(got.grad, what).toBe(out);
  expect(relErr([got.value], [want.value]), `${what}: value ${got.value} vs ${want.value}`).toBeLessThanOrEqual(F32_TOL);
  expect(relErr(got.grad, want.grad), `${what}: gradient`).toBeLessThanOrEqual(F32_TOL);
  expect(relErr([await fns.value(x)], [want.value]), `${what}: value()`).toBeLessThanOrEqual(F32_TOL);
}

const source = (file: string) => readFileSync(`losses/${file}`, 'utf8');
const options = (file: string, c: Case, backend: CompileOptions['backend']): CompileOptions => ({ file: `losses/${file}`, layout: c.layout, backend });

describe('js modules', () => {
  test.each(LOSSES)('%s: the module equals the float64 reference on every case', async (file) => {
    for (const c of CASES) {
      const ref = await compile(source(file), options(file, c, 'reference'));
      const { source: text, kernels } = await emitModule(ref, c.shape, 'js');
      expect(text, 'a module that imports nothing').not.toMatch(/\bimport\b|\brequire\b/);
      const m = await importModule(text);
      expect({ name: m.name, shape: [...m.shape], layout: m.layout, wrt: m.wrt, inputs: m.inputs, target: m.target })
        .toEqual({ name: ref.name, shape: c.shape, layout: c.layout, wrt: ref.wrt, inputs: ref.inputs, target: 'js' });
      expect(kernels).toBeGreaterThan(0);
      await expectMatches(m, ref, c, `${file}, ${c.name}`);
      // Arrays of numbers are inputs too.
      const x = inputsFor(ref, c, 9);
      const plain = Object.fromEntries(Object.entries(x).map(([k, v]) => [k, Array.from(v)]));
      expect((m.valueAndGrad(plain) as Result).value).toBe((m.valueAndGrad(x) as Result).value);
    }
  });

  test('--activation, --region and knobs reach the module: softmax over logits, batch Dice, reduction none (values too)', async () => {
    const c = CASES[1]!;
    for (const extra of [{ activation: 'softmax' }, { region: 'batch' }, { params: { reduction: 'none' } }] as Partial<CompileOptions>[]) {
      const ref = await compile(source('dice.loss'), { ...options('dice.loss', c, 'reference'), ...extra });
      const m = await importModule((await emitModule(ref, c.shape, 'js')).source);
      await expectMatches(m, ref, c, `dice, ${JSON.stringify(extra)}`);
      const x = inputsFor(ref, c, 3);
      const want = await ref.value(x, c.shape);
      const got = m.valueAndGrad(x) as Result;
      if (want.values) expect(relErr(got.values!, want.values)).toBeLessThanOrEqual(F32_TOL);
      else expect(got.values).toBeUndefined();
    }
  });

  test('the mask knob: a per-pixel mask stands for itself repeated along class, as in the runtime', async () => {
    const c = CASES[1]!;
    const ref = await compile(source('dice.loss'), { ...options('dice.loss', c, 'reference'), params: { mask: true } });
    const m = await importModule((await emitModule(ref, c.shape, 'js')).source);
    const x = inputsFor(ref, c, 4);
    const pixels = Float32Array.from({ length: x.mask!.length / 3 }, (_, i) => i % 5 === 0 ? 0 : 1);
    const want = await ref.valueAndGrad({ ...x, mask: pixels }, c.shape);
    const got = m.valueAndGrad({ ...x, mask: pixels }) as Result;
    expect(relErr([got.value], [want.value])).toBeLessThanOrEqual(F32_TOL);
    expect(relErr(got.grad, want.grad)).toBeLessThanOrEqual(F32_TOL);
  });

  test('a js module and CompiledLoss on the js backend are one program: the same numbers, bit for bit', async () => {
    const c = CASES[1]!;
    for (const file of ['dice.loss', 'lovasz_softmax.loss', 'hausdorff_dt.loss', 'ssim.loss']) {
      const loss = await compile(source(file), { ...options(file, c, 'js'), threads: 1 });
      try {
        const m = await importModule((await emitModule(loss, c.shape, 'js')).source);
        const x = inputsFor(loss, c, 5);
        const [got, want] = [m.valueAndGrad(x) as Result, await loss.valueAndGrad(x, c.shape)];
        expect(got.value, file).toBe(want.value);
        expect(Array.from(got.grad), file).toEqual(Array.from(want.grad));
      } finally {
        loss.dispose();
      }
    }
  });

  // Issue 11: modules refused per-element values (reduction none on a pixel-wise loss) though the executor
  // writes them. Oracles: CompiledLoss on the js backend (the same program: bit for bit) and the float64 reference.
  test('reduction none on pixel-wise losses: the module returns the per-element values, as CompiledLoss does', async () => {
    for (const c of [CASES[1]!, CASES[2]!]) {
      for (const file of ['bce.loss', 'ce.loss', 'focal.loss']) {
        const opts = { ...options(file, c, 'js'), params: { reduction: 'none' } };
        const loss = await compile(source(file), { ...opts, threads: 1 });
        const ref = await compile(source(file), { ...opts, backend: 'reference' });
        const what = `${file}, ${c.name}`;
        try {
          const m = await importModule((await emitModule(loss, c.shape, 'js')).source);
          const x = inputsFor(loss, c, 11);
          const [got, want, exact] = [m.valueAndGrad(x) as Result, await loss.valueAndGrad(x, c.shape), await ref.valueAndGrad(x, c.shape)];
          expect(want.values, what).toBeInstanceOf(Float64Array);
          // Per element: the prediction's size, or its size without the class axis (a loss that sums over classes).
          const C = c.layout === 'nhwc' ? c.shape.at(-1)! : c.shape[1]!;
          expect([x[loss.wrt]!.length, x[loss.wrt]!.length / C], what).toContain(want.values!.length);
          expect(got.values, what).toBeInstanceOf(Float64Array);
          expect(Array.from(got.values!), what).toEqual(Array.from(want.values!));
          expect(got.value, what).toBe(want.value);
          expect(Array.from(got.grad), what).toEqual(Array.from(want.grad));
          expect(relErr(got.values!, exact.values!), `${what}: values`).toBeLessThanOrEqual(F32_TOL);
          expect(relErr([got.value], [exact.value]), `${what}: value`).toBeLessThanOrEqual(F32_TOL);
          expect(relErr(got.grad, exact.grad), `${what}: gradient`).toBeLessThanOrEqual(F32_TOL);
          expect(await m.value(x), what).toBe(got.value);
        } finally {
          loss.dispose();
          ref.dispose();
        }
      }
    }
  });

  test('the module checks the shape against the loss as the runtime does', async () => {
    const ref = await compile(source('dice.loss'), { ...options('dice.loss', CASES[1]!, 'reference'), params: { class_weights: '1,2' } });
    await expect(emitModule(ref, CASES[1]!.shape, 'js')).rejects.toThrow(/class_weights has 2 weights; the data has 3 classes/);
  });

  test('a missing or mis-sized input is a clear error', async () => {
    const c = CASES[0]!;
    const ref = await compile(source('dice.loss'), options('dice.loss', c, 'reference'));
    const m = await importModule((await emitModule(ref, c.shape, 'js')).source);
    const x = inputsFor(ref, c, 1);
    expect(() => m.value({ p: x.p! })).toThrow(/input 'g' \(target\) must have 162 elements/);
    expect(() => m.value({ ...x, p: new Float32Array(5) })).toThrow(/input 'p' \(prob\) must have 162 elements.*got 5/);
    expect(() => m.valueAndGrad(x, new Float32Array(3))).toThrow(/out must be a Float32Array of 162/);
  });

  test('the module runs plans with the runtime\'s own executor: every host op (core/ops) runs in a library loss\'s module above (the op records are bundled with it, not copied by text)', async () => {
    const host = Object.values(OPS).filter((r) => r.kind === 'host').map((r) => r.op);
    const ran = new Set<string>();
    for (const file of LOSSES) {
      const ref = await compile(source(file), options(file, CASES[1]!, 'reference'));
      for (const which of ['grad', 'value'] as const) for (const p of ref.plan(2, which).passes) if (p.kind === 'host') p.nodes.forEach((n) => ran.add(n.op));
    }
    expect(host.filter((op) => !ran.has(op))).toEqual([]);
    // What the module embeds is esbuild's bundle of the typed sources, whole: executor, reference interpreter, host loops.
    const bundle = executorBundle();
    for (const path of ['src/runtime/executor.ts', 'src/compiler/core/reference.ts', 'src/compiler/core/ops/f64-loops.ts']) expect(bundle).toContain(`// ${path}`);
    expect(bundle).not.toMatch(/\bimport\b|\brequire\b/);
  });
});

// ------------------------------------------------------------------ the CLI

interface Run { code: number; out: string; err: string }
/** The command as a user starts it (bin/segloss.js); asynchronous, so that runs overlap. */
function segloss(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/segloss.js', ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } }, (e, out, err) => {
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, out, err });
    });
  });
}

describe('segloss compile', () => {
  // Every command of this block at once (each start of the CLI costs seconds), checked by the tests below.
  const lovasz: Case = { name: '3-class nhwc', shape: [2, 5, 6, 3], layout: 'nhwc' };
  const file = join(dir, 'lovasz.mjs');
  const bad = join(dir, 'bad.mjs');
  let runs: { module: Run; badShape: Run; nowhere: Run; print: Run; help: Run };
  beforeAll(async () => {
    const [module, badShape, nowhere, print, help] = await Promise.all([
      segloss('compile', 'losses/lovasz_softmax.loss', '--shape', lovasz.shape.join(','), '--out', file),
      segloss('compile', 'losses/dice.loss', '--shape', '2,9', '--out', bad),
      segloss('compile', 'losses/dice.loss', '--shape', '2,9,9,1', '--out', join(dir, 'no-such-dir', 'x.mjs')),
      segloss('compile', 'losses/dice.loss', '--shape', '2,9,9,1'),
      segloss('compile', '--help'),
    ]);
    runs = { module, badShape, nowhere, print, help };
  }, 60_000);

  test('--out writes the module and says where and how many kernels; it runs lovasz_softmax (host sort and cumsum) as the reference does', async () => {
    const r = runs.module;
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`^wrote ${file.replace(/[.\\]/g, '\\$&')}: lovasz_softmax, \\d+ kernels \\(js\\) for shape \\[2, 5, 6, 3\\] \\(nhwc\\)\\n$`));
    const m = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as LossModule;
    const ref = await compile(source('lovasz_softmax.loss'), options('lovasz_softmax.loss', lovasz, 'reference'));
    await expectMatches(m, ref, lovasz, 'lovasz_softmax from the CLI');
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  test('bad input: exit 2, a clear message, and no file (not even half of one)', () => {
    expect(runs.badShape.code).toBe(2);
    expect(runs.badShape.err).toContain("--shape takes 4 or 5 positive integers, got '2,9'");
    expect(runs.nowhere.code).toBe(2);
    expect(runs.nowhere.err).toMatch(/^segloss: cannot write '.*no-such-dir\/x\.mjs'/);
    expect(readdirSync(dir).filter((f) => f.startsWith('bad') || f.includes('.tmp'))).toEqual([]);
  });

  test('without --out it prints the kernels; --help shows --out with an example', () => {
    const r = runs.print;
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^\/\/ dice: 2 kernels for shape \[2, 9, 9, 1\] \(nhwc\), target js\n\n\/\/ kernel 1: /);
    expect(r.out).toContain('this.thread.x');
    expect(runs.help.out).toMatch(/--out <file>/);
    expect(runs.help.out).toMatch(/segloss compile .* --out \S+\.mjs/);
  });
});

// ------------------------------------------------------------------ glsl, wgsl

// Window, host and plain losses: each kind of pass the module's executor runs.
const GPU_LOSSES = ['dice.loss', 'bce.loss', 'ssim.loss', 'hausdorff_dt.loss', 'lovasz_softmax.loss', 'boundary.loss'];
const GPU_TARGETS: { backend: 'headlessgl' | 'webgpu'; target: ModuleTarget; losses: string[] }[] = [
  { backend: 'headlessgl', target: 'glsl', losses: GPU_LOSSES },
  { backend: 'webgpu', target: 'wgsl', losses: ['dice.loss', 'hausdorff_dt.loss'] },
];

for (const t of GPU_TARGETS) {
  const bc = backendCases().find((b) => b.backend === t.backend)!;
  describe.skipIf(bc.skip)(`${t.target} modules on ${t.backend}${bc.skip ? ` (SKIPPED: ${bc.why})` : ''}`, () => {
    test.each(t.losses)(`%s: createLoss(gpu) equals the float64 reference`, async (file) => {
      const c = CASES[0]!;
      const loss = await compile(source(file), options(file, c, t.backend));
      const ref = await compile(source(file), options(file, c, 'reference'));
      const gpu = await openGpu(t.backend);
      try {
        const { source: text } = await emitModule(loss, c.shape, t.target);
        expect(text).not.toMatch(/\bimport\b|\brequire\b/);
        const m = await importModule(text);
        expect((m as unknown as Record<string, string[]>)[t.target]!.length).toBe((m as unknown as { kernels: unknown[] }).kernels.length);
        const fns = m.createLoss(gpu.gpu);
        await expectMatches(fns, ref, c, `${file} (${t.target})`);
        // The kernels ran where we asked (gpu.js falls back silently otherwise).
        expect(new Set(fns.kernels!.map((k) => kernelBackend(k as never)))).toEqual(new Set([t.backend]));
        fns.destroy!();
        if (t.target === 'glsl' && file === 'dice.loss') {
          // Any gpu.js GPU: the same module on gpu.js's cpu mode.
          const cpu = await openGpu('cpu');
          try { await expectMatches(m.createLoss(cpu.gpu), ref, c, `${file} (${t.target} module on cpu)`); } finally { cpu.close(); }
        }
      } finally {
        gpu.close();
        loss.dispose();
      }
    });
  });
}
