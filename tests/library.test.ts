// The loss library against an independent oracle: every `losses/*.loss` file, compiled and run by the
// float64 reference interpreter, vs a TensorFlow.js implementation written here from the paper's
// formula (or the seed's Keras code), NOT from our IR. Value and gradient w.r.t. the prediction.

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Scalar, Tensor, Tensor4D, Tensor5D } from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, test } from 'vitest';
import { type LossIR } from '../src/compiler/pipeline.ts';
import { frontendFile } from '../src/runtime/sources.ts';
import type { Dims } from '../src/compiler/core/layout.ts';
import type { Region } from '../src/compiler/lower/knobs.ts';
import { rng } from '../src/tools/check.ts';
import { canonicalAxes, fromCanonical, indexMap, sizesOf, toCanonical } from '../src/compiler/core/layout.ts';
import { evaluate } from '../src/compiler/core/reference.ts';
import { tfjs } from '../src/tools/tfjs.ts';
import { softSkelTf } from './oracles.ts';

const tf = await tfjs('cpu');
// Numbers, and the class distance matrix of the generalized Wasserstein Dice loss.
type Params = Readonly<Record<string, number | readonly (readonly number[])[]>>;

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
  if (typeof v !== 'number') throw new Error(`reference needs a number parameter '${name}'`);
  return v;
}
/** A parameter a shared reference reads only when the loss under test has it. */
function opt(c: Ctx, name: string, dflt: number): number {
  const v = c.params[name];
  return typeof v === 'number' ? v : dflt;
}
/** The number of classes of an NHWC tensor. */
const classCount = (x: Tensor) => x.shape.at(-1)!;

/** Keras (3) binary_crossentropy: clip to [eps, 1 − eps], mean over every element; tf.keras 2.x also
 * adds epsilon() inside each log after the clip (log_eps). */
function bce(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const eps = prm(c, 'eps'), le = opt(c, 'log_eps', 0), ls = opt(c, 'label_smoothing', 0);
  const q = tf.clipByValue(p, eps, 1 - eps);
  // tf.losses.sigmoidCrossEntropy's label smoothing: g·(1 − ls) + ls/2.
  const gs = tf.add(tf.mul(g, 1 - ls), ls / 2);
  return tf.neg(tf.mean(tf.add(tf.mul(gs, tf.log(tf.add(q, le))), tf.mul(tf.sub(1, gs), tf.log(tf.add(tf.sub(1, q), le))))));
}

/** Categorical cross-entropy (torch CrossEntropyLoss / tf softmaxCrossEntropy on probabilities): −Σ_c g_s log p,
 * g_s = g(1 − s) + s/C, p clipped to [eps, 1 − eps]; mean over batch and space. */
function ce(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const eps = prm(c, 'eps'), s = opt(c, 'label_smoothing', 0);
  const gs = tf.add(tf.mul(g, 1 - s), s / classCount(g));
  const q = tf.clipByValue(p, eps, 1 - eps);
  return tf.mean(tf.neg(tf.sum(tf.mul(gs, tf.log(q)), -1)));
}

/** MONAI softmax_focal_loss on probabilities: −α_c (1 − p)^γ g log q (q = p clipped to [eps, 1 − eps]), α_c = 1 − α for class 0 and α for the
 * others (no factor when α is None, here α < 0); mean over every element. */
function categoricalFocal(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const eps = prm(c, 'eps'), gamma = prm(c, 'gamma'), alpha = prm(c, 'alpha');
  const q = tf.clipByValue(p, eps, 1 - eps);
  const C = classCount(g);
  const a = alpha < 0 ? tf.ones([C]) : tf.tensor1d(Array.from({ length: C }, (_, k) => (k === 0 ? 1 - alpha : alpha)));
  // MONAI's modulator reads p itself ((1 − input_ls.exp()).pow(gamma)); only the log's argument is clipped.
  return tf.mean(tf.neg(tf.mul(a, tf.mul(tf.mul(tf.pow(tf.sub(1, p), gamma), g), tf.log(q)))));
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
  const eps = prm(c, 'eps'), fixed = prm(c, 'beta');
  // A fixed beta (the seed's balanced_cross_entropy(beta)) when given, else the paper's per-image share.
  const beta = fixed >= 0 ? tf.scalar(fixed) : tf.sub(1, tf.mean(g, classAndSpace(c.dims), true));
  const q = tf.clipByValue(p, eps, 1 - eps);
  const pos = tf.mul(beta, tf.mul(g, tf.log(q)));
  const neg = tf.mul(tf.sub(1, beta), tf.mul(tf.sub(1, g), tf.log(tf.sub(1, q))));
  return tf.neg(tf.mean(tf.add(pos, neg)));
}

/** Lin et al., binary: α(1−p)^γ·g·(−log p) + (1−α)p^γ·(1−g)·(−log(1−p)), p clipped to [eps, 1−eps]. */
function focal(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const alpha = prm(c, 'alpha'), gamma = prm(c, 'gamma'), eps = prm(c, 'eps');
  const q = tf.clipByValue(p, eps, 1 - eps);
  // alpha None (MONAI's and smp's default; alpha < 0 here): no class-balance factor.
  const [ap, an] = alpha < 0 ? [1, 1] : [alpha, 1 - alpha];
  const pos = tf.mul(tf.mul(ap, tf.pow(tf.sub(1, q), gamma)), tf.mul(g, tf.neg(tf.log(q))));
  const neg = tf.mul(tf.mul(an, tf.pow(q, gamma)), tf.mul(tf.sub(1, g), tf.neg(tf.log(tf.sub(1, q)))));
  return tf.mean(tf.add(pos, neg));
}

/** MONAI DiceLoss score: (2·tp + s_nr)/(Σp + Σg + s_dr) over the region axes; smp's clamp_min(eps) of the
 * denominator (1e-7: it binds only when s_dr is 0 and the class is empty in both). */
function diceScore(c: Ctx, p: Tensor, g: Tensor, snr: number, sdr: number, eps = 1e-7): Tensor {
  const ax = regionAxes(c);
  const tp = tf.sum(tf.mul(p, g), ax);
  // MONAI's squared_pred: Σp² + Σg² in the denominator.
  const sq = opt(c, 'squared_pred', 0) > 0;
  const [pp, gg] = sq ? [tf.square(p), tf.square(g)] : [p, g];
  return tf.div(tf.add(tf.mul(2, tp), snr), tf.maximum(tf.add(tf.add(tf.sum(pp, ax), tf.sum(gg, ax)), sdr), eps));
}
/** smp: loss *= (Σ_region g > 0) before the mean, when zero_absent is set; else 1. */
const presentMask = (c: Ctx, g: Tensor) =>
  opt(c, 'zero_absent', 0) > 0 ? tf.cast(tf.greater(tf.sum(g, regionAxes(c)), 0), 'float32') : tf.scalar(1);
const diceLossTerms = (c: Ctx, p: Tensor, g: Tensor) =>
  tf.sub(1, diceScore(c, p, g, prm(c, 'smooth_nr'), prm(c, 'smooth_dr'), opt(c, 'eps', 1e-7)));
const dice: Impl = (c, p, g) => tf.mean(tf.mul(diceLossTerms(c, p, g), presentMask(c, g)));

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
  return tf.div(tf.add(tp, s), tf.maximum(tf.add(tf.add(tf.add(tp, tf.mul(alpha, fp)), tf.mul(beta, fn)), s), 1e-7));
}
const tversky: Impl = (c, p, g) =>
  tf.mean(tf.mul(tf.sub(1, tverskyIndex(c, p, g, prm(c, 'alpha'), prm(c, 'beta'), prm(c, 'smooth'))), presentMask(c, g)));

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
  const t = tf.mul(tf.maximum(tf.sub(1, ti), prm(c, 'eps')), presentMask(c, g));
  // smp's TverskyLoss(gamma) raises the mean (power_of_mean); the paper each class's term.
  return prm(c, 'power_of_mean') > 0 ? tf.pow(tf.mean(t), prm(c, 'gamma')) : tf.mean(tf.pow(t, prm(c, 'gamma')));
}
/** The seed's focal_tversky: K.pow(1 − tversky_index, 0.75). */
const seedFocalTversky: Impl = (c, p, g) => tf.pow(tf.sub(1, seedTverskyIndex({ ...c, params: { fn_weight: 0.7, smooth: 1 } }, p, g)), prm(c, 'gamma'));

