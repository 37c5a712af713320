// The stencil ops: windows (separable, dilated at coarser scale levels), max
// pooling and its gradient (poolarg, poolgrad), the interior mask, 2x average
// pooling with its adjoint, and shift (finite differences). Each reads its
// sources at shifted positions inside a kernel. Per op: the float64 loop (the definition), the
// gradient in IR ops, the TensorFlow.js rule (the oracle), which sources it
// shifts, its scale level, how its argument prints, and its kernel code
// (statements of core/kernel-ir.ts, built through the emitter's KernelEmitter
// interface: codegen dispatches to the record and lists no op).

import type * as TF from '@tensorflow/tfjs-core';
import * as B from '../build.ts';
import { UNROLL_UP_TO } from '../cost.ts';
import { type Axis, type Node, type Op, SPATIAL, type WindowArg, intern, isSpatial, sortAxes } from '../ir.ts';
import { type Expr, addTo, assign, constant, letVar, lit, loop, when } from '../kernel-ir.ts';
import { F32_MAX } from '../numbers.ts';
import { PREC } from '../precedence.ts';
import { avgpool2Ref, boxWeights, gaussianWeights, interiorRef, levelExtent, maxpoolRef, poolargRef, poolgradRef, unpool2Ref, windowRef } from './f64-loops.ts';
import { alongAxis, asImages, lattice, maxPool3dAsImages, spread } from './tf-helpers.ts';
import type { KernelEmitter, KernelScope, PrintForm, StencilRecord } from './types.ts';

declare module '../ir.ts' {
  /** The ops this file defines (core/ir.ts's Op is the union of every file's). */
  interface OpNames {
    window: true;
    maxpool: true;
    poolarg: true;
    poolgrad: true;
    interior: true;
    avgpool2: true;
    unpool2: true;
    shift: true;
  }
}

function stencil(op: Op, arity: number, r: Omit<StencilRecord, 'op' | 'arity' | 'kind'>): StencilRecord {
  return { op, arity, kind: 'stencil', ...r };
}

// Kernel code, shared by the records below.

/** The spatial axes of n that have more than one element (the others have the single coordinate 0). */
function spatialAxes(em: KernelEmitter, n: Node): Axis[] {
  return n.axes.filter((a) => (a === 'z' || a === 'y' || a === 'x') && em.ctx.sizes[a] > 1);
}

/**
 * `if (every coordinate is a multiple of q) { … }`: a scale level's lattice. The
 * scope inside it, or undefined when every point is on it.
 */
function onLattice(em: KernelEmitter, s: KernelScope, axes: readonly Axis[], q: number): KernelScope | undefined {
  if (q === 1 || axes.length === 0) return undefined;
  const branch = when(axes.map((a) => `${em.coord(s, a)} % ${q} == 0`).join(' && '));
  s.body.push(branch);
  return em.block(s, branch.body);
}

/** `if (lo <= c < hi)` for a tap's coordinate `c`: the scope inside it, at c along `axis`. */
function inside(em: KernelEmitter, s: KernelScope, cond: Expr, axis: Axis, c: Expr): KernelScope {
  const branch = when(cond);
  s.body.push(branch);
  return em.block(s, branch.body, new Map([[axis, c]]));
}

/** 1 where a k-wide window fits inside the image (at scale level s: at the level's lattice points, inside its image). */
function interiorKernel(em: KernelEmitter, s: KernelScope, n: Node): Expr {
  const [k, level] = n.arg as number[];
  const h = (k! - 1) / 2;
  const q = 2 ** level!;
  if (n.axes.some((a) => Math.ceil(em.ctx.sizes[a] / q) - 2 * h < 1)) return '0.0';
  const conds: string[] = [];
  for (const a of n.axes) {
    const size = em.ctx.sizes[a];
    const ns = Math.ceil(size / q);
    if (q > 1 && size > 1) conds.push(`${em.coord(s, a)} % ${q} == 0`);
    if (h > 0) conds.push(`${em.coord(s, a)} >= ${h * q} && ${em.coord(s, a)} < ${(ns - h - 1) * q + 1}`);
  }
  return conds.length ? em.bind(s, `((${conds.join(' && ')}) ? 1.0 : 0.0)`) : '1.0';
}

