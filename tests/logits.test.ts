// The exact logits path (src/compiler/lower/logspace.ts). Oracles: TensorFlow.js's
// stable losses (tf.losses.sigmoidCrossEntropy, softmaxCrossEntropy, written
// by tf from the logits, never through a probability) and their tfjs
// gradients; and the float64 reference interpreter for what the rewrite must
// leave alone. The CLI case is the acceptance command, started the way
// a user starts it.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tensor } from '@tensorflow/tfjs-core';
import { dump } from 'npyjs';
import { afterAll, describe, expect, test } from 'vitest';
import { frontend } from '../src/runtime/sources.ts';
import { toposort } from '../src/compiler/core/ir.ts';
import { readArray } from '../src/tools/io/index.ts';
import { type Backend, load } from '../src/index.ts';
import { tfjs } from '../src/tools/tfjs.ts';

const tf = await tfjs('cpu');
const dir = mkdtempSync(join(tmpdir(), 'segloss-logits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Logits at the extremes, at 0 and in between, with targets that make some pixels confidently wrong. */
const X = [1e4, -1e4, 0, 30, -30, 5, -40, 2.5, -1e4, 1e4, 0.5, -0.25];
const G = [0, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 0];
const SHAPE = [1, 3, 4, 1];

/** tf.losses.sigmoidCrossEntropy (mean over every element) and its gradient w.r.t. the logits. */
function tfSigmoidCe(x: number[], g: number[], shape: number[]) {
  const gt = tf.tensor(g, shape);
  const { value, grad } = tf.valueAndGrad((z: Tensor) => tf.losses.sigmoidCrossEntropy(gt, z))(tf.tensor(x, shape));
  return { value: value.dataSync()[0]!, grad: Array.from(grad.dataSync()) };
}

/** tf.losses.softmaxCrossEntropy over the class axis, mean over pixels, and its gradient. It is given
 * [pixels, classes] as it documents: on a 4-D tensor its label smoothing divides by shape[1], not the class count. */
function tfSoftmaxCe(x: number[], g: number[], shape: number[], labelSmoothing = 0) {
  const flat = [-1, shape.at(-1)!];
  const gt = tf.reshape(tf.tensor(g, shape), flat);
  const { value, grad } = tf.valueAndGrad((z: Tensor) => tf.losses.softmaxCrossEntropy(gt, z, undefined, labelSmoothing))(tf.reshape(tf.tensor(x, shape), flat));
  return { value: value.dataSync()[0]!, grad: Array.from(grad.dataSync()) };
}

// tfjs computes in float32: 1e-6 relative on values of 1..5000, gradients entries within 1e-6 of ±1/N.
const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

describe('bce on logits equals tf.losses.sigmoidCrossEntropy', () => {
  const oracle = tfSigmoidCe(X, G, SHAPE);
  test.each<Backend>(['reference', 'js'])('%s: value and gradient at ±1e4, 0 and mixed logits', async (backend) => {
    const l = await load('bce', { activation: 'sigmoid' }, { backend });
    const r = await l.valueAndGrad({ p: Float32Array.from(X), g: Float32Array.from(G) }, SHAPE);
    expect(close(r.value, oracle.value, 1e-6), `${r.value} vs ${oracle.value}`).toBe(true);
    // Confidently wrong pixels get the full gradient ±1/N, not 0 (the clip used to swallow it).
    r.grad.forEach((v, i) => expect(Math.abs(v - oracle.grad[i]!), `element ${i}`).toBeLessThan(1e-6));
    expect(Math.abs(r.grad[0]!)).toBeCloseTo(1 / X.length, 6);
  });

  test('the issue\'s case: logits (30, -30, 5, -40), targets (0, 1, 1, 1): 25.00 and ±0.25, where the clip gave 12.09 and 0', async () => {
    const l = await load('bce', { activation: 'sigmoid' }, { backend: 'reference' });
    const r = await l.valueAndGrad({ p: [30, -30, 5, -40], g: [0, 1, 1, 1] }, [1, 2, 2, 1]);
    const o = tfSigmoidCe([30, -30, 5, -40], [0, 1, 1, 1], [1, 2, 2, 1]);
    expect(r.value).toBeCloseTo(o.value, 5);
    expect(Array.from(r.grad).map((v) => +v.toFixed(6))).toEqual(o.grad.map((v) => +v.toFixed(6)));
  });

  test('segloss eval bce --pred logits.npy --target g.npy --activation sigmoid --grad (the acceptance command)', () => {
    const pred = join(dir, 'logits.npy'), target = join(dir, 'g.npy'), gradPath = join(dir, 'dlogits.npy');
    writeFileSync(pred, new Uint8Array(dump(Float32Array.from(X), SHAPE)));
    writeFileSync(target, new Uint8Array(dump(Float32Array.from(G), SHAPE)));
    const run = spawnSync(process.execPath, ['bin/segloss.js', 'eval', 'bce', '--pred', pred, '--target', target, '--activation', 'sigmoid', '--backend', 'reference', '--grad', gradPath, '--json'], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as { value: number };
    expect(close(out.value, oracle.value, 1e-6), `${out.value} vs ${oracle.value}`).toBe(true);
    const grad = readArray(gradPath);
    expect(grad.shape).toEqual(SHAPE);
    Array.from(grad.data).forEach((v, i) => expect(Math.abs(v - oracle.grad[i]!)).toBeLessThan(1e-6));
  });
});

describe('ce on logits equals tf.losses.softmaxCrossEntropy', () => {
  // Three classes per pixel, logits at ±1e4 with the large one on the wrong class for some pixels.
  const shape = [1, 2, 2, 3];
  const x = [1e4, -1e4, 0, -1e4, 1e4, 3, 0, 0, 0, 2, -1, 1e4];
  const g = [0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0];
  test.each([0, 0.1])('label_smoothing %s: reference and js', async (ls) => {
    const o = tfSoftmaxCe(x, g, shape, ls);
    for (const backend of ['reference', 'js'] as const) {
      const l = await load('ce', { activation: 'softmax', label_smoothing: ls }, { backend });
      const r = await l.valueAndGrad({ p: x, g }, shape);
      expect(close(r.value, o.value, 1e-6), `${backend}: ${r.value} vs ${o.value}`).toBe(true);
      r.grad.forEach((v, i) => expect(Math.abs(v - o.grad[i]!), `${backend} element ${i}`).toBeLessThan(1e-6));
    }
  });
});

describe('the rewrite', () => {
  const lower = (src: string, activation: 'sigmoid' | 'softmax' | 'none') => frontend(src, 'x.loss', { activation });
  const ops = (src: string, activation: 'sigmoid' | 'softmax' | 'none') => toposort([lower(src, activation).ir!.value]).map((n) => n.op);

  test('drops eps-clips under activation and keeps them on probabilities', () => {
    const src = 'loss t(p: prob, g: target; eps = 1e-7)\n  q = clip(p, eps, 1 - eps)\n  = mean(-g * log(q))';
    expect(ops(src, 'sigmoid')).not.toContain('minimum');
    expect(ops(src, 'sigmoid')).toContain('softplus');
    expect(ops(src, 'none')).toContain('minimum');
  });

  test('keeps a clip that is a modelling choice (0.1, 0.9), and its value', async () => {
    const src = 'loss t(p: prob, g: target)\n  = mean(-g * log(clip(p, 0.1, 0.9)))';
    expect(ops(src, 'sigmoid')).toContain('minimum');
    const l = await (await import('../src/runtime/loss.ts')).compile(src, { backend: 'reference', activation: 'sigmoid' });
    const v = (await l.value({ p: [1e4], g: [1] }, [1, 1, 1, 1])).value;
    expect(v).toBeCloseTo(-Math.log(0.9), 12);
  });

  test('powers of the activated prediction become exponentials of log-space values (focal at ±1e4 is finite and exact)', async () => {
    // Float64 oracle: the focal loss written from the logits, α(1−σ)^γ·softplus(−x) for g = 1, (1−α)σ^γ·softplus(x) for g = 0.
    const sp = (z: number) => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
    const sig = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));
    const want = X.map((x, i) => (G[i] ? 0.25 * (1 - sig(x)) ** 2 * sp(-x) : 0.75 * sig(x) ** 2 * sp(x))).reduce((a, b) => a + b, 0) / X.length;
    const l = await load('focal', { activation: 'sigmoid' }, { backend: 'reference' });
    const r = await l.valueAndGrad({ p: X, g: G }, SHAPE);
    expect(r.value).toBeCloseTo(want, 9);
    expect(Array.from(r.grad).every(Number.isFinite)).toBe(true);
    // Confidently wrong at x = 1e4, g = 0: the gradient is (1 − α)/N, not 0.
    expect(r.grad[0]).toBeCloseTo(0.75 / X.length, 9);
  });

  test('an eps inside the log of logits is E230; a knob with nothing to act on is E229', () => {
    const keras = lower('loss t(p: prob, g: target)\n  = mean(-g * log(clip(p, 1e-7, 1 - 1e-7) + 1e-7))', 'sigmoid');
    expect(keras.diagnostics.map((d) => d.code)).toEqual(['E230']);
    expect(frontend('loss t(p: prob, g: target)\n  = mean(-g * log(p))', 'x.loss', { params: { region: 'batch' } }).diagnostics.map((d) => d.code)).toEqual(['E229']);
    expect(frontend('loss t(p: prob, g: target)\n  = mean(-g * log(p))', 'x.loss', { region: 'global' }).diagnostics.map((d) => d.code)).toEqual(['E229']);
    expect(frontend('loss t(p: prob, g: target)\n  = mean[batch, space](sum[class](g * p))', 'x.loss', { params: { include_background: 'false' } }).diagnostics.map((d) => d.code)).toEqual([]);
    expect(frontend('loss t(p: prob, g: target)\n  = max(g * p)', 'x.loss', { params: { class_weights: '1,2' } }).diagnostics.map((d) => d.code)).toEqual(['E229']);
  });

  test('bce with log_eps (tf.keras 2.x) and --activation sigmoid is refused, not silently changed', async () => {
    await expect(load('bce', { activation: 'sigmoid', log_eps: 1e-7 })).rejects.toThrow(/E230/);
  });
});
