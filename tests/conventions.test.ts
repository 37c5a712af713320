// Issue 9: the reference libraries' conventions, reproduced by flags. For every loss this library
// carries that MONAI 1.5, segmentation_models.pytorch 0.5 (smp) or the seed's Keras code (SemSegLoss,
// Jadon; tf.keras 2.x) also carries, `load(name, flags)` on the float64 reference backend must give that
// library's value and gradient to float64 precision.
//
// The oracles below are written here, in float64 JavaScript, from each library's source as it computes
// the loss (MONAI monai/losses/{dice,focal_loss,tversky,ssim_loss}.py and monai/metrics/regression.py at
// 1.5; smp segmentation_models_pytorch/losses/{dice,jaccard,tversky,mcc,focal,_functional}.py at v0.5.0;
// SemSegLoss loss_functions.py; tf.keras 2.x backend.binary_crossentropy) or, where no code exists, from
// the paper (Combo, exponential logarithmic). They never call segloss. Gradients: the oracle's fourth-order
// central difference (step 1e-3 on logits, 1e-3·min(p, 1 − p) on probabilities), exact to ~1e-10.
// Logit extremes (±1e4, 0, mixed): against TensorFlow.js's stable losses and their tfjs gradients.
//
// Inputs are float32-rounded so the js backend (float32 kernels) sees the same numbers. Errors: value
// |ours − lib| / |lib|; gradient norm-wise, max|ours − lib| / max|lib|.
//
// A convention the flags do not reproduce is an entry with `mismatch` (why) and `explained` (what ours computes
// instead, held to float64 precision): its test asserts the difference, so it fails once the loss is changed to
// match, and the afterAll table marks it MISMATCH. Combo's `offset`: ours is the paper's value + (1 − α).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tensor } from '@tensorflow/tfjs-core';
import { dump } from 'npyjs';
import { afterAll, describe, expect, test } from 'vitest';
import { SeglossError } from '../src/compiler/front/diagnostics.ts';
import type { Params } from '../src/compiler/lower/knobs.ts';
import { rng } from '../src/tools/check.ts';
import { readArray } from '../src/tools/io/index.ts';
import { type Backend, type CompiledLoss, load } from '../src/index.ts';
import { tfjs } from '../src/tools/tfjs.ts';

const tf = await tfjs('cpu');

// Float64 oracles against the float64 reference: what is left is summation order (~1e-15) and, for the
// gradient, the finite difference's truncation (~1e-11 here). A wrong constant, axis or mask is 1e-6 or
// more (smp's eps, tf.keras's eps in the log: ~1e-7 relative, still 1000× the tolerance).
const VALUE_TOL = 1e-12;
const GRAD_TOL = 1e-9;
// float32 kernels (js backend) and tfjs: ~1e-7 observed; 1e-5 as library.test.ts.
const F32_TOL = 1e-5;

// ---------------------------------------------------------------- float64 helpers (NHWC)

/** A library's loss of the prediction x (probabilities or logits) and the one-hot target g; m: a per-pixel mask, when the entry has one. */
type Oracle = (x: Float64Array, g: Float64Array, shape: readonly number[], m?: Float64Array) => number;
type Act = 'none' | 'sigmoid' | 'softmax';
type Region = 'sample' | 'batch' | 'global';

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);
const geom = (shape: readonly number[]) => ({ B: shape[0]!, C: shape.at(-1)!, S: prod(shape.slice(1, -1)), sp: shape.slice(1, -1) });
const sigmoid = (v: number) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v)));
/** log σ(v), stable: min(v, 0) − log1p(e^−|v|). */
const logSigmoid = (v: number) => Math.min(v, 0) - Math.log1p(Math.exp(-Math.abs(v)));
/** torch's binary_cross_entropy_with_logits per element: max(x, 0) − x·t + log1p(e^−|x|). */
const bceLogits = (x: number, t: number) => Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));

/** log softmax over the last (class) axis. */
function logSoftmax(x: Float64Array, shape: readonly number[]): Float64Array {
  const { C } = geom(shape), out = new Float64Array(x.length);
  for (let px = 0; px < x.length / C; px++) {
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, x[px * C + c]!);
    let s = 0;
    for (let c = 0; c < C; c++) s += Math.exp(x[px * C + c]! - m);
    for (let c = 0; c < C; c++) out[px * C + c] = x[px * C + c]! - m - Math.log(s);
  }
  return out;
}
function activate(x: Float64Array, shape: readonly number[], act: Act): Float64Array {
  if (act === 'none') return x;
  if (act === 'sigmoid') return x.map(sigmoid);
  return logSoftmax(x, shape).map(Math.exp);
}

/** The (batch, class) slot an NHWC element reduces into: per sample and class, per class, or one. */
function slotOf(shape: readonly number[], region: Region): { n: number; of: (i: number) => number } {
  const { B, C, S } = geom(shape);
  if (region === 'sample') return { n: B * C, of: (i) => Math.floor(i / (S * C)) * C + (i % C) };
  if (region === 'batch') return { n: C, of: (i) => i % C };
  return { n: 1, of: () => 0 };
}
/** Σ f(i) over the region, one value per slot. */
function rsum(shape: readonly number[], region: Region, f: (i: number) => number): Float64Array {
  const { n, of } = slotOf(shape, region), out = new Float64Array(n);
  for (let i = 0; i < prod(shape); i++) out[of(i)]! += f(i);
  return out;
}
const mean = (xs: ArrayLike<number>) => { let s = 0; for (let i = 0; i < xs.length; i++) s += xs[i]!; return s / xs.length; };
const meanOf = (n: number, f: (i: number) => number) => { let s = 0; for (let i = 0; i < n; i++) s += f(i); return s / n; };
const clip = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
/** a·m with a per-pixel mask m repeated along class; a itself without one. */
const masked = (a: Float64Array, m: Float64Array | undefined, C: number) => (m ? a.map((v, i) => v * m[Math.floor(i / C)]!) : a);

/**
 * d f / d x by fourth-order central differences, D(h) = (−f(x+2h) + 8f(x+h) − 8f(x−h) + f(x−2h))/12h, with
 * one Richardson step (16·D(h/2) − D(h))/15, sixth order. h = 1e-2·min(p, 1 − p) on probabilities (inside
 * (0, 1), and small next to the scale of log p), 1e-2 on logits (the scale of a sigmoid or softmax, even
 * between two logits tied at 1e4).
 */
function fdGrad(f: Oracle, x: Float64Array, g: Float64Array, shape: readonly number[], input: 'prob' | 'logits', m?: Float64Array): Float64Array {
  const out = new Float64Array(x.length), y = Float64Array.from(x);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    const h = input === 'logits' ? 1e-2 : 1e-2 * Math.min(v, 1 - v);
    const at = (d: number) => { y[i] = v + d; const r = f(y, g, shape, m); y[i] = v; return r; };
    const D = (k: number) => (-at(2 * k) + 8 * at(k) - 8 * at(-k) + at(-2 * k)) / (12 * k);
    out[i] = (16 * D(h / 2) - D(h)) / 15;
  }
  return out;
}

// ---------------------------------------------------------------- MONAI 1.5

/**
 * DiceLoss(sigmoid | softmax, include_background, batch, smooth_nr, smooth_dr): activation, then channel 0
 * dropped (not for one channel); compute_tp_fp_fn (ord 1, hard labels, decoupled): tp = Σpg, fp = Σp − tp,
 * fn = Σg − tp over space (and batch when batch=True); fp, fn halved; 1 − (2tp + s_nr)/(2(tp + fp + fn) + s_dr);
 * mean over what is left (batch and channels, or channels).
 */
function monaiDice(o: { act?: Act; batch?: boolean; includeBackground?: boolean; snr?: number; sdr?: number; squaredPred?: boolean; jaccard?: boolean } = {}): Oracle {
  const snr = o.snr ?? 1e-5, sdr = o.sdr ?? 1e-5;
  return (x, g0, shape, m) => {
    // MaskedDiceLoss: input·mask and target·mask, then DiceLoss (on probabilities: the activation would see the masked logits).
    const { C } = geom(shape), region: Region = o.batch ? 'batch' : 'sample';
    const p = masked(activate(x, shape, o.act ?? 'none'), m, C), g = masked(g0, m, C);
    const tp = rsum(shape, region, (i) => p[i]! * g[i]!), ps = rsum(shape, region, (i) => p[i]!), gs = rsum(shape, region, (i) => g[i]!);
    // squared_pred: ground_o = Σg², pred_o = Σp²; jaccard: denominator = 2·(denominator − intersection).
    const ps2 = rsum(shape, region, (i) => p[i]! * p[i]!), gs2 = rsum(shape, region, (i) => g[i]! * g[i]!);
    const f: number[] = [];
    tp.forEach((t, k) => {
      if (o.includeBackground === false && C > 1 && k % C === 0) return;
      if (o.squaredPred || o.jaccard) {
        let den = o.squaredPred ? ps2[k]! + gs2[k]! : ps[k]! + gs[k]!;
        if (o.jaccard) den = 2 * (den - t);
        f.push(1 - (2 * t + snr) / (den + sdr));
        return;
      }
      const fp = 0.5 * (ps[k]! - t), fn = 0.5 * (gs[k]! - t);
      f.push(1 - (2 * t + snr) / (2 * (t + fp + fn) + sdr));
    });
    return mean(f);
  };
}

