// An IR graph as TensorFlow.js ops: each node through its record's tfjs rule,
// on fixed-rank tensors in canonical order (batch, class, (z), y, x; size 1
// where an axis is absent). Two users: the oracle (tools/tfjs-eval.ts, which
// differentiates the loss with tfjs's own autodiff) and the on-device bridge
// (runtime/tfjs-device.ts, which evaluates the compiler's symbolic gradient as
// tfjs ops and never reads a tensor back).
//
// The on-device bridge needs every op to run as tfjs ops on the tfjs backend.
// Most records' tfjs rules do. Ops whose rule reads the host (the sort's order)
// or that have none (the sort's inverse and the max pool's gradient ops appear
// only in gradients, which the oracle gets from tfjs's autodiff) have device
// forms here (DEVICE_RULES). The distance transform has none
// (DEVICE_UNSUPPORTED says why): `deviceUnsupported(roots)` lists such ops.

import type * as TF from '@tensorflow/tfjs-core';
import * as B from './build.ts';
import { type Axes, type Axis, type Node, type Op, isSpatial, toposort } from './ir.ts';
import { type Dims, type Sizes, canonicalAxes, count } from './layout.ts';
import { type TfContext, type TfRule, record } from './ops/index.ts';
import { asRows } from './ops/tf-helpers.ts';

/**
 * The evaluator's context for one shape. `tape`: whether tfjs's autodiff will
 * run through the graph (the oracle), so that comparisons and `detach` stop
 * its gradient; without a tape (the device bridge evaluates inside a tfjs
 * kernel, where nothing is recorded) they are plain ops. `order`: the axes'
 * positions in the tensors, canonical by default; a graph of elementwise ops
 * and reductions alone may use another (the device bridge uses the data's
 * layout, so that it transposes nothing); the stencil and host rules
 * (core/ops/tf-helpers.ts) need the canonical one (space innermost).
 */
export function tfContext(tf: typeof TF, sizes: Sizes, dims: Dims, tape = true, order: readonly Axis[] = canonicalAxes(dims)): TfContext {
  return {
    axis: (a: Axis) => order.indexOf(a),
    size: (axes: Axes) => count(axes, sizes),
    shape: (axes: Axes) => order.map((a) => (axes.includes(a) ? sizes[a] : 1)),
    space: order.filter(isSpatial),
    noGrad: tape
      ? (f, xs) =>
          tf.customGrad((...args: unknown[]) => {
            const ts = args.slice(0, xs.length) as TF.Tensor[];
            return { value: f(...ts), gradFunc: () => ts.map((t) => tf.zerosLike(t)) };
          })(...xs)
      : (f, xs) => f(...xs),
  };
}

export interface TfBuildOptions {
  /** Tensors already computed for some nodes (by id), used as they are. */
  known?: ReadonlyMap<number, TF.Tensor>;
  /** `toposort(roots)` (nodes in `known` may be left out), when the caller keeps it: a graph built for every training step. */
  order?: readonly Node[];
  /**
   * Broadcasts stay implicit (no tape only): an `expand` is a reshape, elementwise ops broadcast as tfjs does,
   * a sum over an axis a tensor only broadcasts along is a product by its size, and a tensor is made full
   * size only where a stencil or host op reads it, and at the roots. The records' `expand` rule materializes
   * (x + zeros, which tfjs can differentiate at any rank): a full-size pass per broadcast.
   */
  lazyBroadcast?: boolean;
}

