// The loss library against an independent oracle: every `losses/*.loss` file, compiled and run by the
// float64 reference interpreter, vs a TensorFlow.js implementation written here from the paper's
// formula (or the seed's Keras code), NOT from our IR. Value and gradient w.r.t. the prediction.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, test } from 'vitest';
import { type LossIR, frontendFile } from '../src/compiler/compile.ts';
import type { Dims, Region } from '../src/compiler/lower.ts';
import { rng } from '../src/runtime/check.ts';
import { canonicalAxes, fromCanonical, indexMap, sizesOf, toCanonical } from '../src/runtime/layout.ts';
import { evaluate } from '../src/runtime/reference.ts';
import { tfjs } from '../src/runtime/tfjs.ts';

const tf = await tfjs('cpu');
type Params = Readonly<Record<string, number>>;

const LOSSES_DIR = join(import.meta.dirname, '..', 'losses');

// Tolerance. TensorFlow.js computes in float32 (ε ≈ 6e-8 per op), ours in float64. Inputs are rounded
// to float32 first so both see the same numbers; what remains is tfjs's rounding, grown by sums of at
// most 336 terms (~√N·ε typically) and a few dozen ops: observed ≤ 1.1e-6 (log-cosh of a small Dice
// loss, a cancellation in float32), most ≤ 3e-7. 1e-5 leaves 10× margin; a wrong formula, constant,
// axis or gradient rule is off by 1e-3 or more. Gradient entries are tiny (~1/N), so errors are
// norm-wise: max|ours − tfjs| / max|ours| over the gradient, |ours − tfjs| / |ours| for the value.
const REL_TOL = 1e-5;

// ---------------------------------------------------------------- the tfjs references (NHWC, Keras)

interface Ctx { dims: Dims; region: Region; params: Params }
type Impl = (c: Ctx, p: Tensor, g: Tensor) => Scalar;

// The constants every reference starts from: Keras's epsilon(), MONAI's smooth_nr = smooth_dr.
const KERAS_EPS = { eps: 1e-7 };
const MONAI_DICE = { smooth_nr: 1e-5, smooth_dr: 1e-5 };

/** NHWC axis numbers: batch 0, space 1..dims, class dims+1. */
const spaceAxes = (d: Dims) => (d === 3 ? [1, 2, 3] : [1, 2]);
const classAndSpace = (d: Dims) => [...spaceAxes(d), d + 1];
/** The `region` of a region loss: per sample and class (MONAI), batch + space (smp's batch Dice), or all. */
function regionAxes(c: Ctx): number[] {
  const s = spaceAxes(c.dims);
  return c.region === 'sample' ? s : c.region === 'batch' ? [0, ...s] : [0, ...s, c.dims + 1];
}
/** A parameter: the table's default (from the paper / LOSSES.md) or the test's override. */
function prm(c: Ctx, name: string): number {
  const v = c.params[name];
  if (v === undefined) throw new Error(`reference needs parameter '${name}'`);
  return v;
}

/** Keras (3) binary_crossentropy: clip to [eps, 1 − eps], mean over every element. */
function bce(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const eps = prm(c, 'eps');
  const q = tf.clipByValue(p, eps, 1 - eps);
  return tf.neg(tf.mean(tf.add(tf.mul(g, tf.log(q)), tf.mul(tf.sub(1, g), tf.log(tf.sub(1, q))))));
}

/** The seed: logits from clipped probabilities, then tf.nn.weighted_cross_entropy_with_logits as TF
 * writes it: (1 − z)·x + (1 + (q − 1)·z)·(log1p(e^−|x|) + relu(−x)), q = β/(1 − β); reduce_mean. */
function weightedCe(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const beta = prm(c, 'beta'), eps = prm(c, 'eps');
  const q = tf.clipByValue(p, eps, 1 - eps);
  const x = tf.log(tf.div(q, tf.sub(1, q)));
  const pw = beta / (1 - beta);
  const l = tf.add(1, tf.mul(pw - 1, g));
  const sp = tf.add(tf.log1p(tf.exp(tf.neg(tf.abs(x)))), tf.relu(tf.neg(x)));
  return tf.mean(tf.add(tf.mul(tf.sub(1, g), x), tf.mul(l, sp)));
}