/** TverskyLoss(alpha on fp, beta on fn): compute_tp_fp_fn not decoupled: fp = Σp(1 − g), fn = Σ(1 − p)g. */
function monaiTversky(o: { alpha?: number; beta?: number; batch?: boolean; act?: Act } = {}): Oracle {
  const a = o.alpha ?? 0.5, b = o.beta ?? 0.5, s = 1e-5;
  return (x, g, shape) => {
    const p = activate(x, shape, o.act ?? 'none'), region: Region = o.batch ? 'batch' : 'sample';
    const tp = rsum(shape, region, (i) => p[i]! * g[i]!);
    const fp = rsum(shape, region, (i) => p[i]! * (1 - g[i]!)), fn = rsum(shape, region, (i) => (1 - p[i]!) * g[i]!);
    return meanOf(tp.length, (k) => 1 - (tp[k]! + s) / (tp[k]! + a * fp[k]! + b * fn[k]! + s));
  };
}

/**
 * GeneralizedDiceLoss(w_type square, batch): w = 1/ground², infinities set to 0 and then to the max
 * weight per sample (over the whole tensor with batch=True); numer 2Σ_c tp·w + s_nr, denom Σ_c (Σp + Σg)·w
 * + s_dr; 1 − numer/denom, mean.
 */
function monaiGeneralizedDice(o: { batch?: boolean; act?: Act } = {}): Oracle {
  return (x, g, shape) => {
    const p = activate(x, shape, o.act ?? 'none'), { C } = geom(shape), region: Region = o.batch ? 'batch' : 'sample';
    const tp = rsum(shape, region, (i) => p[i]! * g[i]!), ps = rsum(shape, region, (i) => p[i]!), gs = rsum(shape, region, (i) => g[i]!);
    const rows = tp.length / C, out: number[] = [];
    for (let r = 0; r < rows; r++) {
      const k0 = r * C, w = Array.from({ length: C }, (_, c) => 1 / (gs[k0 + c]! * gs[k0 + c]!));
      const inf = w.map((v) => !Number.isFinite(v)), wf = w.map((v, c) => (inf[c] ? 0 : v)), top = Math.max(...wf);
      const ww = wf.map((v, c) => v + (inf[c] ? top : 0));
      let numer = 0, denom = 0;
      for (let c = 0; c < C; c++) {
        const t = tp[k0 + c]!, fp = 0.5 * (ps[k0 + c]! - t), fn = 0.5 * (gs[k0 + c]! - t);
        numer += t * ww[c]!; denom += 2 * (t + fp + fn) * ww[c]!;
      }
      out.push(1 - (2 * numer + 1e-5) / (denom + 1e-5));
    }
    return mean(out);
  };
}

/** torch CrossEntropyLoss on logits with a class-probability (one-hot) target, label_smoothing s: t(1 − s) + s/C; mean over pixels. */
function torchCe(x: Float64Array, g: Float64Array, shape: readonly number[], s = 0): number {
  const { C } = geom(shape), ls = logSoftmax(x, shape);
  return meanOf(x.length / C, (px) => { let l = 0; for (let c = 0; c < C; c++) l -= (g[px * C + c]! * (1 - s) + s / C) * ls[px * C + c]!; return l; });
}
/** torch BCEWithLogitsLoss, mean. */
const torchBceLogits: Oracle = (x, g) => meanOf(x.length, (i) => bceLogits(x[i]!, g[i]!));
/** smp SoftBCEWithLogitsLoss(smooth_factor = f): the target (1 − g)·f + g·(1 − f), then BCEWithLogitsLoss. */
const smpSoftBce = (f: number): Oracle => (x, g) => meanOf(x.length, (i) => bceLogits(x[i]!, (1 - g[i]!) * f + g[i]! * (1 - f)));

/** DiceCELoss(softmax | sigmoid): λ_dice·DiceLoss + λ_ce·(CrossEntropyLoss for several channels, BCEWithLogitsLoss for one), the CE on the logits. */
function monaiDiceCe(o: { act: Act; lambdaDice?: number; lambdaCe?: number; labelSmoothing?: number; batch?: boolean; includeBackground?: boolean }): Oracle {
  const dice = monaiDice({ act: o.act, batch: o.batch, includeBackground: o.includeBackground });
  return (x, g, shape) => (o.lambdaDice ?? 1) * dice(x, g, shape) +
    (o.lambdaCe ?? 1) * (geom(shape).C > 1 ? torchCe(x, g, shape, o.labelSmoothing ?? 0) : torchBceLogits(x, g, shape));
}

/**
 * FocalLoss on logits. use_softmax: −(1 − e^ls)^γ·ls·g (ls the log softmax over channels, after channel 0 is
 * dropped when include_background=False), times (1 − α for channel 0, α for the others) when α is given;
 * else sigmoid_focal_loss: (x − x·g − logσ(x))·exp(γ·logσ(−x(2g − 1))), times αg + (1 − α)(1 − g) when given.
 * Mean over every element.
 */
function monaiFocal(o: { softmax: boolean; gamma?: number; alpha?: number; includeBackground?: boolean }): Oracle {
  const gamma = o.gamma ?? 2;
  return (x0, g0, shape0) => {
    let x = x0, g = g0, shape = shape0;
    const C0 = geom(shape0).C;
    if (o.includeBackground === false && C0 > 1) {
      // input[:, 1:], target[:, 1:]
      const keep = (i: number) => i % C0 !== 0;
      x = x0.filter((_, i) => keep(i)); g = g0.filter((_, i) => keep(i)); shape = [...shape0.slice(0, -1), C0 - 1];
    }
    const { C } = geom(shape);
    if (o.softmax) {
      const ls = logSoftmax(x, shape);
      const alpha = o.includeBackground === false ? undefined : o.alpha;
      return meanOf(x.length, (i) => {
        const a = alpha === undefined ? 1 : i % C === 0 ? 1 - alpha : alpha;
        return a * -((1 - Math.exp(ls[i]!)) ** gamma) * ls[i]! * g[i]!;
      });
    }
    return meanOf(x.length, (i) => {
      const v = x[i]!, t = g[i]!;
      const l = (v - v * t - logSigmoid(v)) * Math.exp(logSigmoid(-v * (t * 2 - 1)) * gamma);
      return o.alpha === undefined ? l : (t * o.alpha + (1 - t) * (1 - o.alpha)) * l;
    });
  };
}

/** DiceFocalLoss(sigmoid | softmax, gamma): DiceLoss with that activation + FocalLoss(gamma, α None), whose use_softmax stays False. */
function monaiDiceFocal(o: { act: Act; gamma?: number }): Oracle {
  const dice = monaiDice({ act: o.act }), focal = monaiFocal({ softmax: false, gamma: o.gamma });
  return (x, g, shape) => dice(x, g, shape) + focal(x, g, shape);
}

/** A normalized 1-D Gaussian (MONAI's gaussian_1d; tf.image.ssim's _fspecial_gauss is its outer product, normalized). */
function gauss1d(size: number, sigma: number): number[] {
  const w = Array.from({ length: size }, (_, i) => Math.exp(-(((i - (size - 1) / 2) / sigma) ** 2) / 2));
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / s);
}
/**
 * compute_ssim_and_cs (MONAI) = tf.image.ssim's _ssim_per_channel: Gaussian window (separable, normalized),
 * VALID positions, biased moments μ = Σw·x, σ² = Σw·x² − μ², luminance (2μxμy + C1)/(μx² + μy² + C1), cs
 * (2σxy + C2)/(σx² + σy² + C2), C1 = (k1·range)², C2 = (k2·range)². SSIM per sample: mean over channels
 * and positions (MONAI's view(B, −1).mean; tf's mean per channel, then over channels: the same here);
 * loss: mean over the batch of 1 − SSIM.
 */
function ssimLoss(win: number, sigma = 1.5, k1 = 0.01, k2 = 0.03, range = 1): Oracle {
  return (p, g, shape) => {
    const { B, C, S, sp } = geom(shape), w1 = gauss1d(win, sigma);
    // Window offsets (flat spatial index) and weights; valid origins.
    const strides = sp.map((_, a) => prod(sp.slice(a + 1)));
    const offs: { d: number; w: number }[] = [{ d: 0, w: 1 }];
    const origins: number[][] = [[]];
    let offsets = offs, os = origins;
    for (let a = 0; a < sp.length; a++) {
      offsets = offsets.flatMap((o) => w1.map((wv, k) => ({ d: o.d + k * strides[a]!, w: o.w * wv })));
      os = os.flatMap((o) => Array.from({ length: sp[a]! - win + 1 }, (_, k) => [...o, k]));
    }
    const starts = os.map((o) => o.reduce((s, v, a) => s + v * strides[a]!, 0));
    const c1 = (k1 * range) ** 2, c2 = (k2 * range) ** 2;
    let loss = 0;
    for (let b = 0; b < B; b++) {
      let acc = 0;
      for (let c = 0; c < C; c++) {
        for (const s0 of starts) {
          let mx = 0, my = 0, mxx = 0, myy = 0, mxy = 0;
          for (const { d, w } of offsets) {
            const i = (b * S + s0 + d) * C + c, xv = p[i]!, yv = g[i]!;
            mx += w * xv; my += w * yv; mxx += w * xv * xv; myy += w * yv * yv; mxy += w * xv * yv;
          }
          const cs = (2 * (mxy - mx * my) + c2) / ((mxx - mx * mx) + (myy - my * my) + c2);
          acc += ((2 * mx * my + c1) / (mx * mx + my * my + c1)) * cs;
        }
      }
      loss += 1 - acc / (C * starts.length);
    }
    return loss / B;
  };
}