/** Build the graph of `roots` with tfjs ops; `bind` gives each input's tensor. */
export function tfBuild(tf: typeof TF, roots: readonly Node[], bind: (name: string) => TF.Tensor, ctx: TfContext, opts: TfBuildOptions = {}): TF.Tensor[] {
  const vals = new Map<number, TF.Tensor>(opts.known ?? []);
  const full = (n: Node): TF.Tensor => {
    const v = vals.get(n.id)!;
    const want = ctx.shape(n.axes);
    return v.shape.length === want.length && v.shape.every((k, i) => k === want[i]) ? v : tf.broadcastTo(v, want);
  };
  for (const n of opts.order ?? toposort(roots, (m) => vals.has(m.id))) {
    if (vals.has(n.id)) continue;
    let v: TF.Tensor;
    if (n.op === 'input') v = bind(n.arg as string);
    else if (!opts.lazyBroadcast) v = record(n.op).tf(tf, n.src.map((s) => vals.get(s.id)!), n, ctx);
    else v = lazy(tf, n, n.src.map((s) => vals.get(s.id)!), ctx, full);
    vals.set(n.id, v);
  }
  return roots.map((r) => (opts.lazyBroadcast ? full(r) : vals.get(r.id)!));
}

/** One node with implicit broadcasts (see TfBuildOptions.lazyBroadcast); `full(src)` makes a source full size. */
function lazy(tf: typeof TF, n: Node, xs: TF.Tensor[], ctx: TfContext, full: (n: Node) => TF.Tensor): TF.Tensor {
  const r = record(n.op);
  switch (r.kind) {
    case 'expand': return tf.reshape(xs[0]!, xs[0]!.rank === 0 ? ctx.shape([]) : xs[0]!.shape);
    case 'reduce': {
      const x = xs[0]!;
      const over = (n.arg as Axes).map((a) => ctx.axis(a));
      const axes = x.rank === 0 ? [] : over.filter((i) => x.shape[i]! > 1);
      const base = x.rank === 0 ? tf.reshape(x, ctx.shape([])) : x;
      const reduced = axes.length ? (r.op === 'sum' ? tf.sum(base, axes, true) : tf.max(base, axes, true)) : base;
      // Summing a value that is constant along an axis multiplies it by the axis's length.
      const times = r.op === 'sum' ? (n.arg as Axes).filter((a) => x.rank === 0 || x.shape[ctx.axis(a)]! === 1).reduce((k, a) => k * ctx.size([a]), 1) : 1;
      return times === 1 ? reduced : tf.mul(reduced, times);
    }
    case 'stencil': case 'host': return (DEVICE_RULES[n.op] ?? r.tf)(tf, n.src.map(full), n, ctx);
    default: return r.tf(tf, xs, n, ctx);
  }
}

/**
 * On-device forms of ops whose records' tfjs rules are the oracle's: the sort's order stays a tensor (the
 * oracle's rule rebuilds it from dataSync, off tfjs's tape, whose gather gradient rejects int32 indices on a
 * path to the differentiated input; the device bridge has no tape), and the inverse of a sort, which appears
 * only in gradients, gathers by the inverse permutation. tfjs's topk breaks ties by index, as the float64
 * loop's stable sort does (core/ops/f64-loops.ts's `orders`).
 */
const DEVICE_RULES: Partial<Record<Op, TfRule>> = {
  sorted: (t, [x, k], n, ctx) => {
    const [xs, back] = asRows(t, x!, ctx, n.arg as Axes);
    return back(t.gather(xs, sortOrder(t, k!, ctx, n.arg as Axes), 1, 1));
  },
  unsort: (t, [x, k], n, ctx) => {
    const [xs, back] = asRows(t, x!, ctx, n.arg as Axes);
    const order = sortOrder(t, k!, ctx, n.arg as Axes);
    // out[order[j]] = x[j], i.e. out[i] = x[inv[i]] with inv the permutation that sorts `order` ascending.
    const inv = t.topk(t.neg(t.cast(order, 'float32')), order.shape[1]!, true).indices;
    return back(t.gather(xs, inv, 1, 1));
  },
};

/**
 * The max pool's gradient ops, as tfjs ops over the window's taps (k^d shifted copies; 9 for a 3x3 window):
 * poolarg is the tap of each window's first maximum in scan order, found by exact comparison with the max
 * of the same shifted copies (so ties go to the first tap, as the float64 loop's); poolgrad sends each
 * window's adjoint back to that tap. Taps outside the image never win (filled with the lowest float32).
 */
