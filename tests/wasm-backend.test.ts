// The wasm backend (runtime/backends/wasm.ts, codegen/wat.ts) against the
// float64 reference interpreter (the unfused evaluation of the same IR), as
// runtime.test.ts does for every backend: every library loss on odd sizes,
// spatial sizes shorter than a SIMD vector (tails alone), 1x1 images, 3-D,
// multi-class nchw and nhwc, empty and full masks; random formulas; and the
// printer's expression reader on what codegen writes.

import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { reduceShape } from '../src/compiler/codegen/kernel.ts';
import type { Plan } from '../src/compiler/plan/plan.ts';
import { parseExpr, printWat } from '../src/compiler/codegen/wat.ts';
import { sizesOf } from '../src/compiler/core/layout.ts';
import { shapeProgram } from '../src/runtime/program.ts';
import { workerExecArgv } from '../src/runtime/backends/pool.ts';
import { compile } from '../src/index.ts';
import { continuousLossSource } from './arbitraries.ts';
import { F32_TOL, MORE_SHAPES, type Shape, inputsFor, relErr } from './draw.ts';

const LOSSES = readdirSync('losses').filter((f) => f.endsWith('.loss')).sort();

const SHAPES: Shape[] = [
  { name: 'binary 2-D, odd sizes', shape: [2, 7, 5, 1], layout: 'nhwc', target: 'random' },
  { name: 'binary 2-D, rows longer than a vector with tails', shape: [2, 9, 13, 1], layout: 'nhwc', target: 'random' },
  { name: 'rows of 3 (shorter than a vector)', shape: [3, 2, 3, 1], layout: 'nhwc', target: 'random' },
  { name: 'multi-class 2-D', shape: [2, 5, 6, 3], layout: 'nhwc', target: 'onehot' },
  { name: 'multi-class 2-D, nchw', shape: [2, 3, 5, 6], layout: 'nchw', target: 'onehot' },
  { name: 'binary 3-D', shape: [1, 3, 4, 5, 1], layout: 'nhwc', target: 'random' },
  { name: 'multi-class 3-D, nchw', shape: [2, 3, 3, 2, 5], layout: 'nchw', target: 'onehot' },
  { name: '1x1 image', shape: [1, 1, 1, 1], layout: 'nhwc', target: 'random' },
  { name: 'empty mask', shape: [2, 4, 4, 1], layout: 'nhwc', target: 'empty' },
  { name: 'full mask', shape: [2, 4, 4, 1], layout: 'nhwc', target: 'full' },
  // Big enough for several reduce chunks (the CPU layout: 4 chunks of 2304 = 9 blocks of 256, the last chunk's
  // last block 185 long, its lanes parting at the end), and map runs of 8633 threads (4 at a time, a tail of 1).
  { name: 'binary 2-D, 4 reduce chunks, a partial last block', shape: [2, 97, 89, 1], layout: 'nhwc', target: 'random' },
  { name: 'multi-class nchw, 4 reduce chunks, a partial last block', shape: [1, 3, 97, 89], layout: 'nchw', target: 'onehot' },
  // nhwc with 4 classes: the 4 lanes are the 4 classes of one pixel (t % 4 the lane index), reads contiguous.
  { name: 'multi-class nhwc, 4 classes a vector', shape: [2, 9, 11, 4], layout: 'nhwc', target: 'onehot' },
  { name: 'multi-class nhwc, 8 classes', shape: [1, 7, 5, 8], layout: 'nhwc', target: 'onehot' },
  // nhwc with classes: a map thread's class is t % 3, per lane (its small values gathered lane by lane).
  { name: 'multi-class nhwc, the class per lane', shape: [1, 61, 67, 3], layout: 'nhwc', target: 'onehot' },
];

const worst = new Map<string, number>();
afterAll(() => {
  const rows = [...worst].sort(([a], [b]) => a.localeCompare(b)).map(([f, e]) => `  ${f.replace('.loss', '').padEnd(30)}${e.toExponential(1)}`);
  console.log(`wasm: largest relative error against the float64 reference (value and gradient), per loss:\n${rows.join('\n')}`);
});