/** Rahman & Wang: IoU = (tp + s)/(Σp + Σg − tp + s) per sample and class, smooth 1e-5, then the mean. */
function jaccard(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const ax = regionAxes(c), s = prm(c, 'smooth');
  const tp = tf.sum(tf.mul(p, g), ax);
  const iou = tf.div(tf.add(tp, s), tf.maximum(tf.add(tf.sub(tf.add(tf.sum(p, ax), tf.sum(g, ax)), tp), s), opt(c, 'eps', 1e-7)));
  return tf.mean(tf.mul(tf.sub(1, iou), presentMask(c, g)));
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
  return tf.add(tf.mul(alpha, wce), tf.mul(1 - alpha, dice({ ...c, params: { smooth_nr: prm(c, 'smooth_nr'), smooth_dr: prm(c, 'smooth_dr') } }, p, g)));
}

/** The seed's bce_dice_loss form, (BCE + Dice loss)/2, with Keras BCE and MONAI Dice (the file's header);
 * the seed's own constants with region global, smooth 1 and log_eps = 1e-7. */
const bceDice: Impl = (c, p, g) => tf.div(tf.add(
  bce({ ...c, params: { eps: prm(c, 'eps'), log_eps: prm(c, 'log_eps') } }, p, g),
  dice({ ...c, params: { smooth_nr: prm(c, 'smooth_nr'), smooth_dr: prm(c, 'smooth_dr') } }, p, g)), 2);

/** Sudre et al. as MONAI's GeneralizedDiceLoss (w_type square, batch = False, or batch = True for region
 * 'batch'): w = 1/ground², infinite weights set to 0 and then to the max of the finite ones per sample
 * (torch.isinf / torch.max as MONAI writes it); numer, denom summed over classes; mean over samples. */
function generalizedDice(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const ax = regionAxes(c), snr = prm(c, 'smooth_nr'), sdr = prm(c, 'smooth_dr');
  const intersection = tf.sum(tf.mul(g, p), ax);
  const ground = tf.sum(g, ax), pred = tf.sum(p, ax);
  const w0 = tf.reciprocal(tf.square(ground));
  const infs = tf.isInf(w0);
  const wFinite = tf.where(infs, tf.zerosLike(w0), w0);
  const classAxis = intersection.rank - 1;
  const w = tf.add(wFinite, tf.mul(tf.cast(infs, 'float32'), tf.max(wFinite, classAxis, true)));
  const numer = tf.add(tf.mul(2, tf.sum(tf.mul(intersection, w), classAxis)), snr);
  const denom = tf.add(tf.sum(tf.mul(tf.add(ground, pred), w), classAxis), sdr);
  return tf.mean(tf.sub(1, tf.div(numer, denom)));
}

/** MONAI DiceCELoss: λ_dice·(MONAI Dice loss) + λ_ce·CE, CE categorical over the class axis for several
 * classes and binary for one channel (as MONAI picks CrossEntropyLoss or BCEWithLogitsLoss). */
const diceCe: Impl = (c, p, g) => tf.add(
  tf.mul(prm(c, 'lambda_dice'), dice(c, p, g)),
  // MONAI's label smoothing is CrossEntropyLoss's; its BCEWithLogitsLoss has none.
  tf.mul(prm(c, 'lambda_ce'), classCount(g) > 1 ? ce(c, p, g) : bce({ ...c, params: { ...c.params, label_smoothing: 0 } }, p, g)));

/** MONAI DiceFocalLoss: λ_dice·Dice + λ_focal·FocalLoss(gamma, alpha = None), the sigmoid focal loss
 * as MONAI writes it: BCE(p, g)·(1 − p_t)^γ per element with p_t = g·p + (1 − g)(1 − p), no α; mean. */
function diceFocal(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const eps = prm(c, 'eps'), gamma = prm(c, 'gamma');
  const q = tf.clipByValue(p, eps, 1 - eps);
  const ce = tf.neg(tf.add(tf.mul(g, tf.log(q)), tf.mul(tf.sub(1, g), tf.log(tf.sub(1, q)))));
  const pt = tf.add(tf.mul(g, q), tf.mul(tf.sub(1, g), tf.sub(1, q)));
  const fl = tf.mean(tf.mul(tf.pow(tf.sub(1, pt), gamma), ce));
  return tf.add(tf.mul(prm(c, 'lambda_dice'), dice(c, p, g)), tf.mul(prm(c, 'lambda_focal'), fl));
}

/** smp / pytorch-toolbelt DiceLoss(log_loss = True): −log(clamp_min(score, eps)) per sample and class, mean. */
const logDice: Impl = (c, p, g) =>
  tf.mean(tf.neg(tf.log(tf.maximum(diceScore(c, p, g, prm(c, 'smooth_nr'), prm(c, 'smooth_dr')), prm(c, 'eps')))));

/** Abhishek & Hamarneh: 1 − (TP·TN − FP·FN)/√((TP+FP)(TP+FN)(TN+FP)(TN+FN)) of soft counts per sample
 * and class, each factor + smooth; mean. */
function mcc(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const ax = regionAxes(c), s = prm(c, 'smooth'), k = prm(c, 'count_smooth');
  const np = tf.sub(1, p), ng = tf.sub(1, g);
  // smp adds its eps to each count (count_smooth); the paper's form smooths the factors (smooth).
  const tp = tf.add(tf.sum(tf.mul(p, g), ax), k), tn = tf.add(tf.sum(tf.mul(np, ng), ax), k);
  const fp = tf.add(tf.sum(tf.mul(p, ng), ax), k), fn = tf.add(tf.sum(tf.mul(np, g), ax), k);
  const f = (a: Tensor, b: Tensor) => tf.add(tf.add(a, b), s);
  const den = tf.sqrt(tf.mul(tf.mul(f(tp, fp), f(tp, fn)), tf.mul(f(tn, fp), f(tn, fn))));
  return tf.mean(tf.sub(1, tf.div(tf.sub(tf.mul(tp, tn), tf.mul(fp, fn)), den)));
}

/** Yeung et al., the authors' Keras code (asym_unified_focal_loss) on a two-channel [background,
 * foreground] = [1 − p, p] stack per class channel: weight·aFTL + (1 − weight)·aFL. aFL: mean over pixels
 * of (1 − δ)(1 − y_pred[0])^γ·CE[0] + δ·CE[1], CE = −y·log(clip(y_pred)); aFTL: per sample,
 * TI = (tp + s)/(tp + δ·fn + (1 − δ)·fp + s) per channel, mean of [1 − TI[0], (1 − TI[1])·(1 − TI[1])^−γ]. */
function asymUnifiedFocal(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const lambda = prm(c, 'lambda'), delta = prm(c, 'delta'), gamma = prm(c, 'gamma'), s = prm(c, 'smooth'), eps = prm(c, 'eps');
  const last = p.rank;
  const yPred = tf.clipByValue(tf.stack([tf.sub(1, p), p], last), eps, 1 - eps);
  const yTrue = tf.stack([tf.sub(1, g), g], last);
  const [pb] = tf.unstack(yPred, last) as [Tensor, Tensor];
  const [ceb, cef] = tf.unstack(tf.neg(tf.mul(yTrue, tf.log(yPred))), last) as [Tensor, Tensor];
  const afl = tf.mean(tf.add(tf.mul(1 - delta, tf.mul(tf.pow(tf.sub(1, pb), gamma), ceb)), tf.mul(delta, cef)));
  const ax = regionAxes(c);
  const tp = tf.sum(tf.mul(yTrue, yPred), ax);
  const fn = tf.sum(tf.mul(yTrue, tf.sub(1, yPred)), ax);
  const fp = tf.sum(tf.mul(tf.sub(1, yTrue), yPred), ax);
  const ti = tf.div(tf.add(tp, s), tf.add(tf.add(tf.add(tp, tf.mul(delta, fn)), tf.mul(1 - delta, fp)), s));
  const [tib, tif] = tf.unstack(ti, ti.rank - 1) as [Tensor, Tensor];
  const back = tf.sub(1, tib);
  const fore = tf.mul(tf.sub(1, tif), tf.pow(tf.sub(1, tif), -gamma));
  const aftl = tf.mean(tf.stack([back, fore], -1));
  return tf.add(tf.mul(lambda, aftl), tf.mul(1 - lambda, afl));
}

