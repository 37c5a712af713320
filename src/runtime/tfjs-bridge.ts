// A compiled loss as a TensorFlow.js loss function `(yTrue, yPred) => Scalar`
// whose value and gradient come from the compiled kernels.
//
// The problem: tfjs training is synchronous (`optimizer.minimize(() => ...)`,
// `tf.variableGrads`, and `tf.customGrad`'s forward function must return a
// tensor), while `CompiledLoss.valueAndGrad` returns a Promise on every backend.
// Two paths, one object:
//
// - The loss function itself (sync). Inside `tf.customGrad` it reads yTrue and
//   yPred with `dataSync()`, runs value AND gradient in one synchronous call
//   into the runtime, returns the value, and keeps the gradient on the host
//   until tfjs back-propagates (d loss/d yPred · dy; nothing to yTrue). It needs
//   an engine with `valueAndGradSync` (`SyncValueAndGrad`): by default the
//   CompiledLoss itself, on cpu, webasm, headlessgl and reference (their gpu.js
//   kernels can return synchronously; webgpu's cannot), or an adapter passed
//   as `options.sync`.
// - `await fn.valueAndGrad(yTrue, yPred)`, `await fn.variableGrads(predict,
//   yTrue)`, `await fn.trainStep(optimizer, predict, yTrue)` (async). Work on
//   every backend, webgpu included, with the runtime as it is. Without a sync
//   engine `variableGrads` runs the model's forward pass twice: once to read
//   yPred and await the compiled gradient G, then once under tfjs's tape on the
//   surrogate Σ yPred·G (constant G), whose gradient w.r.t. yPred is G, so the
//   tape carries G through the model. The two forward passes must agree, so the
//   model must be deterministic (no dropout). With a sync engine it takes the
//   sync path: one forward pass.
//
// Tensors are in the loss's layout, which for tfjs is `nhwc` (rank 4 for 2-D,
// rank 5 for 3-D); yTrue and yPred must have the same shape.

import * as tf from '@tensorflow/tfjs-core';
import type { Layout } from './layout.ts';
import type { CompiledLoss, Inputs } from './loss.ts';

type TF = typeof tf;
type Tensor = tf.Tensor;
type Scalar = tf.Scalar;

/** What the sync path needs from the runtime: value and d loss/d prediction, in the loss's layout. */
export interface SyncValueAndGrad {
  valueAndGradSync(inputs: Inputs, shape: readonly number[]): { value: number; grad: Float32Array | Float64Array };
}

export interface ToTfjsOptions {
  /**
   * The engine of the sync path. Default: the loss itself when it has
   * `valueAndGradSync` and its backend is not webgpu. `false` turns the sync
   * path off (every call goes through the async methods).
   */
  sync?: SyncValueAndGrad | false;
  /** The layout of the tensors; must be the loss's. Default `nhwc`, tfjs's own. */
  layout?: Layout;
  /** Inputs beyond target and prediction (roles `weight`, `map`), full size, in the layout. */
  inputs?: Readonly<Record<string, ArrayLike<number>>>;
  /** The TensorFlow.js to build tensors with. Default: `@tensorflow/tfjs-core` as imported here. */
  tf?: TF;
}

export interface TfjsLoss {
  /**
   * The loss as a tfjs function: value and gradient from the compiled kernels
   * (`tf.customGrad`). Synchronous: needs a sync engine (`sync` is true);
   * without one it throws, pointing at the async methods.
   */
  (yTrue: Tensor, yPred: Tensor): Scalar;
  /** Whether the sync call above is available. */
  readonly sync: boolean;
  readonly loss: CompiledLoss;
  /** Names of the inputs yTrue and yPred feed. */
  readonly targetName: string;
  readonly predictionName: string;
  /** Value and d loss/d yPred, on every backend. The caller disposes both tensors. */
  valueAndGrad(yTrue: Tensor, yPred: Tensor): Promise<{ value: Scalar; grad: Tensor }>;
  /**
   * The loss of `predict()` against yTrue and its gradient w.r.t. the
   * variables (all trainable ones when `varList` is absent), as
   * `tf.variableGrads` gives them. The caller disposes `grads`.
   */
  variableGrads(predict: () => Tensor, yTrue: Tensor, varList?: tf.Variable[]): Promise<{ value: number; grads: tf.NamedTensorMap }>;
  /** One optimizer step on the loss of `predict()`; the loss before the step. */
  trainStep(optimizer: tf.Optimizer, predict: () => Tensor, yTrue: Tensor, varList?: tf.Variable[]): Promise<number>;
}

/**
 * Wrap a compiled loss for TensorFlow.js. Async so that the engine can be
 * resolved (and, later, prepared) before the first synchronous call.
 */
