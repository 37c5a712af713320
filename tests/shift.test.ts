// The shift builtin (shift[axis](e, k): e at c + k along one spatial axis, 0
// outside the image) through the whole compiler: a smoothed anisotropic total
// variation, sqrt(d² + ε²) of the forward differences along x and y,
// masked to where the forward neighbour exists. Oracles: TensorFlow.js autodiff
// of the same TV written with tf.slice/tf.sub (float32), central finite
// differences of the float64 reference, and the js backend's kernels against
// the float64 reference. Also its errors (E222 without one spatial axis, E221
// for an offset that is not a constant integer).

import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, test } from 'vitest';
import { type CompiledLoss, compile } from '../src/index.ts';
import { frontend } from '../src/runtime/sources.ts';
import { rng } from '../src/tools/check.ts';
import { tfjs } from '../src/tools/tfjs.ts';

const EPS = 0.05;
const TV2 = `loss tv(p: prob, g: target; eps = ${EPS})
  dx = (shift[x](p, 1) - p) * shift[x](1, 1)
  dy = (shift[y](p, 1) - p) * shift[y](1, 1)
  = mean(sqrt(dx * dx + eps * eps) + sqrt(dy * dy + eps * eps))
`;
// Backward along y, two steps along x (a formula compiles for 2-D data first, so it names no z).
const TV3 = `loss tv(p: prob, g: target; eps = ${EPS})
  dy = (shift[y](p, -1) - p) * shift[y](1, -1)
  dx = (shift[x](p, 2) - p) * shift[x](1, 2)
  = mean(sqrt(dy * dy + eps * eps) + sqrt(dx * dx + eps * eps))
`;

/** Channels-last: [B, H, W, C] or [B, D, H, W, C]; per spatial axis (index into the shape), the offset. */
const CASES = [
  { name: '2-D [2, 5, 6, 2]', src: TV2, shape: [2, 5, 6, 2], offsets: [[2, 1], [1, 1]] },
  { name: '3-D [1, 4, 5, 6, 1]', src: TV3, shape: [1, 4, 5, 6, 1], offsets: [[2, -1], [3, 2]] },
] as const;

const open: CompiledLoss[] = [];
afterAll(() => open.forEach((l) => l.dispose()));

function inputs(shape: readonly number[], seed: number) {
  const u = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return { p: Float32Array.from({ length: n }, () => Math.fround(0.05 + 0.9 * u())), g: new Float32Array(n) };
}

/** The same TV in TensorFlow.js: forward differences by slicing, masked terms (ε each) counted in the mean. */
async function tfTv(shape: readonly number[], offsets: readonly (readonly [number, number])[], p: Float32Array): Promise<{ value: number; grad: Float32Array }> {
  const tf = await tfjs();
  const n = p.length;
  const f = (x: Tensor): Scalar => {
    let total = tf.scalar(0);
    for (const [d, k] of offsets) {
      const m = shape[d]! - Math.abs(k);
      const at = (start: number) => tf.slice(x, shape.map((_, i) => (i === d ? start : 0)), shape.map((e, i) => (i === d ? m : e)));
      // Where c + k is inside: x[c + k] − x[c]; elsewhere the difference is masked to 0 and the term is ε.
      const diff = k > 0 ? tf.sub(at(k), at(0)) : tf.sub(at(0), at(-k));
      const terms = tf.sum(tf.sqrt(tf.add(tf.square(diff), EPS * EPS)));
      total = tf.add(total, tf.add(terms, (n - diff.size) * EPS));
    }
    return tf.div(total, n) as Scalar;
  };
  const x = tf.tensor(p, [...shape]);
  const { value, grad } = tf.valueAndGrad(f)(x);
  const out = { value: (await value.data())[0]!, grad: Float32Array.from(await grad.data()) };
  tf.dispose([x, value, grad]);
  return out;
}

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe.each(CASES)('total variation with shift, $name', ({ src, shape, offsets }) => {
  const data = inputs(shape, 11);

  test('value and gradient equal TensorFlow.js autodiff of the same TV (tf.slice, tf.sub)', async () => {
    const ref = await compile(src, { backend: 'reference' });
    open.push(ref);
    const ours = await ref.valueAndGrad(data, shape);
    const theirs = await tfTv(shape, offsets, data.p);
    expect(Math.abs(ours.value - theirs.value)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(theirs.value)));
    const scale = Math.max(...Array.from(theirs.grad, Math.abs));
    expect(scale).toBeGreaterThan(0);
    expect(maxAbs(ours.grad, theirs.grad)).toBeLessThanOrEqual(1e-5 * scale);
  });

  test('gradient equals central finite differences of the float64 reference', async () => {
    const ref = await compile(src, { backend: 'reference' });
    open.push(ref);
    const { grad } = await ref.valueAndGrad(data, shape);
    const p = Float64Array.from(data.p);
    const h = 1e-5;
    for (let i = 0; i < p.length; i++) {
      const at = async (v: number) => { const q = Float64Array.from(p); q[i] = v; return (await ref.value({ p: q, g: data.g }, shape)).value; };
      const fd = ((await at(p[i]! + h)) - (await at(p[i]! - h))) / (2 * h);
      expect(Math.abs(grad[i]! - fd), `element ${i}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(fd)));
    }
  });

  test('the js backend\'s kernels equal the float64 reference', async () => {
    const js = await compile(src, { backend: 'js', threads: 1 });
    const ref = await compile(src, { backend: 'reference' });
    open.push(js, ref);
    for (const seed of [1, 2, 3]) {
      const d = inputs(shape, seed);
      const got = await js.valueAndGrad(d, shape);
      const want = await ref.valueAndGrad(d, shape);
      expect(got.backend).toBe('js');
      expect(Math.abs(got.value - want.value)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want.value)));
      const scale = Math.max(...Array.from(want.grad, Math.abs));
      expect(maxAbs(got.grad, want.grad)).toBeLessThanOrEqual(1e-5 * scale);
    }
  });
});

describe('shift: errors', () => {
  const codes = (body: string) => frontend(`loss l(p: prob, g: target)\n  = mean(${body})\n`, 'l.loss').diagnostics.map((d) => d.code);
  test('one spatial axis, named (E222)', () => {
    expect(codes('shift(p, 1)')).toContain('E222');
    expect(codes('shift[y, x](p, 1)')).toContain('E222');
    expect(codes('shift[class](p, 1)')).toContain('E222');
  });
  test('the offset is a constant integer (E221)', () => {
    expect(codes('shift[x](p, 0.5)')).toContain('E221');
    expect(codes('shift[x](p, sum(p))')).toContain('E221');
    expect(codes('shift[x](p, 1)')).toEqual([]);
  });
});
