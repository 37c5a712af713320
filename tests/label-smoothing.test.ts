// The label_smoothing knob (src/compiler/lower/knobs.ts, README "Knobs"): every `target`
// input g becomes g·(1−ε) + ε/K before the formula reads it; K = 2 under sigmoid, C under
// softmax, and on probabilities C, or 2 on one channel. Oracles: TensorFlow.js's own
// tf.losses.sigmoidCrossEntropy / softmaxCrossEntropy with labelSmoothing (and their tfjs
// gradients), central finite differences of the float64 reference, and the library's own
// `label_smoothing` parameter (bce, ce), which the knob yields to and must agree with.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import { type Backend, type Params, LIBRARY_DIR, compile, frontend, load } from '../src/index.ts';
import { tfjs } from '../src/tools/tfjs.ts';

const tf = await tfjs('cpu');

// tfjs computes in float32 (as the js backend's kernels): 1e-6 relative on values, 1e-6 on gradient entries.
const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

/** tf.losses.sigmoidCrossEntropy(g, x, undefined, ε): mean over every element, and its gradient. */
function tfSigmoidCe(x: number[], g: number[], shape: number[], ls: number) {
  const gt = tf.tensor(g, shape);
  const { value, grad } = tf.valueAndGrad((z: Tensor) => tf.losses.sigmoidCrossEntropy(gt, z, undefined, ls))(tf.tensor(x, shape));
  return { value: value.dataSync()[0]!, grad: Array.from(grad.dataSync()) };
}

/** tf.losses.softmaxCrossEntropy over the class axis, given [pixels, classes] as it documents (its ε/C divides by shape[1]); mean over pixels. */
function tfSoftmaxCe(x: number[], g: number[], shape: number[], ls: number) {
  const flat = [-1, shape.at(-1)!];
  const gt = tf.reshape(tf.tensor(g, shape), flat);
  const { value, grad } = tf.valueAndGrad((z: Tensor) => tf.losses.softmaxCrossEntropy(gt, z, undefined, ls))(tf.reshape(tf.tensor(x, shape), flat));
  return { value: value.dataSync()[0]!, grad: Array.from(grad.dataSync()) };
}

// Binary: one channel (NHWC), logits between −6 and 6, soft and hard targets.
const BSHAPE = [2, 3, 2, 1];
const BX = [2.5, -1, 0, 3, -4, 0.5, 1.5, -2, 6, -6, 0.25, -0.75];
const BG = [1, 0, 1, 1, 0, 0, 0.3, 1, 0, 1, 1, 0];
// Three classes per pixel, one-hot and soft targets.
const CSHAPE = [1, 2, 2, 3];
const CX = [2, -1, 0.5, -1, 3, 0, 0, 0, 0, 1.5, -2, 4];
const CG = [0, 1, 0, 0, 1, 0, 1, 0, 0, 0.2, 0.3, 0.5];

const expectClose = (r: { value: number; grad: ArrayLike<number> }, o: { value: number; grad: number[] }, what: string) => {
  expect(close(r.value, o.value, 1e-6), `${what}: ${r.value} vs ${o.value}`).toBe(true);
  Array.from(r.grad).forEach((v, i) => expect(Math.abs(v - o.grad[i]!), `${what} element ${i}`).toBeLessThan(1e-6));
};

describe('against TensorFlow.js (labelSmoothing)', () => {
  for (const ls of [0.1, 0.3]) {
    const sig = tfSigmoidCe(BX, BG, BSHAPE, ls);
    const soft = tfSoftmaxCe(CX, CG, CSHAPE, ls);
    test.each<Backend>(['reference', 'js'])(`ε = ${ls}, %s: the knob on focal (γ = 0, no α: binary cross-entropy), sigmoid, K = 2`, async (backend) => {
      const l = await load('focal', { gamma: 0, alpha: -1, activation: 'sigmoid', label_smoothing: ls }, { backend });
      expectClose(await l.valueAndGrad({ p: BX, g: BG }, BSHAPE), sig, 'focal');
    });
    test.each<Backend>(['reference', 'js'])(`ε = ${ls}, %s: the knob on categorical_focal (γ = 0: CE, its mean also over the C classes), softmax, K = C`, async (backend) => {
      const l = await load('categorical_focal', { gamma: 0, activation: 'softmax', label_smoothing: ls }, { backend });
      const r = await l.valueAndGrad({ p: CX, g: CG }, CSHAPE);
      // categorical_focal averages over class too: softmaxCrossEntropy / C, and so its gradient.
      const C = CSHAPE.at(-1)!;
      expectClose({ value: r.value * C, grad: Array.from(r.grad, (v) => v * C) }, soft, 'categorical_focal');
    });
    test.each<Backend>(['reference', 'js'])(`ε = ${ls}, %s: bce and ce take it as their own parameter, with the same result`, async (backend) => {
      expectClose(await (await load('bce', { activation: 'sigmoid', label_smoothing: ls }, { backend })).valueAndGrad({ p: BX, g: BG }, BSHAPE), sig, 'bce');
      expectClose(await (await load('ce', { activation: 'softmax', label_smoothing: ls }, { backend })).valueAndGrad({ p: CX, g: CG }, CSHAPE), soft, 'ce');
    });
  }
});