// ---------------------------------------------------------------- segmentation_models.pytorch 0.5

type SmpMode = 'binary' | 'multiclass' | 'multilabel';
/** from_logits: multiclass exp(log_softmax), else exp(logsigmoid). */
const smpProbs = (x: Float64Array, shape: readonly number[], mode: SmpMode, fromLogits: boolean) =>
  !fromLogits ? x : mode === 'multiclass' ? logSoftmax(x, shape).map(Math.exp) : x.map((v) => Math.exp(logSigmoid(v)));

/**
 * soft_tversky_score over dims (0, 2) (batch and space, per channel): output_sum, target_sum, difference =
 * ‖p − g‖₁, intersection = (Σp + Σg − difference)/2, fp = Σp − I, fn = Σg − I; (I + smooth)/clamp_min(I + α·fp
 * + β·fn + smooth, eps). Loss 1 − score, times (Σg > 0) per channel, mean over channels (then ^γ: Tversky).
 */
function smpTverskyFamily(o: { mode: SmpMode; fromLogits: boolean; alpha: number; beta: number; gamma?: number; smooth?: number; eps?: number }): Oracle {
  const smooth = o.smooth ?? 0, eps = o.eps ?? 1e-7;
  return (x, g0, shape, m) => {
    // ignore_index: y_pred·mask and the one-hot y_true·mask.
    const { C } = geom(shape), p = masked(smpProbs(x, shape, o.mode, o.fromLogits), m, C), g = masked(g0, m, C);
    const os = rsum(shape, 'batch', (i) => p[i]!), ts = rsum(shape, 'batch', (i) => g[i]!), diff = rsum(shape, 'batch', (i) => Math.abs(p[i]! - g[i]!));
    const loss = meanOf(os.length, (c) => {
      const I = (os[c]! + ts[c]! - diff[c]!) / 2, fp = os[c]! - I, fn = ts[c]! - I;
      const score = (I + smooth) / Math.max(I + o.alpha * fp + o.beta * fn + smooth, eps);
      return (1 - score) * (ts[c]! > 0 ? 1 : 0);
    });
    return loss ** (o.gamma ?? 1);
  };
}
const smpDice = (mode: SmpMode, fromLogits: boolean) => smpTverskyFamily({ mode, fromLogits, alpha: 0.5, beta: 0.5 });
const smpJaccard = (mode: SmpMode, fromLogits: boolean) => smpTverskyFamily({ mode, fromLogits, alpha: 1, beta: 1 });

/** MCCLoss(eps 1e-5): whole-tensor counts, each + eps; 1 − (tp·tn − fp·fn)/sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn)). */
const smpMcc: Oracle = (p, g) => {
  const e = 1e-5;
  let tp = 0, tn = 0, fp = 0, fn = 0;
  for (let i = 0; i < p.length; i++) { tp += p[i]! * g[i]!; tn += (1 - p[i]!) * (1 - g[i]!); fp += p[i]! * (1 - g[i]!); fn += (1 - p[i]!) * g[i]!; }
  tp += e; tn += e; fp += e; fn += e;
  return 1 - (tp * tn - fp * fn) / Math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn));
};

/** focal_loss_with_logits(α None): logpt = BCE with logits, pt = e^−logpt, (1 − pt)^γ·logpt, mean. */
const smpFocalTerm = (x: number, t: number, gamma: number) => { const logpt = bceLogits(x, t); return (1 - Math.exp(-logpt)) ** gamma * logpt; };
/** FocalLoss(binary | multilabel): one mean over every element; multiclass: Σ over channels of each channel's mean against (label == c). */
function smpFocal(mode: SmpMode, gamma = 2): Oracle {
  return (x, g, shape) => {
    if (mode !== 'multiclass') return meanOf(x.length, (i) => smpFocalTerm(x[i]!, g[i]!, gamma));
    const { C } = geom(shape), n = x.length / C;
    let total = 0;
    for (let c = 0; c < C; c++) total += meanOf(n, (px) => smpFocalTerm(x[px * C + c]!, g[px * C + c]!, gamma));
    return total;
  };
}

// ---------------------------------------------------------------- the seed (SemSegLoss, tf.keras 2.x)

const KEPS = 1e-7; // K.epsilon()
/** tf.keras 2.x backend.binary_crossentropy: clip to [ε, 1 − ε], then −(g·log(q + ε) + (1 − g)·log(1 − q + ε)); mean. */
const kerasBce: Oracle = (p, g) => meanOf(p.length, (i) => {
  const q = clip(p[i]!, KEPS, 1 - KEPS);
  return -(g[i]! * Math.log(q + KEPS) + (1 - g[i]!) * Math.log(1 - q + KEPS));
});
/** generalized_dice_coefficient: K.flatten, smooth 1. */
const seedDsc = (p: Float64Array, g: Float64Array, smooth = 1) => {
  let inter = 0, sg = 0, sp = 0;
  for (let i = 0; i < p.length; i++) { inter += g[i]! * p[i]!; sg += g[i]!; sp += p[i]!; }
  return (2 * inter + smooth) / (sg + sp + smooth);
};
const seedDiceLoss: Oracle = (p, g) => 1 - seedDsc(p, g);
/** bce_dice_loss: (binary_crossentropy + dice_loss) / 2. */
const seedBceDice: Oracle = (p, g, s) => (kerasBce(p, g, s) + seedDiceLoss(p, g, s)) / 2;
/** tversky_index: flatten, α = 0.7 on false negatives, 1 − α on false positives, smooth 1. */
const seedTi = (p: Float64Array, g: Float64Array) => {
  let tp = 0, fn = 0, fp = 0;
  for (let i = 0; i < p.length; i++) { tp += g[i]! * p[i]!; fn += g[i]! * (1 - p[i]!); fp += (1 - g[i]!) * p[i]!; }
  return (tp + 1) / (tp + 0.7 * fn + 0.3 * fp + 1);
};
const seedTversky: Oracle = (p, g) => 1 - seedTi(p, g);
const seedFocalTversky: Oracle = (p, g) => (1 - seedTi(p, g)) ** 0.75;
/** jacard_loss: 1 − Σ(g·p) / Σ(g + p − g·p). */
const seedJaccard: Oracle = (p, g) => {
  let inter = 0, union = 0;
  for (let i = 0; i < p.length; i++) { inter += g[i]! * p[i]!; union += g[i]! + p[i]! - g[i]! * p[i]!; }
  return 1 - inter / union;
};
const seedLogCoshDice: Oracle = (p, g, s) => { const v = seedDiceLoss(p, g, s); return Math.log((Math.exp(v) + Math.exp(-v)) / 2); };
/** TF's weighted_cross_entropy_with_logits as TF writes it: (1 − z)·x + (1 + (q − 1)z)·(log1p(e^−|x|) + relu(−x)). */
const tfWce = (x: number, z: number, q: number) => (1 - z) * x + (1 + (q - 1) * z) * (Math.log1p(Math.exp(-Math.abs(x))) + Math.max(-x, 0));
/** convert_to_logits: log(q/(1 − q)) of the clipped probability. */
const kerasLogit = (p: number) => { const q = clip(p, KEPS, 1 - KEPS); return Math.log(q / (1 - q)); };
/** weighted_cross_entropyloss (β = 0.25): pos_weight β/(1 − β), reduce_mean. */
const seedWeightedCe: Oracle = (p, g) => meanOf(p.length, (i) => tfWce(kerasLogit(p[i]!), g[i]!, 0.25 / 0.75));
/** balanced_cross_entropy(β) (the Keras form next to the seed's weighted CE): the same with pos_weight β/(1 − β), times (1 − β). */
const balancedCeFixed = (beta: number): Oracle => (p, g) => meanOf(p.length, (i) => tfWce(kerasLogit(p[i]!), g[i]!, beta / (1 - beta)) * (1 - beta));
/** focal_loss (α 0.25, γ 2): clip, logits, (log1p(e^−|x|) + relu(−x))·(w_a + w_b) + x·w_b. */
const seedFocal: Oracle = (p, g) => meanOf(p.length, (i) => {
  const q = clip(p[i]!, KEPS, 1 - KEPS), x = Math.log(q / (1 - q)), t = g[i]!;
  const wa = 0.25 * (1 - q) ** 2 * t, wb = 0.75 * q ** 2 * (1 - t);
  return (Math.log1p(Math.exp(-Math.abs(x))) + Math.max(-x, 0)) * (wa + wb) + x * wb;
});
/** ssim_loss: 1 − tf.image.ssim(max_val 1) (11x11, σ 1.5), Keras's mean over the batch. */
const seedSsim = ssimLoss(11);
const seedUnet3p: Oracle = (p, g, s) => seedFocal(p, g, s) + seedSsim(p, g, s) + seedJaccard(p, g, s);
/** basnet_hybrid_loss: BinaryCrossentropy() (tf.keras 2.x: ε inside the log) + SSIM + IoU. */
const seedBasnet: Oracle = (p, g, s) => kerasBce(p, g, s) + seedSsim(p, g, s) + seedJaccard(p, g, s);

