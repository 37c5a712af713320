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
// rank 5 for 3-D). yTrue is one of, decided per call by its shape:
//
// - the target as the loss takes it (one-hot, mask, soft labels): yPred's shape;
// - a label map (integers 0..C−1, any dtype): yPred's shape without the class
//   axis, or with a class axis of 1 when C > 1; one-hot on the host into yPred's
//   C classes (io.ts's `oneHot`, which refuses a label outside 0..C−1 where
//   tf.oneHot would give a silent zero row; the runtime reads host arrays
//   anyway). With C = 1 a label map of yPred's shape is the target itself,
//   read as labels (0/1) only with an ignore index in force. `labels: false`
//   turns the detection off;
// - with `maskChannel`, the target and one more channel, last: the mask;
// - with an ignore index in force, a target of yPred's shape whose ignored
//   pixels hold the ignore index in every channel (what `model.fit` accepts:
//   tfjs-layers wants yTrue of the output's shape): the mask is 0 there.
//
// The mask (knob `mask`, or `ignore_index`, which implies it) can change from
// batch to batch, as `model.fit` only hands the loss (yTrue, yPred): it comes
// from yTrue itself, either the pixels of a label map that hold the ignore index
// (the loss's ignore_index knob, or `ignoreIndex`) or the extra channel of
// `maskChannel`. A fixed mask in `options.inputs.mask` still works.
//
// Under the knob reduction 'none' the loss function returns a tensor of the
// per-item values (per sample and class, or per pixel: CompiledLoss's `values`,
// shaped as described there) instead of their sum. Its gradient is exact when
// the upstream gradient is the same for every item (tf.sum, tf.mean, Keras's
// mean over samples); for per-item weights it is dy·G broadcast, exact when
// each item depends only on the prediction entries at its own coordinates
// (checked on the IR: no reduction over, and no window along, an axis the
// values keep); otherwise the backward pass throws.

import * as tf from '@tensorflow/tfjs-core';
import { type Node, isSpatial, toposort } from '../compiler/core/ir.ts';
import { record } from '../compiler/core/ops/index.ts';
import { oneHot } from './labels.ts';
import { type Layout, layoutAxes, sizesOf } from '../compiler/core/layout.ts';
import type { CompiledLoss, Inputs } from './loss.ts';
import type { LossIR } from '../compiler/pipeline.ts';

type TF = typeof tf;
type Tensor = tf.Tensor;
type Scalar = tf.Scalar;

/** What the sync path needs from the runtime: value and d loss/d prediction, in the loss's layout. */
export interface SyncValueAndGrad {
  valueAndGradSync(inputs: Inputs, shape: readonly number[]): { value: number; grad: Float32Array | Float64Array; values?: ArrayLike<number> };
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
  /** Inputs beyond target and prediction (roles `weight`, `map`), full size, in the layout; fixed for every call. */
  inputs?: Readonly<Record<string, ArrayLike<number>>>;
  /**
   * Whether yTrue may be a label map (see the top of this file). Default:
   * detected by shape on each call; `true` also refuses any other yTrue;
   * `false` takes yTrue as the target always.
   */
  labels?: boolean;
  /**
   * The label whose pixels are left out, read from each batch's label map:
   * the mask is 0 there. Default: the loss's ignore_index knob. Needs a loss
   * with a mask (load it with `{ ignore_index: K }` or `{ mask: true }`).
   */
  ignoreIndex?: number;
  /**
   * yTrue has one channel more than yPred, the last (the class axis's last
   * entry): each batch's per-pixel mask (1 keep, 0 ignore); the rest is the
   * target. Needs a loss loaded with `{ mask: true }`.
   */
  maskChannel?: boolean;
  /** The TensorFlow.js to build tensors with. Default: `@tensorflow/tfjs-core` as imported here. */
  tf?: TF;
}

/** What both bridges' loss functions (toTfjs's and toTfjsDevice's) offer besides being called. */
export interface TfjsLossMethods {
  /** Names of the inputs yTrue and yPred feed. */
  readonly targetName: string;
  readonly predictionName: string;
  /** The shape of the per-item values for a prediction shape, under reduction 'none' (else undefined). */
  valuesShape(predShape: readonly number[]): number[] | undefined;
  /**
   * Value and d loss/d yPred, on every backend; under reduction 'none' also
   * the per-item `values` (`value` is their sum, `grad` its gradient). The
   * caller disposes the tensors.
   */
  valueAndGrad(yTrue: Tensor, yPred: Tensor): Promise<{ value: Scalar; grad: Tensor; values?: Tensor }>;
  /**
   * The loss of `predict()` against yTrue and its gradient w.r.t. the
   * variables (all trainable ones when `varList` is absent), as
   * `tf.variableGrads` gives them (under reduction 'none', of the sum of the
   * values). The caller disposes `grads`.
   */
  variableGrads(predict: () => Tensor, yTrue: Tensor, varList?: tf.Variable[]): Promise<{ value: number; grads: tf.NamedTensorMap }>;
  /** One optimizer step on the loss of `predict()`; the loss before the step. */
  trainStep(optimizer: tf.Optimizer, predict: () => Tensor, yTrue: Tensor, varList?: tf.Variable[]): Promise<number>;
}