describe('backend wasm', () => {
  test.each(LOSSES)('%s on every shape equals the float64 reference', async (file) => {
    const source = readFileSync(`losses/${file}`, 'utf8');
    // MS-SSIM of unrelated images is near 0 and loses 5.6e-5 relative in float32 on the big random shape (the
    // js backend's kernels too): it is checked on its own shape, with predictions that follow the target.
    const shapes = file === 'ms_ssim.loss' ? SHAPES.filter((s) => s.shape.length === 5 || s.shape.reduce((a, b) => a * b) < 4096) : SHAPES;
    for (const s of [...shapes, ...(MORE_SHAPES[file] ?? [])]) {
      const opts = { file: `losses/${file}`, layout: s.layout };
      const loss = await compile(source, { ...opts, backend: 'wasm' });
      const ref = await compile(source, { ...opts, backend: 'reference' });
      const inputs = inputsFor(loss, s, 7);
      const got = await loss.valueAndGrad(inputs, s.shape);
      const want = await ref.valueAndGrad(inputs, s.shape);
      expect(got.backend).toBe('wasm');
      const e = Math.max(relErr([got.value], [want.value]), relErr(got.grad, want.grad));
      worst.set(file, Math.max(worst.get(file) ?? 0, e));
      expect(e, `${file}, ${s.name}`).toBeLessThanOrEqual(F32_TOL);
      expect(Number.isFinite(got.value)).toBe(true);
      // The value alone (the value plan's kernels) too.
      const v = await loss.value(inputs, s.shape);
      expect(relErr([v.value], [want.value]), `${file}, ${s.name}, value()`).toBeLessThanOrEqual(F32_TOL);
      expect(new Set(loss.kernelBackends())).toEqual(new Set(['wasm']));
      loss.dispose();
    }
  });

  // 26569 spatial indices: 12 reduce chunks of 2304 (9 blocks of 256), the last 1225 long (a block of 201 live: lanes part) on the losses made of sums.
  test.each(['dice', 'tversky', 'jaccard', 'generalized_dice', 'mcc', 'focal', 'bce', 'log_cosh_dice', 'sensitivity_specificity'])('%s on 163x163 (12 reduce chunks, a partial last block), both layouts, equals the float64 reference', async (name) => {
    for (const s of [
      { name: 'binary nhwc', shape: [2, 163, 163, 1], layout: 'nhwc', target: 'random' },
      { name: 'two classes nchw', shape: [1, 2, 163, 163], layout: 'nchw', target: 'onehot' },
      { name: 'three classes nhwc (strided reduce reads)', shape: [1, 163, 163, 3], layout: 'nhwc', target: 'onehot' },
    ] as Shape[]) {
      const opts = { file: `losses/${name}.loss`, layout: s.layout };
      const source = readFileSync(opts.file, 'utf8');
      const loss = await compile(source, { ...opts, backend: 'wasm' });
      const ref = await compile(source, { ...opts, backend: 'reference' });
      const inputs = inputsFor(loss, s, 13);
      const got = await loss.valueAndGrad(inputs, s.shape);
      const want = await ref.valueAndGrad(inputs, s.shape);
      loss.dispose();
      expect(Math.max(relErr([got.value], [want.value]), relErr(got.grad, want.grad)), `${name}, ${s.name}`).toBeLessThanOrEqual(F32_TOL);
    }
  });

  test('random formulas and shapes equal the float64 reference', async () => {
    await fc.assert(
      fc.asyncProperty(continuousLossSource, fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 11 }), fc.integer({ min: 1, max: 4 })), async (src, shape) => {
        const loss = await compile(src, { backend: 'wasm' });
        const ref = await compile(src, { backend: 'reference' });
        const inputs = inputsFor(loss, { name: 'random', shape, layout: 'nhwc', target: 'random' }, 3);
        const got = await loss.valueAndGrad(inputs, shape);
        const want = await ref.valueAndGrad(inputs, shape);
        loss.dispose();
        // Random formulas chain up to a dozen transcendental ops in float32: 1e-3 (as runtime.test.ts).
        expect(Math.max(relErr([got.value], [want.value]), relErr(got.grad, want.grad)), src).toBeLessThanOrEqual(1e-3);
      }),
      { numRuns: 40 },
    );
  }, 300_000);

  test.each([
    ['dice', [2, 97, 89, 1], 'nhwc', 'every'],
    ['dice', [1, 3, 97, 89], 'nchw', 'every'],
    ['bce', [2, 97, 89, 1], 'nhwc', 'every'],
    // Classes in nhwc: the map pass runs 4 threads of 3 classes at once (t % 3 per lane); the reduce pass
    // reads a class's elements 3 apart (four loads a vector).
    ['dice', [1, 61, 67, 3], 'nhwc', 'map'],
    ['dice', [1, 97, 89, 3], 'nhwc', 'every'],
  ] as const)('%s on %j (%s): %s pass runs f32x4 (the shapes above cover the vector paths)', async (name, shape, layout, which) => {
    const loss = await compile(readFileSync(`losses/${name}.loss`, 'utf8'), { backend: 'wasm', layout, file: `losses/${name}.loss` });
    const { sizes, dims } = sizesOf(shape, layout);
    const { specs } = shapeProgram(loss.plan(dims, 'grad'), undefined, sizes, dims, layout, { cpu: true });
    for (const s of specs) {
      if (!s || (which === 'map' && s.reduce)) continue;
      const wat = printWat(s.args, s.body, s.width);
      // The map threads 4 at a time in `run`, or the reduce loop 4 iterations at a time in `$thread`.
      const run = wat.slice(wat.indexOf('(export "run")')), thread = wat.slice(wat.indexOf('(func $thread'), wat.indexOf('(export "run")'));
      expect(run.includes('v128') || thread.includes('v128'), `${name}: a pass of ${s.output} threads is scalar`).toBe(true);
    }
    loss.dispose();
  });

  test('random formulas on shapes big enough for the vector paths (reduce chunks of 4 and more) equal the float64 reference', async () => {
    await fc.assert(
      fc.asyncProperty(continuousLossSource, fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 60, max: 90 }), fc.integer({ min: 61, max: 97 }), fc.integer({ min: 1, max: 3 })), fc.boolean(), async (src, shape, nchw) => {
        const layout = nchw ? 'nchw' : 'nhwc';
        const dims = nchw ? [shape[0], shape[3], shape[1], shape[2]] : shape;
        const loss = await compile(src, { backend: 'wasm', layout });
        const ref = await compile(src, { backend: 'reference', layout });
        const inputs = inputsFor(loss, { name: 'random', shape: dims, layout, target: 'random' }, 11);
        const got = await loss.valueAndGrad(inputs, dims);
        const want = await ref.valueAndGrad(inputs, dims);
        loss.dispose();
        expect(Math.max(relErr([got.value], [want.value]), relErr(got.grad, want.grad)), `${src} on ${layout} ${dims}`).toBeLessThanOrEqual(1e-3);
      }),
      { numRuns: 25 },
    );
  }, 300_000);

  test.each(['dice', 'bce', 'tversky', 'focal'])('%s with worker threads (threads: 2, 69142 elements, over the threaded minimum) equals the float64 reference and the calling thread', async (name) => {
    const s: Shape = { name: 'threaded', shape: [2, 181, 191, 1], layout: 'nhwc', target: 'random' };
    const source = readFileSync(`losses/${name}.loss`, 'utf8');
    const loss = await compile(source, { file: `losses/${name}.loss`, backend: 'wasm', threads: 2 });
    const ref = await compile(source, { file: `losses/${name}.loss`, backend: 'reference' });
    const inputs = inputsFor(loss, s, 17);
    const pending = loss.valueAndGrad(inputs, s.shape);
    const got = await pending;
    const want = await ref.valueAndGrad(inputs, s.shape);
    // The calling thread alone (the synchronous path); the split into ranges changes which threads take the
    // scalar tails, so the two agree to float32 rounding, not bit for bit.
    const alone = loss.valueAndGradSync(inputs, s.shape);
    loss.dispose();
    expect(Math.max(relErr([got.value], [want.value]), relErr(got.grad, want.grad))).toBeLessThanOrEqual(F32_TOL);
    expect(Math.max(relErr([got.value], [alone.value]), relErr(got.grad, alone.grad))).toBeLessThanOrEqual(1e-6);
  });

  test('two calls in flight at once on worker threads each get their own result', async () => {
    const shape = [2, 181, 191, 1];
    const loss = await compile(readFileSync('losses/bce.loss', 'utf8'), { file: 'losses/bce.loss', backend: 'wasm', threads: 2 });
    const s: Shape = { name: 'threaded', shape, layout: 'nhwc', target: 'random' };
    const a = inputsFor(loss, s, 1), b = inputsFor(loss, s, 2);
    const sa = await loss.valueAndGrad(a, shape), sb = await loss.valueAndGrad(b, shape);
    const [ca, cb] = await Promise.all([loss.valueAndGrad(a, shape), loss.valueAndGrad(b, shape)]);
    loss.dispose();
    expect(ca.value).toBe(sa.value);
    expect(cb.value).toBe(sb.value);
    expect(Array.from(ca.grad)).toEqual(Array.from(sa.grad));
    expect(Array.from(cb.grad)).toEqual(Array.from(sb.grad));
  });

  test('valueAndGradSync equals valueAndGrad', async () => {
    const loss = await compile(readFileSync('losses/dice.loss', 'utf8'), { backend: 'wasm' });
    const inputs = inputsFor(loss, SHAPES[0]!, 5);
    const a = await loss.valueAndGrad(inputs, SHAPES[0]!.shape);
    const b = loss.valueAndGradSync(inputs, SHAPES[0]!.shape);
    loss.dispose();
    expect(b.value).toBe(a.value);
    expect(Array.from(b.grad)).toEqual(Array.from(a.grad));
  });
});

