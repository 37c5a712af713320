// The TensorFlow.js bridge (`toTfjs`): a compiled loss used as a tfjs loss function, its value and
// gradient coming from the compiled kernels through tf.customGrad.
//
// Oracle everywhere: tfjs autodiff (tfjs-backend-cpu, float32) of an independent tfjs implementation
// of the loss written below from its convention (MONAI Dice, Keras BCE), NOT from our IR.
//
// Two paths are under test:
// - sync: `fn(yTrue, yPred)` inside tf.valueAndGrad / tf.variableGrads / optimizer.minimize. It needs
//   a synchronous engine. Until `CompiledLoss.valueAndGradSync` exists in the runtime, the engine is
//   the adapter below, which runs the loss's own IR on the float64 reference interpreter (the same
//   code `reference` runs), so the sync path is tested on the reference backend only; with the
//   runtime method, on the real CompiledLoss of every backend listed (the adapter is then unused).
// - async: `await fn.valueAndGrad / variableGrads / trainStep`, on the real CompiledLoss of every
//   backend listed, with the runtime as it is.
// Then (3): label-map yTrue against tf.oneHot, a mask that changes per batch (from each batch's
// ignore_index labels, or a mask channel) in training loops against a tfjs masked Dice, and
// reduction 'none' against tfjs per-item values.

import type { Optimizer, Scalar, Tensor, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, inject, test } from 'vitest';
import { rng } from '../src/tools/check.ts';
import { type GpuBackend, requiredBackends } from '../src/runtime/backends/gpujs.ts';
import { fromCanonical, sizesOf, toCanonical } from '../src/compiler/core/layout.ts';
import { type Backend, CompiledLoss, load } from '../src/index.ts';
import { evaluate } from '../src/compiler/core/reference.ts';
import { type SyncValueAndGrad, type TfjsLoss, toTfjs } from '../src/index.ts';
import { tfjs } from '../src/tools/tfjs.ts';

const tf = await tfjs('cpu');

// The reference backend (float64) and two gpu.js CPU backends (cpu: f64 inside, f32 out; webasm: f32).
const BACKENDS: readonly Backend[] = ['reference', 'cpu', 'webasm'];
// The async path also runs on webgpu (every kernel call a Promise: no sync path there), when it starts.
const ASYNC_BACKENDS: readonly Backend[] = [...BACKENDS, 'webgpu'];
const probes = inject('seglossBackends');
const required = requiredBackends();
/** Skip a backend that cannot start here (saying why), unless SEGLOSS_REQUIRE_BACKENDS names it. */
const probe = (b: Backend) => (b === 'reference' || b === 'js' || b === 'wasm' ? undefined : probes[b]);
const unavailable = (b: Backend) => { const p = probe(b); return p !== undefined && !p.ok && !required.has(b as GpuBackend); };
const unavailableNote = (b: Backend) => { const p = probe(b); return p && !p.ok ? ` [${b} unavailable: ${p.why}]` : ''; };

/** Whether the runtime has the synchronous method the bridge's sync path needs. */
const RUNTIME_SYNC = typeof (CompiledLoss.prototype as Partial<SyncValueAndGrad>).valueAndGradSync === 'function';

// Tolerances. The oracle is tfjs-cpu in float32; ours is float64 (reference), float64 rounded to
// float32 (gpu.js cpu) or float32 with chunked partial sums (webasm). Inputs are float32 tensors, so
// both sides see the same numbers. What remains is float32 rounding (ε ≈ 6e-8 per op) grown by sums
// of at most 4·16·16 = 1024 terms (≤ √N·ε ≈ 2e-6 typically, N·ε = 6e-5 in the worst case, never
// approached by sums of same-signed terms) and a few ops after. Observed on every backend here
// (reference, cpu, webasm, webgpu/SwiftShader): value ≤ 1.0e-7, gradient ≤ 1.2e-7 (the log lines).
// 1e-5 leaves about 80× margin; a wrong sign, a missing dy, a transposed layout or a gradient sent
// to yTrue is off by 1e-1 or more.
const TOL = 1e-5;
// Through the model: the conv's weight gradient sums x·σ'·G over 1024 pixels, so G's float32 error
// is summed again (by tfjs, identically on both sides), and it cancels as training nears the optimum
// (a smaller gradient, the same absolute error). Checked norm-wise over [w, b]; observed ≤ 5.2e-7.
// 1e-5 leaves about 20× margin; a wrong gradient is off by 1e-1 or more.
const TOL_WEIGHTS = 1e-5;
// Loss curves: same initial weights, same Adam, gradients equal to ~1e-7, so the trajectories agree
// to float32 rounding; observed max|Δloss| / max loss ≤ 1.8e-7 over 30 steps. 1e-5 is 50× that.
const TOL_CURVE = 1e-5;