/** HED (Xie & Tu): β = |Y−|/|Y| per image (share of negatives over class and space). β depends on g
 * only, which tfjs does not differentiate here: "no gradient through β" holds by construction. */
function balancedCe(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const eps = prm(c, 'eps');
  const beta = tf.sub(1, tf.mean(g, classAndSpace(c.dims), true));
  const q = tf.clipByValue(p, eps, 1 - eps);
  const pos = tf.mul(beta, tf.mul(g, tf.log(q)));
  const neg = tf.mul(tf.sub(1, beta), tf.mul(tf.sub(1, g), tf.log(tf.sub(1, q))));
  return tf.neg(tf.mean(tf.add(pos, neg)));
}

/** Lin et al., binary: α(1−p)^γ·g·(−log p) + (1−α)p^γ·(1−g)·(−log(1−p)), p clipped to [eps, 1−eps]. */
function focal(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const alpha = prm(c, 'alpha'), gamma = prm(c, 'gamma'), eps = prm(c, 'eps');
  const q = tf.clipByValue(p, eps, 1 - eps);
  const pos = tf.mul(tf.mul(alpha, tf.pow(tf.sub(1, q), gamma)), tf.mul(g, tf.neg(tf.log(q))));
  const neg = tf.mul(tf.mul(1 - alpha, tf.pow(q, gamma)), tf.mul(tf.sub(1, g), tf.neg(tf.log(tf.sub(1, q)))));
  return tf.mean(tf.add(pos, neg));
}

/** MONAI DiceLoss score: (2·tp + s_nr)/(Σp + Σg + s_dr) over the region axes. */
function diceScore(c: Ctx, p: Tensor, g: Tensor, snr: number, sdr: number): Tensor {
  const ax = regionAxes(c);
  const tp = tf.sum(tf.mul(p, g), ax);
  return tf.div(tf.add(tf.mul(2, tp), snr), tf.add(tf.add(tf.sum(p, ax), tf.sum(g, ax)), sdr));
}
const diceLossTerms = (c: Ctx, p: Tensor, g: Tensor) =>
  tf.sub(1, diceScore(c, p, g, prm(c, 'smooth_nr'), prm(c, 'smooth_dr')));
const dice: Impl = (c, p, g) => tf.mean(diceLossTerms(c, p, g));

/** The seed's generalized_dice_coefficient: K.flatten both, smooth = 1. */
function seedDice(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const s = prm(c, 'smooth');
  const pf = tf.reshape(p, [-1]), gf = tf.reshape(g, [-1]);
  const inter = tf.sum(tf.mul(gf, pf));
  return tf.sub(1, tf.div(tf.add(tf.mul(2, inter), s), tf.add(tf.add(tf.sum(gf), tf.sum(pf)), s)));
}

/** MONAI TverskyLoss: α on false positives, β on false negatives, smooth_nr = smooth_dr. */
function tverskyIndex(c: Ctx, p: Tensor, g: Tensor, alpha: number, beta: number, s: number): Tensor {
  const ax = regionAxes(c);
  const tp = tf.sum(tf.mul(p, g), ax);
  const fp = tf.sum(tf.mul(p, tf.sub(1, g)), ax);
  const fn = tf.sum(tf.mul(tf.sub(1, p), g), ax);
  return tf.div(tf.add(tp, s), tf.add(tf.add(tf.add(tp, tf.mul(alpha, fp)), tf.mul(beta, fn)), s));
}
const tversky: Impl = (c, p, g) =>
  tf.mean(tf.sub(1, tverskyIndex(c, p, g, prm(c, 'alpha'), prm(c, 'beta'), prm(c, 'smooth'))));

/** The seed's tversky_index: flatten, alpha = 0.7 on false negatives, 1 − alpha on false positives, smooth 1. */
function seedTverskyIndex(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const a = prm(c, 'fn_weight'), s = prm(c, 'smooth');
  const yt = tf.reshape(g, [-1]), yp = tf.reshape(p, [-1]);
  const tp = tf.sum(tf.mul(yt, yp));
  const fn = tf.sum(tf.mul(yt, tf.sub(1, yp)));
  const fp = tf.sum(tf.mul(tf.sub(1, yt), yp));
  return tf.div(tf.add(tp, s), tf.add(tf.add(tf.add(tp, tf.mul(a, fn)), tf.mul(1 - a, fp)), s));
}
const seedTversky: Impl = (c, p, g) => tf.sub(1, seedTverskyIndex(c, p, g));