export interface TfjsLoss extends TfjsLossMethods {
  /**
   * The loss as a tfjs function: value and gradient from the compiled kernels
   * (`tf.customGrad`). Synchronous: needs a sync engine (`sync` is true);
   * without one it throws, pointing at the async methods. Under reduction
   * 'none' the result is the tensor of per-item values (`valuesShape`), not a
   * scalar.
   */
  (yTrue: Tensor, yPred: Tensor): Scalar;
  /** Whether the sync call above is available. */
  readonly sync: boolean;
  readonly loss: CompiledLoss;
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
  const { wrt, target, extra, ignoreIndex, maskChannel, none } = bridgeSetup(loss.ir(2).loss, loss.name, options);
  const engine = resolveSync(loss, options.sync);
  const shapeOf = (yTrue: Tensor, yPred: Tensor) => yTrueKind(yTrue.shape, yPred.shape, layout, loss.name, { ignoreIndex, maskChannel, labels: options.labels });

  /** The runtime's inputs for one call: the target (one-hot from labels, split from the mask channel) and the batch's mask. */
  const inputsFor = (kind: YTrueKind, yTrue: ArrayLike<number>, trueShape: readonly number[], yPred: ArrayLike<number>, shape: readonly number[]): Inputs => {
    const ca = layout === 'nhwc' ? shape.length - 1 : 1;
    const C = shape[ca]!;
    let g: ArrayLike<number> = yTrue;
    let mask: Float32Array | undefined;
    if (kind === 'labels' && C > 1) {
      const data = yTrue instanceof Float32Array || yTrue instanceof Float64Array ? yTrue : Float64Array.from(yTrue);
      ({ data: g, mask } = oneHot({ data, shape: [...trueShape], dtype: 'float32' }, C, ca, `loss '${loss.name}': yTrue (a label map)`, ignoreIndex, shape.length));
    } else if (kind === 'labels') {
      // One channel: the labels are the target, 0 or 1, besides the ignore index.
      const t = new Float32Array(yTrue.length);
      mask = ignoreIndex === undefined ? undefined : new Float32Array(yTrue.length);
      for (let i = 0; i < yTrue.length; i++) {
        const v = yTrue[i]!;
        if (v === ignoreIndex) continue;
        if (v !== 0 && v !== 1) throw new RangeError(`loss '${loss.name}': yTrue (a binary label map): element ${i} is ${v}, not 0 or 1${ignoreIndex === undefined ? '' : ` or the ignore index ${ignoreIndex}`}`);
        t[i] = v;
        if (mask) mask[i] = 1;
      }
      g = t;
    } else if (kind === 'maskChannel') {
      ({ target: g, mask } = splitMask(yTrue, shape, ca));
    } else if (kind === 'ignoreRows') {
      ({ target: g, mask } = ignoredRows(yTrue, shape, ca, ignoreIndex!, `loss '${loss.name}': yTrue`));
    }
    return { ...extra, ...(mask ? { mask } : {}), [target]: f32(g), [wrt]: f32(yPred) };
  };

  /** Under reduction 'none': the values' axes and shape, and whether dy·G is their exact vector-Jacobian product. */
  const valuesInfo = (shape: readonly number[]) => {
    const { sizes, dims } = sizesOf(shape, layout);
    const ir = loss.ir(dims);
    const vn = ir.values!;
    const axes = layoutAxes(layout, dims);
    const full = vn.axes.length === axes.length;
    // The values' own order (canonical, or the layout when they have every axis), and how dy broadcasts onto yPred.
    const own = full ? axes : vn.axes;
    const inLayout = axes.filter((a) => vn.axes.includes(a));
    return {
      shape: full ? [...shape] : vn.axes.map((a) => sizes[a]),
      perm: inLayout.map((a) => own.indexOf(a)),
      broadcast: axes.map((a) => (vn.axes.includes(a) ? sizes[a] : 1)),
      separable: separable(vn, wrt),
    };
  };

