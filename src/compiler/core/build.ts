// Smart constructors for IR nodes: they derive axes and insert the explicit
// `expand` that broadcasting needs, so no other code computes axes by hand.

import { type Arg, type Axes, type Axis, type Node, type Op, hasAxes, intern, minusAxes, sameAxes, sortAxes, unionAxes } from './ir.ts';

export const K = (v: number): Node => intern('const', [], v, []);
export const ZERO = K(0);
export const ONE = K(1);

export function input(name: string, axes: Axes): Node {
  return intern('input', [], name, sortAxes(axes));
}

/** The product of the sizes of `axes`, a scalar known at run time. */
export function size(axes: Axes): Node {
  return axes.length === 0 ? ONE : intern('size', [], sortAxes(axes), []);
}

/** The class index c, along `class`. */
export const classIndex = (): Node => intern('classindex', [], undefined, ['class']);

/** Broadcast `x` to `axes` (a superset of its own). */
export function expand(x: Node, axes: Axes): Node {
  const to = sortAxes(axes);
  if (sameAxes(x.axes, to)) return x;
  if (!hasAxes(to, x.axes)) throw new Error(`internal: expand from (${x.axes}) to (${to}) drops axes`);
  // expand(expand(y, A), B) = expand(y, B)
  if (x.op === 'expand') return expand(x.src[0]!, to);
  return intern('expand', [x], undefined, to);
}

export function reduce(op: 'sum' | 'max', x: Node, axes: Axes): Node {
  const over = sortAxes(axes);
  if (over.length === 0) return x;
  if (!hasAxes(x.axes, over)) throw new Error(`internal: ${op} over (${over}) of a value with axes (${x.axes})`);
  return intern(op, [x], over, minusAxes(x.axes, over));
}
export const sum = (x: Node, axes: Axes = x.axes): Node => reduce('sum', x, axes);
export const rmax = (x: Node, axes: Axes = x.axes): Node => reduce('max', x, axes);

/** An elementwise op with broadcasting by axis name: every source expands to the union of their axes. */
export function apply(op: Op, src: readonly Node[]): Node {
  const u = unionAxes(...src.map((x) => x.axes));
  return intern(op, src.map((x) => expand(x, u)), undefined, u);
}
export const un = (op: Op, x: Node): Node => apply(op, [x]);
export const bin = (op: Op, a: Node, b: Node): Node => apply(op, [a, b]);
export const where = (c: Node, a: Node, b: Node): Node => apply('where', [c, a, b]);

export const add = (a: Node, b: Node) => bin('add', a, b);
export const sub = (a: Node, b: Node) => bin('sub', a, b);
export const mul = (a: Node, b: Node) => bin('mul', a, b);
export const div = (a: Node, b: Node) => bin('div', a, b);
export const neg = (a: Node) => un('neg', a);
export const mean = (x: Node, axes: Axes = x.axes): Node => div(sum(x, axes), size(sortAxes(axes)));

/** A spatial op's source, broadcast over the spatial axes `space` if it lacks some. */
const spatialSrc = (x: Node, space: Axes) => expand(x, unionAxes(x.axes, space));

/**
 * Symmetric window (zero padding, same size) with the 1-D `weights` along every spatial axis;
 * taps `dilation` apart (2^level of x). Separable: one 1-D window per axis, x innermost,
 * window_y(window_x(x)) = the product kernel, zero padded (k taps per axis, not k^d). Each 1-D
 * window is 0 off the level's lattice on every axis, so the product reads lattice points only.
 */
export function window(x: Node, weights: readonly number[], space: Axes, dilation = 1): Node {
  const s = spatialSrc(x, space);
  return [...sortAxes(space)].reverse().reduce((v: Node, axis: Axis) => intern('window', [v], { weights, axis, dilation }, s.axes), s);
}
/**
 * A pool window: k wide along each spatial axis it spans (`along`, all of `space` by default), 1 along the
 * others. The IR's pool arg in normal form: the width k for a cube (every axis spanned), else the widths per
 * spatial axis in canonical order ([3, 1]: 3 along y, 1 along x).
 */
export function poolArg(k: number, space: Axes, along: Axes = space): number | readonly number[] {
  const widths = sortAxes(space).map((a) => (along.includes(a) ? k : 1));
  return widths.every((w) => w === widths[0]) ? widths[0] ?? k : widths;
}
/** The widths per spatial axis of a pool arg, for `d` spatial axes. */
export function poolWidths(arg: Arg, d: number): number[] {
  return typeof arg === 'number' ? new Array<number>(d).fill(arg) : [...(arg as readonly number[])];
}
/** Max over a window `poolArg(k, space, along)` (stride 1, same size; outside the image is ignored). */
export function maxpool(x: Node, k: number, space: Axes, along: Axes = space): Node {
  const s = spatialSrc(x, space);
  return intern('maxpool', [s], poolArg(k, space, along), s.axes);
}
/** Per window, the tap (row-major over the spatial axes, their widths) holding its first maximum; `w` a pool arg. */
export function poolarg(x: Node, w: Arg): Node {
  return intern('poolarg', [x], w, x.axes);
}
/** The adjoint of maxpool(x, w) for its adjoint g: each window's g goes to its first max (a = poolarg(x, w)). */
export function poolgrad(g: Node, a: Node, w: Arg): Node {
  return intern('poolgrad', [g, a], w, a.axes);
}
/** 1 where a k-wide window fits inside the image (of scale level `level`, at its lattice points), else 0. */
export function interior(k: number, space: Axes, level = 0): Node {
  return intern('interior', [], [k, level], sortAxes(space));
}
/** 2x average pooling of x, at scale level `level`, to level + 1 (tf.image.ssim_multiscale's downsampling). */
export function avgpool2(x: Node, level: number, space: Axes): Node {
  const s = spatialSrc(x, space);
  return intern('avgpool2', [s], level, s.axes);
}
/** The adjoint of avgpool2(·, level) applied to g (a level + 1 value): back to level `level`. */
export function unpool2(g: Node, level: number): Node {
  return intern('unpool2', [g], level, g.axes);
}
/** Euclidean distance transform of the mask m > 0.5 (no gradient). */
export function edt(m: Node, space: Axes): Node {
  const s = spatialSrc(m, space);
  return intern('edt', [s], undefined, s.axes);
}

/**
 * x reordered along the flattened axes `over` (every spatial axis, and `batch` for one sort across the batch)
 * so that `by` descends (stable), per slice of the other axes. The arg: `over`.
 */
export function sorted(x: Node, by: Node, over: Axes): Node {
  const u = unionAxes(x.axes, by.axes, over);
  return intern('sorted', [expand(x, u), expand(by, u)], sortAxes(over), u);
}
/** The inverse of sorted(·, by, over): element k of x goes back to where the k-th largest of `by` was. */
export function unsort(x: Node, by: Node, over: Axes): Node {
  return intern('unsort', [x, by], sortAxes(over), x.axes);
}
/** Inclusive cumulative sum along the flattened axes `over` (as `sorted`), per slice of the others. */
export function cumsum(x: Node, over: Axes): Node {
  const s = expand(x, unionAxes(x.axes, over));
  return intern('cumsum', [s], sortAxes(over), s.axes);
}

/** `n` with new sources, each broadcast to n's axes (a spatial op rebuilt: same arg, same axes). */
export function like(n: Node, src: readonly Node[]): Node {
  return intern(n.op, src.map((x) => expand(x, n.axes)), n.arg, n.axes);
}
