// The exact logits path. Under `activation` (sigmoid or softmax) the
// prediction the formula sees is q = σ(x) (or softmax(x)), and the library's
// formulas take logs and powers of it, usually after an eps-clip that keeps
// log(q) finite on probabilities. Taken literally on logits that clip kills
// the gradient of every confidently wrong pixel (σ(30) clipped to 1 − 1e-7:
// the loss sees no signal). This pass rewrites, in the lowered IR, every log
// and power of the activated prediction into log space, looking through the
// eps-clips, so values and gradients are those of the stable forms that
// tf.losses.sigmoidCrossEntropy, softmaxCrossEntropy and torch's
// *_with_logits compute:
//
//   log σ(y)              = −softplus(−y)
//   log(1 − σ(y))         = −softplus(y)
//   log(e^u)              = u
//   log(a / b), log(a·b)  = log a ∓ log b     (softmax = e^s / Σ e^s: s − log Σ e^s)
//   a^γ                   = e^(γ·log a)       (focal modulators)
//   1 − σ(y)              = σ(−y)             (no cancellation near 1)
//
// An eps-clip is clip(q, lo, hi) with 0 < lo ≤ 1e-3 and 1 − 1e-3 ≤ hi < 1: a
// numeric guard, not a modelling choice (a clip to [0.1, 0.9] is kept). A
// clipped q used in any other way (g·q in a Dice) keeps its clip, which moves
// it by at most eps. log(1 − softmax(x)_c) has no exact form here (the sum
// over the other classes cancels): it keeps its clip.
//
// Probability inputs (no activation) are not touched: they keep their
// documented clips.

import * as B from '../core/build.ts';
import { type Node, rewrite } from '../core/ir.ts';
import { constOf } from '../core/ir.ts';
import { rebuild } from '../core/ops/index.ts';

const EPS_CLIP = 1e-3;

/** q when n is an eps-clip of q (minimum(maximum(q, lo), hi)), else n. */
function unclip(n: Node): Node {
  if (n.op === 'minimum' && n.src[0]!.op === 'maximum') {
    const lo = constOf(n.src[0]!.src[1]!);
    const hi = constOf(n.src[1]!);
    if (lo !== undefined && hi !== undefined && lo > 0 && lo <= EPS_CLIP && hi < 1 && hi >= 1 - EPS_CLIP) return unclip(n.src[0]!.src[0]!);
  }
  if (n.op === 'expand') {
    const inner = unclip(n.src[0]!);
    return inner === n.src[0] ? n : B.expand(inner, n.axes);
  }
  return n;
}

/** log n in an exact form, or undefined when n is not made of activations, exponentials and positive constants. */
function logOf(raw: Node): Node | undefined {
  const n = unclip(raw);
  const c = constOf(n);
  if (c !== undefined) return c > 0 ? B.expand(B.K(Math.log(c)), n.axes) : undefined;
  switch (n.op) {
    case 'expand': {
      const l = logOf(n.src[0]!);
      return l && B.expand(l, n.axes);
    }
    case 'sigmoid': return B.neg(B.un('softplus', B.neg(n.src[0]!)));
    case 'exp': return n.src[0]!;
    case 'sub': {
      // 1 − σ(y) = σ(−y)
      const y = constOf(n.src[0]!) === 1 ? unclip(n.src[1]!) : undefined;
      return y?.op === 'sigmoid' ? B.neg(B.un('softplus', y.src[0]!)) : undefined;
    }
    case 'div': case 'mul': {
      const a = logOf(n.src[0]!);
      const b = a && logOf(n.src[1]!);
      return a && b && (n.op === 'div' ? B.sub(a, b) : B.add(a, b));
    }
    // A sum of exponentials (softmax's denominator, shifted by the max: at least 1): its log as it is.
    case 'sum': return n.src[0]!.op === 'exp' ? B.un('log', n) : undefined;
    default: return undefined;
  }
}

/** Whether n is an activation, or an eps-clip of one (possibly broadcast). */
function activated(n: Node): boolean {
  const u = unclip(n.op === 'expand' ? n.src[0]! : n);
  return u.op === 'sigmoid' || (u.op === 'div' && u.src[0]!.op === 'exp');
}

export interface LogSpaceResult {
  root: Node;
  /** A log(q + c), c > 0, of the activated prediction: an eps inside the log (tf.keras 2.x's) that has no meaning on logits. */
  epsInLog: boolean;
}

/** Rewrite logs and powers of the activated prediction into log space (see the top of this file). */
export function toLogSpace(root: Node): LogSpaceResult {
  let epsInLog = false;
  const [out] = rewrite([root], (n, src) => {
    const m = rebuild(n, src);
    if (m.op === 'log') {
      const l = logOf(m.src[0]!);
      if (l) return l;
      const a = m.src[0]!;
      if (a.op === 'add' && activated(a.src[0]!) && (constOf(a.src[1]!) ?? 0) > 0) epsInLog = true;
      return m;
    }
    if (m.op === 'pow') {
      const l = activated(m.src[0]!) || unclip(m.src[0]!).op === 'sub' ? logOf(m.src[0]!) : undefined;
      return l ? B.un('exp', B.mul(m.src[1]!, l)) : m;
    }
    if (m.op === 'sub' && constOf(m.src[0]!) === 1 && m.src[1]!.op === 'sigmoid') return B.un('sigmoid', B.neg(m.src[1]!.src[0]!));
    return m;
  });
  return { root: out!, epsInLog };
}