/** Abraham & Khan: (1 − TI_c)^γ per sample and class (γ the exponent, 0.75 = 1/(4/3)), then the mean;
 * 1 − TI floored at eps as the file's header says. */
function focalTversky(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const ti = tverskyIndex(c, p, g, prm(c, 'alpha'), prm(c, 'beta'), prm(c, 'smooth'));
  return tf.mean(tf.pow(tf.maximum(tf.sub(1, ti), prm(c, 'eps')), prm(c, 'gamma')));
}
/** The seed's focal_tversky: K.pow(1 − tversky_index, 0.75). */
const seedFocalTversky: Impl = (c, p, g) => tf.pow(tf.sub(1, seedTverskyIndex({ ...c, params: { fn_weight: 0.7, smooth: 1 } }, p, g)), prm(c, 'gamma'));

/** Rahman & Wang: IoU = (tp + s)/(Σp + Σg − tp + s) per sample and class, smooth 1e-5, then the mean. */
function jaccard(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const ax = regionAxes(c), s = prm(c, 'smooth');
  const tp = tf.sum(tf.mul(p, g), ax);
  const iou = tf.div(tf.add(tp, s), tf.add(tf.sub(tf.add(tf.sum(p, ax), tf.sum(g, ax)), tp), s));
  return tf.mean(tf.sub(1, iou));
}
/** The seed's jacard_loss: 1 − Σ(g·p) / Σ(g + p − g·p), flattened, no smoothing. */
function seedJaccard(_c: Ctx, p: Tensor, g: Tensor): Scalar {
  const yt = tf.reshape(g, [-1]), yp = tf.reshape(p, [-1]);
  const inter = tf.sum(tf.mul(yt, yp));
  return tf.sub(1, tf.div(inter, tf.sum(tf.sub(tf.add(yt, yp), tf.mul(yt, yp)))));
}

/** The survey's log-cosh: log((e^x + e^−x)/2), literally as the seed writes it. */
const logCosh = (x: Tensor) => tf.log(tf.div(tf.add(tf.exp(x), tf.exp(tf.neg(x))), 2));
const logCoshDice: Impl = (c, p, g) => tf.mean(logCosh(diceLossTerms(c, p, g)));
const seedLogCoshDice: Impl = (c, p, g) => logCosh(seedDice(c, p, g)) as Scalar;

/** Brosch et al.: r·Σ(g−p)²g/(Σg + ε) + (1−r)·Σ(g−p)²(1−g)/(Σ(1−g) + ε) per sample and class, mean. */
function sensSpec(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const r = prm(c, 'r'), eps = prm(c, 'eps'), ax = regionAxes(c);
  const e = tf.square(tf.sub(g, p)), ng = tf.sub(1, g);
  const sens = tf.div(tf.sum(tf.mul(e, g), ax), tf.add(tf.sum(g, ax), eps));
  const spec = tf.div(tf.sum(tf.mul(e, ng), ax), tf.add(tf.sum(ng, ax), eps));
  return tf.mean(tf.add(tf.mul(r, sens), tf.mul(1 - r, spec)));
}

/** Taghanaki et al.: α·(−mean[β g log p + (1−β)(1−g) log(1−p)]) + (1−α)·(Dice loss, MONAI's). */
function combo(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const alpha = prm(c, 'alpha'), beta = prm(c, 'beta'), eps = prm(c, 'eps');
  const q = tf.clipByValue(p, eps, 1 - eps);
  const wce = tf.neg(tf.mean(tf.add(tf.mul(beta, tf.mul(g, tf.log(q))), tf.mul(1 - beta, tf.mul(tf.sub(1, g), tf.log(tf.sub(1, q)))))));
  return tf.add(tf.mul(alpha, wce), tf.mul(1 - alpha, dice({ ...c, params: MONAI_DICE }, p, g)));
}