export async function toTfjs(loss: CompiledLoss, options: ToTfjsOptions = {}): Promise<TfjsLoss> {
  const t = options.tf ?? tf;
  const layout = options.layout ?? 'nhwc';
  if (loss.layout !== layout) {
    throw new RangeError(
      `loss '${loss.name}' was compiled for layout ${loss.layout}, but the tensors are ${layout}` +
        (layout === 'nhwc' ? ' (TensorFlow.js): compile it with { layout: \'nhwc\' }' : ''),
    );
  }
  const wrt = loss.wrt;
  const targets = loss.inputs.filter((i) => i.role === 'target');
  if (targets.length !== 1) {
    throw new RangeError(`loss '${loss.name}' has ${targets.length} target inputs; toTfjs maps yTrue to exactly one`);
  }
  const target = targets[0]!.name;
  const extra = options.inputs ?? {};
  const missing = loss.inputs.filter((i) => i.name !== wrt && i.name !== target && !(i.name in extra));
  if (missing.length) {
    throw new RangeError(
      `loss '${loss.name}' needs inputs besides yTrue (${target}) and yPred (${wrt}): ` +
        `${missing.map((i) => `${i.name} (${i.role})`).join(', ')}; pass them as options.inputs`,
    );
  }
  const engine = resolveSync(loss, options.sync);

  const shapeOf = (yTrue: Tensor, yPred: Tensor): number[] => {
    const s = yPred.shape;
    if (s.length !== 4 && s.length !== 5) {
      throw new RangeError(`loss '${loss.name}': yPred has shape [${s.join(', ')}]; ${layout} tensors have rank 4 (2-D) or 5 (3-D)`);
    }
    if (yTrue.shape.length !== s.length || yTrue.shape.some((n, i) => n !== s[i])) {
      throw new RangeError(`loss '${loss.name}': yTrue has shape [${yTrue.shape.join(', ')}], yPred [${s.join(', ')}]; they must be equal`);
    }
    return [...s];
  };
  const inputsFor = (yTrue: ArrayLike<number>, yPred: ArrayLike<number>): Inputs => ({ ...extra, [target]: f32(yTrue), [wrt]: f32(yPred) });

  const fn = ((yTrue: Tensor, yPred: Tensor): Scalar => {
    if (!engine) {
      throw new Error(
        `loss '${loss.name}' on backend ${loss.backend} has no synchronous path` +
          (typeof (loss as Partial<SyncValueAndGrad>).valueAndGradSync === 'function' ? '' : ' (the runtime lacks valueAndGradSync)') +
          `: use await fn.trainStep(optimizer, predict, yTrue), fn.variableGrads(...) or fn.valueAndGrad(...)`,
      );
    }
    const shape = shapeOf(yTrue, yPred);
    const bridged = t.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
      const [yt, yp] = args as [Tensor, Tensor];
      const r = engine.valueAndGradSync(inputsFor(yt.dataSync(), yp.dataSync()), shape);
      // Only the host array outlives the forward function: tensors made here
      // would be disposed by the tidy that customGrad runs it in.
      const grad = f32(r.grad);
      return {
        value: t.scalar(r.value),
        // d loss/d yPred · dy (dy the upstream scalar); yTrue gets no gradient.
        gradFunc: (dy: Tensor) => [t.zerosLike(yt), t.mul(dy, t.tensor(grad, shape, 'float32'))],
      };
    });
    return bridged(yTrue, yPred) as Scalar;
  }) as TfjsLoss;

  const valueAndGrad = async (yTrue: Tensor, yPred: Tensor) => {
    const shape = shapeOf(yTrue, yPred);
    const [yt, yp] = await Promise.all([yTrue.data(), yPred.data()]);
    const r = await loss.valueAndGrad(inputsFor(yt as ArrayLike<number>, yp as ArrayLike<number>), shape);
    return { value: t.scalar(r.value), grad: t.tensor(f32(r.grad), shape, 'float32') };
  };

  const variableGrads = async (predict: () => Tensor, yTrue: Tensor, varList?: tf.Variable[]) => {
    if (engine) {
      const { value, grads } = t.variableGrads(() => fn(yTrue, predict()), varList);
      const v = (await value.data())[0]!;
      value.dispose();
      return { value: v, grads };
    }
    const yPred = t.tidy(predict);
    let r: { value: Scalar; grad: Tensor };
    try { r = await valueAndGrad(yTrue, yPred); } finally { yPred.dispose(); }
    const { value, grad } = r;
    try {
      // Σ yPred·G with G constant: its gradient w.r.t. yPred is G, so the tape
      // turns it into d loss/d variables. Its value is not the loss.
      const res = t.variableGrads(() => {
        const p = predict();
        if (p.rank !== grad.rank || p.shape.some((n, i) => n !== grad.shape[i])) throw new Error(`predict() changed shape between calls: [${p.shape.join(', ')}] vs [${grad.shape.join(', ')}]`);
        return t.sum(t.mul(p, grad)) as Scalar;
      }, varList);
      res.value.dispose();
      return { value: (await value.data())[0]!, grads: res.grads };
    } finally {
      value.dispose();
      grad.dispose();
    }
  };

  const trainStep = async (optimizer: tf.Optimizer, predict: () => Tensor, yTrue: Tensor, varList?: tf.Variable[]) => {
    const { value, grads } = await variableGrads(predict, yTrue, varList);
    try { optimizer.applyGradients(grads); } finally { t.dispose(Object.values(grads)); }
    return value;
  };

  return Object.defineProperties(fn, {
    sync: { value: engine !== undefined, enumerable: true },
    loss: { value: loss, enumerable: true },
    targetName: { value: target, enumerable: true },
    predictionName: { value: wrt, enumerable: true },
    valueAndGrad: { value: valueAndGrad },
    variableGrads: { value: variableGrads },
    trainStep: { value: trainStep },
  });
}

function resolveSync(loss: CompiledLoss, given: SyncValueAndGrad | false | undefined): SyncValueAndGrad | undefined {
  if (given === false) return undefined;
  if (given) return given;
  const l = loss as CompiledLoss & Partial<SyncValueAndGrad> & { runsSync?: boolean };
  // webgpu answers every kernel call with a Promise: its valueAndGradSync throws.
  const runsSync = l.runsSync ?? l.backend !== 'webgpu';
  return typeof l.valueAndGradSync === 'function' && runsSync ? (l as SyncValueAndGrad) : undefined;
}

function f32(a: ArrayLike<number>): Float32Array {
  return a instanceof Float32Array ? a : Float32Array.from(a);
}