/** Wong et al.: w_dice·E_i[(−ln Dice_i)^γ_dice] + w_cross·E_x[w_l (−ln p_l(x))^γ_cross]. Dice_i MONAI's per
 * sample and class. Several classes: the labels are the classes; the cross term per pixel is the true label's
 * w_l (−ln p_l)^γ. One channel: the paper's two labels, background (1 − p, 1 − g) and foreground (p, g), in
 * both terms. f_k = share of label k in the target over the region, w_k = ((Σ_k f_k)/f_k)^0.5 (0 if absent). */
function expLog(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const eps = prm(c, 'eps');
  const binary = classCount(g) === 1;
  // The labels along the last axis: [1 − p, p] for one channel, the classes otherwise.
  const pl = binary ? tf.concat([tf.sub(1, p), p], -1) : p;
  const gl = binary ? tf.concat([tf.sub(1, g), g], -1) : g;
  // One Dice per label (for one channel, each of the two labels over the region on its own).
  const dscOf = (a: Tensor, b: Tensor) => diceScore(c, a, b, prm(c, 'smooth_nr'), prm(c, 'smooth_dr'));
  const dsc = binary ? tf.stack([dscOf(tf.sub(1, p), tf.sub(1, g)), dscOf(p, g)]) : dscOf(p, g);
  // The file's guard (linear below eps) never binds on these inputs: −log of a clipped p is at least eps.
  const guarded = (u: Tensor, gamma: number) => tf.pow(u, gamma);
  const lDice = tf.mean(guarded(tf.neg(tf.log(dsc)), prm(c, 'gamma_dice')));
  // Label shares over the region (Σ_k f_k = 1 for one-hot targets): the foreground share and its complement
  // for one channel, each class's share otherwise.
  const share = tf.mean(g, regionAxes(c), true);
  const f = binary ? tf.concat([tf.sub(1, share), share], -1) : share;
  const w = tf.where(tf.greater(f, 0), tf.rsqrt(tf.maximum(f, 1e-30)), tf.zerosLike(f));
  const q = tf.clipByValue(pl, eps, 1 - eps);
  const perPixel = tf.sum(tf.mul(tf.mul(gl, w), guarded(tf.neg(tf.log(q)), prm(c, 'gamma_cross'))), -1);
  const lCross = tf.mean(perPixel);
  return tf.add(tf.mul(prm(c, 'w_dice'), lDice), tf.mul(prm(c, 'w_cross'), lCross));
}

// ---------------------------------------------------------------- spatial losses (windows, pooling, distance maps)

/** The spatial slices (one per sample and class) of an NHWC shape: flat indices and coordinates. */
interface Slice { idx: number[]; coord: number[][] }
function slicesOf(shape: readonly number[]): Slice[] {
  const sp = shape.slice(1, -1), C = shape.at(-1)!, S = sp.reduce((a, b) => a * b, 1);
  const coord = Array.from({ length: S }, (_, s) => {
    const c: number[] = [];
    for (let a = sp.length - 1, r = s; a >= 0; a--) { c.unshift(r % sp[a]!); r = Math.floor(r / sp[a]!); }
    return c;
  });
  const out: Slice[] = [];
  for (let b = 0; b < shape[0]!; b++) for (let k = 0; k < C; k++) out.push({ idx: coord.map((_, s) => (b * S + s) * C + k), coord });
  return out;
}
const dist = (a: number[], b: number[]) => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0));

/** scipy.ndimage.distance_transform_edt of one slice, brute force O(n²): each true element's distance
 * to the nearest false one, 0 on false elements. With no false element scipy's result is no distance
 * (it measures from outside the array): null here, each reference states what the paper's code gets. */
function edtBrute(m: readonly boolean[], coord: number[][]): Float64Array | null {
  const zeros = coord.filter((_, i) => !m[i]);
  if (zeros.length === 0) return null;
  return Float64Array.from(coord, (c, i) => (m[i] ? Math.min(...zeros.map((z) => dist(c, z))) : 0));
}

/** A host-computed NHWC map (a constant of the loss: no gradient) from one function per slice. */
function perSlice(x: Tensor, f: (vals: number[], coord: number[][], s: Slice) => ArrayLike<number>): Tensor {
  const data = x.dataSync(), out = new Float32Array(data.length);
  for (const s of slicesOf(x.shape)) {
    const v = f(s.idx.map((i) => data[i]!), s.coord, s);
    s.idx.forEach((i, j) => { out[i] = v[j]!; });
  }
  return tf.tensor(out, x.shape);
}

/** The file's CE: Keras binary cross-entropy per element, clipped to [eps, 1 − eps]. */
function bceMap(p: Tensor, g: Tensor, eps: number): Tensor {
  const q = tf.clipByValue(p, eps, 1 - eps);
  return tf.neg(tf.add(tf.mul(g, tf.log(q)), tf.mul(tf.sub(1, g), tf.log(tf.sub(1, q)))));
}

/** Apply a single-channel filter/pool to every channel: [B, ...sp, C] → [B·C, ...sp, 1] and back. */
function perChannel(x: Tensor, f: (img: Tensor) => Tensor): Tensor {
  const r = x.rank, C = x.shape[r - 1]!;
  const perm = [0, r - 1, ...Array.from({ length: r - 2 }, (_, i) => i + 1)];
  const img = tf.reshape(tf.transpose(x, perm), [x.shape[0]! * C, ...x.shape.slice(1, -1), 1]);
  const y = f(img);
  const back = tf.reshape(y, [x.shape[0]!, C, ...y.shape.slice(1, -1)]);
  return tf.transpose(back, [0, ...Array.from({ length: r - 2 }, (_, i) => i + 2), 1]);
}

/** tf.image.ssim's _fspecial_gauss: softmax over the size^d grid of −(Σ coord²)/(2σ²), [k, k(, k), 1, 1]. */
function fspecialGauss(size: number, sigma: number, dims: Dims): Tensor {
  const c = Array.from({ length: size }, (_, i) => (i - (size - 1) / 2) ** 2);
  const grid = dims === 2 ? c.flatMap((a) => c.map((b) => a + b)) : c.flatMap((a) => c.flatMap((b) => c.map((d) => a + b + d)));
  const k = tf.softmax(tf.mul(tf.tensor1d(grid), -0.5 / (sigma * sigma)));
  return tf.reshape(k, [...new Array<number>(dims).fill(size), 1, 1]);
}

/** tf.image.ssim(img1, img2, max_val, filter_size 11, filter_sigma 1.5, k1, k2), as _ssim_per_channel and
 * _ssim_helper write it: depthwise VALID Gaussian reducer, luminance · cs averaged over the valid map per
 * image and channel, then over channels; loss 1 − ssim averaged over the batch. 3-D: the same with an
 * 11³ kernel (conv3d per channel). Images under 11 along a spatial axis (tf.image.ssim rejects them):
 * loss 0 with no gradient, the file's convention. */