/** The seed's bce_dice_loss form, (BCE + Dice loss)/2, with Keras BCE and MONAI Dice (the file's header). */
const bceDice: Impl = (c, p, g) => tf.div(tf.add(bce({ ...c, params: KERAS_EPS }, p, g), dice({ ...c, params: MONAI_DICE }, p, g)), 2);

// ---------------------------------------------------------------- cases

interface Case { name: string; shape: number[]; target: 'bernoulli' | 'onehot' | 'empty-sample0' | 'full' }
const CASES: readonly Case[] = [
  { name: 'binary-2d', shape: [2, 8, 7, 1], target: 'bernoulli' },
  { name: 'multiclass-2d', shape: [2, 6, 5, 3], target: 'onehot' },
  { name: 'binary-3d', shape: [1, 4, 5, 6, 1], target: 'bernoulli' },
  // Sample 0's mask is empty (sample 1 Bernoulli): smoothing / ε keep every per-sample ratio finite.
  { name: 'empty-2d', shape: [2, 8, 7, 1], target: 'empty-sample0' },
  // Every pixel of every sample is foreground: Σ(1 − g) = 0 in every region, β = 0 in balanced CE.
  { name: 'full-2d', shape: [2, 8, 7, 1], target: 'full' },
];
const ALL = CASES.map((c) => c.name);

/** NHWC inputs, already rounded to float32 so both sides see the same numbers. */
function makeInputs(c: Case, seed: number): { p: Float64Array; g: Float64Array } {
  const r = rng(seed);
  const n = c.shape.reduce((a, b) => a * b, 1);
  const C = c.shape.at(-1)!, perSample = n / c.shape[0]!;
  const p = new Float64Array(n), g = new Float64Array(n);
  for (let i = 0; i < n; i++) p[i] = Math.fround(0.02 + 0.96 * r());
  switch (c.target) {
    case 'bernoulli': for (let i = 0; i < n; i++) g[i] = r() < 0.4 ? 1 : 0; break;
    case 'empty-sample0': for (let i = perSample; i < n; i++) g[i] = r() < 0.4 ? 1 : 0; break;
    case 'full': g.fill(1); break;
    case 'onehot': for (let px = 0; px < n / C; px++) g[px * C + Math.floor(r() * C)] = 1; break;
  }
  return { p, g };
}

// ---------------------------------------------------------------- the table

interface Entry {
  file: string;
  impl: Impl;
  /** The paper's / seed's / LOSSES.md's constants; the file must declare exactly these defaults. */
  defaults: Params;
  cases: readonly string[];
  /** Whether the loss reduces over `region`: then 'batch' and 'global' are tested too. */
  region: boolean;
  /** Non-default parameter sets, each run on every case (region 'sample'). */
  params: readonly Params[];
}

