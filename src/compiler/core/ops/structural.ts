// The IR's scaffolding: leaves (constants, inputs, run-time sizes, the class
// index), broadcasting, and the reductions sum and max. Every layer treats
// these by kind; their records give the gradient, the tfjs rule and the print.

import * as B from '../build.ts';
import type { Axes, Node, Op } from '../ir.ts';
import { PREC } from '../precedence.ts';
import type { ExpandRecord, LeafRecord, PrintContext, PrintForm, ReduceRecord } from './types.ts';

declare module '../ir.ts' {
  /** The ops this file defines (core/ir.ts's Op is the union of every file's). */
  interface OpNames {
    const: true;
    input: true;
    size: true;
    classindex: true;
    expand: true;
    sum: true;
    max: true;
  }
}

const src = (n: Node, i: number) => n.src[i]!;

/** A leaf that prints as a name or number: `text` in either mode. */
const atom = (text: (n: Node, c: PrintContext) => string): PrintForm => ({ show: (n, _xs, c) => ({ text: text(n, c), prec: PREC.primary }) });

/** sum[a](x) in text; in LaTeX the big operator `sym` with the axes below it, binding as a product. */
const reduction = (sym: string): PrintForm => ({
  show: (n, [x], c) => c.mode === 'latex'
    ? { text: `${sym}_{${c.axes(n.arg as Axes)}} ${c.wrap(x!, PREC.multiplicative)}`, prec: PREC.multiplicative }
    : { text: `${n.op}[${c.axes(n.arg as Axes)}](${x!.text})`, prec: PREC.primary },
});

export const STRUCTURAL = {
  const: {
    op: 'const', arity: 0, kind: 'leaf', leafAxes: [],
    tf: (t, _x, n) => t.scalar(n.arg as number),
    // A negative constant binds as a negation.
    print: { show: (n, _xs, c) => ({ text: c.number(n.arg as number), prec: (n.arg as number) < 0 ? PREC.unary : PREC.primary }) },
  },
  input: {
    op: 'input', arity: 0, kind: 'leaf', leafAxes: 'any',
    tf: () => { throw new Error('internal: inputs are bound by the evaluator'); },
    print: atom((n) => n.arg as string),
  },
  size: {
    op: 'size', arity: 0, kind: 'leaf', leafAxes: [],
    tf: (t, _x, n, ctx) => t.scalar(ctx.size(n.arg as Axes)),
    print: atom((n, c) => (c.mode === 'latex' ? `N_{${c.axes(n.arg as Axes)}}` : `size[${c.axes(n.arg as Axes)}]`)),
  },
  classindex: {
    // c along `class`: what class weights and include_background select by. Small, so the host computes it.
    op: 'classindex', arity: 0, kind: 'leaf', leafAxes: ['class'],
    ref: (_x, _n, outer) => Float64Array.from({ length: outer }, (_, i) => i),
    tf: (t, _x, n, ctx) => t.reshape(t.range(0, ctx.size(['class']), 1, 'float32'), ctx.shape(n.axes)),
    print: { fn: 'classindex' },
    latex: () => 'c',
  },
  expand: {
    op: 'expand', arity: 1, kind: 'expand',
    // The transpose of broadcasting is summing over the broadcast axes.
    vjp: (g, out) => [B.sum(g, out.axes.filter((a) => !src(out, 0).axes.includes(a)))],
    // Evaluator tensors keep every axis (size 1 where absent): broadcasting is implicit there.
    // x + zeros rather than broadcastTo: broadcastTo is a Tile, and tfjs has no Tile
    // gradient at rank 5 (3-D data); Add's gradient sums at any rank.
    tf: (t, [x], n, ctx) => t.add(t.reshape(x!, ctx.shape(n.src[0]!.axes)), t.zeros(ctx.shape(n.axes))),
    // Broadcasting is invisible in math: expand(x) prints as x (and the printer counts its uses as x's).
    print: { show: (_n, [x]) => x! },
  },
  sum: {
    op: 'sum', arity: 1, kind: 'reduce',
    vjp: (g, out) => [B.expand(g, src(out, 0).axes)],
    tf: (t, [x], n, ctx) => t.sum(x!, (n.arg as Axes).map((a) => ctx.axis(a)), true),
    print: reduction('\\sum'),
  },
  max: {
    op: 'max', arity: 1, kind: 'reduce',
    // Subgradient: every element equal to the max gets the full adjoint (as tf.max).
    vjp: (g, out) => [B.mul(B.expand(g, src(out, 0).axes), B.bin('eq', src(out, 0), B.expand(out, src(out, 0).axes)))],
    tf: (t, [x], n, ctx) => t.max(x!, (n.arg as Axes).map((a) => ctx.axis(a)), true),
    print: reduction('\\max'),
  },
} satisfies Partial<Record<Op, LeafRecord | ExpandRecord | ReduceRecord>>;
