// Memory in a long-lived process: compile-and-dispose cycles and long runs of
// valueAndGrad leave the heap flat after a full GC, per-shape kernels stay
// under their bound, and the js backend's workers drop a loss's kernels when it
// goes. Oracles: the heap after `gc()` (growth below a bound that the leaks
// exceeded several times over), the intern table's size, the kernel caches'
// sizes, and the workers' own count of the kernels they hold.

import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, describe, expect, test } from 'vitest';
import { internedCount } from '../src/compiler/core/ir.ts';
import { type CompiledLoss, MAX_SHAPE_KERNELS, load } from '../src/runtime/loss.ts';
import { workerKernelCounts } from '../src/runtime/backends/js.ts';
import { backendCases } from './backends.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/**
 * heapUsed after full collections. The intern table's entries go in a
 * FinalizationRegistry callback, which runs after the collection that found
 * the node dead; the entry is garbage only at the next one: three rounds.
 */
async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
}

const MB = 1e6;
/** Figures for the closing note: one line per loop. */
const report: string[] = [];
afterAll(() => console.log(`memory (heapUsed after gc):\n  ${report.join('\n  ')}`));

function inputs(shape: readonly number[]): { p: Float32Array; g: Float32Array } {
  const n = shape.reduce((a, b) => a * b, 1);
  return {
    p: Float32Array.from({ length: n }, (_, i) => ((i * 37) % 97) / 97),
    g: Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0)),
  };
}

describe('300 compile+dispose cycles', () => {
  // Each cycle compiles with new parameter values, as a hyperparameter search does: new constants,
  // so new IR nodes all the way up. Before the intern table held its nodes weakly, every cycle's
  // graph stayed in it: +21.5 KB of heap per cycle (26.1 → 32.6 MB over 300), the table 2,053 →
  // 22,153 nodes. After: the table returns to its size before the loop, and the heap grows by what
  // V8 keeps of its optimized code (0.6 to 0.7 MB here, about 2 KB a cycle), under a 2.5 MB bound.
  test('leave the intern table and the heap as they were (js, reference)', async () => {
    const shape = [2, 8, 8, 3];
    const data = inputs(shape);
    const cycle = async (i: number) => {
      for (const backend of ['js', 'reference'] as const) {
        const loss = await load('dice', { smooth_nr: 1e-5 + i * 1e-9, smooth_dr: 1e-5 + i * 1e-9 }, { backend, threads: 1 });
        const { value } = await loss.valueAndGrad(data, shape);
        expect(Number.isFinite(value)).toBe(true);
        loss.dispose();
      }
    };
    for (let i = 0; i < 30; i++) await cycle(i); // warm-up: modules, JIT, caches that fill once
    const before = await heapAfterGc();
    const nodesBefore = internedCount();
    const cycles = 300;
    for (let i = 30; i < 30 + cycles; i++) await cycle(i);
    const after = await heapAfterGc();
    const nodesAfter = internedCount();
    report.push(`300 compile+dispose cycles (dice, js + reference each): ${(before / MB).toFixed(2)} MB → ${(after / MB).toFixed(2)} MB, ` +
      `${((after - before) / cycles / 1e3).toFixed(2)} KB per cycle; interned nodes ${nodesBefore} → ${nodesAfter}`);
    expect(nodesAfter).toBeLessThanOrEqual(nodesBefore + 50);
    expect(after - before).toBeLessThan(2.5 * MB);
  });
});

describe('5,000 valueAndGrad calls', () => {
  // js: one call in ten on a shape never seen before (500 shapes), the rest on one shape. Before the
  // per-shape cache was bounded every shape's kernels and scratch stayed: 521 kernel sets, +10.8 KB
  // of heap per new shape (32.7 → 38.1 MB). After: MAX_SHAPE_KERNELS sets and +0.25 MB (50 B a call),
  // under a 2 MB bound.
  test('js, 500 of them on new shapes: kernel cache bounded, heap flat', async () => {
    const loss = await load('dice', {}, { backend: 'js', threads: 1 });
    const main = [2, 8, 8, 3];
    const mainData = inputs(main);
    const call = async (i: number) => {
      if (i % 10 !== 0) return loss.valueAndGrad(mainData, main);
      const shape = [1, 4, 4 + i / 10, 2];
      return loss.valueAndGrad(inputs(shape), shape);
    };
    for (let i = 0; i < 200; i++) await call(i);
    const before = await heapAfterGc();
    const calls = 5000;
    for (let i = 200; i < 200 + calls; i++) await call(i);
    const after = await heapAfterGc();
    report.push(`5,000 valueAndGrad calls, js, 500 new shapes: ${(before / MB).toFixed(2)} MB → ${(after / MB).toFixed(2)} MB, ` +
      `${((after - before) / calls).toFixed(1)} B per call; kernel sets cached ${loss.cachedShapes}`);
    expect(loss.cachedShapes).toBeLessThanOrEqual(MAX_SHAPE_KERNELS);
    expect(after - before).toBeLessThan(2 * MB);
    loss.dispose();
  });

  test('reference, one shape: heap flat', async () => {
    const loss = await load('dice', {}, { backend: 'reference' });
    const shape = [1, 4, 4, 2];
    const data = inputs(shape);
    for (let i = 0; i < 200; i++) await loss.valueAndGrad(data, shape);
    const before = await heapAfterGc();
    const calls = 5000;
    for (let i = 0; i < calls; i++) await loss.valueAndGrad(data, shape);
    const after = await heapAfterGc();
    report.push(`5,000 valueAndGrad calls, reference: ${(before / MB).toFixed(2)} MB → ${(after / MB).toFixed(2)} MB, ${((after - before) / calls).toFixed(1)} B per call`);
    expect(after - before).toBeLessThan(2 * MB);
    loss.dispose();
  });
});