/**
 * Combo loss, the paper's form (Taghanaki et al. 2019, eq. 3): α·L_mBCE − (1 − α)·DSC, L_mBCE = −(1/N)Σ[β·g·ln p
 * + (1 − β)(1 − g)·ln(1 − p)], DSC the global Dice with smooth 1 (the seed's). Ours is α·L_mBCE + (1 − α)(1 − DSC).
 */
function comboPaper(alpha = 0.5, beta = 0.5): Oracle {
  return (p, g) => alpha * -meanOf(p.length, (i) => {
    const q = clip(p[i]!, KEPS, 1 - KEPS);
    return beta * g[i]! * Math.log(q) + (1 - beta) * (1 - g[i]!) * Math.log(1 - q);
  }) - (1 - alpha) * seedDsc(p, g);
}

// ---------------------------------------------------------------- Wong et al. 2018 (exponential logarithmic)

/**
 * L = w_dice·E_i[(−ln Dice_i)^γ_dice] + w_cross·E_x[w_l·(−ln p_l(x))^γ_cross] (the paper, eqs. 1–4). Labels: the
 * classes, or for one channel the two labels background [1 − p, 1 − g] and foreground [p, g]. Dice_i =
 * (2Σ δ_il p_i + ε)/(Σ(δ_il + p_i) + ε) per label (and per sample, or over the batch, as `region`); the mean
 * over labels (and samples). w_l = ((Σ_k f_k)/f_l)^0.5, f_k the label frequencies of the target over the
 * region (weight 0 for an absent label); the cross term at each pixel is its true label's.
 */
function expLogPaper(o: { region: Region; smooth: number; act?: Act; wDice?: number; wCross?: number; gDice?: number; gCross?: number }): Oracle {
  const wd = o.wDice ?? 0.8, wc = o.wCross ?? 0.2, gd = o.gDice ?? 0.3, gc = o.gCross ?? 0.3, s = o.smooth;
  return (x, g0, shape0) => {
    const p0 = activate(x, shape0, o.act ?? 'none');
    const { C: C0 } = geom(shape0);
    // The labels along the last axis.
    const [p, g, shape] = C0 > 1 ? [p0, g0, shape0] : [
      Float64Array.from({ length: 2 * p0.length }, (_, i) => (i % 2 ? p0[i >> 1]! : 1 - p0[i >> 1]!)),
      Float64Array.from({ length: 2 * g0.length }, (_, i) => (i % 2 ? g0[i >> 1]! : 1 - g0[i >> 1]!)),
      [...shape0.slice(0, -1), 2]];
    const { C } = geom(shape);
    // Dice and label frequencies per (sample, label) or per label over the batch.
    if (o.region === 'global') throw new Error('expLogPaper: per sample or over the batch');
    const region = o.region;
    const tp = rsum(shape, region, (i) => p[i]! * g[i]!), ps = rsum(shape, region, (i) => p[i]!), gs = rsum(shape, region, (i) => g[i]!);
    const lDice = meanOf(tp.length, (k) => (-Math.log((2 * tp[k]! + s) / (gs[k]! + ps[k]! + s))) ** gd);
    const { of } = slotOf(shape, region);
    const w = (i: number) => {
      const k = of(i), r = k - (k % C);
      let total = 0;
      for (let c = 0; c < C; c++) total += gs[r + c]!;
      return gs[k]! > 0 ? Math.sqrt(total / gs[k]!) : 0;
    };
    const lCross = meanOf(p.length / C, (px) => {
      let l = 0;
      for (let c = 0; c < C; c++) { const i = px * C + c; if (g[i]! > 0) l += g[i]! * w(i) * (-Math.log(p[i]!)) ** gc; }
      return l;
    });
    return wd * lDice + wc * lCross;
  };
}

// ---------------------------------------------------------------- cases

interface Case { shape: number[]; target: 'bernoulli' | 'onehot' | 'absent' }
const CASES: Readonly<Record<string, Case>> = {
  'binary-2d': { shape: [2, 6, 5, 1], target: 'bernoulli' },
  'multiclass-2d': { shape: [2, 5, 4, 3], target: 'onehot' },
  // Class 2 absent from the whole batch, class 0 from sample 1: smp's zero_absent over the batch, MONAI's empty per-sample class.
  'absent-2d': { shape: [2, 5, 4, 3], target: 'absent' },
  'binary-3d': { shape: [1, 3, 4, 4, 1], target: 'bernoulli' },
  'multiclass-3d': { shape: [1, 4, 4, 4, 2], target: 'onehot' },
  // SSIM: at least the window along every axis (MONAI win_size 7; the seed's tf.image.ssim 11).
  'ssim-2d': { shape: [2, 9, 8, 2], target: 'bernoulli' },
  'ssim-3d': { shape: [1, 8, 8, 8, 1], target: 'bernoulli' },
  'seed-ssim-2d': { shape: [2, 12, 11, 1], target: 'bernoulli' },
};
const BIN = ['binary-2d', 'binary-3d'];
const MULTI = ['multiclass-2d', 'absent-2d', 'multiclass-3d'];
const ALL = [...BIN, ...MULTI];

/** Float32-rounded inputs: probabilities uniform on [0.02, 0.98] or logits on [−4, 4]. */
function makeInputs(name: string, input: 'prob' | 'logits', seed: number): { x: Float64Array; g: Float64Array; m: Float64Array; shape: number[] } {
  const c = CASES[name]!, r = rng(seed), n = prod(c.shape), { C, B } = geom(c.shape), perSample = n / B / C;
  const x = Float64Array.from({ length: n }, () => Math.fround(input === 'prob' ? 0.02 + 0.96 * r() : -4 + 8 * r()));
  const g = new Float64Array(n);
  if (c.target === 'bernoulli') for (let i = 0; i < n; i++) g[i] = r() < 0.4 ? 1 : 0;
  else {
    for (let px = 0; px < n / C; px++) {
      const b = Math.floor(px / perSample), j = px % perSample;
      // 'onehot': every class in every sample (the first C pixels take 0..C−1). 'absent': sample 0 in {0, 1},
      // sample 1 all class 1, so class 2 is absent from the batch and class 0 from sample 1.
      const label = c.target === 'onehot' ? (j < C ? j : Math.floor(r() * C)) : b === 0 ? (j < 2 ? j : Math.floor(r() * 2)) : 1;
      g[px * C + label] = 1;
    }
  }
  // A per-pixel mask (1 = kept), for the entries with one.
  const m = Float64Array.from({ length: n / C }, () => (r() < 0.75 ? 1 : 0));
  return { x, g, m, shape: c.shape };
}

// ---------------------------------------------------------------- ours

const loaded = new Map<string, Promise<CompiledLoss>>();
function cachedLoad(name: string, params: Params, backend: Backend): Promise<CompiledLoss> {
  const key = JSON.stringify([name, params, backend]);
  let l = loaded.get(key);
  if (!l) { l = load(name, params, { backend, threads: 1 }); loaded.set(key, l); }
  return l;
}
async function ours(name: string, params: Params, backend: Backend, x: Float64Array, g: Float64Array, shape: readonly number[], m?: Float64Array) {
  const l = await cachedLoad(name, params, backend);
  const target = l.inputs.find((i) => i.role === 'target')!.name;
  const cast = (a: Float64Array) => (backend === 'reference' ? a : Float32Array.from(a));
  const r = await l.valueAndGrad({ [l.wrt]: cast(x), [target]: cast(g), ...(m ? { mask: cast(m) } : {}) }, shape);
  return { value: r.value, grad: Float64Array.from(r.grad) };
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let err = 0, scale = 0;
  for (let i = 0; i < b.length; i++) { err = Math.max(err, Math.abs(a[i]! - b[i]!)); scale = Math.max(scale, Math.abs(b[i]!)); }
  return a.length === b.length ? err / Math.max(scale, 1e-300) : NaN;
}
const valueErr = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

// ---------------------------------------------------------------- what ours computes where it differs

/** dice_ce with include_background=false: the knob also drops class 0's term from the CE's sum over classes (MONAI's CE keeps it). */
const diceCeNoBgOurs: Oracle = (x, g, shape) => {
  const { C } = geom(shape), ls = logSoftmax(x, shape);
  const ce = meanOf(x.length / C, (px) => { let l = 0; for (let c = 1; c < C; c++) l -= g[px * C + c]! * ls[px * C + c]!; return l; });
  return monaiDice({ act: 'softmax', includeBackground: false })(x, g, shape) + ce;
};
/** categorical_focal with include_background=false: the softmax over every class, class 0 left out of the mean (MONAI drops channel 0 before its softmax). */
const focalNoBgOurs: Oracle = (x, g, shape) => {
  const { C } = geom(shape), ls = logSoftmax(x, shape), terms: number[] = [];
  for (let i = 0; i < x.length; i++) if (i % C !== 0) terms.push(-((1 - Math.exp(ls[i]!)) ** 2) * ls[i]! * g[i]!);
  return mean(terms);
};
/** dice_ce activation=sigmoid on several channels: the categorical CE of the sigmoids, −Σ_c g_c·log σ(x_c) per pixel (MONAI: CrossEntropyLoss of the logits, a softmax). */
const diceCeSigmoidMultiOurs: Oracle = (x, g, shape) => {
  const { C } = geom(shape);
  return monaiDice({ act: 'sigmoid' })(x, g, shape) + meanOf(x.length / C, (px) => { let l = 0; for (let c = 0; c < C; c++) l -= g[px * C + c]! * logSigmoid(x[px * C + c]!); return l; });
};
/** dice_focal activation=softmax: the focal term on the softmax probabilities too (MONAI's FocalLoss inside DiceFocalLoss keeps the sigmoid). */
const diceFocalSoftmaxOurs: Oracle = (x, g, shape) => {
  const p = activate(x, shape, 'softmax');
  return monaiDice({ act: 'softmax' })(x, g, shape) + meanOf(x.length, (i) => {
    const pt = g[i]! ? p[i]! : 1 - p[i]!;
    return -((1 - pt) ** 2) * Math.log(pt);
  });
};
// ---------------------------------------------------------------- the table