describe('the CPU reduce layout (shapeProgram with cpu: the js and wasm backends)', () => {
  // Dice's reduce kernel (its gradient plan) for a shape, in the CPU layout or the GPU's.
  let plan: Plan;
  beforeAll(async () => {
    const loss = await compile(readFileSync('losses/dice.loss', 'utf8'), { backend: 'wasm', file: 'losses/dice.loss' });
    plan = loss.plan(2, 'grad');
    loss.dispose();
  });
  const reduceOf = (shape: number[], cpu: boolean) => {
    const { sizes, dims } = sizesOf(shape, 'nhwc');
    return shapeProgram(plan, undefined, sizes, dims, 'nhwc', { cpu }).specs.find((s) => s?.reduce)!;
  };

  test('threads and chunk lengths: chunks of at least 2048 where the data allows, about 256 threads, whole blocks of 256', () => {
    // [shape, chunks per group, chunk length] by the rule of codegen/pass.ts reduceShape (cpu): per group
    // max(1, min(⌊spatial / 2048⌋, ⌈256 / groups⌉)) chunks, their length rounded up to a multiple of 256.
    const cases: [number[], number, number][] = [
      [[4, 64, 64, 1], 2, 2048], // 8 threads of 2048
      [[4, 512, 512, 1], 64, 4096], // 256 threads of 4096
      [[1, 2048, 2048, 1], 256, 16384], // 256 threads of 16384
      [[2, 33, 31, 1], 1, 1023], // one chunk: the whole spatial extent
    ];
    for (const [shape, chunks, chunkLen] of cases) {
      const { sizes } = sizesOf(shape, 'nhwc');
      const groups = sizes.batch * sizes.class;
      const spatial = sizes.x * sizes.y * sizes.z;
      expect(reduceShape(sizes, true), `${shape}`).toEqual({ groups, chunks, chunkLen, spatial });
      const spec = reduceOf(shape, true);
      expect(spec.reduce!.groups * spec.reduce!.chunks, `${shape}`).toBe(groups * chunks);
      expect(spec.output, `${shape}`).toBe(groups * chunks * spec.reduce!.parts);
      // The chunk's loop: blocks of min(256, chunk length), in a loop over blocks.
      expect(spec.jsSource).toContain(`for (let jb = 0; jb < ${Math.ceil(chunkLen / Math.min(256, chunkLen))}; jb++) {`);
      expect(spec.jsSource).toContain(`for (let j = 0; j < ${Math.min(256, chunkLen)}; j++) {`);
    }
    // Without cpu: the GPU layout, about 4096 threads (4 × 1024 chunks of 4 at 4x64x64x1).
    expect(reduceShape(sizesOf([4, 64, 64, 1], 'nhwc').sizes)).toEqual({ groups: 4, chunks: 1024, chunkLen: 4, spatial: 4096 });
    expect(reduceOf([4, 64, 64, 1], false).output).toBe(4096);
  });

  test('wasm: the loop over a block runs f32x4, its sums folded into float64 after it, inside the loop over blocks', () => {
    const spec = reduceOf([4, 512, 512, 1], true);
    const wat = printWat(spec.args, spec.body, spec.width);
    const thread = wat.slice(wat.indexOf('(func $thread'), wat.indexOf('(export "run")'));
    const jb = /\(loop (\$fl\$l\d+_jb)/.exec(thread)!;
    expect(jb, 'a loop over blocks').not.toBeNull();
    const start = jb.index, end = thread.indexOf(`(br ${jb[1]})`);
    const vector = thread.indexOf('(loop $vl'), fold = thread.search(/\(local\.set \$l\d+_fold /);
    expect(vector, 'the block loop vectorized').toBeGreaterThan(start);
    expect(fold).toBeGreaterThan(vector);
    expect(end).toBeGreaterThan(fold);
    // Only the block loop is: one vector loop in the kernel.
    expect(thread.split('(loop $vl').length - 1).toBe(1);
  });

  test('wasm dice on 1x2048x2048x1 (chunks of 16384) equals the float64 reference to 1e-5 on the value', async () => {
    const s: Shape = { name: 'long chunks', shape: [1, 2048, 2048, 1], layout: 'nhwc', target: 'random' };
    const source = readFileSync('losses/dice.loss', 'utf8');
    const loss = await compile(source, { file: 'losses/dice.loss', backend: 'wasm' });
    const ref = await compile(source, { file: 'losses/dice.loss', backend: 'reference' });
    const inputs = inputsFor(loss, s, 23);
    const want = (await ref.value(inputs, s.shape)).value;
    const got = await loss.valueAndGrad(inputs, s.shape);
    const value = (await loss.value(inputs, s.shape)).value;
    loss.dispose();
    expect(relErr([got.value], [want]), `${got.value} vs ${want}`).toBeLessThanOrEqual(1e-5);
    expect(relErr([value], [want]), `${value} vs ${want}`).toBeLessThanOrEqual(1e-5);
  }, 120_000);
});

describe("the WAT printer's expression reader", () => {
  test('precedence and associativity as JavaScript', () => {
    const show = (src: string): string => {
      const p = (e: ReturnType<typeof parseExpr>): string => {
        switch (e.k) {
          case 'num': return String(e.v);
          case 'id': return e.name;
          case 'index': return `${e.arr}[${p(e.i)}]`;
          case 'call': return `${e.f}(${e.args.map(p).join(',')})`;
          case 'un': return `(${e.op}${p(e.a)})`;
          case 'bin': return `(${p(e.a)}${e.op}${p(e.b)})`;
          case 'cond': return `(${p(e.c)}?${p(e.a)}:${p(e.b)})`;
        }
      };
      return p(parseExpr(src));
    };
    expect(show('a - b - c')).toBe('((a-b)-c)');
    expect(show('-a * b + c % 3')).toBe('(((-a)*b)+(c%3))');
    expect(show('a < b && !(c >= 1e-7) ? 1.0 : 0.0')).toBe('(((a<b)&&(!(c>=1e-7)))?1:0)');
    expect(show('x[t * 3 + 1] / Math.max(y, 0.5, z)')).toBe('(x[((t*3)+1)]/max(y,0.5,z))');
    expect(show('(0.0 / 0.0)')).toBe('(0/0)');
    expect(() => parseExpr('a = b')).toThrow(/wasm/);
  });
});

test('worker pools start with the flags that load code, not V8\'s or the process\'s own', () => {
  // Oracle: Node's rule for Worker execArgv (V8 and per-process flags refused), and tsx's two loader flags.
  expect(workerExecArgv(['--expose-gc', '--require', '/x/preflight.cjs', '--import=file:///y/loader.mjs', '--input-type', 'module', '--max-old-space-size=100', '--enable-source-maps', '--input-type=module']))
    .toEqual(['--require', '/x/preflight.cjs', '--import=file:///y/loader.mjs', '--enable-source-maps']);
});

describe('a program that used a backend ends when its work is done', () => {
  // Oracle: the process's own exit. An idle worker pool must not keep it alive: the wasm backend
  // starts its pool with the loss, and a call below the threading size never wakes it (a listener
  // added after unref() had ref'd the workers' ports again, and such a script never ended).
  test.each([['wasm', '4,64,64,1'], ['wasm', '4,256,256,1'], ['js', '4,64,64,1'], ['js', '4,256,256,1']])('%s at %s: the value, then exit 0', (backend, dims) => {
    const shape = dims.split(',').map(Number);
    const script = `import { load } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).href)};
const shape = ${JSON.stringify(shape)}; const n = shape.reduce((a, b) => a * b, 1);
const d = await load('dice', {}, { backend: '${backend}', threads: 2 });
const r = await d.valueAndGrad({ p: new Float32Array(n).fill(0.5), g: new Float32Array(n).fill(1) }, shape);
process.stdout.write(String(r.value));
d.dispose();
`;
    // --expose-gc as the benchmark runs: a V8 flag a Worker refuses if given it (its pool starts without it).
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(r.signal, 'the process was still running after 30 s').toBeNull();
    expect(r.status, r.stderr).toBe(0);
    // Dice with p = 0.5, g = 1 everywhere: 1 − 2·0.5·S/(0.5·S + S) = 1/3 (up to the smoothing).
    expect(Math.abs(Number(r.stdout) - 1 / 3)).toBeLessThan(1e-6);
  }, 60_000);
});
