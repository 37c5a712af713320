// Zero-copy calls (issue 14): `loss.alloc(shape)` hands out arrays in the memory the
// kernels read. Inputs written there are read in place (no copy into shared memory),
// and an `out` from it receives the gradient in place. Oracles: the same call on
// plain arrays (bit for bit), and the float64 reference backend; that nothing was
// copied is read from the shape's pool of working arrays, where copies of inputs go.

import { describe, expect, test } from 'vitest';
import { load } from '../src/runtime/loss.ts';

const fill = (a: Float32Array, f: (i: number) => number) => { for (let i = 0; i < a.length; i++) a[i] = f(i); return a; };
/** Full-size arrays in the loss's per-shape pools (copies of inputs; dice and bce hold no buffers). */
const copies = (loss: object, n: number) => {
  const byDims = (loss as unknown as { byDims: Map<number, { shapes: Map<string, { scratch?: Float32Array[] }> }> }).byDims;
  return [...byDims.values()].flatMap((d) => [...d.shapes.values()]).flatMap((k) => k.scratch ?? []).filter((a) => a.length === n).length;
};

describe('loss.alloc', () => {
  // 1x128x128x4 = 65,536 elements: the js backend's threaded path (MIN_THREADED_ELEMENTS).
  const shape = [1, 128, 128, 4];
  for (const [name, backend] of [['dice', 'js'], ['bce', 'js'], ['dice', 'wasm'], ['bce', 'wasm']] as const) {
    test(`${name}, ${backend} with 2 threads: inputs read in place, the gradient written into out, bits equal a copying call`, async () => {
      const loss = await load(name, {}, { backend, threads: 2 });
      const p = loss.alloc(shape);
      const g = loss.alloc(shape);
      const out = loss.alloc(shape);
      expect(p.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(p.length).toBe(65536);
      const oracle = await load(name, {}, { backend, threads: 2 });
      const reference = await load(name, {}, { backend: 'reference' });
      // A training loop: each step writes new predictions into the same array and reads the gradient in place.
      for (let step = 0; step < 3; step++) {
        fill(p, (i) => 0.05 + 0.9 * (((i * 37 + step * 11) % 97) / 97));
        fill(g, (i) => ((i + step) % 3 === 0 ? 1 : 0));
        const r = await loss.valueAndGrad({ p, g }, shape, { out });
        expect(r.grad).toBe(out);
        expect(copies(loss, 65536)).toBe(0);
        const plain = await oracle.valueAndGrad({ p: Float32Array.from(p), g: Float32Array.from(g) }, shape);
        expect(r.value).toBe(plain.value);
        expect(out).toEqual(plain.grad);
        const want = await reference.valueAndGrad({ p, g }, shape);
        expect(Math.abs(r.value - want.value)).toBeLessThan(1e-4 * Math.max(1, Math.abs(want.value)));
      }
      // Plain arrays are copied into shared memory (wasm: its memory) once per call, into arrays the shape's pool keeps.
      expect(copies(oracle, 65536)).toBe(2);
      for (const l of [loss, oracle, reference]) l.dispose();
    });
  }

  test('one thread, a small shape, another backend: a plain Float32Array, read in place all the same', async () => {
    const one = await load('dice', {}, { backend: 'js', threads: 1 });
    expect(one.alloc(shape).buffer).toBeInstanceOf(ArrayBuffer);
    const two = await load('dice', {}, { backend: 'js', threads: 2 });
    const small = [2, 8, 8, 1];
    expect(two.alloc(small).buffer).toBeInstanceOf(ArrayBuffer);
    const p = fill(two.alloc(small), (i) => (i % 10) / 10);
    const g = fill(two.alloc(small), (i) => i % 2);
    const out = two.alloc(small);
    const r = await two.valueAndGrad({ p, g }, small, { out });
    expect(r.grad).toBe(out);
    const sync = one.valueAndGradSync({ p, g }, small, { out: one.alloc(small) });
    expect(r.value).toBe(sync.value);
    expect(out).toEqual(sync.grad);
    const reference = await load('dice', {}, { backend: 'reference' });
    expect(reference.alloc(small)).toHaveLength(128);
    for (const l of [one, two, reference]) l.dispose();
  });
});

describe('calls in flight together on one shape', () => {
  // Before, threaded calls on one shape shared the loss's shared-memory copies of the inputs and each
  // runner's scratch output: four calls at once returned each other's values. Oracle: the same calls in turn.
  for (const [name, backend] of [['dice', 'js'], ['bce', 'js'], ['ssim', 'js'], ['dice', 'wasm'], ['ssim', 'wasm']] as const) {
    test(`${name}, ${backend} with 2 threads: equal to the same calls one after another, bit for bit`, async () => {
      const loss = await load(name, {}, { backend, threads: 2 });
      const shape = [2, 128, 128, 2];
      const n = 65536;
      const inputs = [0, 1, 2, 3].map((k) => ({
        p: Float32Array.from({ length: n }, (_, i) => 0.05 + 0.9 * (((i * 37 + k * 13) % 97) / 97)),
        g: Float32Array.from({ length: n }, (_, i) => ((i + k) % 3 === 0 ? 1 : 0)),
      }));
      const inTurn: Awaited<ReturnType<typeof loss.valueAndGrad>>[] = [];
      for (const x of inputs) inTurn.push(await loss.valueAndGrad(x, shape));
      const together = await Promise.all(inputs.map((x) => loss.valueAndGrad(x, shape)));
      together.forEach((r, i) => {
        expect(r.value).toBe(inTurn[i]!.value);
        expect(r.grad).toEqual(inTurn[i]!.grad);
      });
      loss.dispose();
    });
  }
});

describe('the wasm backend\'s memory (backends/wasm-arena.ts)', () => {
  const arenaOf = (loss: object) => (loss as unknown as { arena: { used: number; size: number } }).arena;

  test('every region a loss took is given back when it drops its kernels; ever-new shapes reuse the memory', async () => {
    const loss = await load('ssim', {}, { backend: 'wasm', threads: 1 });
    const reference = await load('ssim', {}, { backend: 'reference' });
    const arena = arenaOf(loss);
    let peak = 0;
    // 20 shapes, more than the per-dimensionality cache (MAX_SHAPE_KERNELS = 8): the oldest are dropped as new ones come.
    for (let k = 0; k < 20; k++) {
      const shape = [1, 40 + k, 48, 1];
      const n = shape.reduce((a, b) => a * b, 1);
      const p = Float32Array.from({ length: n }, (_, i) => ((i * 7 + k) % 13) / 13);
      const g = Float32Array.from({ length: n }, (_, i) => ((i + k) % 5 === 0 ? 1 : 0));
      const r = await loss.valueAndGrad({ p, g }, shape);
      if (k % 5 === 0) {
        const want = await reference.valueAndGrad({ p, g }, shape);
        expect(Math.abs(r.value - want.value)).toBeLessThan(1e-4 * Math.max(1, Math.abs(want.value)));
      }
      peak = Math.max(peak, arena.used);
    }
    // Each shape holds under 60 kB of inputs and buffers per array; 8 shapes kept, never 20.
    expect(loss.cachedShapes).toBe(8);
    expect(arena.size).toBeLessThan(2 * peak + 4 * 65536);
    loss.dispose();
    expect(arena.used).toBe(0);
    reference.dispose();
  });

  test('a probability outside [0, 1] is refused with its index and value, before any work, from its memory\'s check', async () => {
    const loss = await load('dice', {}, { backend: 'wasm', threads: 1 });
    const shape = [1, 9, 9, 1];
    const g = new Float32Array(81);
    for (const [i, x] of [[0, -0.5], [77, 1.25], [80, 2]] as const) {
      const p = new Float32Array(81).fill(0.5);
      p[i] = x;
      // Tails shorter than a vector (81 = 20 vectors + 1) and the first lane alike.
      await expect(loss.valueAndGrad({ p, g }, shape)).rejects.toThrow(`input 'p' of loss 'dice' holds probabilities, but element ${i} is ${x}, outside [0, 1]`);
      const own = loss.alloc(shape);
      own.set(p);
      expect(() => loss.valueAndGradSync({ p: own, g }, shape)).toThrow(`element ${i} is ${x}`);
    }
    // NaN is not outside [0, 1] (it propagates, as on every backend).
    const p = new Float32Array(81).fill(0.5);
    p[3] = Number.NaN;
    expect(Number.isNaN((await loss.valueAndGrad({ p, g }, shape)).value)).toBe(true);
    loss.dispose();
  });
});