const TABLE: readonly Entry[] = [
  { file: 'bce.loss', impl: bce, defaults: KERAS_EPS, cases: ALL, region: false, params: [{ eps: 0.05 }] },
  { file: 'weighted_ce.loss', impl: weightedCe, defaults: { beta: 0.25, ...KERAS_EPS }, cases: ALL, region: false, params: [{ beta: 0.6 }, { beta: 0.8, eps: 0.05 }] },
  { file: 'balanced_ce.loss', impl: balancedCe, defaults: KERAS_EPS, cases: ALL, region: false, params: [{ eps: 0.05 }] },
  { file: 'focal.loss', impl: focal, defaults: { alpha: 0.25, gamma: 2, ...KERAS_EPS }, cases: ALL, region: false, params: [{ gamma: 3, alpha: 0.5 }, { gamma: 0.5, eps: 0.05 }] },
  { file: 'dice.loss', impl: dice, defaults: MONAI_DICE, cases: ALL, region: true, params: [{ smooth_nr: 1, smooth_dr: 1 }, { smooth_nr: 0, smooth_dr: 1e-3 }] },
  { file: 'seed_dice.loss', impl: seedDice, defaults: { smooth: 1 }, cases: ALL, region: false, params: [{ smooth: 1e-5 }] },
  { file: 'tversky.loss', impl: tversky, defaults: { alpha: 0.5, beta: 0.5, smooth: 1e-5 }, cases: ALL, region: true, params: [{ alpha: 0.7, beta: 0.3 }, { alpha: 0.3, beta: 0.7, smooth: 1 }] },
  { file: 'seed_tversky.loss', impl: seedTversky, defaults: { fn_weight: 0.7, smooth: 1 }, cases: ALL, region: false, params: [{ fn_weight: 0.3, smooth: 1e-5 }] },
  { file: 'focal_tversky.loss', impl: focalTversky, defaults: { alpha: 0.5, beta: 0.5, smooth: 1e-5, gamma: 0.75, ...KERAS_EPS }, cases: ALL, region: true, params: [{ alpha: 0.3, beta: 0.7, gamma: 4 / 3 }, { gamma: 0.5, smooth: 1 }] },
  { file: 'seed_focal_tversky.loss', impl: seedFocalTversky, defaults: { gamma: 0.75 }, cases: ALL, region: false, params: [{ gamma: 0.5 }, { gamma: 2 }] },
  { file: 'jaccard.loss', impl: jaccard, defaults: { smooth: 1e-5 }, cases: ALL, region: true, params: [{ smooth: 1 }] },
  { file: 'seed_jaccard.loss', impl: seedJaccard, defaults: {}, cases: ALL, region: false, params: [] },
  { file: 'log_cosh_dice.loss', impl: logCoshDice, defaults: MONAI_DICE, cases: ALL, region: true, params: [{ smooth_nr: 1, smooth_dr: 1 }] },
  { file: 'seed_log_cosh_dice.loss', impl: seedLogCoshDice, defaults: { smooth: 1 }, cases: ALL, region: false, params: [{ smooth: 1e-5 }] },
  { file: 'sensitivity_specificity.loss', impl: sensSpec, defaults: { r: 0.05, eps: 1e-5 }, cases: ALL, region: true, params: [{ r: 0.5 }, { r: 0.1, eps: 1 }] },
  { file: 'combo.loss', impl: combo, defaults: { alpha: 0.5, beta: 0.5, ...KERAS_EPS }, cases: ALL, region: true, params: [{ alpha: 0.3, beta: 0.7 }, { alpha: 0.9, beta: 0.2, eps: 0.05 }] },
  { file: 'bce_dice.loss', impl: bceDice, defaults: {}, cases: ALL, region: true, params: [] },
];

// ---------------------------------------------------------------- the comparison

/** max|a − b| / max|b|: norm-wise, since entries can be tiny. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let err = 0, scale = 0;
  for (let i = 0; i < b.length; i++) { err = Math.max(err, Math.abs(a[i]! - b[i]!)); scale = Math.max(scale, Math.abs(b[i]!)); }
  return a.length === b.length ? err / Math.max(scale, 1e-12) : NaN;
}

const compiled = new Map<string, LossIR>();
function compile(file: string, dims: Dims, region: Region, params: Params): LossIR {
  const key = JSON.stringify([file, dims, region, params]);
  let ir = compiled.get(key);
  if (!ir) {
    const fe = frontendFile(join(LOSSES_DIR, file), { dims, region, params });
    expect(fe.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([]);
    ir = fe.ir!;
    compiled.set(key, ir);
  }
  return ir;
}

/** Ours: the value and the gradient w.r.t. the prediction, gradient returned in NHWC. */
function ours(ir: LossIR, shape: number[], p: Float64Array, g: Float64Array): { value: number; grad: Float64Array } {
  const { sizes, dims } = sizesOf(shape, 'nhwc');
  const byRole = (role: string) => ir.loss.inputs.find((i) => i.role === role)!.name;
  expect(ir.loss.wrt.name).toBe(byRole('prob'));
  const inputs = { [byRole('prob')]: toCanonical(p, 'nhwc', sizes, dims), [byRole('target')]: toCanonical(g, 'nhwc', sizes, dims) };
  const [v, dp] = evaluate([ir.value, ir.grad], inputs, sizes);
  // A gradient that is constant along some axis may come back without it: broadcast to full canonical.
  const full = canonicalAxes(dims);
  const map = indexMap(full, dp!.axes, sizes);
  const canon = Float64Array.from(map, (i) => dp!.data[i]!);
  return { value: v!.data[0]!, grad: fromCanonical(canon, 'nhwc', sizes, dims, (n) => new Float64Array(n)) };
}