/** max|a − b| / max|b|: norm-wise, since gradient entries can be tiny (~1/N). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let err = 0, scale = 0;
  for (let i = 0; i < b.length; i++) { err = Math.max(err, Math.abs(a[i]! - b[i]!)); scale = Math.max(scale, Math.abs(b[i]!)); }
  return err / Math.max(scale, 1e-30);
}
const relVal = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);

// ---------------------------------------------------------------- the oracles (NHWC, written from the conventions)

/** Spatial axes of an NHWC tensor of rank 4 (y, x) or 5 (z, y, x). */
const space = (t: Tensor) => (t.rank === 5 ? [1, 2, 3] : [1, 2]);

/** MONAI DiceLoss: per sample and class over space, (2·tp + 1e-5) / (Σp + Σg + 1e-5), 1 − that, mean. */
function oracleDice(g: Tensor, p: Tensor): Scalar {
  const ax = space(p);
  const tp = tf.sum(tf.mul(p, g), ax);
  const score = tf.div(tf.add(tf.mul(2, tp), 1e-5), tf.add(tf.add(tf.sum(p, ax), tf.sum(g, ax)), 1e-5));
  return tf.mean(tf.sub(1, score));
}
/** Keras binary_crossentropy: clip to [1e-7, 1 − 1e-7], mean of −(g log q + (1 − g) log(1 − q)). */
function oracleBce(g: Tensor, p: Tensor): Scalar {
  const q = tf.clipByValue(p, 1e-7, 1 - 1e-7);
  return tf.neg(tf.mean(tf.add(tf.mul(g, tf.log(q)), tf.mul(tf.sub(1, g), tf.log(tf.sub(1, q))))));
}
/** The library's bce_dice: (BCE + Dice) / 2. */
const oracleBceDice = (g: Tensor, p: Tensor): Scalar => tf.div(tf.add(oracleBce(g, p), oracleDice(g, p)), 2);

const ORACLES: Record<string, (g: Tensor, p: Tensor) => Scalar> = { dice: oracleDice, bce: oracleBce, bce_dice: oracleBceDice };

// ---------------------------------------------------------------- the engines

/**
 * PENDING runtime patch: a synchronous engine on the float64 reference interpreter, from the loss's
 * public IR (what CompiledLoss runs on `reference`). Used only while the runtime lacks
 * valueAndGradSync.
 */
function referenceAdapter(loss: CompiledLoss): SyncValueAndGrad {
  return {
    valueAndGradSync(inputs, shape) {
      const { sizes, dims } = sizesOf(shape, loss.layout);
      const ir = loss.ir(dims);
      const canon = Object.fromEntries(ir.loss.inputs.map((i) => [i.name, toCanonical(inputs[i.name]!, loss.layout, sizes, dims)]));
      const [v, g] = evaluate([ir.value, ir.grad], canon, sizes);
      return { value: v!.data[0]!, grad: fromCanonical(g!.data, loss.layout, sizes, dims, (n) => new Float64Array(n)) };
    },
  };
}

const losses: CompiledLoss[] = [];
afterAll(() => { for (const l of losses) l.dispose(); });
async function loadLoss(name: string, backend: Backend): Promise<CompiledLoss> {
  const l = await load(name, {}, { backend });
  losses.push(l);
  return l;
}

/** The bridge on its sync path: the runtime's method when present, else the test adapter (reference only). */
async function syncBridge(loss: CompiledLoss): Promise<TfjsLoss | undefined> {
  if (RUNTIME_SYNC) return toTfjs(loss);
  if (loss.backend === 'reference') return toTfjs(loss, { sync: referenceAdapter(loss) });
  return undefined;
}
const syncEngineName = (b: Backend) => (RUNTIME_SYNC ? `runtime valueAndGradSync on ${b}` : `test adapter (reference interpreter)`);
/** Sync-path cases that cannot run yet are skipped, and say why. */
const syncPending = (b: Backend) => !RUNTIME_SYNC && b !== 'reference';
const pendingNote = (b: Backend) => (syncPending(b) ? ' [PENDING CompiledLoss.valueAndGradSync]' : '');

// ---------------------------------------------------------------- data

