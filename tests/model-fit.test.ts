// segloss in tf.keras-style training: `model.fit` of a tfjs-layers model with
// the bridged loss (toTfjs) on label maps whose ignored pixels (255) differ
// from batch to batch, so the mask changes per batch inside fit.
//
// Oracles, written here in TensorFlow.js: MONAI's masked Dice (every sum over
// space weighed by m = 1 where the label is not 255) of tf.oneHot(labels) and
// the model's softmax output. Per batch, the loss fit reports (logs.loss, the
// value before that batch's update) equals the oracle on the weights of that
// moment; after the epoch, the weights equal those of a replica trained by
// plain SGD on the oracle's tfjs gradient. Tolerance 1e-5 (float32 tfjs
// against the reference's float64 value and gradient, rounded to float32).

import type { Scalar, Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { expect, test } from 'vitest';
import { rng } from '../src/tools/check.ts';
import { load } from '../src/index.ts';
import { toTfjs } from '../src/index.ts';
import { tfjs } from '../src/tools/tfjs.ts';

const tf = await tfjs('cpu');
const TOL = 1e-5;

const C = 3, B = 2, H = 8, W = 8, BATCHES = 3, IGNORE = 255, LR = 0.5;

function uniform(shape: number[], seed: number, lo: number, hi: number): Tensor {
  const r = rng(seed);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => lo + (hi - lo) * r()), shape);
}
/** Labels 0..C−1 with about a fifth of the pixels IGNORE, different in every batch. */
function labels(seed: number): Tensor {
  const r = rng(seed);
  return tf.tensor(Int32Array.from({ length: B * H * W }, () => (r() < 0.2 ? IGNORE : Math.floor(r() * C))), [B, H, W], 'int32');
}

/** MONAI's masked Dice: sums over space of m·p·g, m·p and m·g; smooth 1e-5; mean over samples and classes.
 * Unmasked (m = 1), the ignored pixels count as their one-hot rows of zeros. */
function maskedDice(lab: Tensor, p: Tensor, masked = true): Scalar {
  const g = tf.oneHot(lab, C);
  const m = masked ? tf.expandDims(tf.cast(tf.notEqual(lab, IGNORE), 'float32'), -1) : tf.onesLike(p);
  const tp = tf.sum(tf.mul(m, tf.mul(p, g)), [1, 2]);
  const den = tf.add(tf.add(tf.sum(tf.mul(m, p), [1, 2]), tf.sum(tf.mul(m, g), [1, 2])), 1e-5);
  return tf.mean(tf.sub(1, tf.div(tf.add(tf.mul(2, tp), 1e-5), den)));
}

const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let e = 0, s = 0;
  for (let i = 0; i < b.length; i++) { e = Math.max(e, Math.abs(a[i]! - b[i]!)); s = Math.max(s, Math.abs(b[i]!)); }
  return e / Math.max(s, 1e-30);
};

test('model.fit with dice (ignore_index=255) on label maps: per-batch loss and final weights equal the masked-Dice oracle', async () => {
  const xs = uniform([BATCHES * B, H, W, 1], 7, -1, 1);
  const ys = tf.concat([...Array(BATCHES).keys()].map((k) => labels(20 + k)), 0);
  // What fit takes: yTrue of the output's shape, so one-hot rows, and the ignore index in every channel of an
  // ignored pixel (the bridge masks those pixels, batch by batch).
  const rows = tf.where(tf.equal(tf.expandDims(ys, -1), IGNORE), tf.fill([BATCHES * B, H, W, C], IGNORE), tf.oneHot(ys, C));
  const kernel0 = uniform([3, 3, 1, C], 8, -0.5, 0.5);

  const model = tfl.sequential({ layers: [tfl.layers.conv2d({ inputShape: [H, W, 1], filters: C, kernelSize: 3, padding: 'same', useBias: false, activation: 'softmax' })] });
  model.setWeights([kernel0]);
  const loss = await load('dice', { ignore_index: IGNORE }, { backend: 'reference' });
  const fn = await toTfjs(loss);
  model.compile({ optimizer: tf.train.sgd(LR), loss: (yTrue: Tensor, yPred: Tensor) => fn(yTrue, yPred) });

  // The oracle on each batch, taken just before fit trains on it.
  const want: number[] = [];
  const got: number[] = [];
  await model.fit(xs, rows, {
    batchSize: B, epochs: 1, shuffle: false, verbose: 0,
    callbacks: {
      onBatchBegin: async (batch: number) => {
        const x = tf.slice(xs, [batch * B, 0, 0, 0], [B, H, W, 1]);
        const y = tf.slice(ys, [batch * B, 0, 0], [B, H, W]);
        want.push(maskedDice(y, model.predict(x) as Tensor).dataSync()[0]!);
      },
      onBatchEnd: async (_batch: number, logs?: { loss?: number }) => { got.push(logs!.loss!); },
    },
  });
  expect(got.length).toBe(BATCHES);
  got.forEach((v, i) => expect(Math.abs(v - want[i]!) / want[i]!, `batch ${i}: fit ${v}, oracle ${want[i]}`).toBeLessThanOrEqual(TOL));

  // The replica: the same kernel, plain SGD on the oracle's gradient, batch by batch.
  const w = tf.variable(kernel0);
  const sgd = tf.train.sgd(LR);
  for (let k = 0; k < BATCHES; k++) {
    const x = tf.slice(xs, [k * B, 0, 0, 0], [B, H, W, 1]);
    const y = tf.slice(ys, [k * B, 0, 0], [B, H, W]);
    sgd.minimize(() => maskedDice(y, tf.softmax(tf.conv2d(x as Tensor4D, w as Tensor4D, 1, 'same'))), false, [w]);
  }
  const trained = (model.getWeights()[0] as Tensor).dataSync();
  expect(relErr(trained, w.dataSync())).toBeLessThanOrEqual(TOL);
  // The weights moved: the comparison is not of two untouched copies.
  expect(relErr(trained, kernel0.dataSync())).toBeGreaterThan(1e-3);
  // And the mask matters: the unmasked Dice of the first batch is another number.
  const p0 = tf.softmax(tf.conv2d(tf.slice(xs, [0, 0, 0, 0], [B, H, W, 1]) as Tensor4D, kernel0 as Tensor4D, 1, 'same'));
  const unmasked = maskedDice(tf.slice(ys, [0, 0, 0], [B, H, W]), p0, false).dataSync()[0]!;
  expect(Math.abs(unmasked - want[0]!)).toBeGreaterThan(1e-3);
  loss.dispose();
});
