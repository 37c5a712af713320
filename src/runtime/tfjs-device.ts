// A compiled loss as a TensorFlow.js loss function that stays on the tfjs
// backend: `toTfjsDevice(loss)` evaluates the loss value AND the compiler's
// symbolic gradient (the IR after diff and simplify, `segloss show --dump
// simplify`) as tfjs ops, inside `tf.customGrad`. Nothing is read back to the
// host: on WebGL/WebGPU the tensors stay on the GPU from the model's output to
// the optimizer's update; yTrue and yPred are never `dataSync`ed.
//
//   import { toTfjsDevice } from 'segloss/tfjs';
//   const fn = toTfjsDevice(await load('dice'));            // (yTrue, yPred) => tf.Scalar
//   optimizer.minimize(() => fn(yTrue, model(x)));          // or model.compile({ loss: fn })
//
// Beside `toTfjs` (tfjs-bridge.ts), whose gradient comes from the compiled
// gpu.js kernels through a host round trip per step (`dataSync` of yTrue and
// yPred, the gradient uploaded back): same call, same options (`layout`,
// `inputs`, `labels`, `ignoreIndex`, `maskChannel`, `tf`; no `sync`), same
// result object (`valueAndGrad`, `variableGrads`, `trainStep`, `valuesShape`),
// plus `dispose()` for the tensors it caches per shape. The loss's layout,
// region, knobs and reduction are the compiled ones: the graph evaluated is the
// one the kernels run.
//
// How: the IR is built with each op record's tfjs rule (core/tf-graph.ts, the
// same builder the tfjs oracle uses), in canonical order (batch, class, (z), y,
// x): yPred and yTrue are transposed in from the layout and the gradient
// transposed back. Nodes that read no input (constants, sizes, the class index,
// interior masks) are built once per shape and kept. The forward function of
// customGrad builds value and gradient as one graph (shared subexpressions once)
// and saves the gradient for the backward function, which multiplies it by the
// upstream gradient; when no tape records (a plain forward call, `evaluate`),
// only the value is built.
//
// What the loss needs from the compiled loss is only its IR: `loss` is a
// CompiledLoss of any backend (its kernels are not used), or, in a browser where
// CompiledLoss (Node's file system) is not available, any `{ name, layout,
// ir(dims) }` over the compiler's `compileIR(...).ir`. This file imports no Node
// built-in.
//
// yTrue, per call, as toTfjs takes it (its shape decides): the target; a label
// map (one-hot on the device with tf.oneHot; a label outside 0..C−1 gives a zero
// row, where toTfjs, reading the labels on the host, refuses it; the ignore
// index's pixels are masked); with `maskChannel`, the target and the mask as its
// last channel; with an ignore index, one-hot rows whose ignored pixels hold the
// index in every channel (a pixel holding it in some channels only is not
// refused here as on the host: it is kept, its channels as they are).
//
// Under the knob reduction 'none' the function returns the per-item values;
// the backward function evaluates the symbolic gradient of Σ dy_i·v_i (dy an
// extra input of the graph, differentiated and simplified once per
// dimensionality), exact for any upstream gradient (sample weights included),
// computed in the backward pass from the saved yTrue and yPred.
//
// Most ops run through their record's tfjs rule; the sort, its inverse and the
// max pool's gradient ops through device forms in core/tf-graph.ts (the
// records' rules are the oracle's: one reads the sort order with dataSync, the
// others do not exist). An op with no device form (DEVICE_UNSUPPORTED: the
// distance transform, which tfjs cannot compute) makes `toTfjsDevice` throw,
// naming the op and why; use `toTfjs` for those losses.