/**
 * avgpool2, level s → s + 1, at the coarser lattice: the mean of the 2^d
 * level-s points {c, c + 2^s} per axis, the second the first again at the end
 * of an odd extent (tf's SYMMETRIC pad); 0 elsewhere. Axes of size 1 average a point with itself.
 */
function avgpool2Kernel(em: KernelEmitter, s: KernelScope, n: Node): Expr {
  const q = 2 ** (n.arg as number);
  const axes = spatialAxes(em, n);
  if (axes.length === 0) return em.value(s, n.src[0]!);
  const acc = em.fresh('acc');
  s.body.push(letVar(acc, '0.0'));
  const body = onLattice(em, s, axes, 2 * q)!;
  const next = new Map(axes.map((a) => {
    const c = em.coord(s, a);
    const ns = Math.ceil(em.ctx.sizes[a] / q);
    return [a, em.bind(body, ns % 2 === 1 ? `(${c} == ${(ns - 1) * q} ? ${c} : ${c} + ${q})` : `${c} + ${q}`)] as const;
  }));
  for (let m = 0; m < 2 ** axes.length; m++) {
    const at = em.block(body, body.body, new Map(axes.flatMap((a, i) => ((m >> i) & 1 ? [[a, next.get(a)!] as const] : []))));
    body.body.push(addTo(acc, em.value(at, n.src[0]!)));
  }
  return em.bind(s, `${acc} * ${lit(1 / 2 ** axes.length)}`);
}

/**
 * unpool2, the adjoint of avgpool2 (level s + 1 → s): at a level-s lattice
 * point, half the value of its block's coarser point per axis (all of it at
 * the end of an odd extent, which both taps of the last block read); 0 elsewhere.
 */
function unpool2Kernel(em: KernelEmitter, s: KernelScope, n: Node): Expr {
  const q = 2 ** (n.arg as number);
  const axes = spatialAxes(em, n);
  if (axes.length === 0) return em.value(s, n.src[0]!);
  const acc = em.fresh('acc');
  s.body.push(letVar(acc, '0.0'));
  const body = onLattice(em, s, axes, q) ?? s;
  const parent = new Map(axes.map((a) => [a, em.bind(body, `Math.floor(${em.coord(s, a)} / ${2 * q}) * ${2 * q}`)] as const));
  const at = em.block(body, body.body, parent);
  const w = axes.map((a) => {
    const ns = Math.ceil(em.ctx.sizes[a] / q);
    return ns % 2 === 1 ? `(${em.coord(s, a)} == ${(ns - 1) * q} ? 1.0 : 0.5)` : '0.5';
  });
  body.body.push(assign(acc, `${w.join(' * ')} * ${em.value(at, n.src[0]!)}`));
  return acc;
}

/** The weight of tap `d` (a loop variable): a literal for a box, else a chain of selects (cheaper than exp on the CPU). */
function weightExpr(w: readonly number[], d: string): Expr {
  if (w.every((x) => x === w[0])) return lit(w[0]!);
  return w.slice(0, -1).reduceRight((rest, x, i) => `(${d} == ${i} ? ${lit(x)} : ${rest})`, lit(w[w.length - 1]!));
}

/**
 * A 1-D window: the source read at each tap's coordinate along the window's
 * axis, skipping taps outside the image. A cheap source (≤ UNROLL_UP_TO ops per
 * read, cost.ts) has its k taps unrolled, each with its literal weight and only the
 * bound it can cross (below 0 before the centre, past the end after it);
 * otherwise one loop over the taps keeps the kernel small (V8 does not
 * optimize a function past about 60 KB of bytecode). At scale level s
 * (dilation q = 2^s) the taps are q apart and it runs only at the level's
 * lattice points (0 elsewhere).
 */
