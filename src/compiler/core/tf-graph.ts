// An IR graph as TensorFlow.js ops: each node through its record's tfjs rule,
// on fixed-rank tensors in canonical order (batch, class, (z), y, x; size 1
// where an axis is absent). Two users: the oracle (tools/tfjs-eval.ts, which
// differentiates the loss with tfjs's own autodiff) and the on-device bridge
// (runtime/tfjs-device.ts, which evaluates the compiler's symbolic gradient as
// tfjs ops and never reads a tensor back).
//
// The on-device bridge needs every op to run as tfjs ops on the tfjs backend.
// Most records' tfjs rules do. A few do not (DEVICE_UNSUPPORTED says why):
// distance transforms and sorts read their data on the host (`dataSync`), and
// some ops appear only in gradients (the oracle never evaluates them, so they
// have no tfjs rule). `deviceUnsupported(roots)` lists the ones a graph uses.

import type * as TF from '@tensorflow/tfjs-core';
import { type Axes, type Axis, type Node, type Op, isSpatial, toposort } from './ir.ts';
import { type Dims, type Sizes, canonicalAxes, count } from './layout.ts';
import { type TfContext, record } from './ops/index.ts';

/**
 * The evaluator's context for one shape. `tape`: whether tfjs's autodiff will
 * run through the graph (the oracle), so that comparisons and `detach` stop
 * its gradient; without a tape (the device bridge evaluates inside a tfjs
 * kernel, where nothing is recorded) they are plain ops.
 */
export function tfContext(tf: typeof TF, sizes: Sizes, dims: Dims, tape = true): TfContext {
  const order = canonicalAxes(dims);
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

/**
 * Build the graph of `roots` with tfjs ops; `bind` gives each input's tensor.
 * `known` holds tensors already computed for some nodes (by id), used as they
 * are; `order` is `toposort(roots)` when the caller keeps it (a graph built
 * again for every training step).
 */
export function tfBuild(
  tf: typeof TF,
  roots: readonly Node[],
  bind: (name: string) => TF.Tensor,
  ctx: TfContext,
  known?: ReadonlyMap<number, TF.Tensor>,
  order?: readonly Node[],
): TF.Tensor[] {
  const vals = new Map<number, TF.Tensor>(known ?? []);
  for (const n of order ?? toposort(roots, (m) => vals.has(m.id))) {
    if (vals.has(n.id)) continue;
    const v = n.op === 'input' ? bind(n.arg as string) : record(n.op).tf(tf, n.src.map((s) => vals.get(s.id)!), n, ctx);
    vals.set(n.id, v);
  }
  return roots.map((r) => vals.get(r.id)!);
}

/**
 * Ops whose tfjs rule does not run on the tfjs backend alone, and why. A graph
 * using one cannot be evaluated on the device.
 */
export const DEVICE_UNSUPPORTED: Partial<Record<Op, string>> = {
  edt: 'the exact Euclidean distance transform runs on the host (its tfjs rule reads the mask with dataSync)',
  sorted: 'the sort order is computed on the host (its tfjs rule reads the indices with dataSync)',
  unsort: 'the inverse of a sort appears only in gradients and has no tfjs rule',
  poolarg: "the max pool's argmax appears only in gradients and has no tfjs rule",
  poolgrad: "the max pool's gradient appears only in gradients and has no tfjs rule",
};

/** The ops of the graph of `roots` that cannot run on the device, each once, with the reason. */
export function deviceUnsupported(roots: readonly Node[]): { op: Op; why: string }[] {
  const seen = new Set<Op>();
  for (const n of toposort(roots)) if (DEVICE_UNSUPPORTED[n.op] !== undefined) seen.add(n.op);
  return [...seen].map((op) => ({ op, why: DEVICE_UNSUPPORTED[op]! }));
}