import * as tf from '@tensorflow/tfjs-core';
import * as B from '../compiler/core/build.ts';
import { type Axis, type Node, toposort } from '../compiler/core/ir.ts';
import { type Dims, type Layout, type Sizes, canonicalAxes, layoutAxes, sizesOf } from '../compiler/core/layout.ts';
import type { TfContext } from '../compiler/core/ops/index.ts';
import { deviceUnsupported, tfBuild, tfContext } from '../compiler/core/tf-graph.ts';
import { grad as differentiate } from '../compiler/passes/diff.ts';
import { simplify } from '../compiler/passes/simplify.ts';
import type { LossIR } from '../compiler/pipeline.ts';
import { type TfjsLossMethods, type YTrueKind, bridgeSetup, yTrueKind } from './tfjs-bridge.ts';

type TF = typeof tf;
type Tensor = tf.Tensor;
type Scalar = tf.Scalar;

/** What the device bridge needs of a compiled loss: a CompiledLoss has it; so can a compileIR result in a browser. */
export interface DeviceLossSource {
  readonly name: string;
  /** The layout the loss was compiled for (default `nhwc`). */
  readonly layout?: Layout;
  /** The loss's IR (value, simplified gradient, knobs) for 2-D or 3-D data. */
  ir(dims: Dims): LossIR;
}

export interface ToTfjsDeviceOptions {
  /** The layout of the tensors; must be the loss's. Default `nhwc`, tfjs's own. */
  layout?: Layout;
  /** Inputs beyond target and prediction (roles `weight`, `map`), full size in the layout (a `mask` may be per pixel); fixed for every call. */
  inputs?: Readonly<Record<string, Tensor | ArrayLike<number>>>;
  /** As toTfjs's: whether yTrue may be a label map. */
  labels?: boolean;
  /** As toTfjs's: the label whose pixels are left out. */
  ignoreIndex?: number;
  /** As toTfjs's: yTrue carries the mask as one more channel, the last. */
  maskChannel?: boolean;
  /** The TensorFlow.js to build tensors with (its backend runs the loss). Default: `@tensorflow/tfjs-core` as imported here. */
  tf?: TF;
}

export interface TfjsDeviceLoss<L extends DeviceLossSource = DeviceLossSource> extends TfjsLossMethods {
  /** The loss (per-item values under reduction 'none'); its gradient w.r.t. yPred is the compiler's, as tfjs ops. */
  (yTrue: Tensor, yPred: Tensor): Scalar;
  /** Always true: the call is synchronous on every tfjs backend. */
  readonly sync: true;
  /** Which bridge this is: 'device' (toTfjs's is the kernel path). */
  readonly path: 'device';
  readonly loss: L;
  /** Release the tensors kept per shape (constants, fixed inputs). The function builds them again if called afterwards. */
  dispose(): void;
}

/** The name of the upstream gradient's input in the graph of Σ dy·values (reduction 'none'); no loss input has a `$`. */
const DY = '$dy';

/** Per dimensionality: the graphs and their evaluation orders. */
interface DimsGraphs {
  ir: LossIR;
  value: Node;
  grad: Node;
  values?: Node;
  /** Under 'none': d Σ dy·values / d prediction, dy the input DY with the values' axes. */
  weighted?: Node;
}

/** Per shape: the evaluator's context, the kept tensors of nodes that read no input, the fixed inputs. */
interface ShapeState {
  ctx: TfContext;
  sizes: Sizes;
  /** The layout's axes and the evaluator's, outermost first. */
  layoutOrder: Axis[];
  evalOrder: Axis[];
  statics: Map<number, Tensor>;
  extra: Map<string, Tensor>;
  /** Evaluation order of each root set, statics left out. */
  orders: Map<string, Node[]>;
}

/** How many shapes keep their tensors (a training loop uses one or two; evaluation another). */
const MAX_SHAPES = 8;

/**
 * Wrap a compiled loss as a TensorFlow.js loss function evaluated on the tfjs
 * backend as tfjs ops, the gradient the compiler's symbolic one. Throws when the
 * loss uses an op that has no on-device form (naming it).
 */