DEVICE_RULES.poolarg = (t, [x], n, ctx) => {
  const taps = windowTaps(B.poolWidths(n.arg, ctx.space.length));
  const shifted = taps.map((off) => shiftBy(t, x!, ctx, off, LOWEST));
  const m = shifted.reduce((a, b) => t.maximum(a, b));
  let arg = t.zerosLike(x!), found = t.zerosLike(x!);
  shifted.forEach((xt, tap) => {
    // The first tap equal to the max: hit where it is and no earlier tap was.
    const hit = t.mul(t.cast(t.equal(xt, m), 'float32'), t.sub(1, found));
    arg = t.add(arg, t.mul(hit, tap));
    found = t.add(found, hit);
  });
  return arg;
};
DEVICE_RULES.poolgrad = (t, [g, a], n, ctx) => {
  const taps = windowTaps(B.poolWidths(n.arg, ctx.space.length));
  // Element i collects g[j] from each window j = i − off whose first max is the tap at offset off.
  return taps.map((off, tap) => shiftBy(t, t.mul(g!, t.cast(t.equal(a!, tap), 'float32')), ctx, off.map((o) => -o), 0)).reduce((p, q) => t.add(p, q));
};

/** The most negative float32: a tap outside the image, which never equals a window's max. */
const LOWEST = -3.4028234663852886e38;

/** A window's taps in scan order (row-major over the spatial axes): each tap's offset per spatial axis. */
function windowTaps(widths: readonly number[]): number[][] {
  let taps: number[][] = [[]];
  for (const k of widths) taps = taps.flatMap((p) => Array.from({ length: k }, (_, c) => [...p, c - (k - 1) / 2]));
  return taps;
}

/** y[i] = x[i + off] along the spatial axes (off per axis, ctx.space's order), `fill` where i + off leaves the image. */
function shiftBy(t: typeof TF, x: TF.Tensor, ctx: TfContext, off: readonly number[], fill: number): TF.Tensor {
  let y = x;
  ctx.space.forEach((a, k) => {
    const o = off[k]!;
    if (o === 0) return;
    const d = ctx.axis(a);
    const n = y.shape[d]!;
    const pad = y.shape.map((_, i): [number, number] => (i === d ? [Math.max(-o, 0), Math.max(o, 0)] : [0, 0]));
    const padded = t.pad(y, pad, fill);
    y = t.slice(padded, y.shape.map((_, i) => (i === d ? Math.max(o, 0) : 0)), y.shape.map((e, i) => (i === d ? n : e)));
  });
  return y;
}

/** Per row (the slices along `over`), the indices that sort `k` descending. */
function sortOrder(t: typeof TF, k: TF.Tensor, ctx: TfContext, over: Axes): TF.Tensor2D {
  const [ks] = asRows(t, k, ctx, over);
  return t.topk(ks, ks.shape[1]!, true).indices;
}

/**
 * Ops whose tfjs rule does not run on the tfjs backend alone, and why. A graph
 * using one cannot be evaluated on the device.
 */
export const DEVICE_UNSUPPORTED: Partial<Record<Op, string>> = {
  edt: 'the exact Euclidean distance transform runs on the host (its tfjs rule reads the mask with dataSync; tfjs has no distance transform)',
};

/** The ops of the graph of `roots` that cannot run on the device, each once, with the reason. */
export function deviceUnsupported(roots: readonly Node[]): { op: Op; why: string }[] {
  const seen = new Set<Op>();
  for (const n of toposort(roots)) if (DEVICE_UNSUPPORTED[n.op] !== undefined) seen.add(n.op);
  return [...seen].map((op) => ({ op, why: DEVICE_UNSUPPORTED[op]! }));
}