function uniform(shape: number[], seed: number, lo = 0, hi = 1): Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => lo + (hi - lo) * r()), shape);
}
function mask(shape: number[], seed: number, rate = 0.4): Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => (r() < rate ? 1 : 0)), shape);
}

// ---------------------------------------------------------------- (1) value and gradient

const SHAPES: readonly { name: string; shape: number[] }[] = [
  { name: 'binary-2d', shape: [2, 8, 7, 1] },
  { name: 'multiclass-2d', shape: [2, 6, 5, 3] },
  { name: 'binary-3d', shape: [1, 4, 5, 6, 1] },
];

describe('toTfjs: value and gradient vs tfjs autodiff of an independent implementation', () => {
  for (const name of ['dice', 'bce', 'bce_dice']) {
    const oracle = ORACLES[name]!;
    for (const backend of ASYNC_BACKENDS) {
      for (const { name: caseName, shape } of SHAPES) {
        const g = mask(shape, 11);
        // away from BCE's clip points, where the clipped function has no gradient
        const p = uniform(shape, 12, 0.02, 0.98);
        const want = tf.valueAndGrad((x: Tensor) => oracle(g, x))(p);
        const wantV = want.value.dataSync()[0]!;
        const wantG = want.grad.dataSync();

        if (BACKENDS.includes(backend)) test.skipIf(syncPending(backend) || unavailable(backend))(`${name} ${backend} ${caseName}: sync path in tf.valueAndGrad${pendingNote(backend)}`, async () => {
          const fn = (await syncBridge(await loadLoss(name, backend)))!;
          expect(fn.sync).toBe(true);
          const got = tf.valueAndGrad((x: Tensor) => fn(g, x))(p);
          const eV = relVal(got.value.dataSync()[0]!, wantV);
          const eG = relErr(got.grad.dataSync(), wantG);
          console.log(`[bridge sync] ${name} ${backend} ${caseName} (${syncEngineName(backend)}): value err ${eV.toExponential(1)}, grad err ${eG.toExponential(1)}`);
          expect(eV).toBeLessThanOrEqual(TOL);
          expect(eG).toBeLessThanOrEqual(TOL);

          // the upstream dy scales the gradient: d(2.5·L)/dp = 2.5 · dL/dp
          const scaled = tf.grad((x: Tensor) => tf.mul(2.5, fn(g, x)))(p).dataSync();
          expect(relErr(scaled, Float32Array.from(wantG, (v) => 2.5 * v))).toBeLessThanOrEqual(TOL);
          // ... and a sum with another loss: the bridged term adds its gradient to the other's
          const both = tf.grad((x: Tensor) => tf.add(fn(g, x), oracle(g, x)))(p).dataSync();
          expect(relErr(both, Float32Array.from(wantG, (v) => 2 * v))).toBeLessThanOrEqual(TOL);
          // no gradient to yTrue
          const [dT] = tf.grads((t: Tensor, x: Tensor) => fn(t, x))([g, p]);
          expect(Math.max(...Array.from(dT!.dataSync(), Math.abs))).toBe(0);
        });

        test.skipIf(unavailable(backend))(`${name} ${backend} ${caseName}: async valueAndGrad${unavailableNote(backend)}`, async () => {
          const fn = await toTfjs(await loadLoss(name, backend), { sync: false });
          expect(fn.sync).toBe(false);
          const got = await fn.valueAndGrad(g, p);
          const eV = relVal((await got.value.data())[0]!, wantV);
          const eG = relErr(await got.grad.data(), wantG);
          console.log(`[bridge async] ${name} ${backend} ${caseName}: value err ${eV.toExponential(1)}, grad err ${eG.toExponential(1)}`);
          expect(eV).toBeLessThanOrEqual(TOL);
          expect(eG).toBeLessThanOrEqual(TOL);
          // without a sync engine the sync call says what to use instead
          expect(() => fn(g, p)).toThrow(/no synchronous path.*trainStep/);
        });
      }
    }
  }

  test('shape and layout errors', async () => {
    const loss = await loadLoss('dice', 'reference');
    const fn = await toTfjs(loss, { sync: referenceAdapter(loss) });
    expect(() => fn(mask([2, 4, 5, 1], 1), uniform([2, 4, 4, 2], 2))).toThrow(/yTrue has shape \[2, 4, 5, 1\], yPred \[2, 4, 4, 2\]; they must be equal, or yTrue a label map \(\[2, 4, 4\] or \[2, 4, 4, 1\]\)/);
    // one channel against two is a label map (a 0/1 mask: class 1 where it is 1), not a mismatch
    expect(fn(mask([2, 4, 4, 1], 1), uniform([2, 4, 4, 2], 2)).rank).toBe(0);
    expect(() => fn(mask([4, 4], 1), uniform([4, 4], 2))).toThrow(/rank 4 \(2-D\) or 5 \(3-D\)/);
    const nchw = await load('dice', {}, { backend: 'reference', layout: 'nchw' });
    losses.push(nchw);
    await expect(toTfjs(nchw)).rejects.toThrow(/compiled for layout nchw/);
  });

  test.skipIf(unavailable('webgpu'))(`webgpu has no sync path; the sync call says what to use${unavailableNote('webgpu')}`, async () => {
    const fn = await toTfjs(await loadLoss('dice', 'webgpu'));
    expect(fn.sync).toBe(false);
    expect(() => fn(mask([1, 4, 4, 1], 1), uniform([1, 4, 4, 1], 2))).toThrow(/backend webgpu has no synchronous path.*trainStep/);
  });
});