  const fn = ((yTrue: Tensor, yPred: Tensor): Tensor => {
    if (!engine) {
      throw new Error(
        `loss '${loss.name}' on backend ${loss.backend} has no synchronous path` +
          (typeof (loss as Partial<SyncValueAndGrad>).valueAndGradSync === 'function' ? '' : ' (the runtime lacks valueAndGradSync)') +
          `: use await fn.trainStep(optimizer, predict, yTrue), fn.variableGrads(...) or fn.valueAndGrad(...)`,
      );
    }
    const { shape, kind } = shapeOf(yTrue, yPred);
    const info = none ? valuesInfo(shape) : undefined;
    const bridged = t.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
      const [yt, yp] = args as [Tensor, Tensor];
      const r = engine.valueAndGradSync(inputsFor(kind, yt.dataSync(), yt.shape, yp.dataSync(), shape), shape);
      // Only host arrays outlive the forward function: tensors made here
      // would be disposed by the tidy that customGrad runs it in.
      const grad = f32(r.grad);
      if (info && !r.values) throw new Error(`loss '${loss.name}': reduction 'none' but the engine returned no values`);
      const values = info ? f32(r.values!) : undefined;
      return {
        value: info ? t.tensor(values!, info.shape, 'float32') : t.scalar(r.value),
        // d loss/d yPred · dy (dy the upstream gradient); yTrue gets none.
        gradFunc: (dy: Tensor) => [t.zeros(yt.shape, 'float32'), t.mul(info ? broadcastDy(t, dy, info, loss.name) : dy, t.tensor(grad, shape, 'float32'))],
      };
    });
    return bridged(yTrue, yPred);
  }) as unknown as TfjsLoss;

  const valueAndGrad = async (yTrue: Tensor, yPred: Tensor) => {
    const { shape, kind } = shapeOf(yTrue, yPred);
    const [yt, yp] = await Promise.all([yTrue.data(), yPred.data()]);
    const r = await loss.valueAndGrad(inputsFor(kind, yt as ArrayLike<number>, yTrue.shape, yp as ArrayLike<number>, shape), shape);
    const values = none && r.values ? t.tensor(f32(r.values), valuesInfo(shape).shape, 'float32') : undefined;
    return { value: t.scalar(r.value), grad: t.tensor(f32(r.grad), shape, 'float32'), ...(values ? { values } : {}) };
  };

  const variableGrads = async (predict: () => Tensor, yTrue: Tensor, varList?: tf.Variable[]) => {
    if (engine) {
      // Under reduction 'none' tfjs needs a scalar: the values' sum, the runtime's `value`.
      const { value, grads } = t.variableGrads(() => (none ? t.sum(fn(yTrue, predict())) : fn(yTrue, predict())) as Scalar, varList);
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
    valuesShape: { value: (predShape: readonly number[]) => (none ? valuesInfo(predShape).shape : undefined) },
    valueAndGrad: { value: valueAndGrad },
    variableGrads: { value: variableGrads },
    trainStep: { value: trainStep },
  });
}

/** What yTrue holds, decided per call by its shape (see the top of this file). */
export type YTrueKind = 'target' | 'labels' | 'maskChannel' | 'ignoreRows';

/** The bridge's reading of a loss and its options (both bridges, this one and tfjs-device.ts, check them alike). */
export interface BridgeSetup<E = ArrayLike<number>> {
  /** The prediction's input (yPred) and the target's (yTrue). */
  wrt: string;
  target: string;
  /** Inputs beyond target and prediction, as the options gave them. */
  extra: Readonly<Record<string, E>>;
  ignoreIndex: number | undefined;
  maskChannel: boolean;
  /** The mask comes from each batch's yTrue: its ignored labels, or its extra channel. */
  perCallMask: boolean;
  /** Reduction 'none': the function returns the per-item values. */
  none: boolean;
}