interface Convention {
  loss: string;
  library: string;
  params: Params;
  oracle: Oracle;
  cases: readonly string[];
  input: 'prob' | 'logits';
  /** Also on the js backend (float32 kernels). */
  js?: boolean;
  /** ours − library, a documented constant (Combo's 1 − α). */
  offset?: number;
  /** A per-pixel mask input (the mask knob; ignore_index on a label map). */
  mask?: boolean;
  /** A convention the flags do not reproduce: the test asserts the difference; reported in the table. */
  mismatch?: string;
  /** For a mismatch: what ours computes instead, checked to float64 precision. */
  explained?: Oracle;
}

const SMP_DICE = { region: 'batch', smooth_nr: 0, smooth_dr: 0, zero_absent: 1 } as const;
const SMP_IOU = { region: 'batch', smooth: 0, zero_absent: 1 } as const;

const TABLE: readonly Convention[] = [
  // MONAI DiceLoss
  { loss: 'dice', library: 'MONAI DiceLoss()', params: {}, oracle: monaiDice(), cases: ALL, input: 'prob', js: true },
  { loss: 'dice', library: 'MONAI DiceLoss(squared_pred=True, softmax=True)', params: { squared_pred: 1, activation: 'softmax' }, oracle: monaiDice({ act: 'softmax', squaredPred: true }), cases: MULTI, input: 'logits' },
  { loss: 'jaccard', library: 'MONAI DiceLoss(jaccard=True)', params: { smooth: 5e-6 }, oracle: monaiDice({ jaccard: true }), cases: ALL, input: 'prob' },
  { loss: 'bce', library: 'smp SoftBCEWithLogitsLoss(smooth_factor=0.1)', params: { activation: 'sigmoid', label_smoothing: 0.2 }, oracle: smpSoftBce(0.1), cases: BIN, input: 'logits' },
  { loss: 'dice', library: 'MONAI DiceLoss(batch=True)', params: { region: 'batch' }, oracle: monaiDice({ batch: true }), cases: ALL, input: 'prob' },
  { loss: 'dice', library: 'MONAI DiceLoss(sigmoid=True)', params: { activation: 'sigmoid' }, oracle: monaiDice({ act: 'sigmoid' }), cases: ALL, input: 'logits', js: true },
  { loss: 'dice', library: 'MONAI DiceLoss(softmax=True)', params: { activation: 'softmax' }, oracle: monaiDice({ act: 'softmax' }), cases: MULTI, input: 'logits', js: true },
  { loss: 'dice', library: 'MONAI DiceLoss(include_background=False)', params: { include_background: false }, oracle: monaiDice({ includeBackground: false }), cases: ALL, input: 'prob' },
  { loss: 'dice', library: 'MONAI DiceLoss(softmax=True, include_background=False, batch=True)', params: { activation: 'softmax', include_background: false, region: 'batch' }, oracle: monaiDice({ act: 'softmax', includeBackground: false, batch: true }), cases: MULTI, input: 'logits' },
  { loss: 'dice', library: 'MONAI MaskedDiceLoss() (probabilities)', params: { mask: true }, oracle: monaiDice(), cases: ALL, input: 'prob', mask: true },
  // MONAI DiceCELoss
  { loss: 'dice_ce', library: 'MONAI DiceCELoss(softmax=True)', params: { activation: 'softmax' }, oracle: monaiDiceCe({ act: 'softmax' }), cases: MULTI, input: 'logits', js: true },
  { loss: 'dice_ce', library: 'MONAI DiceCELoss(sigmoid=True), one channel', params: { activation: 'sigmoid' }, oracle: monaiDiceCe({ act: 'sigmoid' }), cases: BIN, input: 'logits', js: true },
  { loss: 'dice_ce', library: 'MONAI DiceCELoss(sigmoid=True), several channels', params: { activation: 'sigmoid' }, oracle: monaiDiceCe({ act: 'sigmoid' }), cases: MULTI, input: 'logits',
    mismatch: 'MONAI takes CrossEntropyLoss (a softmax over the logits) for any C > 1, even with sigmoid=True; ours the categorical CE of the sigmoids', explained: diceCeSigmoidMultiOurs },
  { loss: 'dice_ce', library: 'MONAI DiceCELoss(softmax=True, label_smoothing=0.1, lambda_dice=0.3, lambda_ce=2)', params: { activation: 'softmax', label_smoothing: 0.1, lambda_dice: 0.3, lambda_ce: 2 }, oracle: monaiDiceCe({ act: 'softmax', labelSmoothing: 0.1, lambdaDice: 0.3, lambdaCe: 2 }), cases: MULTI, input: 'logits' },
  { loss: 'dice_ce', library: 'MONAI DiceCELoss(softmax=True, batch=True)', params: { activation: 'softmax', region: 'batch' }, oracle: monaiDiceCe({ act: 'softmax', batch: true }), cases: MULTI, input: 'logits' },
  { loss: 'dice_ce', library: 'MONAI DiceCELoss(softmax=True, include_background=False)', params: { activation: 'softmax', include_background: false }, oracle: monaiDiceCe({ act: 'softmax', includeBackground: false }), cases: MULTI, input: 'logits',
    mismatch: 'include_background=false also drops class 0 from the CE (MONAI: from the Dice only)', explained: diceCeNoBgOurs },
  // MONAI FocalLoss
  { loss: 'categorical_focal', library: 'MONAI FocalLoss(use_softmax=True)', params: { activation: 'softmax' }, oracle: monaiFocal({ softmax: true }), cases: MULTI, input: 'logits', js: true },
  { loss: 'categorical_focal', library: 'MONAI FocalLoss(use_softmax=True, gamma=1.5, alpha=0.25)', params: { activation: 'softmax', gamma: 1.5, alpha: 0.25 }, oracle: monaiFocal({ softmax: true, gamma: 1.5, alpha: 0.25 }), cases: MULTI, input: 'logits' },
  { loss: 'categorical_focal', library: 'MONAI FocalLoss(use_softmax=True, include_background=False)', params: { activation: 'softmax', include_background: false }, oracle: monaiFocal({ softmax: true, includeBackground: false }), cases: MULTI, input: 'logits',
    mismatch: 'MONAI drops channel 0 before its softmax; ours takes the softmax over every class, then leaves class 0 out', explained: focalNoBgOurs },
  { loss: 'focal', library: 'MONAI FocalLoss() (sigmoid, alpha=None)', params: { alpha: -1, activation: 'sigmoid' }, oracle: monaiFocal({ softmax: false }), cases: ALL, input: 'logits', js: true },
  { loss: 'focal', library: 'MONAI FocalLoss(gamma=3, alpha=0.25) (sigmoid)', params: { alpha: 0.25, gamma: 3, activation: 'sigmoid' }, oracle: monaiFocal({ softmax: false, gamma: 3, alpha: 0.25 }), cases: ALL, input: 'logits' },
  // MONAI DiceFocalLoss
  { loss: 'dice_focal', library: 'MONAI DiceFocalLoss(sigmoid=True)', params: { activation: 'sigmoid' }, oracle: monaiDiceFocal({ act: 'sigmoid' }), cases: ALL, input: 'logits' },
  { loss: 'dice_focal', library: 'MONAI DiceFocalLoss(softmax=True)', params: { activation: 'softmax' }, oracle: monaiDiceFocal({ act: 'softmax' }), cases: MULTI, input: 'logits',
    mismatch: 'MONAI\'s focal term stays sigmoid (FocalLoss(use_softmax=False)) when its Dice takes the softmax; ours applies the softmax to both', explained: diceFocalSoftmaxOurs },
  // MONAI TverskyLoss
  { loss: 'tversky', library: 'MONAI TverskyLoss()', params: {}, oracle: monaiTversky(), cases: ALL, input: 'prob', js: true },
  { loss: 'tversky', library: 'MONAI TverskyLoss(alpha=0.3, beta=0.7, batch=True)', params: { alpha: 0.3, beta: 0.7, region: 'batch' }, oracle: monaiTversky({ alpha: 0.3, beta: 0.7, batch: true }), cases: ALL, input: 'prob' },
  { loss: 'tversky', library: 'MONAI TverskyLoss(softmax=True)', params: { activation: 'softmax' }, oracle: monaiTversky({ act: 'softmax' }), cases: MULTI, input: 'logits' },
  // MONAI GeneralizedDiceLoss
  { loss: 'generalized_dice', library: 'MONAI GeneralizedDiceLoss()', params: {}, oracle: monaiGeneralizedDice(), cases: ALL, input: 'prob' },
  { loss: 'generalized_dice', library: 'MONAI GeneralizedDiceLoss(softmax=True, batch=True)', params: { activation: 'softmax', region: 'batch' }, oracle: monaiGeneralizedDice({ act: 'softmax', batch: true }), cases: MULTI, input: 'logits' },
  // MONAI SSIMLoss
  { loss: 'ssim', library: 'MONAI SSIMLoss(spatial_dims, win_size=7, data_range=1)', params: { win_size: 7 }, oracle: ssimLoss(7), cases: ['ssim-2d', 'ssim-3d'], input: 'prob', js: true },
  // smp DiceLoss
  { loss: 'dice', library: 'smp DiceLoss(multiclass, from_logits=False)', params: SMP_DICE, oracle: smpDice('multiclass', false), cases: MULTI, input: 'prob', js: true },
  { loss: 'dice', library: 'smp DiceLoss(multiclass, from_logits=True)', params: { ...SMP_DICE, activation: 'softmax' }, oracle: smpDice('multiclass', true), cases: MULTI, input: 'logits', js: true },
  { loss: 'dice', library: 'smp DiceLoss(multilabel, from_logits=True)', params: { ...SMP_DICE, activation: 'sigmoid' }, oracle: smpDice('multilabel', true), cases: MULTI, input: 'logits' },
  { loss: 'dice', library: 'smp DiceLoss(binary, from_logits=True)', params: { ...SMP_DICE, activation: 'sigmoid' }, oracle: smpDice('binary', true), cases: BIN, input: 'logits' },
  { loss: 'dice', library: 'smp DiceLoss(binary, from_logits=False)', params: SMP_DICE, oracle: smpDice('binary', false), cases: BIN, input: 'prob' },
  { loss: 'dice', library: 'smp DiceLoss(multiclass, from_logits=True, ignore_index)', params: { ...SMP_DICE, activation: 'softmax', mask: true }, oracle: smpDice('multiclass', true), cases: MULTI, input: 'logits', mask: true, js: true },
  { loss: 'dice', library: 'smp DiceLoss(binary, from_logits=True, ignore_index)', params: { ...SMP_DICE, activation: 'sigmoid', mask: true }, oracle: smpDice('binary', true), cases: BIN, input: 'logits', mask: true },
  // smp JaccardLoss
  { loss: 'jaccard', library: 'smp JaccardLoss(multiclass, from_logits=False)', params: SMP_IOU, oracle: smpJaccard('multiclass', false), cases: MULTI, input: 'prob', js: true },
  { loss: 'jaccard', library: 'smp JaccardLoss(multiclass, from_logits=True)', params: { ...SMP_IOU, activation: 'softmax' }, oracle: smpJaccard('multiclass', true), cases: MULTI, input: 'logits' },
  { loss: 'jaccard', library: 'smp JaccardLoss(binary, from_logits=True)', params: { ...SMP_IOU, activation: 'sigmoid' }, oracle: smpJaccard('binary', true), cases: BIN, input: 'logits' },
  // smp TverskyLoss
  { loss: 'tversky', library: 'smp TverskyLoss(multiclass, from_logits=False)', params: SMP_IOU, oracle: smpTverskyFamily({ mode: 'multiclass', fromLogits: false, alpha: 0.5, beta: 0.5 }), cases: MULTI, input: 'prob', js: true },
  { loss: 'tversky', library: 'smp TverskyLoss(multiclass, from_logits=True, alpha=0.3, beta=0.7)', params: { ...SMP_IOU, activation: 'softmax', alpha: 0.3, beta: 0.7 }, oracle: smpTverskyFamily({ mode: 'multiclass', fromLogits: true, alpha: 0.3, beta: 0.7 }), cases: MULTI, input: 'logits' },
  { loss: 'tversky', library: 'smp TverskyLoss(binary, from_logits=True)', params: { ...SMP_IOU, activation: 'sigmoid' }, oracle: smpTverskyFamily({ mode: 'binary', fromLogits: true, alpha: 0.5, beta: 0.5 }), cases: BIN, input: 'logits' },
  { loss: 'focal_tversky', library: 'smp TverskyLoss(multiclass, from_logits=False, gamma=2)', params: { ...SMP_IOU, power_of_mean: 1, gamma: 2 }, oracle: smpTverskyFamily({ mode: 'multiclass', fromLogits: false, alpha: 0.5, beta: 0.5, gamma: 2 }), cases: MULTI, input: 'prob', js: true },
  { loss: 'focal_tversky', library: 'smp TverskyLoss(multiclass, from_logits=True, alpha=0.3, beta=0.7, gamma=0.75)', params: { ...SMP_IOU, activation: 'softmax', power_of_mean: 1, gamma: 0.75, alpha: 0.3, beta: 0.7 }, oracle: smpTverskyFamily({ mode: 'multiclass', fromLogits: true, alpha: 0.3, beta: 0.7, gamma: 0.75 }), cases: MULTI, input: 'logits' },
  { loss: 'focal_tversky', library: 'smp TverskyLoss(binary, from_logits=True, gamma=2)', params: { ...SMP_IOU, activation: 'sigmoid', power_of_mean: 1, gamma: 2 }, oracle: smpTverskyFamily({ mode: 'binary', fromLogits: true, alpha: 0.5, beta: 0.5, gamma: 2 }), cases: BIN, input: 'logits' },
  // smp MCCLoss
  { loss: 'mcc', library: 'smp MCCLoss()', params: { region: 'global', smooth: 0, count_smooth: 1e-5 }, oracle: smpMcc, cases: BIN, input: 'prob', js: true },
  // smp FocalLoss
  { loss: 'focal', library: 'smp FocalLoss(binary)', params: { alpha: -1, activation: 'sigmoid' }, oracle: smpFocal('binary'), cases: BIN, input: 'logits', js: true },
  { loss: 'focal', library: 'smp FocalLoss(multilabel)', params: { alpha: -1, activation: 'sigmoid' }, oracle: smpFocal('multilabel'), cases: MULTI, input: 'logits' },
  { loss: 'focal', library: 'smp FocalLoss(multiclass)', params: { alpha: -1, activation: 'sigmoid' }, oracle: smpFocal('multiclass'), cases: MULTI, input: 'logits',
    mismatch: 'smp sums the per-class means (C × ours); only class_weights = C,…,C reproduces it', explained: monaiFocal({ softmax: false }) },
  { loss: 'focal', library: 'smp FocalLoss(multiclass) via class_weights=C,…,C', params: { alpha: -1, activation: 'sigmoid', class_weights: [3, 3, 3] }, oracle: smpFocal('multiclass'), cases: ['multiclass-2d', 'absent-2d'], input: 'logits' },
  // the seed (SemSegLoss, tf.keras 2.x)
  { loss: 'bce', library: 'seed binary_crossentropy (tf.keras 2.x)', params: { log_eps: 1e-7 }, oracle: kerasBce, cases: ALL, input: 'prob', js: true },
  { loss: 'bce_dice', library: 'seed bce_dice_loss', params: { region: 'global', smooth_nr: 1, smooth_dr: 1, log_eps: 1e-7 }, oracle: seedBceDice, cases: ALL, input: 'prob', js: true },
  { loss: 'combo', library: 'Combo paper (α·L_mBCE − (1 − α)·DSC, global DSC smooth 1)', params: { region: 'global', smooth_nr: 1, smooth_dr: 1 }, oracle: comboPaper(), cases: ALL, input: 'prob', offset: 0.5 },
  { loss: 'combo', library: 'Combo paper, α = 0.3, β = 0.7', params: { region: 'global', smooth_nr: 1, smooth_dr: 1, alpha: 0.3, beta: 0.7 }, oracle: comboPaper(0.3, 0.7), cases: BIN, input: 'prob', offset: 0.7 },
  { loss: 'balanced_ce', library: 'seed balanced_cross_entropy(beta=0.7)', params: { beta: 0.7 }, oracle: balancedCeFixed(0.7), cases: ALL, input: 'prob' },
  { loss: 'weighted_ce', library: 'seed weighted_cross_entropyloss (beta 0.25)', params: {}, oracle: seedWeightedCe, cases: ALL, input: 'prob' },
  { loss: 'focal', library: 'seed focal_loss (alpha 0.25, gamma 2)', params: {}, oracle: seedFocal, cases: ALL, input: 'prob' },
  { loss: 'seed_dice', library: 'seed dice_loss', params: {}, oracle: seedDiceLoss, cases: ALL, input: 'prob', js: true },
  { loss: 'seed_tversky', library: 'seed tversky_loss', params: {}, oracle: seedTversky, cases: ALL, input: 'prob' },
  { loss: 'seed_focal_tversky', library: 'seed focal_tversky', params: {}, oracle: seedFocalTversky, cases: ALL, input: 'prob' },
  { loss: 'seed_jaccard', library: 'seed jacard_loss', params: {}, oracle: seedJaccard, cases: ALL, input: 'prob' },
  { loss: 'seed_log_cosh_dice', library: 'seed log_cosh_dice_loss', params: {}, oracle: seedLogCoshDice, cases: ALL, input: 'prob' },
  { loss: 'ssim', library: 'seed ssim_loss (tf.image.ssim, 11x11)', params: {}, oracle: seedSsim, cases: ['seed-ssim-2d'], input: 'prob' },
  { loss: 'unet3p_hybrid', library: 'seed unet3p_hybrid_loss', params: { region: 'global', smooth: 0 }, oracle: seedUnet3p, cases: ['seed-ssim-2d'], input: 'prob' },
  { loss: 'basnet_hybrid', library: 'seed basnet_hybrid_loss', params: { region: 'global', smooth: 0, log_eps: 1e-7 }, oracle: seedBasnet, cases: ['seed-ssim-2d'], input: 'prob' },
  // Wong et al. 2018
  { loss: 'exp_log', library: 'Wong 2018 (paper), pseudocount 1, per sample', params: { smooth_nr: 1, smooth_dr: 1 }, oracle: expLogPaper({ region: 'sample', smooth: 1 }), cases: ALL, input: 'prob' },
  { loss: 'exp_log', library: 'Wong 2018 (paper), pseudocount 1, over the batch', params: { smooth_nr: 1, smooth_dr: 1, region: 'batch' }, oracle: expLogPaper({ region: 'batch', smooth: 1 }), cases: ALL, input: 'prob' },
  { loss: 'exp_log', library: 'Wong 2018 (paper), softmax, defaults', params: { activation: 'softmax' }, oracle: expLogPaper({ region: 'sample', smooth: 1e-5, act: 'softmax' }), cases: MULTI, input: 'logits' },
  { loss: 'exp_log', library: 'Wong 2018 (paper), sigmoid, one channel', params: { activation: 'sigmoid' }, oracle: expLogPaper({ region: 'sample', smooth: 1e-5, act: 'sigmoid' }), cases: BIN, input: 'logits' },
];