// ---------------------------------------------------------------- (2) training

// Task: segment a random image (uniform in [−1, 1]) by the sign of its 3×3 box blur (about half the
// pixels are foreground). Model: one 3×3 convolution and a bias, then a sigmoid; the exact solution
// is W = k·box, b = 0, k → ∞. Adam (lr 0.1), 30 steps, from the same initial weights on every path.
// (On [0, 1] images thresholded at 0.5 the per-sample Dice of this model stalls at 0.41 within 30
// steps, for tfjs autodiff just as for the bridge: the bias has far to go.)
const B = 4, H = 16, W = 16;
const STEPS = 30;
const LR = 0.1;
const CHECK_AT = new Set([0, 10, 20, STEPS - 1]);

const x = uniform([B, H, W, 1], 21, -1, 1);
const yTrue = tf.tidy(() => tf.cast(tf.greater(tf.conv2d(x as Tensor4D, tf.fill([3, 3, 1, 1], 1 / 9) as Tensor4D, 1, 'same'), 0), 'float32'));
const W0 = uniform([3, 3, 1, 1], 22, -0.3, 0.3);
const B0 = tf.scalar(0);

interface Model { w: Variable; b: Variable; predict: () => Tensor }
function model(): Model {
  // a variable shares its initial tensor's data until the first update replaces it
  const w = tf.variable(W0);
  const b = tf.variable(B0);
  return { w, b, predict: () => tf.sigmoid(tf.add(tf.conv2d(x as Tensor4D, w as Tensor4D, 1, 'same'), b)) };
}

