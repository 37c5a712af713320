// The TensorFlow.js evaluator of the IR as an oracle: the graph built with each
// op's tfjs rule (core/tf-graph.ts, shared with the on-device bridge), and its
// gradient from tfjs's own autodiff: an oracle independent of diff.ts.

import type * as TF from '@tensorflow/tfjs-core';
import type { Node } from '../compiler/core/ir.ts';
import type { Dims } from '../compiler/core/layout.ts';
import { type Sizes, canonicalAxes } from '../compiler/core/layout.ts';
import { tfBuild as build, tfContext as context } from '../compiler/core/tf-graph.ts';
import { tfjs } from './tfjs.ts';

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
