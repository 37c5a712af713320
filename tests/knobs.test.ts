// The knobs (include_background, class_weights, the ignore mask / ignore_index,
// reduction) against independent oracles: MONAI's DiceLoss and a masked BCE
// written here in TensorFlow.js from their definitions (not from our IR), and,
// across the whole library, properties any correct implementation has: a
// loss with include_background = false does not read class 0; a masked pixel
// changes nothing; reduction none's values sum to reduction sum's value and
// average to the mean.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import { frontend } from '../src/runtime/sources.ts';
import { toposort } from '../src/compiler/core/ir.ts';
import { rng } from '../src/tools/check.ts';
import { oneHot } from '../src/runtime/labels.ts';
import { type Backend, compile, load } from '../src/index.ts';
import { tfjs } from '../src/tools/tfjs.ts';
import { relErr } from './draw.ts';

const tf = await tfjs('cpu');
const LOSSES = join(import.meta.dirname, '..', 'losses');
const names = readdirSync(LOSSES).filter((f) => f.endsWith('.loss')).map((f) => f.slice(0, -5)).sort();

const B = 2, H = 7, W = 6, C = 3;
const SHAPE = [B, H, W, C];
const N = B * H * W * C;
const r = rng(42);
const p = Float32Array.from({ length: N }, () => 0.02 + 0.96 * r());
const g = Float32Array.from({ length: N }, () => (r() > 0.6 ? 1 : 0));
const mask = Float32Array.from({ length: B * H * W }, () => (r() > 0.3 ? 1 : 0));


// MONAI DiceLoss(include_background, weight, reduction) with a mask as MONAI's
// MaskedDiceLoss: input and target multiplied by the mask; per sample and class;
// the weight multiplies each class's loss; then mean, sum, or none.
function monaiDice(pt: Tensor, o: { includeBackground?: boolean; weight?: number[]; mask?: Float32Array; reduction?: 'mean' | 'sum' | 'none' }): Tensor {
  let x = pt;
  let y = tf.tensor(g, SHAPE);
  if (o.mask) { const m = tf.tensor(o.mask, [B, H, W, 1]); x = tf.mul(x, m); y = tf.mul(y, m); }
  if (o.includeBackground === false) { x = tf.slice(x, [0, 0, 0, 1]); y = tf.slice(y, [0, 0, 0, 1]); }
  const tp = tf.sum(tf.mul(x, y), [1, 2]);
  const den = tf.add(tf.sum(x, [1, 2]), tf.sum(y, [1, 2]));
  let f = tf.sub(1, tf.div(tf.add(tf.mul(2, tp), 1e-5), tf.add(den, 1e-5)));
  if (o.weight) f = tf.mul(f, tf.tensor(o.includeBackground === false ? o.weight.slice(1) : o.weight));
  return o.reduction === 'sum' ? tf.sum(f) : o.reduction === 'none' ? f : tf.mean(f);
}

/** Value (or values) and gradient of a tfjs loss at p: with `none`, the gradient of the values' sum. */
function tfValueGrad(f: (pt: Tensor) => Tensor): { value: Float32Array; grad: Float32Array } {
  const value = tf.tidy(() => f(tf.tensor(p, SHAPE)).dataSync() as Float32Array);
  const grad = tf.tidy(() => tf.grad((pt: Tensor) => tf.sum(f(pt)) as Scalar)(tf.tensor(p, SHAPE)).dataSync() as Float32Array);
  return { value, grad };
}

