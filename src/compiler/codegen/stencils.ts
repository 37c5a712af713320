// Kernel code of the stencil ops (window, maxpool/poolarg/poolgrad, interior,
// avgpool2, unpool2): each a function of the emitter, the scope and the node,
// returning the op's value at the scope's coordinates; loops and branches go
// into the scope's block as statements.

import * as B from '../core/build.ts';
import type { Axis, Node, WindowArg } from '../core/ir.ts';
import { F32_MAX } from '../core/numbers.ts';
import { record } from '../core/registry.ts';
import { UNROLL_UP_TO, recomputeOps } from '../plan/cost.ts';
import type { Emitter, Scope, StencilEmit } from './emitter.ts';
import { type Expr, addTo, assign, constant, letVar, lit, loop, when } from './kernel-ir.ts';

/** The spatial axes of n that have more than one element (the others have the single coordinate 0). */
function spatialAxes(em: Emitter, n: Node): Axis[] {
  return n.axes.filter((a) => (a === 'z' || a === 'y' || a === 'x') && em.ctx.sizes[a] > 1);
}

/**
 * `if (every coordinate is a multiple of q) { … }`: a scale level's lattice. The
 * scope inside it, or undefined when every point is on it.
 */
function onLattice(em: Emitter, s: Scope, axes: readonly Axis[], q: number): Scope | undefined {
  if (q === 1 || axes.length === 0) return undefined;
  const branch = when(axes.map((a) => `${em.coord(s, a)} % ${q} == 0`).join(' && '));
  s.body.push(branch);
  return em.block(s, branch.body);
}

/** `if (lo <= c < hi)` for a tap's coordinate `c`: the scope inside it, at c along `axis`. */
function inside(em: Emitter, s: Scope, cond: Expr, axis: Axis, c: Expr): Scope {
  const branch = when(cond);
  s.body.push(branch);
  return em.block(s, branch.body, new Map([[axis, c]]));
}

/** 1 where a k-wide window fits inside the image (at scale level s: at the level's lattice points, inside its image). */
function interior(em: Emitter, s: Scope, n: Node): Expr {
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
function avgpool2(em: Emitter, s: Scope, n: Node): Expr {
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
function unpool2(em: Emitter, s: Scope, n: Node): Expr {
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

/** The ops computing `x` takes per read in this kernel (inputs, buffers and small values are read; a stencil opens loops). */
function inlineOps(em: Emitter, x: Node): number {
  const { slots, statics, smallOffset } = em.ctx;
  return recomputeOps(x, (m) => slots.has(m.id) || statics.has(m.id) || smallOffset.has(m.id), (m) => record(m.op).kind === 'spatial');
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
function window(em: Emitter, outer: Scope, n: Node): Expr {
  const { weights, axis, dilation: q } = n.arg as WindowArg;
  const h = (weights.length - 1) / 2;
  const size = em.ctx.sizes[axis];
  const acc = em.fresh('acc');
  outer.body.push(letVar(acc, '0.0'));
  const s = onLattice(em, outer, spatialAxes(em, n), q) ?? outer;
  const c = em.coord(s, axis);
  if (inlineOps(em, n.src[0]!) > UNROLL_UP_TO) {
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
function pool(em: Emitter, s: Scope, n: Node): Expr {
  const spatial = n.axes.filter((a) => a === 'z' || a === 'y' || a === 'x');
  const widths = B.poolWidths(n.arg, spatial.length);
  const acc = em.fresh('acc');
  const best = n.op === 'poolarg' ? em.fresh('best') : '';
  s.body.push(letVar(acc, n.op === 'maxpool' ? lit(-F32_MAX) : '0.0'));
  if (best) s.body.push(letVar(best, lit(-F32_MAX)));
  let at: Scope = s;
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

/** The stencil ops' kernel code, by op. */
export const STENCILS: Readonly<Record<string, StencilEmit>> = {
  window,
  maxpool: pool,
  poolarg: pool,
  poolgrad: pool,
  interior,
  avgpool2,
  unpool2,
};