/** The names, knobs and options of a bridge over `lowered` (a LossIR's `loss`); throws on a loss or options no bridge can take. */
export function bridgeSetup<E>(
  lowered: LossIR['loss'],
  name: string,
  options: { inputs?: Readonly<Record<string, E>>; ignoreIndex?: number; maskChannel?: boolean; labels?: boolean },
): BridgeSetup<E> {
  const loss = { name, inputs: lowered.inputs, wrt: lowered.wrt.name };
  const wrt = loss.wrt;
  const targets = loss.inputs.filter((i) => i.role === 'target');
  if (targets.length !== 1) {
    throw new RangeError(`loss '${loss.name}' has ${targets.length} target inputs; toTfjs maps yTrue to exactly one`);
  }
  const target = targets[0]!.name;
  const extra = options.inputs ?? {};
  const knobs = lowered.knobs;
  if (options.ignoreIndex !== undefined && knobs.ignoreIndex !== undefined && options.ignoreIndex !== knobs.ignoreIndex) {
    throw new RangeError(`loss '${loss.name}' was loaded with ignore_index ${knobs.ignoreIndex}, but options.ignoreIndex is ${options.ignoreIndex}`);
  }
  const ignoreIndex = options.ignoreIndex ?? knobs.ignoreIndex;
  const maskChannel = options.maskChannel === true;
  const perCallMask = maskChannel || ignoreIndex !== undefined;
  if (perCallMask && !knobs.mask) {
    throw new RangeError(`loss '${loss.name}' has no mask: load it with ${maskChannel ? '{ mask: true }' : `{ ignore_index: ${ignoreIndex} }`} for ${maskChannel ? 'options.maskChannel' : 'options.ignoreIndex'}`);
  }
  if (maskChannel && options.labels === true) throw new RangeError('options.maskChannel is for one-hot (or soft) targets, options.labels for label maps: a label map masks by its ignore index');
  if (perCallMask && 'mask' in extra) throw new RangeError(`loss '${loss.name}': the mask comes from yTrue (${maskChannel ? 'maskChannel' : `ignore index ${ignoreIndex}`}), and options.inputs.mask gives another: keep one`);
  const missing = loss.inputs.filter((i) => i.name !== wrt && i.name !== target && !(i.name in extra) && !(perCallMask && i.name === 'mask'));
  if (missing.length) {
    throw new RangeError(
      `loss '${loss.name}' needs inputs besides yTrue (${target}) and yPred (${wrt}): ` +
        `${missing.map((i) => `${i.name} (${i.role})`).join(', ')}; pass them as options.inputs` +
        (missing.some((i) => i.name === 'mask') ? ', or let each batch carry its mask (options.ignoreIndex with label maps, options.maskChannel)' : ''),
    );
  }
  return { wrt, target, extra, ignoreIndex, maskChannel, perCallMask, none: knobs.reduction === 'none' };
}

/** yPred's shape, and what yTrue holds; throws on shapes that fit none. */
export function yTrueKind(
  yt: readonly number[],
  s: readonly number[],
  layout: Layout,
  name: string,
  options: { ignoreIndex: number | undefined; maskChannel: boolean; labels: boolean | undefined },
): { shape: number[]; kind: YTrueKind } {
  const loss = { name };
  const { ignoreIndex, maskChannel } = options;
  if (s.length !== 4 && s.length !== 5) {
    throw new RangeError(`loss '${loss.name}': yPred has shape [${s.join(', ')}]; ${layout} tensors have rank 4 (2-D) or 5 (3-D)`);
  }
  const ca = layout === 'nhwc' ? s.length - 1 : 1;
  const C = s[ca]!;
  const withClass = (c: number) => s.map((n, i) => (i === ca ? c : n));
  const both = `yTrue has shape [${yt.join(', ')}], yPred [${s.join(', ')}]`;
  if (maskChannel) {
    if (!same(yt, withClass(C + 1))) throw new RangeError(`loss '${loss.name}': ${both}; with maskChannel yTrue has ${C + 1} channels: the target's ${C} and the mask`);
    return { shape: [...s], kind: 'maskChannel' };
  }
  const isLabels = options.labels !== false &&
    (same(yt, s.filter((_, i) => i !== ca)) || (same(yt, withClass(1)) && (C > 1 || ignoreIndex !== undefined || options.labels === true)));
  if (isLabels) return { shape: [...s], kind: 'labels' };
  if (options.labels === true) throw new RangeError(`loss '${loss.name}': ${both}; a label map has yPred's shape without the class axis, or with a class axis of 1`);
  if (!same(yt, s)) {
    throw new RangeError(`loss '${loss.name}': ${both}; they must be equal` +
      (C > 1 && options.labels !== false ? `, or yTrue a label map ([${s.filter((_, i) => i !== ca).join(', ')}] or [${withClass(1).join(', ')}])` : ''));
  }
  // A one-hot target of yPred's shape whose ignored pixels hold the ignore index in every channel (model.fit
  // wants yTrue of the output's shape): the mask is 0 there.
  return { shape: [...s], kind: ignoreIndex !== undefined ? 'ignoreRows' : 'target' };
}

