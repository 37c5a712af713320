// TensorFlow.js plumbing for the spatial ops' tfjs rules (the oracle the table
// tests compare the float64 loops with): the evaluator's fixed-rank tensors as
// single-channel images, as rows, or as [before, axis, after] along one axis,
// and a scale level's lattice and its inverse placement.

import type * as TF from '@tensorflow/tfjs-core';
import type { Axes } from '../ir.ts';
import type { TfContext } from './types.ts';

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** Spatial ops in tfjs: the evaluator's [b, c, (z), y, x] tensors as single-channel images. */
export function asImages(t: typeof TF, x: TF.Tensor, ctx: TfContext): [TF.Tensor, (y: TF.Tensor) => TF.Tensor] {
  const shape = x.shape;
  const sp = ctx.space.map((a) => shape[ctx.axis(a)]!);
  const n = x.size / prod(sp);
  return [t.reshape(x, [n, ...sp, 1]), (y) => t.reshape(y, shape)];
}

/**
 * A 3-D max pool whose window is 1 wide along some axis, as a 2-D max pool over the other two (that axis
 * moved next to the batch): tfjs 4.22's maxPool3d gradient is wrong for such windows ((1, 3, 1) sends the
 * adjoint to the wrong elements), its 2-D one is right.
 */
export function maxPool3dAsImages(t: typeof TF, img: TF.Tensor5D, k: readonly number[]): TF.Tensor5D {
  const [n, D, H, W] = img.shape;
  const pool = (x: TF.Tensor4D, kk: number[]) => t.maxPool(x, kk as [number, number], 1, 'same');
  if (k[0] === 1) return t.reshape(pool(t.reshape(img, [n * D, H, W, 1]), [k[1]!, k[2]!]), img.shape);
  if (k[1] === 1 && k[2] === 1) return t.reshape(pool(t.reshape(img, [n, D, H * W, 1]), [k[0]!, 1]), img.shape);
  // (kd, kh, 1): W next to the batch; (kd, 1, kw): H next to the batch.
  const perm = k[2] === 1 ? [0, 3, 1, 2, 4] : [0, 2, 1, 3, 4];
  const moved = t.transpose(img, perm);
  const [, a, b, c] = moved.shape;
  const pooled = t.reshape(pool(t.reshape(moved, [n * a, b, c, 1]), [k[0]!, k[2] === 1 ? k[1]! : k[2]!]), moved.shape);
  return t.transpose(pooled, perm.map((_, i) => perm.indexOf(i))) as TF.Tensor5D;
}

/** f on x seen as [before, axis ax, after]; back at x's rank, axis ax as long as f made it. */
export function alongAxis(t: typeof TF, x: TF.Tensor, ax: number, f: (x3: TF.Tensor3D) => TF.Tensor3D): TF.Tensor {
  const sh = x.shape;
  const y = f(t.reshape(x, [prod(sh.slice(0, ax)), sh[ax]!, prod(sh.slice(ax + 1))]));
  return t.reshape(y, [...sh.slice(0, ax), y.shape[1], ...sh.slice(ax + 1)]);
}

/** Every q-th element along the middle axis (a scale level's lattice): [a, n, b] → [a, ceil(n/q), b]. */
export function lattice(t: typeof TF, x: TF.Tensor3D, q: number): TF.Tensor3D {
  if (q === 1) return x;
  const [a, n, b] = x.shape;
  const m = Math.ceil(n / q);
  const rows = t.reshape(t.pad(x, [[0, 0], [0, m * q - n], [0, 0]]), [a, m, q, b]);
  return t.reshape(t.slice(rows, [0, 0, 0, 0], [a, m, 1, b]), [a, m, b]);
}

/** The inverse placement: element k at k·q along the middle axis, zeros between, n long. */
export function spread(t: typeof TF, y: TF.Tensor3D, q: number, n: number): TF.Tensor3D {
  const [a, m, b] = y.shape;
  const z = t.reshape(t.pad(t.reshape(y, [a, m, 1, b]), [[0, 0], [0, 0], [0, q - 1], [0, 0]]), [a, m * q, b]);
  return t.slice(z, [0, 0, 0], [a, n, b]) as TF.Tensor3D;
}

/**
 * The evaluator's tensors as rows: one row per slice of the axes not in `over`, the axes `over` flattened
 * in canonical order (batch first), as sortSlices orders them.
 */
export function asRows(t: typeof TF, x: TF.Tensor, ctx: TfContext, over: Axes): [TF.Tensor2D, (y: TF.Tensor) => TF.Tensor] {
  const inner = [...over].map((a) => ctx.axis(a)).sort((a, b) => a - b);
  const perm = [...x.shape.keys()].filter((i) => !inner.includes(i)).concat(inner);
  const n = inner.reduce((a, i) => a * x.shape[i]!, 1);
  const moved = t.transpose(x, perm);
  const inv = perm.map((_, i) => perm.indexOf(i));
  return [t.reshape(moved, [x.size / n, n]), (y) => t.transpose(t.reshape(y, moved.shape), inv)];
}