export function toTfjsDevice<L extends DeviceLossSource>(loss: L, options: ToTfjsDeviceOptions = {}): TfjsDeviceLoss<L> {
  const t = options.tf ?? tf;
  const layout = options.layout ?? 'nhwc';
  const lossLayout = loss.layout ?? 'nhwc';
  if (lossLayout !== layout) {
    throw new RangeError(
      `loss '${loss.name}' was compiled for layout ${lossLayout}, but the tensors are ${layout}` +
        (layout === 'nhwc' ? ' (TensorFlow.js): compile it with { layout: \'nhwc\' }' : ''),
    );
  }
  const first = loss.ir(2);
  const { wrt, target, extra, ignoreIndex, maskChannel, none } = bridgeSetup(first.loss, loss.name, options);

  const byDims = new Map<Dims, DimsGraphs>();
  const graphs = (dims: Dims): DimsGraphs => {
    let g = byDims.get(dims);
    if (g) return g;
    const ir = dims === 2 ? first : loss.ir(dims);
    const bad = deviceUnsupported(ir.values ? [ir.value, ir.grad, ir.values] : [ir.value, ir.grad]);
    if (bad.length) {
      throw new Error(
        `loss '${loss.name}' cannot run on the device (toTfjsDevice): ` +
          bad.map((b) => `op '${b.op}': ${b.why}`).join('; ') +
          '. Use toTfjs (the compiled kernels, through the host) for this loss',
      );
    }
    g = { ir, value: ir.value, grad: ir.grad, ...(ir.values ? { values: ir.values } : {}) };
    if (ir.values) {
      const dy = B.input(DY, ir.values.axes);
      const objective = B.sum(B.mul(ir.values, dy), ir.values.axes);
      g.weighted = simplify([differentiate(objective, ir.loss.wrt.node)])[0]!;
    }
    byDims.set(dims, g);
    return g;
  };
  graphs(2);

  const shapes = new Map<string, ShapeState>();
  const stateFor = (shape: readonly number[]): { st: ShapeState; g: DimsGraphs } => {
    const { sizes, dims } = sizesOf(shape, layout);
    const g = graphs(dims);
    const key = shape.join(',');
    let st = shapes.get(key);
    if (st) {
      shapes.delete(key);
      shapes.set(key, st);
      return { st, g };
    }
    const layoutOrder = layoutAxes(layout, dims);
    // Canonical order (space innermost): the stencil and host rules need it, and tfjs reduces over the innermost
    // axes without transposing (in nhwc order each sum over space would transpose its input first). yPred and yTrue
    // are moved in once and the gradient moved back once: a reshape with one class, a transpose with several.
    const evalOrder = canonicalAxes(dims);
    const ctx = tfContext(t, sizes, dims, false, evalOrder);
    st = { ctx, sizes, layoutOrder, evalOrder, statics: new Map(), extra: new Map(), orders: new Map() };
    const s0 = st;
    // Fixed inputs, in the evaluator's order, kept.
    for (const [name, v] of Object.entries(extra)) st.extra.set(name, t.keep(t.tidy(() => move(t, fullInput(t, v, shape, layout, name, loss.name), s0.layoutOrder, s0.evalOrder))));
    shapes.set(key, st);
    if (shapes.size > MAX_SHAPES) {
      const [oldest, s] = shapes.entries().next().value as [string, ShapeState];
      shapes.delete(oldest);
      release(t, s);
    }
    return { st, g };
  };

  /** The evaluation order of `roots` at a shape, nodes that read no input built once (kept) and left out. */
  const orderFor = (st: ShapeState, roots: readonly Node[], key: string): Node[] => {
    let order = st.orders.get(key);
    if (order) return order;
    const all = toposort(roots);
    const reads = new Set<number>();
    for (const n of all) if (n.op === 'input' || n.src.some((s) => reads.has(s.id))) reads.add(n.id);
    const statics = all.filter((n) => !reads.has(n.id) && !st.statics.has(n.id));
    if (statics.length) {
      const built = t.tidy(() => tfBuild(t, statics, () => { throw new Error('internal: a static node reads an input'); }, st.ctx, { known: st.statics, order: statics, lazyBroadcast: true }));
      statics.forEach((n, i) => st.statics.set(n.id, t.keep(built[i]!)));
    }
    order = all.filter((n) => reads.has(n.id));
    st.orders.set(key, order);
    return order;
  };

  /** The graph's inputs for one call, canonical order, on the device: yPred, the target (one-hot from labels, split from the mask channel), the batch's mask, the fixed ones. */
  const bindings = (st: ShapeState, kind: YTrueKind, yTrue: Tensor, yPred: Tensor, shape: readonly number[]): Map<string, Tensor> => {
    const { target: g, mask } = prepareTarget(t, kind, yTrue, shape, layout, ignoreIndex);
    const m = new Map<string, Tensor>(st.extra);
    const inEval = (x: Tensor) => move(t, x, st.layoutOrder, st.evalOrder);
    m.set(wrt, inEval(t.cast(yPred, 'float32')));
    m.set(target, inEval(g));
    // The per-pixel mask broadcasts along class (its sums over space and class then count each pixel C times, as the runtime's repeated mask does).
    if (mask) m.set('mask', inEval(t.broadcastTo(mask, shape as number[])));
    return m;
  };

  const build = (st: ShapeState, roots: Node[], key: string, inputs: Map<string, Tensor>): Tensor[] =>
    tfBuild(t, roots, (name) => {
      const v = inputs.get(name);
      if (!v) throw new Error(`internal: loss '${loss.name}' reads input '${name}', which the device bridge did not bind`);
      return v;
    }, st.ctx, { known: st.statics, order: orderFor(st, roots, key), lazyBroadcast: true });

  /** A gradient root (the evaluator's order, size 1 along axes it lacks) as a tensor of yPred's shape in the layout. */
  const gradOut = (st: ShapeState, x: Tensor): Tensor => move(t, t.broadcastTo(x, st.ctx.shape(st.evalOrder)), st.evalOrder, st.layoutOrder);

  const valuesInfo = (shape: readonly number[]) => {
    const { sizes, dims } = sizesOf(shape, layout);
    const vn = graphs(dims).values!;
    const axes = layoutAxes(layout, dims);
    const full = vn.axes.length === axes.length;
    return { node: vn, full, shape: full ? [...shape] : vn.axes.map((a) => sizes[a]) };
  };
  /** The order the values come out in (the layout's when they have every axis, else their own, canonical), the other axes after them. */
  const valuesOrder = (st: ShapeState, info: { node: Node; full: boolean }): Axis[] =>
    info.full ? st.layoutOrder : [...info.node.axes, ...st.evalOrder.filter((a) => !info.node.axes.includes(a))];

  const fn = ((yTrue: Tensor, yPred: Tensor): Tensor => {
    const { shape, kind } = yTrueKind(yTrue.shape, yPred.shape, layout, loss.name, { ignoreIndex, maskChannel, labels: options.labels });
    const { st, g } = stateFor(shape);
    // Outside a tape (a forward call, evaluate) the gradient is not built. tfjs-core's Engine has isTapeOn; if a
    // version lacked it, build it always.
    const engine = t.engine() as unknown as { isTapeOn?: () => boolean };
    const taped = typeof engine.isTapeOn === 'function' ? engine.isTapeOn() : true;
    const bridged = t.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
      const [yt, yp, save] = args as [Tensor, Tensor, tf.GradSaveFunc];
      const inputs = bindings(st, kind, yt, yp, shape);
      if (none) {
        const info = valuesInfo(shape);
        const [v] = build(st, [info.node], 'values', inputs);
        const values = t.reshape(move(t, v!, st.evalOrder, valuesOrder(st, info)), info.shape);
        save([yt, yp]);
        return {
          value: values,
          gradFunc: (dy: Tensor, saved: Tensor[]) => {
            const [syt, syp] = saved as [Tensor, Tensor];
            const again = bindings(st, kind, syt, syp, shape);
            // dy in the values' layout, to the evaluator's canonical shape of the values' axes.
            const vo = valuesOrder(st, info);
            again.set(DY, move(t, t.reshape(dy, vo.map((a) => (info.node.axes.includes(a) ? st.sizes[a] : 1))), vo, st.evalOrder));
            const [gw] = build(st, [g.weighted!], 'weighted', again);
            return [t.zerosLike(syt), gradOut(st, gw!)];
          },
        };
      }
      if (!taped) {
        const [v] = build(st, [g.value], 'value', inputs);
        return { value: t.reshape(v!, []), gradFunc: () => { throw new Error('internal: no gradient was recorded'); } };
      }
      const [v, gr] = build(st, [g.value, g.grad], 'grad', inputs);
      save([gradOut(st, gr!)]);
      return {
        value: t.reshape(v!, []),
        // d loss/d yPred · dy (dy the upstream scalar gradient); yTrue gets none.
        gradFunc: (dy: Tensor, saved: Tensor[]) => [t.zerosLike(yt), t.mul(dy, saved[0]!)],
      };
    });
    return bridged(yTrue, yPred);
  }) as unknown as TfjsDeviceLoss<L>;

  const valueAndGrad = async (yTrue: Tensor, yPred: Tensor) => {
    const r = t.tidy(() => {
      const { value, grad } = t.valueAndGrad((p: Tensor) => (none ? t.sum(fn(yTrue, p)) : fn(yTrue, p)) as Scalar)(yPred);
      const values = none ? fn(yTrue, yPred) : undefined;
      return { value, grad, ...(values ? { values } : {}) };
    });
    return r;
  };

  const variableGrads = async (predict: () => Tensor, yTrue: Tensor, varList?: tf.Variable[]) => {
    const { value, grads } = t.variableGrads(() => (none ? t.sum(fn(yTrue, predict())) : fn(yTrue, predict())) as Scalar, varList);
    const v = (await value.data())[0]!;
    value.dispose();
    return { value: v, grads };
  };

  const trainStep = async (optimizer: tf.Optimizer, predict: () => Tensor, yTrue: Tensor, varList?: tf.Variable[]) => {
    const { value, grads } = await variableGrads(predict, yTrue, varList);
    try { optimizer.applyGradients(grads); } finally { t.dispose(Object.values(grads)); }
    return value;
  };

  const dispose = () => {
    for (const s of shapes.values()) release(t, s);
    shapes.clear();
  };

  return Object.defineProperties(fn, {
    sync: { value: true, enumerable: true },
    path: { value: 'device', enumerable: true },
    loss: { value: loss, enumerable: true },
    targetName: { value: target, enumerable: true },
    predictionName: { value: wrt, enumerable: true },
    valuesShape: { value: (predShape: readonly number[]) => (none ? valuesInfo(predShape).shape : undefined) },
    valueAndGrad: { value: valueAndGrad },
    variableGrads: { value: variableGrads },
    trainStep: { value: trainStep },
    dispose: { value: dispose },
  });
}