describe('kernels are released', () => {
  // 1×128×128×4 = 65,536 elements: dice's passes run on the worker threads (MIN_THREADED_ELEMENTS).
  const big = (w: number) => [1, 128, w, 4];
  const total = async () => (await workerKernelCounts()).reduce((a, b) => a + b, 0);

  test('dispose() makes the js workers forget the loss kernels', async () => {
    const loss = await load('dice', {}, { backend: 'js', threads: 2 });
    const shape = big(128);
    await loss.valueAndGrad(inputs(shape), shape);
    const held = await workerKernelCounts();
    expect(held).toHaveLength(2);
    expect(held.every((n) => n > 0)).toBe(true);
    loss.dispose();
    expect(await total()).toBe(0);
  });

  test('evicting a shape makes the js workers forget its kernels', async () => {
    const loss = await load('dice', {}, { backend: 'js', threads: 2 });
    const run = async (i: number) => { const shape = big(128 + i); await loss.valueAndGrad(inputs(shape), shape); };
    await run(0);
    const perShape = await total();
    expect(perShape).toBeGreaterThan(0);
    for (let i = 1; i < MAX_SHAPE_KERNELS + 4; i++) await run(i);
    expect(loss.cachedShapes).toBe(MAX_SHAPE_KERNELS);
    // The workers hold the threaded kernels of the cached shapes only, not of all the shapes they ran.
    expect(await total()).toBe(MAX_SHAPE_KERNELS * perShape);
    loss.dispose();
    expect(await total()).toBe(0);
  });

  test('calls in flight on a shape the cache drops finish, and its kernels go when they end', async () => {
    const loss = await load('dice', {}, { backend: 'js', threads: 2 });
    const oracle = await load('dice', {}, { backend: 'js', threads: 1 });
    const shapes = Array.from({ length: MAX_SHAPE_KERNELS + 4 }, (_, i) => big(200 + i));
    await loss.valueAndGrad(inputs(shapes[0]!), shapes[0]!);
    const perShape = await total();
    // All at once: each call builds its shape's kernels before any pass finishes, so the first ones are evicted while busy.
    const results = await Promise.all(shapes.map((s) => loss.valueAndGrad(inputs(s), s)));
    for (const [i, s] of shapes.entries()) {
      const want = await oracle.valueAndGrad(inputs(s), s);
      expect(results[i]!.value).toBe(want.value);
      expect(results[i]!.grad).toEqual(want.grad);
    }
    expect(loss.cachedShapes).toBe(MAX_SHAPE_KERNELS);
    expect(await total()).toBe(MAX_SHAPE_KERNELS * perShape);
    loss.dispose();
    oracle.dispose();
    expect(await total()).toBe(0);
  });

  // gpu.js keeps every kernel a GPU built in its list until destroyed (its cpu kernels stay even then:
  // the runtime takes them out). The list stays flat once the cache is full, and a shape built again
  // after its eviction still equals the float64 reference.
  // (gpu.js's backends only: js, wasm and reference build no gpu.js kernels.)
  for (const bc of backendCases().filter((c) => c.backend !== 'js' && c.backend !== 'wasm' && c.backend !== 'reference')) {
    test.skipIf(bc.skip)(`evicting a shape destroys its gpu.js kernels (${bc.backend})`, async () => {
      const loss = await load('dice', {}, { backend: bc.backend });
      const reference = await load('dice', {}, { backend: 'reference' });
      const gpuKernels = () => (loss as unknown as { gpu: { gpu: { kernels: unknown[] } } }).gpu.gpu.kernels.length;
      const shape = (i: number) => [1, 4, 4 + i, 2];
      const counts: number[] = [];
      for (let i = 0; i < MAX_SHAPE_KERNELS + 4; i++) {
        await loss.valueAndGrad(inputs(shape(i)), shape(i));
        counts.push(gpuKernels());
      }
      expect(loss.cachedShapes).toBe(MAX_SHAPE_KERNELS);
      expect(counts.at(-1)).toBe(counts[MAX_SHAPE_KERNELS - 1]);
      const again = await loss.valueAndGrad(inputs(shape(0)), shape(0));
      const want = await reference.valueAndGrad(inputs(shape(0)), shape(0));
      expect(Math.abs(again.value - want.value)).toBeLessThan(1e-5);
      expect(gpuKernels()).toBe(counts.at(-1));
      loss.dispose();
      reference.dispose();
    });
  }
});

test('a loss compiled before is unaffected by the cycles of others: interning keeps identity for live nodes', async () => {
  const kept: CompiledLoss = await load('dice', {}, { backend: 'js', threads: 1 });
  const shape = [2, 5, 6, 3];
  const data = inputs(shape);
  const first = await kept.valueAndGrad(data, shape);
  for (let i = 0; i < 20; i++) (await load('dice', { smooth_nr: 2e-5 + i * 1e-9 }, { backend: 'js', threads: 1 })).dispose();
  await heapAfterGc();
  const again = await kept.valueAndGrad(data, shape);
  expect(again.value).toBe(first.value);
  expect([...again.grad]).toEqual([...first.grad]);
  // A fresh compile of the same source meets the same live nodes: the same graph, node for node.
  const twin = await load('dice', {}, { backend: 'js', threads: 1 });
  expect(twin.ir().value).toBe(kept.ir().value);
  expect(twin.ir().grad).toBe(kept.ir().grad);
  twin.dispose();
  kept.dispose();
});