describe('the knobs against MONAI DiceLoss, written in TensorFlow.js', () => {
  const cases: { params: Record<string, string | number | boolean>; monai: Parameters<typeof monaiDice>[1]; withMask?: boolean }[] = [
    { params: {}, monai: {} },
    { params: { include_background: false }, monai: { includeBackground: false } },
    { params: { class_weights: '0.5,1,2' }, monai: { weight: [0.5, 1, 2] } },
    { params: { class_weights: '0.5,1,2', include_background: 'false' }, monai: { weight: [0.5, 1, 2], includeBackground: false } },
    { params: { mask: true }, monai: { mask }, withMask: true },
    { params: { reduction: 'sum' }, monai: { reduction: 'sum' } },
    { params: { reduction: 'none', include_background: false }, monai: { reduction: 'none', includeBackground: false } },
    { params: { reduction: 'sum', mask: 1, class_weights: '1,3,0.25' }, monai: { reduction: 'sum', mask, weight: [1, 3, 0.25] }, withMask: true },
  ];
  for (const backend of ['reference', 'js'] as Backend[]) {
    test.each(cases)(`${backend}: dice with %o`, async ({ params, monai, withMask }) => {
      const loss = await load('dice', params, { backend, threads: 1 });
      try {
        const ours = await loss.valueAndGrad({ p, g, ...(withMask ? { mask } : {}) }, SHAPE);
        const ref = tfValueGrad((pt) => monaiDice(pt, monai));
        if (monai.reduction === 'none') {
          // MONAI's none keeps (B, C') per sample and class; ours keeps (B, C) with excluded classes 0.
          const kept = [...ours.values!].filter((_, i) => i % C !== 0);
          expect(relErr(kept, ref.value)).toBeLessThan(1e-5);
        } else {
          expect(relErr([ours.value], ref.value)).toBeLessThan(1e-5);
        }
        expect(relErr(ours.grad, ref.grad)).toBeLessThan(1e-5);
      } finally {
        loss.dispose();
      }
    });
  }
});

test('include_background = false on one channel is ignored, as MONAI does (no NaN from 0/0 in the global seed losses)', async () => {
  const one = [B, H, W, 1];
  const p1 = p.slice(0, B * H * W), g1 = g.slice(0, B * H * W);
  for (const name of ['dice', 'seed_jaccard', 'seed_focal_tversky']) {
    const a = await load(name, { include_background: false }, { backend: 'reference' });
    const b = await load(name, {}, { backend: 'reference' });
    const [va, vb] = [await a.valueAndGrad({ p: p1, g: g1 }, one), await b.valueAndGrad({ p: p1, g: g1 }, one)];
    expect(va.value).toBe(vb.value);
    expect(relErr(va.grad, vb.grad)).toBe(0);
    a.dispose(); b.dispose();
  }
});