/** Gradient w.r.t. [w, b], flattened: tfjs autodiff of the oracle loss through the model. */
function oracleWeightGrads(m: Model, oracle: (g: Tensor, p: Tensor) => Scalar): { value: number; grad: Float32Array } {
  const { value, grads } = tf.variableGrads(() => oracle(yTrue, m.predict()), [m.w, m.b]);
  const out = { value: value.dataSync()[0]!, grad: Float32Array.from([...grads[m.w.name]!.dataSync(), ...grads[m.b.name]!.dataSync()]) };
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

/** Train with `step` (returns the loss before the step); check gradients at CHECK_AT against the oracle. */
async function train(label: string, oracle: (g: Tensor, p: Tensor) => Scalar, step: (m: Model, opt: Optimizer) => Promise<number>, grads?: (m: Model) => Promise<Float32Array>) {
  const tensorsBefore = tf.memory().numTensors;
  const m = model();
  const opt = tf.train.adam(LR);
  const curve: number[] = [];
  const gradErrs: string[] = [];
  for (let s = 0; s < STEPS; s++) {
    if (grads && CHECK_AT.has(s)) {
      const want = oracleWeightGrads(m, oracle);
      const e = relErr(await grads(m), want.grad);
      gradErrs.push(`step ${s}: ${e.toExponential(1)}`);
      expect(e, `${label}: weight gradient at step ${s}`).toBeLessThanOrEqual(TOL_WEIGHTS);
    }
    curve.push(await step(m, opt));
  }
  const final = oracleWeightGrads(m, oracle).value;
  console.log(`[train] ${label}: loss ${curve.filter((_, i) => i % 5 === 0).map((v) => v.toFixed(4)).join(' → ')} → ${final.toFixed(4)} (after ${STEPS} steps)` +
    (gradErrs.length ? `; weight-gradient err vs oracle ${gradErrs.join(', ')}` : ''));
  tf.dispose([m.w, m.b]);
  opt.dispose();
  // every tensor the bridge made along the way (values, gradients, surrogates) was released
  expect(tf.memory().numTensors, `${label}: tensors leaked`).toBe(tensorsBefore);
  return { curve, final };
}

describe('toTfjs: training a 3×3 conv with Adam', () => {
  for (const name of ['dice', 'bce_dice']) {
    const oracle = ORACLES[name]!;
    // The reference trajectory: the same model trained on tfjs autodiff of the oracle loss.
    let oracleRun: Promise<{ curve: number[]; final: number }> | undefined;
    const baseline = () => (oracleRun ??= train(`${name} oracle (tfjs autodiff)`, oracle, async (m, opt) => {
      const cost = opt.minimize(() => oracle(yTrue, m.predict()), true, [m.w, m.b])!;
      const v = cost.dataSync()[0]!;
      cost.dispose();
      return v;
    }));

    /** Loss falls substantially, and the curve follows the oracle's step by step. */
    async function expectTrained(run: { curve: number[]; final: number }) {
      const base = await baseline();
      expect(run.final).toBeLessThan(0.5 * run.curve[0]!);
      expect(base.final).toBeLessThan(0.5 * base.curve[0]!);
      // Same initial weights and optimizer: the bridged trajectory is the oracle's (TOL_CURVE).
      const eCurve = relErr(run.curve, base.curve);
      console.log(`[train] curve vs oracle's: max |Δloss| / max loss = ${eCurve.toExponential(1)}`);
      expect(eCurve).toBeLessThanOrEqual(TOL_CURVE);
    }

    for (const backend of ASYNC_BACKENDS) {
      if (BACKENDS.includes(backend)) test.skipIf(syncPending(backend) || unavailable(backend))(`${name} ${backend}: optimizer.minimize over the sync bridge${pendingNote(backend)}`, async () => {
        const fn = (await syncBridge(await loadLoss(name, backend)))!;
        const run = await train(`${name} ${backend} sync (${syncEngineName(backend)})`, oracle, async (m, opt) => {
          const cost = opt.minimize(() => fn(yTrue, m.predict()), true, [m.w, m.b])!;
          const v = cost.dataSync()[0]!;
          cost.dispose();
          return v;
        }, async (m) => {
          const { value, grads } = tf.variableGrads(() => fn(yTrue, m.predict()), [m.w, m.b]);
          const g = Float32Array.from([...grads[m.w.name]!.dataSync(), ...grads[m.b.name]!.dataSync()]);
          tf.dispose([value, ...Object.values(grads)]);
          return g;
        });
        await expectTrained(run);
      });

      test.skipIf(unavailable(backend))(`${name} ${backend}: await trainStep (async path)${unavailableNote(backend)}`, async () => {
        const fn = await toTfjs(await loadLoss(name, backend), { sync: false });
        const run = await train(`${name} ${backend} async`, oracle, (m, opt) => fn.trainStep(opt, m.predict, yTrue, [m.w, m.b]), async (m) => {
          const { grads } = await fn.variableGrads(m.predict, yTrue, [m.w, m.b]);
          const g = Float32Array.from([...grads[m.w.name]!.dataSync(), ...grads[m.b.name]!.dataSync()]);
          tf.dispose(Object.values(grads));
          return g;
        });
        await expectTrained(run);
      });
    }
  }
});

// ---------------------------------------------------------------- (3) label maps, per-batch masks, reduction 'none'
//
// Oracles, written here in tfjs from the conventions: the one-hot target is tf.oneHot of the labels
// (ignored labels, outside 0..C−1, give tf.oneHot's zero rows); MONAI's masked Dice sums m·p·g, m·p
// and m·g over space (m = 1 where the label is not the ignore index); the per-item values of
// reduction 'none' are Dice's 1 − score per sample and class, and BCE's per-element term. Gradients:
// tfjs autodiff of those. Tolerances as above (TOL, TOL_WEIGHTS).

const C3 = 3;
/** Integer labels 0..C−1 (int32), with about a fifth of the pixels `ignore` when given. */
function labelMap(shape: number[], seed: number, C: number, ignore?: number): Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Int32Array.from({ length: n }, () => (ignore !== undefined && r() < 0.2 ? ignore : Math.floor(r() * C))), shape, 'int32');
}
/** MONAI Dice with a per-pixel mask m (shape [B, H, W, 1]): every sum over space weighed by m. */
function oracleMaskedDice(g: Tensor, p: Tensor, m: Tensor): Scalar {
  const ax = space(p);
  const tp = tf.sum(tf.mul(m, tf.mul(p, g)), ax);
  const score = tf.div(tf.add(tf.mul(2, tp), 1e-5), tf.add(tf.add(tf.sum(tf.mul(m, p), ax), tf.sum(tf.mul(m, g), ax)), 1e-5));
  return tf.mean(tf.sub(1, score));
}
/** Dice's per-item values, [B, C]: 1 − score per sample and class. */
function oracleDiceItems(g: Tensor, p: Tensor): Tensor {
  const ax = space(p);
  const score = tf.div(tf.add(tf.mul(2, tf.sum(tf.mul(p, g), ax)), 1e-5), tf.add(tf.add(tf.sum(p, ax), tf.sum(g, ax)), 1e-5));
  return tf.sub(1, score);
}
/** BCE's per-element values (Keras's clip), in the prediction's shape. */
function oracleBceItems(g: Tensor, p: Tensor): Tensor {
  const q = tf.clipByValue(p, 1e-7, 1 - 1e-7);
  return tf.neg(tf.add(tf.mul(g, tf.log(q)), tf.mul(tf.sub(1, g), tf.log(tf.sub(1, q)))));
}
const notIgnored = (labels: Tensor, ignore: number) => tf.expandDims(tf.cast(tf.notEqual(labels, ignore), 'float32'), -1);