function ssimLoss(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const maxVal = prm(c, 'max_val'), k1 = prm(c, 'k1'), k2 = prm(c, 'k2');
  const size = opt(c, 'win_size', 11), sp = p.shape.slice(1, -1);
  if (sp.some((n) => n < size)) return tf.mul(0, tf.sum(p)) as Scalar;
  const kernel = fspecialGauss(size, opt(c, 'sigma', 1.5), c.dims);
  const reducer = c.dims === 2
    ? (x: Tensor) => tf.depthwiseConv2d(x as Tensor4D, tf.tile(kernel, [1, 1, x.shape[3]!, 1]) as Tensor4D, 1, 'valid')
    : (x: Tensor) => perChannel(x, (img) => tf.conv3d(img as Tensor5D, kernel as Tensor5D, 1, 'valid'));
  const c1 = (k1 * maxVal) ** 2, c2 = (k2 * maxVal) ** 2;
  const mean0 = reducer(g), mean1 = reducer(p);
  const num0 = tf.mul(tf.mul(mean0, mean1), 2);
  const den0 = tf.add(tf.square(mean0), tf.square(mean1));
  const luminance = tf.div(tf.add(num0, c1), tf.add(den0, c1));
  const num1 = tf.mul(reducer(tf.mul(g, p)), 2);
  const den1 = reducer(tf.add(tf.square(g), tf.square(p)));
  const cs = tf.div(tf.add(tf.sub(num1, num0), c2), tf.add(tf.sub(den1, den0), c2));
  const perChannelSsim = tf.mean(tf.mul(luminance, cs), spaceAxes(c.dims));
  return tf.mean(tf.sub(1, tf.mean(perChannelSsim, -1)));
}

/** MONAI HausdorffDTLoss.distance_field per sample and channel: if fg.any() and not fg.all(),
 * edt(fg) + edt(~fg), else 0; fg = img > 0.5. */
const distanceField = (x: Tensor) => perSlice(x, (v, coord) => {
  const fg = v.map((a) => a > 0.5);
  if (!fg.some(Boolean) || fg.every(Boolean)) return new Float64Array(v.length);
  const a = edtBrute(fg, coord)!, b = edtBrute(fg.map((f) => !f), coord)!;
  return a.map((d, i) => d + b[i]!);
});
/** Karimi & Salcudean (MONAI's form): mean((p − g)² · (d_p^α + d_g^α)), d from the thresholded maps. */
function hausdorffDt(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const alpha = prm(c, 'alpha');
  const d = tf.add(tf.pow(distanceField(p), alpha), tf.pow(distanceField(g), alpha));
  return tf.mean(tf.mul(tf.square(tf.sub(p, g)), d));
}
/** MONAI LogHausdorffDTLoss: log(HD-DT + 1). */
const logHausdorffDt: Impl = (c, p, g) => tf.log(tf.add(hausdorffDt(c, p, g), 1)) as Scalar;

/** Caliva et al. as LOSSES.md: Φ = pos/max pos + neg/max neg per sample and class, pos = (max edt(fg) −
 * edt(fg))·fg, neg the same on bg; a side with no distance map (full mask) or a zero max gives 0. */
const caliva = (g: Tensor) => perSlice(g, (v, coord) => {
  const fg = v.map((a) => a > 0.5);
  const side = (m: boolean[]) => {
    const d = edtBrute(m, coord);
    if (!d) return new Float64Array(m.length);
    const top = Math.max(...d);
    const inv = d.map((x, i) => (m[i] ? top - x : 0));
    const topInv = Math.max(...inv);
    return topInv > 0 ? inv.map((x) => x / topInv) : new Float64Array(m.length);
  };
  const pos = side(fg), neg = side(fg.map((f) => !f));
  return pos.map((x, i) => x + neg[i]!);
});
const distancePenaltyCe: Impl = (c, p, g) => tf.mean(tf.mul(tf.add(1, caliva(g)), bceMap(p, g, prm(c, 'eps'))));

/** Contour of a slice: foreground elements with a background element among their 8 (26) neighbours. */
function contourOf(m: boolean[], coord: number[][]): boolean[] {
  return m.map((f, i) => f && coord.some((c, j) => !m[j] && Math.max(...c.map((v, a) => Math.abs(v - coord[i]![a]!))) === 1));
}
/** Al Arif et al.: mean(CE + E·CE), E per sample and class the average distance from the predicted
 * contour's points to the nearest target contour point (0 with no predicted or no target contour). */
function shapeAware(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const gv = g.dataSync();
  const e = perSlice(p, (v, coord, s) => {
    const cp = contourOf(v.map((a) => a > 0.5), coord);
    const cg = contourOf(s.idx.map((i) => gv[i]! > 0.5), coord);
    const gPts = coord.filter((_, i) => cg[i]);
    const pPts = coord.filter((_, i) => cp[i]);
    const avg = pPts.length && gPts.length ? pPts.reduce((a, x) => a + Math.min(...gPts.map((y) => dist(x, y))), 0) / pPts.length : 0;
    return new Float64Array(v.length).fill(avg);
  });
  const ce = bceMap(p, g, prm(c, 'eps'));
  return tf.mean(tf.add(ce, tf.mul(e, ce)));
}

/** Kervadec et al.'s one_hot2dist per sample and class: if posmask.any(): edt(neg)·neg − (edt(pos) − 1)·pos;
 * a full posmask (no background for scipy to measure from) gives 0, the file's convention. */
const oneHot2Dist = (g: Tensor) => perSlice(g, (v, coord) => {
  const pos = v.map((a) => a > 0.5), neg = pos.map((x) => !x);
  if (!pos.some(Boolean) || pos.every(Boolean)) return new Float64Array(v.length);
  const dNeg = edtBrute(neg, coord)!, dPos = edtBrute(pos, coord)!;
  return pos.map((x, i) => (x ? -(dPos[i]! - 1) : dNeg[i]!));
});
/** Kervadec et al.'s SurfaceLoss: mean(p · φ_G) over every element. */
const boundary: Impl = (_c, p, g) => tf.mean(tf.mul(p, oneHot2Dist(g)));

/** Zero-padded 3×3 (3×3×3) box mean per channel: a conv with weights 1/9 (1/27), 'same'. */
function boxMean(x: Tensor, dims: Dims): Tensor {
  if (dims === 2) return tf.depthwiseConv2d(x as Tensor4D, tf.fill([3, 3, x.shape[3]!, 1], 1 / 9) as Tensor4D, 1, 'same');
  return perChannel(x, (img) => tf.conv3d(img as Tensor5D, tf.fill([3, 3, 3, 1, 1], 1 / 27) as Tensor5D, 1, 'same'));
}
/** Zhao et al.: λ1·CE + λ2·L_ssl, L_ssl = Σ f·e·CE / Σ f per region (0 when nothing is selected), e the
 * absolute difference of the locally standardized maps ((x − μ)/(σ + C4), box 3, σ = sqrt(max(var, 1e-12))),
 * f = 1[e > β·max e] computed on the host (no gradient). */
function cmssl(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const c4 = prm(c, 'c4'), beta = prm(c, 'beta'), ax = regionAxes(c);
  const standardized = (x: Tensor) => {
    const mu = boxMean(x, c.dims);
    const sigma = tf.sqrt(tf.maximum(tf.sub(boxMean(tf.square(x), c.dims), tf.square(mu)), 1e-12));
    return tf.div(tf.sub(x, mu), tf.add(sigma, c4));
  };
  const e = tf.abs(tf.sub(standardized(g), standardized(p)));
  const f = tf.tensor(tf.greater(e, tf.mul(beta, tf.max(e, ax, true))).dataSync(), e.shape, 'float32');
  const ce = bceMap(p, g, prm(c, 'eps'));
  const selected = tf.sum(f, ax);
  const has = tf.greater(selected, 0);
  const ssl = tf.where(has, tf.div(tf.sum(tf.mul(tf.mul(f, e), ce), ax), tf.maximum(selected, 1)), tf.zerosLike(selected));
  return tf.add(tf.mul(prm(c, 'lambda1'), tf.mean(ce)), tf.mul(prm(c, 'lambda2'), tf.mean(ssl)));
}

