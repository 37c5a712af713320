// Oracles shared by more than one test file, written in TensorFlow.js from the
// reference code they name (never from segloss's IR).

import type * as TFNS from '@tensorflow/tfjs-core';
import type { Tensor, Tensor4D, Tensor5D } from '@tensorflow/tfjs-core';

type TF = typeof TFNS;

/** The authors' soft_skel (clDice repo, soft_skeleton.py), iter_ iterations (theirs: 3): dilation = 3×3(×3) max
 * pool as theirs; erosion (plus = 1, the default) as their soft_erode, the min of the axis-wise 3-wide pools
 * ((3,1), (1,3); 3-D (3,1,1), (1,3,1), (1,1,3)), or (plus = 0) −maxpool(−x) over the cube window.
 * tf.maxPool ignores out-of-image positions, as torch's −inf padding. */
export function softSkelTf(tf: TF, x: Tensor, dims: 2 | 3, iters: number, plus = 1): Tensor {
  const pool = (t: Tensor) => (dims === 2 ? tf.maxPool(t as Tensor4D, 3, 1, 'same') : tf.maxPool3d(t as Tensor5D, 3, 1, 'same'));
  // A 3-wide pool along spatial axis a alone, as a 2-D pool (tfjs's maxPool3d gradient is wrong for a (1, 3, 1) window).
  const arm = (t: Tensor, a: number) => {
    const [B, ...rest] = t.shape, C = rest.pop()!;
    const [D, H, W] = dims === 2 ? [1, ...rest] : rest;
    const img: [number, number, number, number] = dims === 3 && a === 0 ? [B!, D!, H! * W!, C] : [B! * D!, H!, W!, C];
    const k: [number, number] = a === dims - 1 ? [1, 3] : [3, 1];
    return tf.reshape(tf.maxPool(tf.reshape(t, img) as Tensor4D, k, 1, 'same'), t.shape);
  };
  const erode = (t: Tensor) => (plus
    ? Array.from({ length: dims }, (_, a) => tf.neg(arm(tf.neg(t), a))).reduce((a, b) => tf.minimum(a, b))
    : tf.neg(pool(tf.neg(t))));
  const open = (t: Tensor) => pool(erode(t));
  let img = x;
  let skel = tf.relu(tf.sub(img, open(img)));
  for (let j = 0; j < iters; j++) {
    img = erode(img);
    const delta = tf.relu(tf.sub(img, open(img)));
    skel = tf.add(skel, tf.relu(tf.sub(delta, tf.mul(skel, delta))));
  }
  return skel;
}