describe('toTfjs: label maps, per-batch masks and reduction none', () => {
  const shape = [2, 6, 5, C3];
  const p = uniform(shape, 31, 0.02, 0.98);

  for (const backend of ['reference', 'cpu'] as const) {
    test.skipIf(unavailable(backend))(`label maps on ${backend}: int32 [B, H, W] and float [B, H, W, 1] give tf.oneHot's value and gradient, sync and async${unavailableNote(backend)}`, async () => {
      const labels = labelMap([2, 6, 5], 32, C3);
      const want = tf.valueAndGrad((x: Tensor) => oracleDice(tf.oneHot(labels, C3), x))(p);
      const wantV = want.value.dataSync()[0]!, wantG = want.grad.dataSync();
      const fn = await toTfjs(await loadLoss('dice', backend));
      const asy = await toTfjs(fn.loss, { sync: false });
      for (const yTrue of [labels, tf.reshape(tf.cast(labels, 'float32'), [2, 6, 5, 1])]) {
        const got = tf.valueAndGrad((x: Tensor) => fn(yTrue, x))(p);
        expect(relVal(got.value.dataSync()[0]!, wantV)).toBeLessThanOrEqual(TOL);
        expect(relErr(got.grad.dataSync(), wantG)).toBeLessThanOrEqual(TOL);
        const a = await asy.valueAndGrad(yTrue, p);
        expect(relVal(a.value.dataSync()[0]!, wantV)).toBeLessThanOrEqual(TOL);
        expect(relErr(a.grad.dataSync(), wantG)).toBeLessThanOrEqual(TOL);
      }
      // A label outside 0..C−1 is refused (tf.oneHot would give a silent row of zeros).
      expect(() => fn(tf.fill([2, 6, 5], 3, 'int32'), p)).toThrow(/element 0 is 3, not a class number 0\.\.2/);
      // labels: false takes yTrue as it is, so the shapes must agree.
      const plain = await toTfjs(fn.loss, { labels: false });
      expect(() => plain(labels, p)).toThrow(/yTrue has shape \[2, 6, 5\], yPred \[2, 6, 5, 3\]; they must be equal$/);
    });
  }

  // A model trained on batches whose ignored pixels differ: the mask comes from each batch's labels.
  // Model: a 3×3 convolution from one channel to three, softmax over them. Per step, the bridged
  // value (what optimizer.minimize returns) and weight gradients equal the masked-Dice oracle's on
  // the same weights, and the loss without a mask is a different number (the mask matters).
  const Bm = 2, Hm = 8, Wm = 8;
  const batches = [0, 1, 2].map((k) => ({ x: uniform([Bm, Hm, Wm, 1], 40 + k, -1, 1), labels: labelMap([Bm, Hm, Wm], 50 + k, C3, 255) }));
  const mW0 = uniform([3, 3, 1, C3], 60, -0.5, 0.5);
  function mModel() {
    const w = tf.variable(mW0);
    return { w, predict: (x: Tensor) => tf.softmax(tf.conv2d(x as Tensor4D, w as Tensor4D, 1, 'same')) };
  }
  function oracleStep(m: ReturnType<typeof mModel>, b: (typeof batches)[number]) {
    const f = () => oracleMaskedDice(tf.oneHot(b.labels, C3), m.predict(b.x), notIgnored(b.labels, 255));
    const { value, grads } = tf.variableGrads(f, [m.w]);
    const unmasked = oracleDice(tf.oneHot(b.labels, C3), m.predict(b.x)).dataSync()[0]!;
    return { value: value.dataSync()[0]!, grad: grads[m.w.name]!.dataSync(), unmasked };
  }

  for (const [backend, path] of [['reference', 'sync'], ['cpu', 'sync'], ['cpu', 'async']] as const) {
    test.skipIf(unavailable(backend))(`ignore_index from each batch's labels, ${path} training on ${backend}: per step the masked-Dice oracle${unavailableNote(backend)}`, async () => {
      const loss = await load('dice', { ignore_index: 255 }, { backend });
      losses.push(loss);
      const fn = await toTfjs(loss, path === 'sync' ? {} : { sync: false });
      const m = mModel();
      const opt = tf.train.adam(0.05);
      const log: string[] = [];
      for (let s = 0; s < 6; s++) {
        const b = batches[s % batches.length]!;
        const want = oracleStep(m, b);
        expect(Math.abs(want.unmasked - want.value)).toBeGreaterThan(1e-3);
        let got: number;
        if (path === 'sync') {
          const { value, grads } = tf.variableGrads(() => fn(b.labels, m.predict(b.x)), [m.w]);
          expect(relErr(grads[m.w.name]!.dataSync(), want.grad), `step ${s} weight gradient`).toBeLessThanOrEqual(TOL_WEIGHTS);
          tf.dispose([value, ...Object.values(grads)]);
          const cost = opt.minimize(() => fn(b.labels, m.predict(b.x)), true, [m.w])!;
          got = cost.dataSync()[0]!;
          cost.dispose();
        } else {
          const { grads } = await fn.variableGrads(() => m.predict(b.x), b.labels, [m.w]);
          expect(relErr(grads[m.w.name]!.dataSync(), want.grad), `step ${s} weight gradient`).toBeLessThanOrEqual(TOL_WEIGHTS);
          tf.dispose(Object.values(grads));
          got = await fn.trainStep(opt, () => m.predict(b.x), b.labels, [m.w]);
        }
        expect(relVal(got, want.value), `step ${s} value`).toBeLessThanOrEqual(TOL);
        log.push(`${got.toFixed(4)} (oracle ${want.value.toFixed(4)}, unmasked ${want.unmasked.toFixed(4)})`);
      }
      console.log(`[bridge mask] dice ignore_index=255 ${backend} ${path}: ${log.join(' → ')}`);
      tf.dispose([m.w]);
      opt.dispose();
    });
  }

  test('maskChannel: one-hot targets with the mask as one more channel, per batch', async () => {
    const loss = await load('dice', { mask: true }, { backend: 'reference' });
    losses.push(loss);
    const fn = await toTfjs(loss, { maskChannel: true });
    for (const b of batches) {
      const g = tf.oneHot(b.labels, C3);
      const mk = notIgnored(b.labels, 255);
      const pb = uniform([Bm, Hm, Wm, C3], 70, 0.02, 0.98);
      const want = tf.valueAndGrad((x: Tensor) => oracleMaskedDice(g, x, mk))(pb);
      const got = tf.valueAndGrad((x: Tensor) => fn(tf.concat([g, mk], -1), x))(pb);
      expect(relVal(got.value.dataSync()[0]!, want.value.dataSync()[0]!)).toBeLessThanOrEqual(TOL);
      expect(relErr(got.grad.dataSync(), want.grad.dataSync())).toBeLessThanOrEqual(TOL);
    }
    expect(() => fn(tf.oneHot(batches[0]!.labels, C3), p)).toThrow(/with maskChannel yTrue has 4 channels/);
  });

  test('option errors say what to do', async () => {
    const plain = await loadLoss('dice', 'reference');
    await expect(toTfjs(plain, { ignoreIndex: 255 })).rejects.toThrow(/has no mask: load it with \{ ignore_index: 255 \}/);
    await expect(toTfjs(plain, { maskChannel: true })).rejects.toThrow(/has no mask: load it with \{ mask: true \}/);
    const masked = await load('dice', { mask: true }, { backend: 'reference' });
    losses.push(masked);
    await expect(toTfjs(masked)).rejects.toThrow(/needs inputs besides yTrue .*mask \(.*\); pass them as options\.inputs, or let each batch carry its mask/);
    const ignoring = await load('dice', { ignore_index: 255 }, { backend: 'reference' });
    losses.push(ignoring);
    await expect(toTfjs(ignoring, { ignoreIndex: 0 })).rejects.toThrow(/loaded with ignore_index 255, but options\.ignoreIndex is 0/);
    const fn = await toTfjs(ignoring);
    // A one-hot target whose ignored pixels hold 255 in every channel (the shape model.fit passes): masked there,
    // as the label map with 255s; a pixel with 255 in some channels only is refused.
    const lab = labelMap([2, 6, 5], 1, C3, 255);
    const rows = tf.where(tf.equal(tf.expandDims(lab, -1), 255), tf.fill([2, 6, 5, C3], 255), tf.oneHot(lab, C3));
    const want = tf.valueAndGrad((x: Tensor) => oracleMaskedDice(tf.oneHot(lab, C3), x, notIgnored(lab, 255)))(p);
    const got = tf.valueAndGrad((x: Tensor) => fn(rows, x))(p);
    expect(relVal(got.value.dataSync()[0]!, want.value.dataSync()[0]!)).toBeLessThanOrEqual(TOL);
    expect(relErr(got.grad.dataSync(), want.grad.dataSync())).toBeLessThanOrEqual(TOL);
    const half = tf.concat([tf.fill([2, 6, 5, 1], 255), tf.zeros([2, 6, 5, C3 - 1])], -1);
    expect(() => fn(half, p)).toThrow(/holds the ignore index 255 in 1 of its 3 channels/);
  });

  for (const backend of ['reference', 'cpu'] as const) {
    test.skipIf(unavailable(backend))(`reduction none on ${backend}: per-item tensors equal tfjs's per-item values; gradients of their sums and weighted sums${unavailableNote(backend)}`, async () => {
      const g = mask(shape, 33);
      const cases = [
        { name: 'dice', items: oracleDiceItems, itemShape: [2, C3] },
        { name: 'bce', items: oracleBceItems, itemShape: shape },
      ];
      for (const { name, items, itemShape } of cases) {
        const loss = await load(name, { reduction: 'none' }, { backend });
        losses.push(loss);
        const fn = await toTfjs(loss);
        expect(fn.valuesShape(shape)).toEqual(itemShape);
        const got = fn(g, p);
        expect(got.shape).toEqual(itemShape);
        const want = items(g, p);
        expect(relErr(got.dataSync(), want.dataSync()), `${name} values`).toBeLessThanOrEqual(TOL);
        // per-item weights (as sample weights give): d Σ w·v / dp
        const w = uniform(itemShape, 34, 0.5, 2);
        for (const [label, reduce] of [['sum', (v: Tensor) => tf.sum(v)], ['mean', (v: Tensor) => tf.mean(v)], ['weighted', (v: Tensor) => tf.sum(tf.mul(w, v))]] as const) {
          const wantG = tf.grad((x: Tensor) => reduce(items(g, x)) as Scalar)(p).dataSync();
          const gotG = tf.grad((x: Tensor) => reduce(fn(g, x)) as Scalar)(p).dataSync();
          expect(relErr(gotG, wantG), `${name} ${label} gradient`).toBeLessThanOrEqual(TOL);
        }
        // async: value is the sum, values the per-item tensor
        const a = await (await toTfjs(loss, { sync: false })).valueAndGrad(g, p);
        expect(relVal(a.value.dataSync()[0]!, tf.sum(want).dataSync()[0]!)).toBeLessThanOrEqual(TOL);
        expect(relErr(a.values!.dataSync(), want.dataSync())).toBeLessThanOrEqual(TOL);
      }
    });
  }

  test('reduction none with softmax: per-class values share every class; weighted upstream gradients are refused, uniform ones exact', async () => {
    const loss = await load('dice', { reduction: 'none', activation: 'softmax' }, { backend: 'reference' });
    losses.push(loss);
    const fn = await toTfjs(loss);
    const g = tf.oneHot(labelMap([2, 6, 5], 35, C3), C3);
    const x = uniform(shape, 36, -2, 2);
    const wantG = tf.grad((z: Tensor) => tf.mean(oracleDiceItems(g, tf.softmax(z))) as Scalar)(x).dataSync();
    expect(relErr(tf.grad((z: Tensor) => tf.mean(fn(g, z)) as Scalar)(x).dataSync(), wantG)).toBeLessThanOrEqual(TOL);
    const w = uniform([2, C3], 37, 0.5, 2);
    expect(() => tf.grad((z: Tensor) => tf.sum(tf.mul(w, fn(g, z))) as Scalar)(x)).toThrow(/per-item upstream gradients .* no exact gradient/);
  });
});