const softSkel = (x: Tensor, dims: Dims, iters: number, plus = 1) => softSkelTf(tf, x, dims, iters, plus);
/** The authors' soft_cldice: 1 − 2·tprec·tsens/(tprec + tsens), sums over the region (theirs: global). */
function clDiceTerms(c: Ctx, p: Tensor, g: Tensor, s: number): Tensor {
  const ax = regionAxes(c);
  const it = prm(c, 'iterations'), plus = prm(c, 'erosion');
  const skelPred = softSkel(p, c.dims, it, plus), skelTrue = softSkel(g, c.dims, it, plus);
  const tprec = tf.div(tf.add(tf.sum(tf.mul(skelPred, g), ax), s), tf.add(tf.sum(skelPred, ax), s));
  const tsens = tf.div(tf.add(tf.sum(tf.mul(skelTrue, p), ax), s), tf.add(tf.sum(skelTrue, ax), s));
  return tf.sub(1, tf.div(tf.mul(2, tf.mul(tprec, tsens)), tf.add(tprec, tsens)));
}
const clDice: Impl = (c, p, g) => tf.mean(clDiceTerms(c, p, g, prm(c, 'smooth')));
/** The authors' soft_dice_cldice: (1 − α)·soft_dice + α·cldice, smooth on both. */
function diceClDice(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const a = prm(c, 'alpha'), s = prm(c, 'smooth');
  return tf.add(tf.mul(1 - a, dice({ ...c, params: { smooth_nr: s, smooth_dr: s } }, p, g)), tf.mul(a, clDice(c, p, g))) as Scalar;
}

/** The seed's unet3p_hybrid_loss: focal + (1 − SSIM) + (1 − IoU) (this library's focal and IoU). */
const SSIM_TF = { max_val: 1, k1: 0.01, k2: 0.03 };
const unet3pHybrid: Impl = (c, p, g) => tf.add(tf.add(
  focal({ ...c, params: { alpha: prm(c, 'alpha'), gamma: prm(c, 'gamma'), ...KERAS_EPS } }, p, g),
  ssimLoss({ ...c, params: SSIM_TF }, p, g)),
jaccard({ ...c, params: { smooth: prm(c, 'smooth') } }, p, g)) as Scalar;
/** BASNet: BCE + (1 − SSIM) + (1 − IoU). */
const basnetHybrid: Impl = (c, p, g) => tf.add(tf.add(
  bce({ ...c, params: { ...KERAS_EPS, log_eps: prm(c, 'log_eps') } }, p, g),
  ssimLoss({ ...c, params: SSIM_TF }, p, g)),
jaccard({ ...c, params: { smooth: prm(c, 'smooth') } }, p, g)) as Scalar;

/**
 * tf.image.ssim_multiscale(img1, img2, max_val, power_factors = w0..w4, filter_size 11, filter_sigma 1.5, k1, k2)
 * as image_ops_impl writes it: per scale, _ssim_per_channel (the depthwise VALID Gaussian reducer of ssimLoss)
 * gives the mean SSIM and the mean contrast-structure cs per image and channel; mcs = relu(cs) at scales 0–3,
 * relu(ssim) at scale 4; between scales an odd height or width is padded by 1 at its end as tf.pad's SYMMETRIC
 * mode pads (the last row or column repeated), then tf.avgPool 2x2, stride 2, VALID. The pad is a concat of the
 * last slice, not tf.mirrorPad: tfjs's MirrorPad gradient only slices the interior of dy, dropping what the
 * mirrored copies pass back (grad of Σ mirrorPad(x) is 1 on the edge, where it is 2). MS-SSIM = Π mcs^w per
 * channel, then its mean over channels;
 * loss 1 − MS-SSIM, mean over the batch. 3-D: 2x2x2 blocks (avgPool3d) and 11³ windows, as ssimLoss. A scale
 * under 11 along an axis (tf rejects it): its factor is 1, the file's convention.
 */
function msSsimLoss(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const maxVal = prm(c, 'max_val'), k1 = prm(c, 'k1'), k2 = prm(c, 'k2');
  const weights = [0, 1, 2, 3, 4].map((i) => prm(c, `w${i}`));
  const size = 11, kernel = fspecialGauss(size, 1.5, c.dims);
  const reducer = c.dims === 2
    ? (x: Tensor) => tf.depthwiseConv2d(x as Tensor4D, tf.tile(kernel, [1, 1, x.shape[3]!, 1]) as Tensor4D, 1, 'valid')
    : (x: Tensor) => perChannel(x, (img) => tf.conv3d(img as Tensor5D, kernel as Tensor5D, 1, 'valid'));
  const c1 = (k1 * maxVal) ** 2, c2 = (k2 * maxVal) ** 2;
  const space = spaceAxes(c.dims);
  const downsample = (x: Tensor) => {
    const padded = space.reduce((v, a) => {
      const n = v.shape[a]!;
      return n % 2 === 0 ? v : tf.concat([v, tf.slice(v, v.shape.map((_, i) => (i === a ? n - 1 : 0)), v.shape.map((m, i) => (i === a ? 1 : m)))], a);
    }, x);
    return c.dims === 2 ? tf.avgPool(padded as Tensor4D, 2, 2, 'valid') : tf.avgPool3d(padded as Tensor5D, 2, 2, 'valid');
  };
  const [B, C] = [p.shape[0]!, p.shape.at(-1)!];
  let x = p, y = g;
  let ms: Tensor = tf.ones([B, C]);
  weights.forEach((w, k) => {
    if (k > 0) { x = downsample(x); y = downsample(y); }
    if (x.shape.slice(1, -1).some((n) => n < size)) return;
    const mean0 = reducer(y), mean1 = reducer(x);
    const num0 = tf.mul(tf.mul(mean0, mean1), 2);
    const den0 = tf.add(tf.square(mean0), tf.square(mean1));
    const luminance = tf.div(tf.add(num0, c1), tf.add(den0, c1));
    const cs = tf.div(tf.add(tf.sub(tf.mul(reducer(tf.mul(y, x)), 2), num0), c2), tf.add(tf.sub(reducer(tf.add(tf.square(y), tf.square(x))), den0), c2));
    const term = k < weights.length - 1 ? tf.mean(cs, space) : tf.mean(tf.mul(luminance, cs), space);
    ms = tf.mul(ms, tf.pow(tf.relu(term), w));
  });
  return tf.mean(tf.sub(1, tf.mean(ms, -1)));
}
const MS_SSIM_TF = { ...SSIM_TF, w0: 0.0448, w1: 0.2856, w2: 0.3001, w3: 0.2363, w4: 0.1333, eps: 1e-7 };

// ---------------------------------------------------------------- cases