/** The oracle: tfjs autodiff of the reference implementation, on NHWC float32 tensors. */
function oracle(impl: Impl, ctx: Ctx, shape: number[], p: Float64Array, g: Float64Array): { value: number; grad: Float32Array } {
  const pt = tf.tensor(Float32Array.from(p), shape);
  const gt = tf.tensor(Float32Array.from(g), shape);
  const { value, grad } = tf.valueAndGrad((x: Tensor) => impl(ctx, x, gt))(pt);
  const out = { value: value.dataSync()[0]!, grad: grad.dataSync() as Float32Array };
  tf.dispose([pt, gt, value, grad]);
  return out;
}

const worst = new Map<string, { value: number; grad: number; at: string }>();

function run(e: Entry, c: Case, region: Region, params: Params, seed: number) {
  const { dims } = sizesOf(c.shape, 'nhwc');
  const ir = compile(e.file, dims, region, params);
  const { p, g } = makeInputs(c, seed);
  const a = ours(ir, c.shape, p, g);
  const b = oracle(e.impl, { dims, region, params: { ...e.defaults, ...params } }, c.shape, p, g);
  expect(Number.isFinite(a.value) && a.grad.every(Number.isFinite), 'ours is finite').toBe(true);
  expect(Number.isFinite(b.value) && b.grad.every(Number.isFinite), 'tfjs is finite').toBe(true);
  const eValue = Math.abs(a.value - b.value) / Math.max(Math.abs(a.value), 1e-12);
  const eGrad = relErr(b.grad, a.grad);
  const w = worst.get(e.file) ?? { value: 0, grad: 0, at: '' };
  const at = `${c.name}/${region}${Object.keys(params).length ? ' ' + JSON.stringify(params) : ''}`;
  if (eValue > w.value) { w.value = eValue; w.at = at; }
  if (eGrad > w.grad) w.grad = eGrad;
  worst.set(e.file, w);
  expect(eValue, `value: ours ${a.value}, tfjs ${b.value}`).toBeLessThanOrEqual(REL_TOL);
  expect(eGrad, 'gradient (norm-wise)').toBeLessThanOrEqual(REL_TOL);
}

const files = readdirSync(LOSSES_DIR).filter((f) => f.endsWith('.loss')).sort();

test('every loss in losses/ has a table entry, and every entry a file', () => {
  const listed = TABLE.map((e) => e.file);
  expect(files.filter((f) => !listed.includes(f)), 'losses with no tfjs reference').toEqual([]);
  expect(listed.filter((f) => !files.includes(f)), 'entries with no file').toEqual([]);
  expect(new Set(listed).size).toBe(listed.length);
});

for (const e of TABLE) {
  describe(e.file, () => {
    const regions: Region[] = e.region ? ['sample', 'batch', 'global'] : ['sample'];
    // The smoothing constants' defaults barely move the value on these inputs (1e-5 next to sums of
    // ~30): they are pinned here exactly, and the overrides below check that they are wired in.
    test('declares the paper\'s defaults', () => {
      const ir = compile(e.file, 2, 'sample', {});
      expect(Object.fromEntries(ir.loss.params.map((q) => [q.name, q.default]))).toEqual(e.defaults);
    });
    const cases = CASES.filter((c) => e.cases.includes(c.name));
    for (const [k, c] of cases.entries()) {
      for (const region of regions) test(`${c.name} / region ${region}`, () => run(e, c, region, {}, 101 + k));
      for (const params of e.params) test(`${c.name} / ${JSON.stringify(params)}`, () => run(e, c, 'sample', params, 201 + k));
    }
  });
}

afterAll(() => {
  const rows = [...worst].map(([f, w]) => `  ${f.padEnd(30)} value ${w.value.toExponential(2)}  grad ${w.grad.toExponential(2)}  (worst value at ${w.at})`);
  console.log(`library vs TensorFlow.js, largest relative errors (tolerance ${REL_TOL}):\n${rows.join('\n')}`);
});
