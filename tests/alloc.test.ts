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
  for (const name of ['dice', 'bce']) {
    test(`${name}, js with 2 threads: inputs read in place, the gradient written into out, bits equal a copying call`, async () => {
      const loss = await load(name, {}, { backend: 'js', threads: 2 });
      const p = loss.alloc(shape);
      const g = loss.alloc(shape);
      const out = loss.alloc(shape);
      expect(p.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(p.length).toBe(65536);
      const oracle = await load(name, {}, { backend: 'js', threads: 2 });
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
      // Plain arrays are copied into shared memory once per call, into arrays the shape's pool keeps.
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
  for (const name of ['dice', 'bce', 'ssim']) {
    test(`${name}, js with 2 threads: equal to the same calls one after another, bit for bit`, async () => {
      const loss = await load(name, {}, { backend: 'js', threads: 2 });
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