interface Case {
  name: string; shape: number[]; target: 'bernoulli' | 'onehot' | 'empty-sample0' | 'full' | 'onehot-absent' | 'blobs' | 'voronoi';
  /** Predictions: uniform on [0.02, 0.98] (default), or mostly agreeing with the target. */
  pred?: 'near-target';
  /** Run only for the entries that list it (not in ALL). */
  optIn?: true;
}
const CASES: readonly Case[] = [
  { name: 'binary-2d', shape: [2, 8, 7, 1], target: 'bernoulli' },
  { name: 'multiclass-2d', shape: [2, 6, 5, 3], target: 'onehot' },
  { name: 'binary-3d', shape: [1, 4, 5, 6, 1], target: 'bernoulli' },
  // Sample 0's mask is empty (sample 1 Bernoulli): smoothing / ε keep every per-sample ratio finite.
  { name: 'empty-2d', shape: [2, 8, 7, 1], target: 'empty-sample0' },
  // Every pixel of every sample is foreground: Σ(1 − g) = 0 in every region, β = 0 in balanced CE.
  { name: 'full-2d', shape: [2, 8, 7, 1], target: 'full' },
  // Multi-class, class 0 absent from sample 0 only: an empty class next to present ones (generalized
  // Dice's infinite weight, per-class label frequencies of 0).
  { name: 'absent-class-2d', shape: [2, 6, 5, 3], target: 'onehot-absent', optIn: true },
  // Spatial losses (windows, pooling, distance maps): at least 11 along every spatial axis (SSIM's valid
  // window), blob-shaped targets so distances reach past 1, predictions mostly agreeing with the target.
  { name: 'blobs-2d', shape: [2, 16, 17, 1], target: 'blobs', pred: 'near-target', optIn: true },
  { name: 'bernoulli-2d-16', shape: [2, 16, 16, 1], target: 'bernoulli', optIn: true },
  { name: 'voronoi-2d', shape: [2, 16, 16, 3], target: 'voronoi', pred: 'near-target', optIn: true },
  { name: 'blobs-3d', shape: [1, 12, 11, 13, 1], target: 'blobs', pred: 'near-target', optIn: true },
  { name: 'empty-2d-16', shape: [2, 16, 17, 1], target: 'empty-sample0', optIn: true },
  { name: 'full-2d-16', shape: [2, 16, 17, 1], target: 'full', optIn: true },
  // MS-SSIM: all five scales valid from 161 per axis (165 → 83 → 42 → 21 → 11, 170 → 85 → 43 → 22 → 11: odd sizes
  // padded at three scales); three scales (48x45 → 24x23 → 12x12); two in 3-D (24x23x22 → 12x12x11).
  { name: 'blobs-2d-165', shape: [1, 165, 170, 1], target: 'blobs', pred: 'near-target', optIn: true },
  { name: 'voronoi-2d-48', shape: [2, 48, 45, 2], target: 'voronoi', pred: 'near-target', optIn: true },
  { name: 'blobs-3d-24', shape: [1, 24, 23, 22, 1], target: 'blobs', pred: 'near-target', optIn: true },
];
const ALL = CASES.filter((c) => !c.optIn).map((c) => c.name);
const WITH_ABSENT = [...ALL, 'absent-class-2d'];
const SPATIAL = ['blobs-2d', 'bernoulli-2d-16', 'voronoi-2d', 'blobs-3d', 'empty-2d-16', 'full-2d-16'];
/** SSIM: the large cases, and one under 11 pixels (no valid position: the file's loss 0). */
const SSIM_CASES = ['binary-2d', ...SPATIAL];
// ssim.loss alone leaves out the constant target: there σ_g² = W(1) − W(1)² and the covariance cancel next
// to C2 = 9e-4, and tfjs's float32 rounding alone moves the gradient by 1.9e-5 (a float64 replica of
// tf.image.ssim agrees with ours to 6e-8). The hybrids keep the case, their SSIM term diluted.
const SSIM_ALONE = SSIM_CASES.filter((n) => n !== 'full-2d-16');
// MS-SSIM of unrelated images is ~0 (relu of a cs near 0, where tf's power has no gradient): the cases whose
// predictions follow the target, at every scale count from one (blobs-2d, blobs-3d: 16 and 12 wide) to five.
const MS_SSIM_CASES = ['blobs-2d', 'voronoi-2d', 'blobs-3d', 'blobs-2d-165', 'voronoi-2d-48', 'blobs-3d-24'];
const DIST_CASES = [...WITH_ABSENT, ...SPATIAL];
// cldice.loss alone leaves out the full targets: there tprec = tsens = 1 identically, our gradient is exactly
// 0 and tfjs's is float32 noise (~3e-9), which the norm-wise error divides by 0. dice_cldice keeps them.
const CLDICE_CASES = DIST_CASES.filter((n) => !n.startsWith('full-'));

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
    case 'onehot-absent':
      for (let px = 0; px < n / C; px++) g[px * C + (px < perSample / C ? 1 + Math.floor(r() * (C - 1)) : Math.floor(r() * C))] = 1;
      break;
    case 'blobs':
      // Per sample and class, the union of two balls of random centre and radius.
      for (const sl of slicesOf(c.shape)) {
        const balls = [0, 1].map(() => ({ at: sl.coord[Math.floor(r() * sl.coord.length)]!, rad: 1.5 + r() * Math.min(...c.shape.slice(1, -1)) / 4 }));
        sl.idx.forEach((i, j) => { g[i] = balls.some((b) => dist(sl.coord[j]!, b.at) <= b.rad) ? 1 : 0; });
      }
      break;
    case 'voronoi': {
      // One-hot: each pixel takes the class of its nearest seed (one random seed per class and sample).
      const coord = slicesOf(c.shape)[0]!.coord;
      for (let b = 0; b < c.shape[0]!; b++) {
        const seeds = Array.from({ length: C }, () => coord[Math.floor(r() * coord.length)]!);
        coord.forEach((x, s) => {
          const k = seeds.reduce((best, y, j) => (dist(x, y) < dist(x, seeds[best]!) ? j : best), 0);
          g[(b * coord.length + s) * C + k] = 1;
        });
      }
      break;
    }
  }
  // p > 0.5 on ~71% of the target's foreground and ~29% of its background.
  if (c.pred === 'near-target') for (let i = 0; i < n; i++) p[i] = Math.fround(0.02 + 0.96 * (g[i] ? 0.3 + 0.7 * r() : 0.7 * r()));
  return { p, g };
}

// ---------------------------------------------------------------- the table

/** Rows of (batch, class) slices over the flattened spatial axes: NHWC [B, ...space, C] → [B·C, space]. */
function sliceRows(c: Ctx, t: Tensor): Tensor {
  const perm = [0, c.dims + 1, ...spaceAxes(c.dims)];
  const tt = tf.transpose(t, perm);
  return tf.reshape(tt, [tt.shape[0]! * tt.shape[1]!, -1]);
}

/** Each row of x in the order that sorts `key`'s row descending; the order is a constant (indices off the tape). */
function sortRows(key: Tensor, x: Tensor): Tensor {
  const { indices } = tf.topk(key, key.shape[1]!, true);
  const order = tf.tensor(Int32Array.from(indices.dataSync()), indices.shape, 'int32');
  return tf.gather(x, order, 1, 1);
}

/** Berman et al.'s lovasz_grad of sorted ground truth, row by row: J_i − J_{i−1}, J_i = 1 − inter_i/union_i. */
function lovaszGrad(gs: Tensor): Tensor {
  const gts = tf.sum(gs, 1, true);
  const jac = tf.sub(1, tf.div(tf.sub(gts, tf.cumsum(gs, 1)), tf.add(gts, tf.cumsum(tf.sub(1, gs), 1))));
  const n = jac.shape[1]!;
  const prev = tf.concat([tf.zeros([jac.shape[0]!, 1]), tf.slice(jac, [0, 0], [-1, n - 1])], 1);
  return tf.sub(jac, prev);
}

/** lovasz_hinge(per_image = True) on logits: per (image, class) row, dot(relu(sorted errors), lovasz_grad); mean. */
function lovaszHinge(c: Ctx, x: Tensor, g: Tensor): Scalar {
  const xr = sliceRows(c, x), gr = sliceRows(c, g);
  const e = tf.sub(1, tf.mul(xr, tf.sub(tf.mul(2, gr), 1)));
  return tf.mean(tf.sum(tf.mul(tf.relu(sortRows(e, e)), lovaszGrad(sortRows(e, gr))), 1));
}

/** lovasz_softmax per image over present classes: errors |g − p|; mean over images of the mean over present classes. */
function lovaszSoftmax(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const pr = sliceRows(c, p), gr = sliceRows(c, g);
  const e = tf.abs(tf.sub(gr, pr));
  const B = p.shape[0]!;
  const lc = tf.reshape(tf.sum(tf.mul(sortRows(e, e), lovaszGrad(sortRows(e, gr))), 1), [B, -1]);
  const present = tf.cast(tf.greater(tf.reshape(tf.sum(gr, 1), [B, -1]), 0), 'float32');
  return tf.mean(tf.div(tf.sum(tf.mul(lc, present), 1), tf.maximum(tf.sum(present, 1), 1)));
}