function release(t: TF, s: ShapeState): void {
  t.dispose([...s.statics.values(), ...s.extra.values()]);
  s.statics.clear();
  s.extra.clear();
}

/**
 * `x`, whose axes are `from` (every axis, outermost first; size 1 along some), with its axes in the order `to`
 * (the same set): a reshape when the axes longer than 1 keep their relative order (nhwc to canonical with one
 * class, per-item values without space), else a transpose.
 */
function move(t: TF, x: Tensor, from: readonly Axis[], to: readonly Axis[]): Tensor {
  if (from.every((a, i) => a === to[i])) return x;
  const dim = (a: Axis) => x.shape[from.indexOf(a)]!;
  const long = (o: readonly Axis[]) => o.filter((a) => dim(a) > 1).join();
  if (long(from) === long(to)) return t.reshape(x, to.map(dim));
  return t.transpose(x, to.map((a) => from.indexOf(a)));
}

/** A fixed input as a float32 tensor of yPred's shape in the layout (a per-pixel mask broadcast along class). */
function fullInput(t: TF, v: Tensor | ArrayLike<number>, shape: readonly number[], layout: Layout, name: string, lossName: string): Tensor {
  const isTensor = (x: Tensor | ArrayLike<number>): x is Tensor => typeof (x as Partial<Tensor>).dataId === 'object' && typeof (x as Partial<Tensor>).rank === 'number';
  const ca = layout === 'nhwc' ? shape.length - 1 : 1;
  const n = shape.reduce((a, b) => a * b, 1);
  const size = isTensor(v) ? v.size : v.length;
  const perPixel = shape.map((k, i) => (i === ca ? 1 : k));
  if (size === n) return isTensor(v) ? t.reshape(t.cast(v, 'float32'), [...shape]) : t.tensor(Float32Array.from(v), [...shape], 'float32');
  if (name === 'mask' && size * shape[ca]! === n) {
    const m = isTensor(v) ? t.reshape(t.cast(v, 'float32'), perPixel) : t.tensor(Float32Array.from(v), perPixel, 'float32');
    return t.broadcastTo(m, [...shape]);
  }
  throw new RangeError(`loss '${lossName}': input '${name}' has ${size} elements; shape [${shape.join(', ')}] needs ${n}${name === 'mask' ? ` (or ${n / shape[ca]!}, one per pixel)` : ''}`);
}

