// The simplifier: algebraic rewrite rules (one line each, the math beside it)
// and constant folding through the registry's float64 semantics, applied
// bottom-up to a fixpoint. It never changes values (a property test says so).

import * as B from '../core/build.ts';
import { type Axes, type Node, constOf, rewrite, sameAxes, unionAxes } from '../core/ir.ts';
import { representable } from '../core/numbers.ts';
import { rebuild, record } from '../core/ops/index.ts';
import { verify } from '../core/verify.ts';

/** Strip a broadcast: the node before `expand`, or the node itself. */
const base = (n: Node): Node => (n.op === 'expand' ? n.src[0]! : n);
const is = (n: Node, v: number) => constOf(n) === v;
/** x when n is −x, also through a broadcast: expand(−x) = −expand(x). */
function negOf(n: Node): Node | undefined {
  if (n.op === 'neg') return n.src[0]!;
  if (n.op === 'expand' && n.src[0]!.op === 'neg') return B.expand(n.src[0]!.src[0]!, n.axes);
  return undefined;
}
const at = (n: Node, axes: Axes) => B.expand(n, axes);

type Rule = (n: Node, a: Node, b: Node) => Node | undefined;

const RULES: Partial<Record<Node['op'], Rule[]>> = {
  add: [
    (n, a, b) => (is(b, 0) ? a : undefined), //                x + 0 = x
    (n, a, b) => (is(a, 0) ? b : undefined), //                0 + x = x
    (n, a, b) => { const y = negOf(b); return y ? B.sub(a, y) : undefined; }, // x + (−y) = x − y
    (n, a, b) => { const x = negOf(a); return x ? B.sub(b, x) : undefined; }, // (−x) + y = y − x
  ],
  sub: [
    (n, a, b) => (is(b, 0) ? a : undefined), //                x − 0 = x
    (n, a, b) => (is(a, 0) ? B.neg(b) : undefined), //         0 − x = −x
    (n, a, b) => { const y = negOf(b); return y ? B.add(a, y) : undefined; }, // x − (−y) = x + y
    (n, a, b) => (a === b ? at(B.ZERO, n.axes) : undefined), // x − x = 0
  ],
  mul: [
    (n, a, b) => (is(b, 1) ? a : undefined), //                x · 1 = x
    (n, a, b) => (is(a, 1) ? b : undefined), //                1 · x = x
    (n, a, b) => (is(a, 0) || is(b, 0) ? at(B.ZERO, n.axes) : undefined), // x · 0 = 0 (x finite)
    (n, a, b) => (is(a, -1) ? B.neg(b) : undefined), //        (−1) · x = −x
    (n, a, b) => (is(b, -1) ? B.neg(a) : undefined), //        x · (−1) = −x
    (n, a, b) => { const x = negOf(a), y = negOf(b); return x && y ? B.mul(x, y) : undefined; }, // (−x)(−y) = xy
    (n, a, b) => { const x = negOf(a); return x ? B.neg(B.mul(x, b)) : undefined; }, // (−x) · y = −(x · y)
    (n, a, b) => { const y = negOf(b); return y ? B.neg(B.mul(a, y)) : undefined; }, // x · (−y) = −(x · y)
  ],
  div: [
    (n, a, b) => (is(b, 1) ? a : undefined), //                x / 1 = x
    (n, a, b) => (is(a, 0) ? at(B.ZERO, n.axes) : undefined), // 0 / x = 0 (x ≠ 0)
    (n, a, b) => { const x = negOf(a); return x ? B.neg(B.div(x, b)) : undefined; }, // (−x) / y = −(x / y)
    (n, a, b) => { const y = negOf(b); return y ? B.neg(B.div(a, y)) : undefined; }, // x / (−y) = −(x / y)
  ],
  neg: [
    (n, a) => negOf(a), //                                   −(−x) = x
    (n, a) => (a.op === 'sub' ? B.sub(a.src[1]!, a.src[0]!) : undefined), // −(x − y) = y − x
  ],
  where: [
    (n, c) => { const v = constOf(c); return v === undefined ? undefined : v !== 0 ? n.src[1]! : n.src[2]!; }, // where(1, a, b) = a; where(0, a, b) = b
  ],
  pow: [
    (n, a, b) => (is(b, 1) ? a : undefined), //                x¹ = x
    (n, a, b) => (is(b, 0) ? at(B.ONE, n.axes) : undefined), // x⁰ = 1
  ],
  sum: [
    // Σ_A expand(x) = x · |A| when x does not vary along A.
    (n, a) => {
      const x = base(a);
      const over = n.arg as Axes;
      return x !== a && over.every((ax) => !x.axes.includes(ax)) ? B.mul(at(x, n.axes), B.size(over)) : undefined;
    },
    // Σ over every axis a permutation runs along (sorted, unsort: space, or batch and space) of its result = Σ of its source:
    // it permutes within a slice of the others.
    (n, a) => (record(a.op).permutes && (a.arg as Axes).every((ax) => (n.arg as Axes).includes(ax)) ? B.sum(a.src[0]!, n.arg as Axes) : undefined),
  ],
};

/** f(expand(a), expand(b)) = expand(f(a, b)): compute on the smaller axes, broadcast once. */
function sinkExpand(n: Node): Node | undefined {
  if (record(n.op).kind !== 'elementwise' || !n.src.some((s) => s.op === 'expand')) return undefined;
  const small = unionAxes(...n.src.map((s) => base(s).axes));
  if (sameAxes(small, n.axes)) return undefined;
  const inner = rebuild(n, n.src.map((s) => at(base(s), small)));
  return at(inner, n.axes);
}

/**
 * Constant folding, only to a constant every backend holds: a fold that would give NaN, an infinity or a
 * number float32 cannot hold (log(0), 0/0, exp(1000)) is left to run time, where each backend computes it.
 */
function fold(n: Node): Node | undefined {
  const r = record(n.op);
  if (r.kind !== 'elementwise' || !r.f64) return undefined;
  const vs = n.src.map(constOf);
  if (vs.some((v) => v === undefined)) return undefined;
  const v = r.f64(...(vs as number[]));
  return representable(v) ? at(B.K(v), n.axes) : undefined;
}

function step(n: Node): Node | undefined {
  const folded = fold(n);
  if (folded) return folded;
  for (const rule of RULES[n.op] ?? []) {
    const out = rule(n, n.src[0]!, n.src[1]!);
    if (out && out !== n) return out;
  }
  return sinkExpand(n);
}

function simplifyOnce(roots: readonly Node[]): Node[] {
  return rewrite(roots, (n, src) => {
    let cur = rebuild(n, src);
    for (let i = 0; i < 64; i++) {
      const next = step(cur);
      if (!next || next === cur) break;
      cur = next;
    }
    return cur;
  });
}

export function simplify(roots: readonly Node[]): Node[] {
  let cur = [...roots];
  for (let i = 0; i < 16; i++) {
    const next = simplifyOnce(cur);
    if (next.every((n, k) => n === cur[k])) break;
    cur = next;
  }
  verify(cur, 'simplify');
  return cur;
}