function windowKernel(em: KernelEmitter, outer: KernelScope, n: Node): Expr {
  const { weights, axis, dilation: q } = n.arg as WindowArg;
  const h = (weights.length - 1) / 2;
  const size = em.ctx.sizes[axis];
  const acc = em.fresh('acc');
  outer.body.push(letVar(acc, '0.0'));
  const s = onLattice(em, outer, spatialAxes(em, n), q) ?? outer;
  const c = em.coord(s, axis);
  if (em.opsPerRead(n.src[0]!) > UNROLL_UP_TO) {
    const d = em.fresh('d');
    const sc = em.fresh(`s${axis}`);
    const taps = loop(d, weights.length, [constant(sc, `${c} + ${q === 1 ? `${d} - ${h}` : `${d} * ${q} - ${h * q}`}`)]);
    s.body.push(taps);
    const at = inside(em, em.block(s, taps.body), `${sc} >= 0 && ${sc} < ${size}`, axis, sc);
    at.body.push(addTo(acc, `${weightExpr(weights, d)} * ${em.value(at, n.src[0]!)}`));
  } else weights.forEach((w, t) => {
    const off = (t - h) * q;
    if (Math.abs(off) >= size) return;
    // The centre tap reads the element's own coordinates: values computed there stay shared.
    if (off === 0) return s.body.push(addTo(acc, `${lit(w)} * ${em.value(s, n.src[0]!)}`));
    const sc = em.fresh(`s${axis}`);
    s.body.push(constant(sc, `${c} ${off < 0 ? '-' : '+'} ${Math.abs(off)}`));
    const at = inside(em, s, off < 0 ? `${sc} >= 0` : `${sc} < ${size}`, axis, sc);
    at.body.push(addTo(acc, `${lit(w)} * ${em.value(at, n.src[0]!)}`));
  });
  return acc;
}

/**
 * maxpool, poolarg, poolgrad: a loop per spatial axis over its k taps (k = the window's width
 * along it; none where it is 1), the source read at shifted coordinates, skipping taps outside the image.
 */
function poolKernel(em: KernelEmitter, s: KernelScope, n: Node): Expr {
  const spatial = n.axes.filter((a) => a === 'z' || a === 'y' || a === 'x');
  const widths = B.poolWidths(n.arg, spatial.length);
  const acc = em.fresh('acc');
  const best = n.op === 'poolarg' ? em.fresh('best') : '';
  s.body.push(letVar(acc, n.op === 'maxpool' ? lit(-F32_MAX) : '0.0'));
  if (best) s.body.push(letVar(best, lit(-F32_MAX)));
  let at: KernelScope = s;
  // The axes the window spans, with their loop variables: an axis of width 1 adds nothing to a tap index.
  const taps: { d: string; k: number }[] = [];
  spatial.forEach((a, i) => {
    const k = widths[i]!;
    if (k === 1) return;
    const d = em.fresh('d');
    const c = em.fresh(`s${a}`);
    taps.push({ d, k });
    const l = loop(d, k, [constant(c, `${em.coord(s, a)} + ${d} - ${(k - 1) / 2}`)]);
    at.body.push(l);
    at = inside(em, em.block(at, l.body), `${c} >= 0 && ${c} < ${em.ctx.sizes[a]}`, a, c);
  });
  if (n.op === 'maxpool') {
    at.body.push(assign(acc, `Math.max(${acc}, ${em.value(at, n.src[0]!)})`));
  } else if (n.op === 'poolarg') {
    // The first maximum in scan order: the tap index, row-major over the window's axes.
    const tap = taps.reduce((e, { d, k }) => (e === '' ? d : `(${e}) * ${k} + ${d}`), '') || '0';
    const v = em.value(at, n.src[0]!);
    at.body.push(when(`${v} > ${best}`, [assign(best, v), assign(acc, tap)], true));
  } else {
    // Element i gets g[j] from each window j whose first max it is: its tap in window j is k − 1 − d per axis.
    const mine = taps.reduce((e, { d, k }) => (e === '' ? `${k - 1} - ${d}` : `(${e}) * ${k} + ${k - 1} - ${d}`), '') || '0';
    const a = em.value(at, n.src[1]!);
    const g = em.value(at, n.src[0]!);
    at.body.push(when(`${a} == ${mine}`, [addTo(acc, g)], true));
  }
  return acc;
}