/**
 * The target (yPred's shape, float32) and the batch's per-pixel mask (yPred's shape with one channel), from yTrue
 * as `kind` says, all as tfjs ops.
 */
function prepareTarget(t: TF, kind: YTrueKind, yTrue: Tensor, shape: readonly number[], layout: Layout, ignoreIndex: number | undefined): { target: Tensor; mask?: Tensor } {
  const ca = layout === 'nhwc' ? shape.length - 1 : 1;
  const C = shape[ca]!;
  const perPixel = shape.map((k, i) => (i === ca ? 1 : k));
  switch (kind) {
    case 'target':
      return { target: t.cast(yTrue, 'float32') };
    case 'labels': {
      const labels = t.reshape(t.cast(yTrue, 'float32'), perPixel);
      const mask = ignoreIndex === undefined ? undefined : t.cast(t.notEqual(labels, ignoreIndex), 'float32');
      let g: Tensor;
      if (C === 1) g = labels;
      else {
        // One-hot along the last axis, then to the class axis; a label outside 0..C−1 (the ignore index) is a zero row.
        const hot = t.oneHot(t.cast(t.reshape(labels, [-1]), 'int32'), C, 1, 0, 'float32');
        const nhwc = t.reshape(hot, [...perPixel.filter((_, i) => i !== ca), C]);
        g = layout === 'nhwc' ? nhwc : t.transpose(nhwc, [0, nhwc.rank - 1, ...Array.from({ length: nhwc.rank - 2 }, (_, i) => i + 1)]);
      }
      return { target: mask ? t.mul(g, mask) : g, ...(mask ? { mask } : {}) };
    }
    case 'maskChannel': {
      const y = t.cast(yTrue, 'float32');
      const begin = shape.map(() => 0);
      const target = t.slice(y, begin, [...shape]);
      const mask = t.slice(y, begin.map((_, i) => (i === ca ? C : 0)), perPixel);
      return { target, mask };
    }
    case 'ignoreRows': {
      const y = t.cast(yTrue, 'float32');
      // 0 where every channel holds the ignore index, 1 elsewhere.
      const ignored = t.all(t.equal(y, ignoreIndex!), ca, true);
      const mask = t.cast(t.logicalNot(ignored), 'float32');
      return { target: t.mul(y, mask), mask };
    }
  }
}