describe('the ignore mask against a masked binary cross-entropy in TensorFlow.js', () => {
  // PyTorch's BCELoss(reduction='none') times the mask, summed, over the number of kept elements.
  const maskedBce = (pt: Tensor, m: Float32Array) => {
    const q = tf.clipByValue(pt, 1e-7, 1 - 1e-7);
    const y = tf.tensor(g, SHAPE);
    const e = tf.neg(tf.add(tf.mul(y, tf.log(q)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, q)))));
    const mt = tf.tensor(m, [B, H, W, 1]);
    return tf.div(tf.sum(tf.mul(e, mt)), tf.mul(tf.sum(mt), C));
  };
  test.each(['reference', 'js'] as Backend[])('%s: bce with mask = true', async (backend) => {
    const loss = await load('bce', { mask: true }, { backend, threads: 1 });
    try {
      const ours = await loss.valueAndGrad({ p, g, mask }, SHAPE);
      const ref = tfValueGrad((pt) => maskedBce(pt, mask));
      expect(relErr([ours.value], ref.value)).toBeLessThan(1e-5);
      expect(relErr(ours.grad, ref.grad)).toBeLessThan(1e-5);
    } finally {
      loss.dispose();
    }
  });

  test.each(['reference', 'js', 'cpu'] as Backend[])('%s: bce with reduction none gives per-pixel values, as BCELoss(reduction="none")', async (backend) => {
    const loss = await load('bce', { reduction: 'none' }, { backend, threads: 1 });
    try {
      const ours = await loss.valueAndGrad({ p, g }, SHAPE);
      // The per-element terms, in the prediction's (nhwc) layout; the gradient is that of their sum.
      const perPixel = (pt: Tensor) => {
        const q = tf.clipByValue(pt, 1e-7, 1 - 1e-7);
        const y = tf.tensor(g, SHAPE);
        return tf.neg(tf.add(tf.mul(y, tf.log(q)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, q)))));
      };
      const ref = tfValueGrad(perPixel);
      expect(ours.values!.length).toBe(N);
      expect(relErr(ours.values!, ref.value)).toBeLessThan(1e-5);
      expect(relErr(ours.grad, ref.grad)).toBeLessThan(1e-5);
      expect(Math.abs(ours.value - ref.value.reduce((a, b) => a + b, 0)) / ours.value).toBeLessThan(1e-5);
    } finally {
      loss.dispose();
    }
  });

  test('ignore_index: a label map with ignored pixels gives the one-hot target and the mask', async () => {
    // Labels 0..2, and 255 where the annotator left the pixel out.
    const labels = Float32Array.from({ length: B * H * W }, (_, i) => (mask[i] ? Math.floor(r() * C) : 255));
    const { data: target, mask: m } = oneHot({ data: labels, shape: [B, H, W, 1], dtype: 'float32' }, C, 3, 'labels', 255);
    expect([...m!]).toEqual([...mask]);
    const loss = await load('dice', { ignore_index: 255 }, { backend: 'reference' });
    try {
      const ours = await loss.value({ p, g: target, mask: m! }, SHAPE);
      const gSaved = Float32Array.from(g);
      g.set(target);
      const ref = tf.tidy(() => monaiDice(tf.tensor(p, SHAPE), { mask }).dataSync()[0]!);
      g.set(gSaved);
      expect(Math.abs(ours.value - ref) / ref).toBeLessThan(1e-5);
    } finally {
      loss.dispose();
    }
  });

  test('a per-pixel mask and the same mask repeated along class give the same loss', async () => {
    const loss = await load('focal', { mask: true }, { backend: 'js', threads: 1 });
    try {
      const repeated = Float32Array.from({ length: N }, (_, i) => mask[Math.floor(i / C)]!);
      const a = await loss.valueAndGrad({ p, g, mask }, SHAPE);
      const b = await loss.valueAndGrad({ p, g, mask: repeated }, SHAPE);
      expect(a.value).toBe(b.value);
      expect(relErr(a.grad, b.grad)).toBe(0);
    } finally {
      loss.dispose();
    }
  });
});

// ------------------------------------------------ every library loss, one property per knob

/** Random inputs for a library loss: its prediction p, target g, and other inputs from the same draw. */
function inputsFor(loss: { inputs: { name: string; role: string }[]; wrt: string }, pp: Float32Array, gg: Float32Array, extra: Record<string, Float32Array> = {}) {
  const out: Record<string, Float32Array> = { ...extra };
  const rr = rng(7);
  for (const i of loss.inputs) {
    if (i.name in out) continue;
    out[i.name] = i.name === loss.wrt ? pp : i.role === 'target' ? gg : Float32Array.from({ length: pp.length }, () => rr());
  }
  return out;
}

const usesOp = (name: string, ops: string[]) => {
  const fe = frontend(readFileSync(join(LOSSES, `${name}.loss`), 'utf8'), join(LOSSES, `${name}.loss`));
  return toposort([fe.ir!.value, fe.ir!.grad]).some((n) => ops.includes(n.op));
};

// The generalized Wasserstein Dice loss reads class 0 by definition (softmax over every class of its
// logits; alpha = 0 on background pixels), through class functions the knob does not mask.
const READS_BACKGROUND = ['generalized_wasserstein_dice'];