/**
 * shift: the source at c + k along one spatial axis, 0 where that is outside
 * the image (zero boundary). arg: [the axis's index in SPATIAL (z, y, x), k].
 */
const shiftArg = (n: Node): { axis: Axis; k: number } => { const [a, k] = n.arg as readonly number[]; return { axis: SPATIAL[a!]!, k: k! }; };

/** x at c + k along `axis`, 0 outside the image: the IR node of the DSL's shift[axis](x, k). */
export function shift(x: Node, axis: Axis, k: number): Node {
  return intern('shift', [x], [SPATIAL.indexOf(axis), k], x.axes);
}

function shiftKernel(em: KernelEmitter, s: KernelScope, n: Node): Expr {
  const { axis, k } = shiftArg(n);
  const size = em.ctx.sizes[axis];
  if (k === 0) return em.value(s, n.src[0]!);
  if (Math.abs(k) >= size) return '0.0';
  const acc = em.fresh('acc');
  s.body.push(letVar(acc, '0.0'));
  const sc = em.fresh(`s${axis}`);
  s.body.push(constant(sc, `${em.coord(s, axis)} ${k < 0 ? '-' : '+'} ${Math.abs(k)}`));
  const at = inside(em, s, k < 0 ? `${sc} >= 0` : `${sc} < ${size}`, axis, sc);
  at.body.push(assign(acc, em.value(at, n.src[0]!)));
  return acc;
}

/** The float64 shift over canonical-order arrays: `outer` images of the spatial `dims`, along dims[ax]. */
function shiftRef(x: Float64Array, dims: readonly number[], ax: number, k: number): Float64Array {
  const n = dims[ax]!;
  const inner = dims.slice(ax + 1).reduce((a, b) => a * b, 1);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = Math.floor(i / inner) % n + k;
    if (c >= 0 && c < n) out[i] = x[i + k * inner]!;
  }
  return out;
}

const windowArgText = (n: Node): string[] => {
  const { weights, dilation } = n.arg as WindowArg;
  return [`${weights.length} taps`, ...(dilation > 1 ? [`dilation ${dilation}`] : [])];
};

/**
 * The 1-D windows of one separable window print as one: window(x, 11 taps) when the chain
 * covers every spatial axis, window[y](t4, 11 taps) for a part of it (a shared inner window);
 * in LaTeX (K \ast x), (K_{y} \ast t_{4}). A window whose source is an unnamed window with the
 * same weights and spacing along another axis extends that one's chain (kept in `notes`).
 */
const windowPrint: PrintForm = {
  show: (n, [x], c) => {
    const { axis, weights, dilation } = n.arg as WindowArg;
    const inner = n.src[0]!;
    const ia = inner.op === 'window' ? (inner.arg as WindowArg) : undefined;
    const same = ia && ia.dilation === dilation && ia.weights.length === weights.length && ia.weights.every((w, i) => w === weights[i]);
    const prev = same && !c.isNamed(inner) ? (c.notes.get(inner.id) as { axes: Axis[]; base: string } | undefined) : undefined;
    const chain = prev && !prev.axes.includes(axis) ? { axes: [axis, ...prev.axes], base: prev.base } : { axes: [axis], base: x!.text };
    c.notes.set(n.id, chain);
    const part = chain.axes.length === n.axes.filter(isSpatial).length ? '' : c.axes(sortAxes(chain.axes));
    return c.mode === 'latex'
      ? { text: `(K${part && `_{${part}}`} \\ast ${chain.base})`, prec: PREC.primary }
      : { text: `window${part && `[${part}]`}(${[chain.base, ...windowArgText(n)].join(', ')})`, prec: PREC.primary };
  },
};

