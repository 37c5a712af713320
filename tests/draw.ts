// Inputs the runtime tests draw, and how they compare results: shared by
// runtime.test.ts (every backend against the reference) and
// compile-module.test.ts (standalone modules against the reference).

import { rng } from '../src/tools/check.ts';
import type { CompiledLoss } from '../src/index.ts';

export interface Shape {
  name: string; shape: number[]; layout: 'nhwc' | 'nchw'; target: 'random' | 'empty' | 'full' | 'onehot';
  /** Predictions that mostly agree with the target (else uniform, unrelated to it). */
  pred?: 'near-target';
}

/** Probabilities in (0.02, 0.98), logits in (−3, 3), masks with 40% ones or one class per pixel, weights in (0.5, 2). */
export function inputsFor(loss: CompiledLoss, s: Shape, seed: number): Record<string, Float32Array> {
  const r = rng(seed);
  const n = s.shape.reduce((a, b) => a * b, 1);
  const C = s.layout === 'nhwc' ? s.shape[s.shape.length - 1]! : s.shape[1]!;
  const out: Record<string, Float32Array> = {};
  for (const inp of loss.inputs) {
    const a = new Float32Array(n);
    if (inp.role === 'prob') for (let i = 0; i < n; i++) a[i] = 0.02 + 0.96 * r();
    else if (inp.role === 'logits') for (let i = 0; i < n; i++) a[i] = 6 * r() - 3;
    else if (inp.role === 'target') {
      if (s.target === 'full') a.fill(1);
      else if (s.target === 'random') for (let i = 0; i < n; i++) a[i] = r() < 0.4 ? 1 : 0;
      else if (s.target === 'onehot') {
        // One class per pixel; the class axis is innermost (nhwc) or second (nchw).
        const spatial = s.layout === 'nhwc' ? n / (s.shape[0]! * C) : s.shape.slice(2).reduce((x, y) => x * y, 1);
        for (let b = 0; b < s.shape[0]!; b++) for (let k = 0; k < spatial; k++) {
          const c = Math.floor(r() * C);
          a[s.layout === 'nhwc' ? (b * spatial + k) * C + c : (b * C + c) * spatial + k] = 1;
        }
      }
    } else for (let i = 0; i < n; i++) a[i] = 0.5 + 1.5 * r();
    out[inp.name] = a;
  }
  const prob = loss.inputs.find((i) => i.role === 'prob'), target = loss.inputs.find((i) => i.role === 'target');
  if (s.pred === 'near-target' && prob && target) {
    const g = out[target.name]!;
    out[prob.name] = Float32Array.from(g, (v) => 0.02 + 0.96 * (v > 0.5 ? 0.3 + 0.7 * r() : 0.7 * r()));
  }
  return out;
}

/** Norm-wise relative error: max |a − b| / max |b|. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0, m = 0;
  for (let i = 0; i < b.length; i++) { e = Math.max(e, Math.abs(a[i]! - b[i]!)); m = Math.max(m, Math.abs(b[i]!)); }
  return a.length === b.length ? e / Math.max(m, 1e-30) : Infinity;
}

// Kernels compute in float32 (ε = 6e-8): sums of a few hundred terms and a
// dozen ops per element stay near 1e-6 relative; 5e-5 leaves margin for the
// cancellation in 1 − Dice while a wrong kernel is off by O(1).
export const F32_TOL = 5e-5;

/**
 * Losses whose windows need bigger images than the backend tests' common shapes. MS-SSIM: all five scales of an 11-wide valid
 * window from 161 per axis (161 → 81 → 41 → 21 → 11: odd, so padded, at every scale), predictions that
 * follow the target (MS-SSIM of unrelated images is 0, with no gradient).
 */
export const MORE_SHAPES: Readonly<Record<string, Shape[]>> = {
  'ms_ssim.loss': [{ name: 'five scales, 161x163', shape: [1, 161, 163, 1], layout: 'nhwc', target: 'random', pred: 'near-target' }],
  // The common shapes are all under SSIM's 11-wide valid window (loss 0, no gradient): one image where it fits.
  ...Object.fromEntries(['ssim.loss', 'basnet_hybrid.loss', 'unet3p_hybrid.loss'].map((f) => [f, [
    { name: 'window fits, 2x16x17x1', shape: [2, 16, 17, 1], layout: 'nhwc', target: 'random', pred: 'near-target' } as Shape,
    { name: 'window fits, 3-D 1x12x13x11x1', shape: [1, 12, 13, 11, 1], layout: 'nhwc', target: 'random', pred: 'near-target' } as Shape,
  ]])),
};