/**
 * MONAI's GeneralizedWassersteinDiceLoss, weighting_mode 'default' (Fidon 2017): softmax of the logits;
 * labels = argmax of the one-hot target; per pixel W = Σ_c M[label, c]·p_c with the row of M gathered by
 * label (tf.gather); α = 0 for background pixels, 1 elsewhere; per sample TP = Σ α(1 − W), error = Σ W;
 * 1 − (2TP + s_nr)/(2TP + error + s_dr); mean over samples. M divided by its max; default 1 − I.
 */
function wassersteinDice(c: Ctx, x: Tensor, g: Tensor): Scalar {
  const C = x.shape[x.shape.length - 1]!;
  const given = c.params['class_distances'] as number[][] | undefined;
  const m = given ?? Array.from({ length: C }, (_, i) => Array.from({ length: C }, (_, j) => (i === j ? 0 : 1)));
  const top = Math.max(...m.flat());
  const M = tf.div(tf.tensor2d(m), top);
  const p = tf.softmax(x);
  const labels = tf.argMax(g, -1);
  const w = tf.sum(tf.mul(tf.gather(M, labels), p), -1);
  const alpha = tf.cast(tf.notEqual(labels, 0), 'float32');
  const sp = spaceAxes(c.dims);
  const tp = tf.sum(tf.mul(alpha, tf.sub(1, w)), sp);
  const err = tf.sum(w, sp);
  const twoTp = tf.mul(2, tp);
  return tf.mean(tf.sub(1, tf.div(tf.add(twoTp, prm(c, 'smooth_nr')), tf.add(tf.add(twoTp, err), prm(c, 'smooth_dr')))));
}

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
  /** A tolerance other than REL_TOL, with the reason beside the entry. */
  tol?: number;
}