function resolveSync(loss: CompiledLoss, given: SyncValueAndGrad | false | undefined): SyncValueAndGrad | undefined {
  if (given === false) return undefined;
  if (given) return given;
  const l = loss as CompiledLoss & Partial<SyncValueAndGrad> & { runsSync?: boolean };
  // webgpu answers every kernel call with a Promise: its valueAndGradSync throws.
  const runsSync = l.runsSync ?? l.backend !== 'webgpu';
  return typeof l.valueAndGradSync === 'function' && runsSync ? (l as SyncValueAndGrad) : undefined;
}

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((n, i) => n === b[i]);


/**
 * A one-hot (or soft) target whose ignored pixels hold `ignore` in every channel: the target with those rows
 * zeroed, and the per-pixel mask (0 there, 1 elsewhere). A pixel with the ignore index in some channels only is
 * an error: it is neither a target row nor an ignored one.
 */
function ignoredRows(yTrue: ArrayLike<number>, shape: readonly number[], ca: number, ignore: number, what: string): { target: Float32Array; mask: Float32Array } {
  const C = shape[ca]!;
  const inner = shape.slice(ca + 1).reduce((a, b) => a * b, 1);
  const outer = shape.slice(0, ca).reduce((a, b) => a * b, 1);
  const target = new Float32Array(yTrue.length);
  const mask = new Float32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let hits = 0;
      for (let c = 0; c < C; c++) if (yTrue[(o * C + c) * inner + i] === ignore) hits++;
      if (hits > 0 && hits < C) throw new RangeError(`${what}: pixel ${o * inner + i} holds the ignore index ${ignore} in ${hits} of its ${C} channels; an ignored pixel holds it in every channel`);
      mask[o * inner + i] = hits === C ? 0 : 1;
      if (hits === 0) for (let c = 0; c < C; c++) target[(o * C + c) * inner + i] = yTrue[(o * C + c) * inner + i]!;
    }
  }
  return { target, mask };
}
/** A target with one extra channel at `ca` (the last entry along it the mask) split into the target and the per-pixel mask. */
function splitMask(y: ArrayLike<number>, shape: readonly number[], ca: number): { target: Float32Array; mask: Float32Array } {
  const C = shape[ca]!;
  const inner = shape.slice(ca + 1).reduce((a, b) => a * b, 1);
  const outer = shape.slice(0, ca).reduce((a, b) => a * b, 1);
  const target = new Float32Array(outer * C * inner);
  const mask = new Float32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k <= C; k++) {
      for (let j = 0; j < inner; j++) {
        const v = y[(o * (C + 1) + k) * inner + j]!;
        if (k < C) target[(o * C + k) * inner + j] = v;
        else mask[o * inner + j] = v;
      }
    }
  }
  return { target, mask };
}

/**
 * Whether each unreduced value depends only on the prediction entries at its own
 * coordinates: no reduction over, and no stencil or host op (window, pool, shift, sort, distance transform) along, an axis the
 * values keep, on a path from the prediction. Then d Σ dy_i·v_i / dp = dy (broadcast) · G.
 */
function separable(values: Node, wrt: string): boolean {
  // Stencil and host ops read along space (neighbours, sorts, distance transforms).
  const along = (n: Node) => { const k = record(n.op).kind; return k === 'stencil' || k === 'host'; };
  const order = toposort([values]);
  const dep = new Set<number>();
  for (const n of order) if ((n.op === 'input' && n.arg === wrt) || n.src.some((x) => dep.has(x.id))) dep.add(n.id);
  return !order.some((n) => dep.has(n.id) && (
    ((n.op === 'sum' || n.op === 'max') && (n.arg as readonly string[]).some((a) => (values.axes as readonly string[]).includes(a))) ||
    (along(n) && values.axes.some(isSpatial))));
}

/** The upstream gradient of the values, laid over yPred's shape; refused where that is not the exact product. */
function broadcastDy(t: TF, dy: Tensor, info: { perm: number[]; broadcast: number[]; separable: boolean }, name: string): Tensor {
  if (!info.separable) {
    const d = dy.dataSync();
    if (d.some((v) => v !== d[0])) {
      throw new Error(`loss '${name}' (reduction 'none'): its per-item values share prediction entries (a reduction or window across items), ` +
        'so per-item upstream gradients (sample weights) have no exact gradient from the compiled kernels; reduce the values with tf.sum or tf.mean, or use reduction mean/sum');
    }
  }
  const ordered = info.perm.every((p, i) => p === i) ? dy : t.transpose(dy, info.perm);
  return t.reshape(ordered, info.broadcast);
}

function f32(a: ArrayLike<number>): Float32Array {
  return a instanceof Float32Array ? a : Float32Array.from(a);
}
