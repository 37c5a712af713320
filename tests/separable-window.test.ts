// Separable windows: a d-dimensional window is d nested 1-D windows, k taps per
// axis instead of k^d. Oracle: TensorFlow.js convolutions with the full product
// kernel (tf.depthwiseConv2d of the 11x11 Gaussian, conv3d of the 11x11x11 one),
// zero padded ('same'); at a coarser scale level, the dilated convolution at the
// level's lattice points (0 elsewhere).

import type { Tensor, Tensor4D, Tensor5D } from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import * as B from '../src/compiler/core/build.ts';
import { emitPass } from '../src/compiler/codegen/kernel.ts';
import { staticValues } from '../src/runtime/program.ts';
import { frontend } from '../src/runtime/sources.ts';
import { type Axes, type WindowArg, toposort } from '../src/compiler/core/ir.ts';
import { plan } from '../src/compiler/plan/plan.ts';
import { gaussianWeights } from '../src/compiler/core/ops/f64-loops.ts';
import { rng } from '../src/tools/check.ts';
import { type Sizes, canonicalAxes, count, sizesOf } from '../src/compiler/core/layout.ts';
import { compile } from '../src/index.ts';
import { evaluate } from '../src/compiler/core/reference.ts';
import { tfjs } from '../src/tools/tfjs.ts';

const tf = await tfjs('cpu');
const W = gaussianWeights(11, 1.5);
const SPACE: Record<2 | 3, Axes> = { 2: ['y', 'x'], 3: ['z', 'y', 'x'] };

/** The full product kernel of W, [k, k(, k)]: what tf.image.ssim convolves with. */
function fullKernel(dims: 2 | 3): number[] {
  return dims === 2 ? W.flatMap((a) => W.map((b) => a * b)) : W.flatMap((a) => W.flatMap((b) => W.map((c) => a * b * c)));
}

/**
 * The full-kernel window of channels-last images [b, (z,) y, x, c], zero padded: in 2-D a depthwise
 * convolution (taps `dilation` apart; 0 off the lattice of every dilation-th point), in 3-D conv3d per channel.
 */
function oracle(img: Tensor, dims: 2 | 3, dilation = 1): Tensor {
  const k = W.length;
  const C = img.shape[img.rank - 1]!;
  let y: Tensor;
  if (dims === 2) {
    const f = tf.tile(tf.tensor4d(fullKernel(2), [k, k, 1, 1]), [1, 1, C, 1]) as Tensor4D;
    y = tf.depthwiseConv2d(img as Tensor4D, f, 1, 'same', 'NHWC', dilation);
  } else {
    // Channels to the batch axis: [b, z, y, x, c] → [b·c, z, y, x, 1].
    const [Z, Y, X] = img.shape.slice(1, -1) as [number, number, number];
    const perChannel = tf.reshape(tf.transpose(img, [0, 4, 1, 2, 3]), [-1, Z, Y, X, 1]) as Tensor5D;
    const out = tf.conv3d(perChannel, tf.tensor5d(fullKernel(3), [k, k, k, 1, 1]), 1, 'same');
    y = tf.transpose(tf.reshape(out, [img.shape[0]!, C, Z, Y, X]), [0, 2, 3, 4, 1]);
  }
  if (dilation === 1) return y;
  const [Y, X] = [img.shape[1]!, img.shape[2]!];
  const lattice = Float32Array.from({ length: Y * X }, (_, i) => (Math.floor(i / X) % dilation === 0 && (i % X) % dilation === 0 ? 1 : 0));
  return tf.mul(y, tf.tensor4d(lattice, [1, Y, X, 1]));
}

/** Canonical order [b, c, (z,) y, x] → channels last. */
const channelsLast = (x: Float64Array, s: Sizes, dims: 2 | 3): Tensor => {
  const sp = SPACE[dims].map((a) => s[a]);
  return tf.transpose(tf.tensor(Float32Array.from(x), [s.batch, s.class, ...sp]), dims === 2 ? [0, 2, 3, 1] : [0, 2, 3, 4, 1]);
};