// ---------------------------------------------------------------- the comparison

interface Row { value: number; grad: number; at: string; mismatch?: string }
const rows = new Map<string, Row>();
const flagText = (p: Params) => Object.entries(p).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`).join(' ') || '(defaults)';
function record(key: string, value: number, grad: number, at: string, mismatch?: string) {
  const r = rows.get(key) ?? { value: 0, grad: 0, at: '', ...(mismatch ? { mismatch } : {}) };

  if (value >= r.value) { r.value = value; r.at = at; }
  r.grad = Math.max(r.grad, grad);
  rows.set(key, r);
}

async function compare(e: Convention, caseName: string, backend: Backend, seed: number) {
  const { x, g, m: m0, shape } = makeInputs(caseName, e.input, seed);
  const m = e.mask ? m0 : undefined;
  const a = await ours(e.loss, e.params, backend, x, g, shape, m);
  const value = e.oracle(x, g, shape, m) + (e.offset ?? 0);
  const grad = fdGrad(e.oracle, x, g, shape, e.input, m);
  expect(Number.isFinite(a.value) && a.grad.every(Number.isFinite), 'ours is finite').toBe(true);
  const ev = valueErr(a.value, value), eg = relErr(a.grad, grad);
  record(`${e.loss.padEnd(18)} ${e.library} | ${flagText(e.params)} | ${backend}`, ev, eg, caseName, e.mismatch);
  // A mismatch: what ours computes instead.
  const explained = e.explained && { ev: valueErr(a.value, e.explained(x, g, shape, m)), eg: relErr(a.grad, fdGrad(e.explained, x, g, shape, e.input, m)) };
  return { ev, eg, ours: a.value, lib: value, explained };
}

for (const [k, e] of TABLE.entries()) {
  describe(`${e.loss} = ${e.library} (${flagText(e.params)})`, () => {
    for (const [j, c] of e.cases.entries()) {
      const seed = 1000 + 37 * k + j;
      if (e.mismatch) {
        test(`${c}: does NOT match (${e.mismatch})`, async () => {
          const r = await compare(e, c, 'reference', seed);
          expect(r.ev > 1e-8 || r.eg > 1e-6, `value ${r.ours} vs ${r.lib}`).toBe(true);
          if (r.explained) {
            expect(r.explained.ev, 'ours = the explained form (value)').toBeLessThanOrEqual(VALUE_TOL);
            expect(r.explained.eg, 'ours = the explained form (gradient)').toBeLessThanOrEqual(GRAD_TOL);
          }
        });
        continue;
      }
      test(`${c}: reference, value and gradient`, async () => {
        const r = await compare(e, c, 'reference', seed);
        expect(r.ev, `value: ours ${r.ours}, library ${r.lib}`).toBeLessThanOrEqual(VALUE_TOL);
        expect(r.eg, 'gradient (norm-wise)').toBeLessThanOrEqual(GRAD_TOL);
      });
      if (e.js && j === 0) {
        test(`${c}: js backend (float32 kernels)`, async () => {
          const r = await compare(e, c, 'js', seed);
          expect(r.ev, `value: ours ${r.ours}, library ${r.lib}`).toBeLessThanOrEqual(F32_TOL);
          expect(r.eg, 'gradient (norm-wise)').toBeLessThanOrEqual(F32_TOL);
        });
      }
    }
  });
}

describe('smp DiceLoss on a batch missing a class (the issue: 0.738 with our defaults, 0.405 in smp)', () => {
  test('the flags give smp\'s value; the defaults (MONAI\'s per-sample Dice, smooth 1e-5) do not', async () => {
    const { x, g, shape } = makeInputs('absent-2d', 'prob', 7);
    const smp = smpDice('multiclass', false)(x, g, shape);
    const flagged = await ours('dice', SMP_DICE, 'reference', x, g, shape);
    const defaults = await ours('dice', {}, 'reference', x, g, shape);
    const monai = monaiDice()(x, g, shape);
    console.log(`absent class, smp DiceLoss(multiclass): smp ${smp.toFixed(6)}, ours with the flags ${flagged.value.toFixed(6)}, ours with the defaults ${defaults.value.toFixed(6)} (= MONAI ${monai.toFixed(6)})`);
    expect(valueErr(flagged.value, smp)).toBeLessThanOrEqual(VALUE_TOL);
    expect(valueErr(defaults.value, monai)).toBeLessThanOrEqual(VALUE_TOL);
    expect(Math.abs(defaults.value - smp)).toBeGreaterThan(0.05);
  });
});

// ---------------------------------------------------------------- logit extremes against tfjs's stable losses

const XL = [1e4, -1e4, 0, 30, -30, 5, -40, 2.5];
const GL = [0, 1, 1, 0, 1, 1, 1, 0];
const SHAPE_L = [1, 2, 4, 1];

function tfValueAndGrad(f: (z: Tensor) => Tensor, x: number[], shape: number[]) {
  const { value, grad } = tf.valueAndGrad(f as (z: Tensor) => Tensor & { rank: 0 })(tf.tensor(x, shape));
  return { value: value.dataSync()[0]!, grad: Float64Array.from(grad.dataSync()) };
}

// tfjs computes in float32: at a logit of 1e4 one ulp is 2^−10 ≈ 1e-3, so its log-sum-exp of two logits tied at
// 1e4 (1e4 + ln 2) is off by up to 5e-4, and so is its softmax there (tfjs's gradient 0.08332 where it is 1/12).
// Against tfjs at ±1e4: 1e-3. The float64 oracles (torch's formulas) hold ours to float64 precision.
const TFJS_1E4_TOL = 1e-3;
// Finite differences of a loss that holds terms of 1e4 (a confidently wrong logit) measure rounding: ε·|f|/h ≈
// 1e-10 absolute against gradient entries of ~0.1 after the Richardson step. 1e-8 there; bce and ce are also held
// to their closed-form gradients, (σ(x) − g)/N and (softmax(x) − g)/pixels, at float64 precision.
const EXTREME_GRAD_TOL = 1e-8;

/** Ours at extreme logits against a float64 oracle (reference: float64 tolerances; js: float32's) and, when given, tfjs. */
async function extreme(label: string, loss: string, params: Params, backend: Backend, xs: number[], gs: number[], shape: number[], oracle: Oracle,
  tfLoss?: (g: Tensor, z: Tensor) => Tensor, exactGrad?: (x: Float64Array, g: Float64Array, shape: readonly number[]) => Float64Array) {
  const x = Float64Array.from(xs), g = Float64Array.from(gs);
  const a = await ours(loss, params, backend, x, g, shape);
  expect(Number.isFinite(a.value) && a.grad.every(Number.isFinite), 'ours is finite').toBe(true);
  const ev = valueErr(a.value, oracle(x, g, shape));
  const eg = exactGrad ? relErr(a.grad, exactGrad(x, g, shape)) : relErr(a.grad, fdGrad(oracle, x, g, shape, 'logits'));
  record(`${loss.padEnd(18)} ${label} at ±1e4, 0, mixed (float64${exactGrad ? ', closed-form gradient' : ''}) | ${flagText(params)} | ${backend}`, ev, eg, 'logits ±1e4, 0, mixed');
  expect(ev, `value: ours ${a.value}`).toBeLessThanOrEqual(backend === 'reference' ? VALUE_TOL : F32_TOL);
  expect(eg, 'gradient').toBeLessThanOrEqual(backend === 'reference' ? (exactGrad ? VALUE_TOL : EXTREME_GRAD_TOL) : F32_TOL);
  if (tfLoss) {
    const gt = tf.tensor(gs, shape);
    const o = tfValueAndGrad((z) => tfLoss(gt, z), xs, shape);
    const tv = valueErr(a.value, o.value), tg = relErr(a.grad, o.grad);
    record(`${loss.padEnd(18)} tfjs ${tfLoss.name || 'loss'} at ±1e4, 0, mixed | ${flagText(params)} | ${backend}`, tv, tg, 'logits ±1e4, 0, mixed');
    expect(tv, `value: ours ${a.value}, tfjs ${o.value}`).toBeLessThanOrEqual(TFJS_1E4_TOL);
    expect(tg, 'gradient vs tfjs').toBeLessThanOrEqual(TFJS_1E4_TOL);
  }
}

// Several classes: per pixel, ties at 1e4, one class at 1e4, all at 0, moderate and mixed logits; some pixels confidently wrong.
const XS = [1e4, -1e4, 0, -1e4, 1e4, 5, 0, 0, 0, 1e4, 1e4, -1e4, -30, 2.5, 40, 1e4, -1e4, -1e4, -1e4, -1e4, 1e4, 0, 1e4, -1e4];
const GS = [0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1];
const SHAPE_S = [2, 2, 2, 3];
const sigmoidCrossEntropy = (g: Tensor, z: Tensor) => tf.losses.sigmoidCrossEntropy(g, z);
/** d BCEWithLogits / dx = (σ(x) − g)/N; d CrossEntropyLoss / dx = (softmax(x) − g)/pixels. */
const bceGrad = (x: Float64Array, g: Float64Array) => x.map((v, i) => (sigmoid(v) - g[i]!) / x.length);
const ceGrad = (x: Float64Array, g: Float64Array, shape: readonly number[]) => { const p = activate(x, shape, 'softmax'), n = x.length / geom(shape).C; return p.map((v, i) => (v - g[i]!) / n); };
const softmaxCrossEntropy = (g: Tensor, z: Tensor) => tf.losses.softmaxCrossEntropy(g, z);

describe('logit extremes (±1e4, 0 and mixed)', () => {
  for (const backend of ['reference', 'js'] as const) {
    test(`bce activation=sigmoid = tf.losses.sigmoidCrossEntropy (tfjs) = BCEWithLogits (float64): ${backend}`, () =>
      extreme('torch BCEWithLogitsLoss', 'bce', { activation: 'sigmoid' }, backend, XL, GL, SHAPE_L, torchBceLogits, sigmoidCrossEntropy, bceGrad));
    test(`ce activation=softmax = tf.losses.softmaxCrossEntropy (tfjs) = CrossEntropyLoss (float64): ${backend}`, () =>
      extreme('torch CrossEntropyLoss', 'ce', { activation: 'softmax' }, backend, XS, GS, SHAPE_S, (x, g, s) => torchCe(x, g, s), softmaxCrossEntropy, ceGrad));
    test(`focal activation=sigmoid: finite, = MONAI's sigmoid_focal_loss and smp's focal_loss_with_logits (float64, alpha None and 0.25): ${backend}`, async () => {
      await extreme('MONAI FocalLoss()', 'focal', { alpha: -1, activation: 'sigmoid' }, backend, XL, GL, SHAPE_L, monaiFocal({ softmax: false }));
      await extreme('smp FocalLoss(binary)', 'focal', { alpha: -1, activation: 'sigmoid' }, backend, XL, GL, SHAPE_L, smpFocal('binary'));
      await extreme('MONAI FocalLoss(alpha=0.25)', 'focal', { alpha: 0.25, activation: 'sigmoid' }, backend, XL, GL, SHAPE_L, monaiFocal({ softmax: false, alpha: 0.25 }));
    });
    test(`the MONAI and smp conventions on logits at ±1e4 (float64 oracles): ${backend}`, async () => {
      await extreme('MONAI DiceCELoss(softmax=True)', 'dice_ce', { activation: 'softmax' }, backend, XS, GS, SHAPE_S, monaiDiceCe({ act: 'softmax' }));
      await extreme('MONAI DiceCELoss(sigmoid=True)', 'dice_ce', { activation: 'sigmoid' }, backend, XL, GL, SHAPE_L, monaiDiceCe({ act: 'sigmoid' }));
      await extreme('MONAI DiceLoss(softmax=True)', 'dice', { activation: 'softmax' }, backend, XS, GS, SHAPE_S, monaiDice({ act: 'softmax' }));
      await extreme('smp DiceLoss(multiclass, from_logits=True)', 'dice', { ...SMP_DICE, activation: 'softmax' }, backend, XS, GS, SHAPE_S, smpDice('multiclass', true));
      await extreme('smp DiceLoss(binary, from_logits=True)', 'dice', { ...SMP_DICE, activation: 'sigmoid' }, backend, XL, GL, SHAPE_L, smpDice('binary', true));
    });
  }

  // MONAI's softmax focal at a pixel whose true class has p < eps = 1e-7 (a logit gap over ~16): (1 − p)^γ ≈ 1 there,
  // and ours takes the modulator from p as it is (only the log's argument is clipped, and under softmax the log is exact).
  test('categorical_focal activation=softmax at ±1e4 matches MONAI FocalLoss(use_softmax=True) to float64 precision', async () => {
    const x = Float64Array.from(XS), g = Float64Array.from(GS);
    const a = await ours('categorical_focal', { activation: 'softmax' }, 'reference', x, g, SHAPE_S);
    const monai = monaiFocal({ softmax: true })(x, g, SHAPE_S);
    const ev = valueErr(a.value, monai);
    const eg = relErr(a.grad, fdGrad(monaiFocal({ softmax: true }), x, g, SHAPE_S, 'logits'));
    record(`categorical_focal  MONAI FocalLoss(use_softmax=True) at ±1e4, 0, mixed (float64) | activation=softmax | reference`, ev, eg, 'logits ±1e4, 0, mixed');
    expect(ev).toBeLessThanOrEqual(VALUE_TOL);
    expect(eg).toBeLessThanOrEqual(EXTREME_GRAD_TOL);
  });

  // Every library loss with an activation (sigmoid on one channel, softmax on several): finite at ±1e4.
  const names = readdirSync(join(import.meta.dirname, '..', 'losses')).filter((f) => f.endsWith('.loss')).map((f) => f.slice(0, -5)).sort();
  const skipped: string[] = [];
  afterAll(() => { if (skipped.length) console.log(`logit extremes: skipped (input already logits, E220): ${skipped.join(', ')}`); });
  for (const name of names) {
    test(`${name}: finite value and gradient at ±1e4 logits (sigmoid, one channel; softmax, three)`, async () => {
      for (const [act, shape] of [['sigmoid', [2, 4, 4, 1]], ['softmax', [2, 4, 4, 3]]] as const) {
        let l: CompiledLoss;
        try {
          l = await cachedLoad(name, { activation: act }, 'reference');
        } catch (err) {
          if (err instanceof SeglossError && err.diagnostics.some((d) => d.code === 'E220')) { if (!skipped.includes(name)) skipped.push(name); return; }
          throw err;
        }
        const r = rng(5), n = prod(shape), C = shape.at(-1)!;
        const x = Float64Array.from({ length: n }, () => [1e4, -1e4, 0][Math.floor(r() * 3)]!);
        const g = new Float64Array(n);
        if (C === 1) for (let i = 0; i < n; i++) g[i] = r() < 0.4 ? 1 : 0;
        else for (let px = 0; px < n / C; px++) g[px * C + (px < C ? px : Math.floor(r() * C))] = 1;
        const target = l.inputs.find((i) => i.role === 'target')!.name;
        const res = await l.valueAndGrad({ [l.wrt]: x, [target]: g }, shape);
        expect(Number.isFinite(res.value), `${name} ${act}: value ${res.value}`).toBe(true);
        expect(Array.from(res.grad).every(Number.isFinite), `${name} ${act}: gradient`).toBe(true);
      }
    });
  }
});

// ---------------------------------------------------------------- the command line

describe('segloss eval with the flags (the issue\'s command)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'segloss-conventions-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  test('segloss eval dice --param region=batch --param smooth_nr=0 --param smooth_dr=0 --param zero_absent=1 --activation softmax = smp DiceLoss(multiclass, from_logits=True), value and --grad', () => {
    const { x, g, shape } = makeInputs('absent-2d', 'logits', 11);
    const pred = join(dir, 'x.npy'), target = join(dir, 'g.npy'), gradPath = join(dir, 'dx.npy');
    writeFileSync(pred, new Uint8Array(dump(Float32Array.from(x), shape)));
    writeFileSync(target, new Uint8Array(dump(Float32Array.from(g), shape)));
    const args = ['bin/segloss.js', 'eval', 'dice', '--pred', pred, '--target', target, '--activation', 'softmax', '--backend', 'reference', '--grad', gradPath, '--json',
      '--param', 'region=batch', '--param', 'smooth_nr=0', '--param', 'smooth_dr=0', '--param', 'zero_absent=1'];
    const run = spawnSync(process.execPath, args, { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as { value: number };
    const oracle = smpDice('multiclass', true);
    expect(valueErr(out.value, oracle(x, g, shape))).toBeLessThanOrEqual(VALUE_TOL);
    // The gradient file is float32 (.npy of the prediction's dtype): float32 rounding only.
    const dx = readArray(gradPath);
    expect(dx.shape).toEqual(shape);
    expect(relErr(Array.from(dx.data), fdGrad(oracle, x, g, shape, 'logits'))).toBeLessThanOrEqual(1e-6);
  });
});

afterAll(() => {
  const lines = [...rows].map(([k, r]) => `  ${k.padEnd(150)} value ${r.value.toExponential(2)}  grad ${r.grad.toExponential(2)}  (worst value at ${r.at})${r.mismatch ? `  MISMATCH: ${r.mismatch}` : ''}`);
  console.log(`conventions vs the reference libraries, largest relative errors (reference: value ${VALUE_TOL}, gradient ${GRAD_TOL}; js and tfjs: ${F32_TOL}):\n${lines.join('\n')}`);
});