export const STENCIL = {
  window: stencil('window', 1, {
    shifted: [0], fullResolution: false, kernel: windowKernel, checkImages: 'wide',
    // k taps at each of the 1 in q^d points of its level's lattice.
    tapsPerElement: (n) => { const { weights, dilation } = n.arg as WindowArg; return weights.length / dilation ** n.axes.filter(isSpatial).length; },
    argText: windowArgText,
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
    print: windowPrint,
    examples: [
      { weights: gaussianWeights(3, 1), axis: 'x', dilation: 1 },
      { weights: gaussianWeights(5, 1.5), axis: 'y', dilation: 1 },
      { weights: gaussianWeights(5, 1.5), axis: 'x', dilation: 2 },
      { weights: boxWeights(3), axis: 'y', dilation: 4 },
    ],
  }),
  maxpool: stencil('maxpool', 1, {
    shifted: [0], fullResolution: true, kernel: poolKernel, argText: (n) => [String(n.arg)], checkImages: 'wide',
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
    shifted: [0], fullResolution: true, kernel: poolKernel, argText: (n) => [String(n.arg)],
    ref: ([x], n, outer, dims) => poolargRef(x!, outer, dims, n.arg as number | number[]),
    tf: () => { throw new Error('internal: poolarg appears only in gradients, which tfjs computes itself'); },
    print: { fn: 'poolarg' },
  }),
  poolgrad: stencil('poolgrad', 2, {
    shifted: [0, 1], fullResolution: true, kernel: poolKernel, argText: (n) => [String(n.arg)],
    ref: ([g, a], n, outer, dims) => poolgradRef(g!, a!, outer, dims, n.arg as number | number[]),
    tf: () => { throw new Error('internal: poolgrad appears only in gradients, which tfjs computes itself'); },
    print: { fn: 'poolgrad' },
  }),
  interior: stencil('interior', 0, {
    // A formula of the coordinates: it reads no sources, so it is recomputed wherever it is needed.
    shifted: [], fullResolution: false, kernel: interiorKernel, checkImages: 'wide',
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
    shifted: [0], fullResolution: false, kernel: avgpool2Kernel, argText: () => [], checkImages: 'multiscale',
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
    shifted: [0], fullResolution: false, kernel: unpool2Kernel, argText: (n) => [String(n.arg)],
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
  shift: stencil('shift', 1, {
    // Full resolution: a shift of a scale level's value would leave its lattice.
    shifted: [0], fullResolution: true, kernel: shiftKernel,
    argText: (n) => { const { axis, k } = shiftArg(n); return [axis, String(k)]; },
    ref: ([x], n, _outer, dims) => { const { axis, k } = shiftArg(n); return shiftRef(x!, dims, n.axes.filter(isSpatial).findIndex((b) => b === axis), k); },
    // Σ_c g[c] x[c + k] = Σ_c' g[c' − k] x[c']: the adjoint is the shift by −k (zero boundary on both sides).
    vjp: (g, out) => { const { axis, k } = shiftArg(out); return [shift(B.expand(g, out.axes), axis, -k)]; },
    // A slice of the image, padded back to its size with zeros on the side it left.
    tf: (t, [x], n, ctx) => {
      const { axis, k } = shiftArg(n);
      const d = ctx.axis(axis);
      const size = x!.shape[d]!;
      if (Math.abs(k) >= size) return t.zerosLike(x!);
      const begin = x!.shape.map((_, i) => (i === d ? Math.max(k, 0) : 0));
      const extent = x!.shape.map((e, i) => (i === d ? size - Math.abs(k) : e));
      const pad = x!.shape.map((_, i): [number, number] => (i === d ? (k > 0 ? [0, k] : [-k, 0]) : [0, 0]));
      return t.pad(t.slice(x!, begin, extent), pad);
    },
    print: { fn: 'shift' },
    latex: ([x]) => `\operatorname{shift}(${x})`,
    examples: [[2, 1], [1, -1], [2, -3], [1, 2]],
  }),
} satisfies Partial<Record<Op, StencilRecord>>;