describe('include_background = false: no library loss reads class 0', () => {
  test.each(names.filter((n) => !READS_BACKGROUND.includes(n)))('%s', async (name) => {
    const loss = await load(name, { include_background: false }, { backend: 'reference' });
    try {
      // SSIM's 11-wide window needs a bigger image to have a valid position.
      const big = usesOp(name, ['interior']);
      const shape = big ? [1, 12, 12, C] : SHAPE;
      const rr = rng(3);
      const pp = big ? Float32Array.from({ length: 144 * C }, () => 0.02 + 0.96 * rr()) : p;
      const gg = big ? Float32Array.from({ length: 144 * C }, () => (rr() > 0.6 ? 1 : 0)) : g;
      // Change class 0 of the prediction and the target: nothing may move.
      const p2 = Float32Array.from(pp, (v, i) => (i % C === 0 ? 1 - v : v));
      const g2 = Float32Array.from(gg, (v, i) => (i % C === 0 ? 1 - v : v));
      const a = await loss.valueAndGrad(inputsFor(loss, pp, gg), shape);
      const b = await loss.valueAndGrad(inputsFor(loss, p2, g2), shape);
      expect(Math.abs(a.value - b.value)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(a.value)));
      // And its gradient there is 0.
      expect(Math.max(...[...a.grad].filter((_, i) => i % C === 0).map(Math.abs))).toBe(0);
      // With classes 1 and 2 kept, the loss is not trivially 0.
      expect(a.value).not.toBe(0);
    } finally {
      loss.dispose();
    }
  });
});

// Losses whose every term is local to a pixel (no windows, pooling, distance maps, sorts): a masked
// pixel cannot change them. Windowed losses read masked pixels through their neighbours' windows.
const LOCAL = names.filter((n) => !usesOp(n, ['window', 'maxpool', 'interior', 'edt', 'sorted', 'cumsum']));

describe('mask = true: a masked pixel changes nothing, and gets no gradient', () => {
  test('some library losses are pixel-local', () => expect(LOCAL.length).toBeGreaterThan(20));
  test.each(LOCAL)('%s', async (name) => {
    const loss = await load(name, { mask: true }, { backend: 'reference' });
    try {
      const masked = (i: number) => mask[Math.floor(i / C)] === 0;
      const p2 = Float32Array.from(p, (v, i) => (masked(i) ? 1 - v : v));
      const g2 = Float32Array.from(g, (v, i) => (masked(i) ? 1 - v : v));
      const a = await loss.valueAndGrad(inputsFor(loss, p, g, { mask }), SHAPE);
      const b = await loss.valueAndGrad(inputsFor(loss, p2, g2, { mask }), SHAPE);
      expect(Math.abs(a.value - b.value)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(a.value)));
      expect(Math.max(...[...a.grad].filter((_, i) => masked(i)).map(Math.abs))).toBe(0);
    } finally {
      loss.dispose();
    }
  });
});

describe('reduction: none keeps the values that sum and mean reduce', () => {
  test.each(names)('%s', async (name) => {
    const src = readFileSync(join(LOSSES, `${name}.loss`), 'utf8');
    const file = join(LOSSES, `${name}.loss`);
    const none = frontend(src, file, { params: { reduction: 'none' } });
    const sum = frontend(src, file, { params: { reduction: 'sum' } });
    if (!none.ir) {
      // Where it does not apply, E226 says why (a final mean over pixels, several final reductions, a log of the mean).
      expect(none.diagnostics.map((d) => d.code)).toEqual(['E226']);
      return;
    }
    expect(sum.ir).toBeDefined();
    const run = async (params: Record<string, string>) => {
      const loss = await compile(src, { file, params, backend: 'reference' });
      try { return await loss.valueAndGrad(inputsFor(loss, p, g), SHAPE); } finally { loss.dispose(); }
    };
    const [vNone, vSum, vMean] = [await run({ reduction: 'none' }), await run({ reduction: 'sum' }), await run({})];
    const values = [...vNone.values!];
    const total = values.reduce((a, b) => a + b, 0);
    expect(Math.abs(total - vSum.value)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(total)));
    expect(Math.abs(total / values.length - vMean.value)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(vMean.value)));
    expect(relErr(vNone.grad, vSum.grad)).toBeLessThan(1e-12);
  });
});