const TABLE: readonly Entry[] = [
  { file: 'bce.loss', impl: bce, defaults: { ...KERAS_EPS, log_eps: 0, label_smoothing: 0 }, cases: ALL, region: false, params: [{ eps: 0.05 }, { log_eps: 1e-7 }, { eps: 0.05, log_eps: 0.01 }, { label_smoothing: 0.2 }] },
  { file: 'ce.loss', impl: ce, defaults: { label_smoothing: 0, ...KERAS_EPS }, cases: WITH_ABSENT, region: false, params: [{ eps: 0.05 }, { label_smoothing: 0.1 }] },
  { file: 'categorical_focal.loss', impl: categoricalFocal, defaults: { gamma: 2, alpha: -1, ...KERAS_EPS }, cases: WITH_ABSENT, region: false, params: [{ alpha: 0.25 }, { gamma: 0.5, alpha: 0.75, eps: 0.05 }] },
  { file: 'weighted_ce.loss', impl: weightedCe, defaults: { beta: 0.25, ...KERAS_EPS }, cases: ALL, region: false, params: [{ beta: 0.6 }, { beta: 0.8, eps: 0.05 }] },
  { file: 'balanced_ce.loss', impl: balancedCe, defaults: { beta: -1, ...KERAS_EPS }, cases: ALL, region: false, params: [{ eps: 0.05 }, { beta: 0.7 }] },
  { file: 'focal.loss', impl: focal, defaults: { alpha: 0.25, gamma: 2, ...KERAS_EPS }, cases: ALL, region: false, params: [{ gamma: 3, alpha: 0.5 }, { gamma: 0.5, eps: 0.05 }, { alpha: -1 }] },
  { file: 'dice.loss', impl: dice, defaults: { ...MONAI_DICE, squared_pred: 0, zero_absent: 0, eps: 1e-7 }, cases: WITH_ABSENT, region: true, params: [{ smooth_nr: 1, smooth_dr: 1 }, { smooth_nr: 0, smooth_dr: 1e-3 }, { smooth_nr: 0, smooth_dr: 0, zero_absent: 1 }, { squared_pred: 1 }] },
  { file: 'seed_dice.loss', impl: seedDice, defaults: { smooth: 1 }, cases: ALL, region: false, params: [{ smooth: 1e-5 }] },
  { file: 'tversky.loss', impl: tversky, defaults: { alpha: 0.5, beta: 0.5, smooth: 1e-5, zero_absent: 0, eps: 1e-7 }, cases: WITH_ABSENT, region: true, params: [{ alpha: 0.7, beta: 0.3 }, { alpha: 0.3, beta: 0.7, smooth: 1 }, { smooth: 0, zero_absent: 1 }] },
  { file: 'seed_tversky.loss', impl: seedTversky, defaults: { fn_weight: 0.7, smooth: 1 }, cases: ALL, region: false, params: [{ fn_weight: 0.3, smooth: 1e-5 }] },
  { file: 'focal_tversky.loss', impl: focalTversky, defaults: { alpha: 0.5, beta: 0.5, smooth: 1e-5, gamma: 0.75, zero_absent: 0, power_of_mean: 0, ...KERAS_EPS }, cases: WITH_ABSENT, region: true, params: [{ alpha: 0.3, beta: 0.7, gamma: 4 / 3 }, { gamma: 0.5, smooth: 1 }, { gamma: 2, smooth: 0, zero_absent: 1, power_of_mean: 1 }] },
  { file: 'seed_focal_tversky.loss', impl: seedFocalTversky, defaults: { gamma: 0.75 }, cases: ALL, region: false, params: [{ gamma: 0.5 }, { gamma: 2 }] },
  { file: 'jaccard.loss', impl: jaccard, defaults: { smooth: 1e-5, zero_absent: 0, eps: 1e-7 }, cases: WITH_ABSENT, region: true, params: [{ smooth: 1 }, { smooth: 0, zero_absent: 1 }] },
  { file: 'seed_jaccard.loss', impl: seedJaccard, defaults: {}, cases: ALL, region: false, params: [] },
  { file: 'log_cosh_dice.loss', impl: logCoshDice, defaults: MONAI_DICE, cases: ALL, region: true, params: [{ smooth_nr: 1, smooth_dr: 1 }] },
  { file: 'seed_log_cosh_dice.loss', impl: seedLogCoshDice, defaults: { smooth: 1 }, cases: ALL, region: false, params: [{ smooth: 1e-5 }] },
  { file: 'sensitivity_specificity.loss', impl: sensSpec, defaults: { r: 0.05, eps: 1e-5 }, cases: ALL, region: true, params: [{ r: 0.5 }, { r: 0.1, eps: 1 }] },
  { file: 'combo.loss', impl: combo, defaults: { alpha: 0.5, beta: 0.5, ...MONAI_DICE, ...KERAS_EPS }, cases: ALL, region: true, params: [{ alpha: 0.3, beta: 0.7 }, { alpha: 0.9, beta: 0.2, eps: 0.05 }, { smooth_nr: 1, smooth_dr: 1 }] },
  { file: 'bce_dice.loss', impl: bceDice, defaults: { ...MONAI_DICE, ...KERAS_EPS, log_eps: 0 }, cases: ALL, region: true, params: [{ smooth_nr: 1, smooth_dr: 1, log_eps: 1e-7 }, { eps: 0.05 }] },
  // region false: its class weights need the class axis, so `global` is an error; sample is MONAI's default.
  { file: 'generalized_dice.loss', impl: generalizedDice, defaults: MONAI_DICE, cases: WITH_ABSENT, region: false, params: [{ smooth_nr: 1, smooth_dr: 1 }, { smooth_nr: 0, smooth_dr: 1e-3 }] },
  { file: 'dice_ce.loss', impl: diceCe, defaults: { lambda_dice: 1, lambda_ce: 1, ...MONAI_DICE, label_smoothing: 0, ...KERAS_EPS }, cases: WITH_ABSENT, region: true, params: [{ lambda_dice: 0.3, lambda_ce: 2 }, { lambda_ce: 0.5, smooth_nr: 1, smooth_dr: 1, eps: 0.05 }, { label_smoothing: 0.2 }] },
  { file: 'dice_focal.loss', impl: diceFocal, defaults: { lambda_dice: 1, lambda_focal: 1, gamma: 2, ...MONAI_DICE, ...KERAS_EPS }, cases: WITH_ABSENT, region: true, params: [{ lambda_dice: 0.5, lambda_focal: 2, gamma: 3 }, { gamma: 0.5, smooth_nr: 1, smooth_dr: 1, eps: 0.05 }] },
  { file: 'log_dice.loss', impl: logDice, defaults: { ...MONAI_DICE, ...KERAS_EPS }, cases: WITH_ABSENT, region: true, params: [{ smooth_nr: 1, smooth_dr: 1 }, { smooth_nr: 0, smooth_dr: 0, eps: 1e-2 }] },
  { file: 'mcc.loss', impl: mcc, defaults: { smooth: 1e-5, count_smooth: 0 }, cases: WITH_ABSENT, region: true, params: [{ smooth: 1 }, { smooth: 0.1 }, { smooth: 0, count_smooth: 1e-5 }] },
  { file: 'asym_unified_focal.loss', impl: asymUnifiedFocal, defaults: { lambda: 0.5, delta: 0.6, gamma: 0.5, smooth: 1e-5, ...KERAS_EPS }, cases: WITH_ABSENT, region: true, params: [{ lambda: 0.2, delta: 0.7, gamma: 0.2 }, { lambda: 1, delta: 0.5, gamma: 0, smooth: 1e-7, eps: 0.05 }, { lambda: 0 }] },
  { file: 'exp_log.loss', impl: expLog, defaults: { w_dice: 0.8, w_cross: 0.2, gamma_dice: 0.3, gamma_cross: 0.3, ...MONAI_DICE, ...KERAS_EPS }, cases: WITH_ABSENT, region: true, params: [{ w_dice: 0.5, w_cross: 0.5, gamma_dice: 1, gamma_cross: 1 }, { gamma_dice: 0.5, gamma_cross: 2, smooth_nr: 1, smooth_dr: 1, eps: 0.05 }] },
  // Spatial losses: distance maps as host constants (brute-force transforms), windows and pooling in tfjs.
  { file: 'ssim.loss', impl: ssimLoss, defaults: { ...SSIM_TF, win_size: 11, sigma: 1.5 }, cases: SSIM_ALONE, region: false, params: [{ k1: 0.05, k2: 0.1 }, { max_val: 2 }, { win_size: 7 }, { win_size: 9, sigma: 2 }] },
  // 4e-5: with C2 = 9e-4 the coarser scales' variances cancel in float32 (as ssim's), and tfjs's rounding alone
  // moves the gradient by up to 1.6e-5 (voronoi-2d-48); a float64 replica of tf.image.ssim_multiscale agrees with
  // ours to 4e-15 in value and 4e-8 along random directions (central differences) on such cases; with C2 = 0.01
  // the tfjs error is 3e-6. A wrong rule is off by 1e-3 or more (tfjs's own MirrorPad gradient bug: 1e-2).
  { file: 'ms_ssim.loss', impl: msSsimLoss, defaults: MS_SSIM_TF, cases: MS_SSIM_CASES, region: false, params: [{ k1: 0.05, k2: 0.1 }, { w0: 0.5, w1: 0.1, w2: 0.1, w3: 0.1, w4: 0.2, max_val: 2 }], tol: 4e-5 },
  { file: 'hausdorff_dt.loss', impl: hausdorffDt, defaults: { alpha: 2 }, cases: DIST_CASES, region: false, params: [{ alpha: 1 }, { alpha: 1.5 }] },
  { file: 'log_hausdorff_dt.loss', impl: logHausdorffDt, defaults: { alpha: 2 }, cases: DIST_CASES, region: false, params: [{ alpha: 1 }] },
  { file: 'distance_penalty_ce.loss', impl: distancePenaltyCe, defaults: KERAS_EPS, cases: DIST_CASES, region: false, params: [{ eps: 0.05 }] },
  { file: 'shape_aware.loss', impl: shapeAware, defaults: KERAS_EPS, cases: DIST_CASES, region: false, params: [{ eps: 0.05 }] },
  { file: 'boundary.loss', impl: boundary, defaults: {}, cases: DIST_CASES, region: false, params: [] },
  { file: 'cmssl.loss', impl: cmssl, defaults: { lambda1: 1, lambda2: 1, beta: 0.1, c4: 0.01, ...KERAS_EPS }, cases: DIST_CASES, region: true, params: [{ lambda1: 0.5, lambda2: 2, beta: 0.3 }, { c4: 0.1, eps: 0.05 }] },
  // A pool of a pool (every soft opening) ties copies of one input value: tf.maxPool's first-max gradient, as ours.
  { file: 'lovasz_hinge.loss', impl: lovaszHinge, defaults: {}, cases: ALL, region: false, params: [] },
  { file: 'lovasz_softmax.loss', impl: lovaszSoftmax, defaults: {}, cases: ALL, region: false, params: [] },
  // iterations: 0 leaves the skeleton relu(x − open(x)) alone; 5 erodes further into thick blobs than the default 3.
  // erosion: 0 erodes with the full square window instead of the authors' plus.
  { file: 'cldice.loss', impl: clDice, defaults: { smooth: 1, iterations: 3, erosion: 1 }, cases: CLDICE_CASES, region: true, params: [{ smooth: 1e-3 }, { iterations: 1 }, { iterations: 5 }, { iterations: 0 }, { erosion: 0 }] },
  { file: 'dice_cldice.loss', impl: diceClDice, defaults: { alpha: 0.5, smooth: 1, iterations: 3, erosion: 1 }, cases: DIST_CASES, region: true, params: [{ alpha: 0.2, smooth: 0.1 }, { iterations: 1 }, { erosion: 0 }] },
  { file: 'unet3p_hybrid.loss', impl: unet3pHybrid, defaults: { alpha: 0.25, gamma: 2, smooth: 1e-5 }, cases: SSIM_CASES, region: true, params: [{ alpha: 0.5, gamma: 1, smooth: 1 }] },
  // Multi-class one-hot targets only (a label per pixel, as MONAI takes); the logits drawn as the other predictions.
  { file: 'generalized_wasserstein_dice.loss', impl: wassersteinDice, defaults: MONAI_DICE, cases: ['multiclass-2d', 'absent-class-2d', 'voronoi-2d'], region: false, params: [{ class_distances: [[0, 1, 1], [1, 0, 0.5], [1, 0.5, 0]] }, { class_distances: [[0, 2, 3], [2, 0, 1], [3, 1, 0]], smooth_nr: 1, smooth_dr: 1 }] },
  { file: 'basnet_hybrid.loss', impl: basnetHybrid, defaults: { smooth: 1e-5, log_eps: 0 }, cases: SSIM_CASES, region: true, params: [{ smooth: 1 }, { log_eps: 1e-7 }] },
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
  // The prediction: probabilities, or logits (Lovász hinge) drawn the same way.
  const inputs = { [ir.loss.wrt.name]: toCanonical(p, 'nhwc', sizes, dims), [byRole('target')]: toCanonical(g, 'nhwc', sizes, dims) };
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
  expect(eValue, `value: ours ${a.value}, tfjs ${b.value}`).toBeLessThanOrEqual(e.tol ?? REL_TOL);
  expect(eGrad, 'gradient (norm-wise)').toBeLessThanOrEqual(e.tol ?? REL_TOL);
}

const files = readdirSync(LOSSES_DIR).filter((f) => f.endsWith('.loss')).sort();

test('every loss in losses/ has a table entry (or its own test from segloss new), and every entry a file', () => {
  const listed = TABLE.map((e) => e.file);
  // A loss started with `segloss new` brings its own reference: tests/losses/NAME.test.ts.
  const ownTest = (f: string) => existsSync(join('tests', 'losses', f.replace(/\.loss$/, '.test.ts')));
  expect(files.filter((f) => !listed.includes(f) && !ownTest(f)), 'losses with no tfjs reference').toEqual([]);
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
