// The TensorFlow.js evaluator of the IR: each op through the registry's tfjs
// rule, on fixed-rank tensors in canonical order (size 1 where an axis is
// absent). Its gradient is tfjs's own autodiff: an oracle independent of diff.ts.

import type * as TF from '@tensorflow/tfjs-core';
import { type Axes, type Axis, type Node, isSpatial, toposort } from '../compiler/core/ir.ts';
import type { Dims } from '../compiler/core/layout.ts';
import { type TfContext, record } from '../compiler/core/ops/index.ts';
import { type Sizes, canonicalAxes, count } from '../compiler/core/layout.ts';
import { tfjs } from './tfjs.ts';

function context(tf: typeof TF, sizes: Sizes, dims: Dims): TfContext {
  const order = canonicalAxes(dims);
  return {
    axis: (a: Axis) => order.indexOf(a),
    size: (axes: Axes) => count(axes, sizes),
    shape: (axes: Axes) => order.map((a) => (axes.includes(a) ? sizes[a] : 1)),
    space: order.filter(isSpatial),
    noGrad: (f, xs) =>
      tf.customGrad((...args: unknown[]) => {
        const ts = args.slice(0, xs.length) as TF.Tensor[];
        return { value: f(...ts), gradFunc: () => ts.map((t) => tf.zerosLike(t)) };
      })(...xs),
  };
}

/** Build the graph of `roots` with tfjs ops; `bind` gives each input's tensor. */
function build(tf: typeof TF, roots: readonly Node[], bind: (name: string) => TF.Tensor, ctx: TfContext): TF.Tensor[] {
  const vals = new Map<number, TF.Tensor>();
  for (const n of toposort(roots)) {
    const v = n.op === 'input' ? bind(n.arg as string) : record(n.op).tf(tf, n.src.map((s) => vals.get(s.id)!), n, ctx);
    vals.set(n.id, v);
  }
  return roots.map((r) => vals.get(r.id)!);
}

export interface TfResult { value: number; grad: Float32Array }

/**
 * The loss value and tfjs's autodiff gradient with respect to input `wrt`,
 * from canonical-order inputs.
 */
export async function tfValueAndGrad(value: Node, wrt: string, inputs: Readonly<Record<string, ArrayLike<number>>>, sizes: Sizes, dims: Dims): Promise<TfResult> {
  const tf = await tfjs('cpu');
  const ctx = context(tf, sizes, dims);
  const full = ctx.shape(canonicalAxes(dims));
  return tf.tidy(() => {
    const consts = new Map(Object.entries(inputs).map(([k, v]) => [k, tf.tensor(Float32Array.from(v), full)]));
    const f = (x: TF.Tensor) => tf.reshape(build(tf, [value], (name) => (name === wrt ? x : consts.get(name)!), ctx)[0]!, []) as TF.Scalar;
    const { value: v, grad } = tf.valueAndGrad(f)(consts.get(wrt)!);
    return { value: v.dataSync()[0]!, grad: grad.dataSync() as Float32Array };
  });
}

/** Evaluate several roots with tfjs (no gradient), as flat canonical arrays. */
export async function tfEvaluate(roots: readonly Node[], inputs: Readonly<Record<string, ArrayLike<number>>>, sizes: Sizes, dims: Dims): Promise<Float32Array[]> {
  const tf = await tfjs('cpu');
  const ctx = context(tf, sizes, dims);
  const full = ctx.shape(canonicalAxes(dims));
  return tf.tidy(() => {
    const consts = new Map(Object.entries(inputs).map(([k, v]) => [k, tf.tensor(Float32Array.from(v), full)]));
    return build(tf, roots, (name) => consts.get(name)!, ctx).map((t, i) => {
      const want = ctx.shape(roots[i]!.axes);
      return tf.broadcastTo(tf.reshape(t, t.size === 1 ? want.map(() => 1) : want), want).dataSync() as Float32Array;
    });
  });
}