const CASES: { name: string; dims: 2 | 3; shape: number[] }[] = [
  // y past the window, x under it (taps fall off both ends of x).
  { name: '2-D 2x23x9x3', dims: 2, shape: [2, 23, 9, 3] },
  { name: '3-D 1x7x12x13x2', dims: 3, shape: [1, 7, 12, 13, 2] },
];

describe('a window is one 1-D window per spatial axis', () => {
  test.each([2, 3] as const)('%i-D: the IR nests 1-D windows, x innermost', (dims) => {
    const w = B.window(B.input('x', canonicalAxes(dims)), W, SPACE[dims]);
    const axes = toposort([w]).filter((n) => n.op === 'window').map((n) => (n.arg as WindowArg).axis);
    expect(axes).toEqual([...SPACE[dims]].reverse());
  });

  test.each([2, 3] as const)('%i-D: the kernels of window(p·p) and its adjoint read 2 · d · 11 taps (not 2 · 11^d)', (dims) => {
    const ir = frontend('loss w(p: prob)\n  = mean(window(p * p, gaussian(11, 1.5)))', 'w.loss', { dims }).ir!;
    const p = plan(ir.value, ir.grad);
    const { sizes } = sizesOf(dims === 2 ? [2, 32, 32, 1] : [1, 16, 16, 16, 1], 'nhwc');
    const smallOffset = new Map<number, number>();
    let off = 0;
    for (const n of p.smallInputs) { smallOffset.set(n.id, off); off += count(n.axes, sizes); }
    const ctx = { sizes, dims, layout: 'nhwc' as const, smallOffset, statics: staticValues(p, sizes), slots: p.slots };
    // One `acc += weight * value` per tap in the gpu.js source.
    const taps = p.passes.map((x) => emitPass(p, x, ctx).source.match(/\+= [\d.e-]+ \* /g)?.length ?? 0);
    expect(taps.reduce((a, b) => a + b, 0)).toBe(2 * dims * 11);
  });
});

describe('separable window = the full product kernel (oracle: tf.depthwiseConv2d / conv3d)', () => {
  test.each(CASES)('reference semantics, $name', ({ dims, shape }) => {
    const { sizes } = sizesOf(shape, 'nhwc');
    const axes = canonicalAxes(dims);
    const r = rng(7);
    const x = Float64Array.from({ length: count(axes, sizes) }, () => Math.fround(2 * r() - 1));
    const levels = dims === 2 ? [1, 2] : [1];
    for (const q of levels) {
      const ours = evaluate([B.window(B.input('x', axes), W, SPACE[dims], q)], { x }, sizes)[0]!.data;
      const theirs = oracle(channelsLast(x, sizes, dims), dims, q);
      const want = channelsLast(ours, sizes, dims).dataSync();
      const got = theirs.dataSync();
      // tfjs sums ≤ 1331 float32 products of magnitude ≤ 1 with weights summing to 1: within 1e-6.
      for (let i = 0; i < got.length; i++) expect(Math.abs(want[i]! - got[i]!)).toBeLessThanOrEqual(1e-6);
    }
  });

  test.each(CASES)('js kernels (the gradient of mean(g · window(p)) is window(g) / N), $name', async ({ dims, shape }) => {
    const loss = await compile('loss w(p: prob, g: target)\n  = mean(g * window(p, gaussian(11, 1.5)))', { file: 'w.loss', backend: 'js' });
    const n = shape.reduce((a, b) => a * b, 1);
    const r = rng(11);
    const p = Float32Array.from({ length: n }, () => r());
    const g = Float32Array.from({ length: n }, () => r());
    const { grad } = await loss.valueAndGrad({ p, g }, shape);
    const want = tf.mul(oracle(tf.tensor(g, shape), dims), 1 / n).dataSync();
    // Float32 sums of ≤ 33 terms (ours) and ≤ 1331 (tfjs) of magnitude ≤ 1/N.
    for (let i = 0; i < n; i++) expect(Math.abs(grad[i]! - want[i]!) * n).toBeLessThanOrEqual(1e-5);
  });
});