// The library's bce and ce without their own parameter: the knob then does the smoothing.
const strip = (name: string, line: RegExp, plain: string) => {
  const src = readFileSync(join(LIBRARY_DIR, `${name}.loss`), 'utf8');
  const out = src.replace(/label_smoothing = 0(, )?|, label_smoothing = 0/, '').replace(line, plain);
  expect(out.split('\n').filter((l) => !l.startsWith('#')).join('\n')).not.toContain('label_smoothing');
  return out;
};
const BCE_KNOB = strip('bce', /^ {2}gs = .*$/m, '  gs = g');
const CE_KNOB = strip('ce', /^ {2}gs = .*$/m, '  gs = g');

describe('the knob and the parameter agree (float64 reference, probabilities: K = 2 on one channel, C on several)', () => {
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  const BP = BX.map(sig);
  const CP = CX.map((_, i) => {
    const px = Math.floor(i / 3) * 3;
    const s = [0, 1, 2].reduce((a, c) => a + Math.exp(CX[px + c]!), 0);
    return Math.exp(CX[i]!) / s;
  });
  test.each([
    ['bce', BCE_KNOB, BP, BG, BSHAPE, {}],
    ['bce', BCE_KNOB, BX, BG, BSHAPE, { activation: 'sigmoid' }],
    ['ce', CE_KNOB, CP, CG, CSHAPE, {}],
    ['ce', CE_KNOB, CX, CG, CSHAPE, { activation: 'softmax' }],
  ] as const)('%s %#', async (name, src, p, g, shape, extra) => {
    for (const backend of ['reference', 'js'] as const) {
      const params: Params = { ...extra, label_smoothing: 0.2 };
      const knob = await (await compile(src, { params, backend })).valueAndGrad({ p, g }, shape);
      const param = await (await load(name, params, { backend: 'reference' })).valueAndGrad({ p, g }, shape);
      // js: float32 inputs and kernels; a probability of 0.9975 rounded to float32 moves 1/(1 − q) by ~2e-5 relative.
      const tol = backend === 'reference' ? 1e-12 : 1e-4;
      expect(close(knob.value, param.value, tol), `${backend}: ${knob.value} vs ${param.value}`).toBe(true);
      Array.from(knob.grad).forEach((v, i) => expect(close(v, param.grad[i]!, tol), `${backend} element ${i}: ${v} vs ${param.grad[i]}`).toBe(true));
    }
  });
});

describe('finite differences of the float64 reference', () => {
  const P = [0.9, 0.2, 0.6, 0.7, 0.1, 0.4, 0.35, 0.8, 0.15, 0.55, 0.65, 0.3];
  test.each<[string, Params]>([
    ['focal', { label_smoothing: 0.15 }],
    ['dice', { label_smoothing: 0.15 }],
    ['dice', { label_smoothing: 0.15, activation: 'sigmoid' }],
    ['tversky', { label_smoothing: 0.4 }],
  ])('%s %o', async (name, params) => {
    const l = await load(name, params, { backend: 'reference' });
    const r = await l.valueAndGrad({ p: P, g: BG }, BSHAPE);
    const plain = await (await load(name, { ...params, label_smoothing: 0 }, { backend: 'reference' })).value({ p: P, g: BG }, BSHAPE);
    expect(Math.abs(r.value - plain.value), 'the knob changes the value').toBeGreaterThan(1e-4);
    const h = 1e-6;
    for (let i = 0; i < P.length; i++) {
      const at = async (d: number) => (await l.value({ p: P.map((v, j) => (j === i ? v + d : v)), g: BG }, BSHAPE)).value;
      const fd = ((await at(h)) - (await at(-h))) / (2 * h);
      expect(Math.abs(r.grad[i]! - fd), `${name} element ${i}: ${r.grad[i]} vs ${fd}`).toBeLessThan(1e-7);
    }
  });
});

describe('errors', () => {
  const codes = (src: string, params: Params) => frontend(src, 'x.loss', { params }).diagnostics.map((d) => d.code);
  test('a loss without a target input: E229', () => {
    expect(codes('loss t(p: prob)\n  = mean(p * p)', { label_smoothing: 0.1 })).toEqual(['E229']);
    expect(codes('loss t(p: prob, w: weight)\n  = mean(w * p)', { label_smoothing: 0 })).toEqual(['E229']);
    expect(codes('loss t(p: prob, g: target)\n  = mean(g * p)', { label_smoothing: 0.1 })).toEqual([]);
  });
  test.each<unknown>([1, -0.1, 1.5, 'abc', NaN])('ε = %s: E225 (ε must be in [0, 1)), on a knob loss and on bce alike', (v) => {
    expect(codes('loss t(p: prob, g: target)\n  = mean(g * p)', { label_smoothing: v as number })).toEqual(['E225']);
    expect(codes(readFileSync(join(LIBRARY_DIR, 'bce.loss'), 'utf8'), { label_smoothing: v as number })).toEqual(['E225']);
  });
  test('the E225 message says what it wants', () => {
    const d = frontend('loss t(p: prob, g: target)\n  = mean(g * p)', 'x.loss', { params: { label_smoothing: 2 } }).diagnostics[0]!;
    expect(d.message).toContain('[0, 1)');
  });
});
