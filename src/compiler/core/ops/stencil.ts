// The stencil ops: windows (separable, dilated at coarser scale levels), max
// pooling and its gradient (poolarg, poolgrad), the interior mask, and 2x
// average pooling with its adjoint. Each reads its sources at shifted
// positions inside a kernel. Per op: the float64 loop (the definition), the
// gradient in IR ops, the TensorFlow.js rule (the oracle), which sources it
// shifts, its scale level, and how its argument prints. Its kernel emit is
// still in codegen.

import type * as TF from '@tensorflow/tfjs-core';
import * as B from '../build.ts';
import { type Op, type WindowArg, isSpatial } from '../ir.ts';
import { avgpool2Ref, boxWeights, gaussianWeights, interiorRef, levelExtent, maxpoolRef, poolargRef, poolgradRef, unpool2Ref, windowRef } from './f64-loops.ts';
import { alongAxis, asImages, lattice, maxPool3dAsImages, spread } from './tf-helpers.ts';
import type { StencilRecord } from './types.ts';

function stencil(op: Op, arity: number, r: Omit<StencilRecord, 'op' | 'arity' | 'kind'>): StencilRecord {
  return { op, arity, kind: 'stencil', ...r };
}

export const STENCIL = {
  window: stencil('window', 1, {
    shifted: [0], fullResolution: false,
    // k taps at each of the 1 in q^d points of its level's lattice.
    tapsPerElement: (n) => { const { weights, dilation } = n.arg as WindowArg; return weights.length / dilation ** n.axes.filter(isSpatial).length; },
    argText: (n) => { const { weights, dilation } = n.arg as WindowArg; return [`${weights.length} taps`, ...(dilation > 1 ? [`dilation ${dilation}`] : [])]; },
    ref: ([x], n, outer, dims) => {
      const a = n.arg as WindowArg;
      return windowRef(x!, outer, dims, n.axes.filter(isSpatial).findIndex((b) => b === a.axis), a.weights, a.dilation);
    },
    // Symmetric weights, zero padding: the window is its own adjoint (also dilated and
    // masked to its lattice: at a lattice point it reads lattice points only).
    vjp: (g, out) => [B.like(out, [g])],
    // A convolution whose kernel is the weights along the window's axis (1 along the others).
    tf: (t, [x], n, ctx) => {
      const { weights: w, axis, dilation: q } = n.arg as WindowArg;
      const conv = (v: TF.Tensor) => {
        const [img, back] = asImages(t, v, ctx);
        const shape = ctx.space.map((a) => (a === axis ? w.length : 1));
        if (ctx.space.length === 2) return back(t.conv2d(img as TF.Tensor4D, t.tensor4d([...w], [shape[0]!, shape[1]!, 1, 1]), 1, 'same'));
        return back(t.conv3d(img as TF.Tensor5D, t.tensor5d([...w], [shape[0]!, shape[1]!, shape[2]!, 1, 1]), 1, 'same'));
      };
      if (q === 1) return conv(x!);
      // A coarser level: the window of the level's image (its lattice), put back on the full grid.
      // (tfjs has no gradient for dilated convolutions.)
      const dims = ctx.space.map((a) => x!.shape[ctx.axis(a)]!);
      let y = ctx.space.reduce((v, a) => alongAxis(t, v, ctx.axis(a), (l) => lattice(t, l, q)), x!);
      y = conv(y);
      return ctx.space.reduce((v, a, i) => alongAxis(t, v, ctx.axis(a), (l) => spread(t, l, q, dims[i]!)), y);
    },
    // Text and LaTeX: print.ts, which shows the 1-D windows of one separable window as one.
    print: { fn: 'window' },
    examples: [
      { weights: gaussianWeights(3, 1), axis: 'x', dilation: 1 },
      { weights: gaussianWeights(5, 1.5), axis: 'y', dilation: 1 },
      { weights: gaussianWeights(5, 1.5), axis: 'x', dilation: 2 },
      { weights: boxWeights(3), axis: 'y', dilation: 4 },
    ],
  }),
  maxpool: stencil('maxpool', 1, {
    shifted: [0], fullResolution: true, argText: (n) => [String(n.arg)],
    // arg: the width of a cube window, or the widths per spatial axis (an axis-wise window, B.poolArg).
    ref: ([x], n, outer, dims) => maxpoolRef(x!, outer, dims, n.arg as number | number[]),
    // Subgradient: each window's adjoint goes to its first maximum (poolarg), as TensorFlow's.
    vjp: (g, out) => [B.poolgrad(g, B.poolarg(out.src[0]!, out.arg), out.arg)],
    // 'same' with stride 1 and odd widths pads (k − 1)/2 per side, which tfjs's max pool skips (−∞ padding).
    tf: (t, [x], n, ctx) => {
      const k = B.poolWidths(n.arg, ctx.space.length);
      const [img, back] = asImages(t, x!, ctx);
      if (ctx.space.length === 2) return back(t.maxPool(img as TF.Tensor4D, k as [number, number], 1, 'same'));
      if (k.every((w) => w === k[0])) return back(t.maxPool3d(img as TF.Tensor5D, k[0]!, 1, 'same'));
      return back(maxPool3dAsImages(t, img as TF.Tensor5D, k));
    },
    print: { fn: 'maxpool' },
    latex: ([x]) => `\\operatorname{maxpool}(${x})`,
  }),
  poolarg: stencil('poolarg', 1, {
    shifted: [0], fullResolution: true, argText: (n) => [String(n.arg)],
    ref: ([x], n, outer, dims) => poolargRef(x!, outer, dims, n.arg as number | number[]),
    tf: () => { throw new Error('internal: poolarg appears only in gradients, which tfjs computes itself'); },
    print: { fn: 'poolarg' },
  }),
  poolgrad: stencil('poolgrad', 2, {
    shifted: [0, 1], fullResolution: true, argText: (n) => [String(n.arg)],
    ref: ([g, a], n, outer, dims) => poolgradRef(g!, a!, outer, dims, n.arg as number | number[]),
    tf: () => { throw new Error('internal: poolgrad appears only in gradients, which tfjs computes itself'); },
    print: { fn: 'poolgrad' },
  }),
  interior: stencil('interior', 0, {
    // A formula of the coordinates: it reads no sources, so it is recomputed wherever it is needed.
    shifted: [], fullResolution: false,
    argText: (n) => { const [k, level] = n.arg as number[]; return level ? [String(k), String(level)] : [String(k)]; },
    level: (n) => (n.arg as number[])[1]!,
    ref: (_x, n, outer, dims) => { const [k, level] = n.arg as number[]; return interiorRef(outer, dims, k!, level); },
    tf: (t, _x, n, ctx) => {
      const dims = ctx.space.map((a) => ctx.size([a]));
      const [k, level] = n.arg as number[];
      return t.reshape(t.tensor(Float32Array.from(interiorRef(1, dims, k!, level))), ctx.shape(n.axes));
    },
    print: { fn: 'interior' },
    latex: () => '\\mathbb{1}_{\\mathrm{interior}}',
  }),
  avgpool2: stencil('avgpool2', 1, {
    shifted: [0], fullResolution: false, argText: () => [],
    level: (n) => (n.arg as number) + 1,
    ref: ([x], n, outer, dims) => avgpool2Ref(x!, outer, dims, n.arg as number),
    vjp: (g, out) => [B.unpool2(g, out.arg as number)],
    // Per axis: the level's lattice, SYMMETRIC pad of an odd extent, means of pairs, back on the full grid.
    tf: (t, [x], n, ctx) => {
      const q = 2 ** (n.arg as number);
      return ctx.space.reduce((v, a) => alongAxis(t, v, ctx.axis(a), (l) => {
        let img = lattice(t, l, q);
        const [pre, m, post] = img.shape;
        if (m % 2 === 1) img = t.concat([img, t.slice(img, [0, m - 1, 0], [pre, 1, post])], 1);
        const pooled = t.mean(t.reshape(img, [pre, (m + (m % 2)) / 2, 2, post]), 2) as TF.Tensor3D;
        return spread(t, pooled, 2 * q, l.shape[1]);
      }), x!);
    },
    print: { fn: 'avgpool2' },
    latex: ([x]) => `\\operatorname{avgpool}_2(${x})`,
    examples: [0, 1, 2],
  }),
  unpool2: stencil('unpool2', 1, {
    shifted: [0], fullResolution: false, argText: (n) => [String(n.arg)],
    level: (n) => n.arg as number,
    ref: ([g], n, outer, dims) => unpool2Ref(g!, outer, dims, n.arg as number),
    // The adjoint of the adjoint is avgpool2 itself.
    vjp: (g, out) => [B.avgpool2(g, out.arg as number, out.axes.filter((a) => a === 'z' || a === 'y' || a === 'x'))],
    // Per axis: the coarser lattice, each value twice (half each; the padded end's whole), on the level's lattice.
    tf: (t, [g], n, ctx) => {
      const level = n.arg as number;
      const q = 2 ** level;
      return ctx.space.reduce((v, a) => alongAxis(t, v, ctx.axis(a), (l) => {
        const ns = levelExtent(l.shape[1], level);
        const c = lattice(t, l, 2 * q);
        const [pre, m, post] = c.shape;
        const col = t.reshape(c, [pre, m, 1, post]);
        const twice = t.slice(t.reshape(t.concat([col, col], 2), [pre, 2 * m, post]), [0, 0, 0], [pre, ns, post]);
        const w = t.tensor3d(Float32Array.from({ length: ns }, (_, j) => (j === ns - 1 && ns % 2 === 1 ? 1 : 0.5)), [1, ns, 1]);
        return spread(t, t.mul(twice, w), q, l.shape[1]);
      }), g!);
    },
    print: { fn: 'unpool2' },
    latex: ([x]) => `\\operatorname{avgpool}_2^{\\top}(${x})`,
    examples: [0, 1, 2],
  }),
} satisfies Partial<Record<Op, StencilRecord>>;
