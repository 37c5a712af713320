// The elementwise ops: float64 semantics (the definition), a textbook oracle
// for tests, the vector-Jacobian rule in IR ops, the TensorFlow.js evaluation,
// the kernel emit, how it prints, and the domain tests draw from.

import type * as TF from '@tensorflow/tfjs-core';
import * as B from '../build.ts';
import type { Node, Op } from '../ir.ts';
import type { BinaryOperator } from '../precedence.ts';
import type { Domain, ElementwiseRecord, EmitContext, PrintForm, TfContext } from './types.ts';

declare module '../ir.ts' {
  /** The ops this file defines (core/ir.ts's Op is the union of every file's). */
  interface OpNames {
    neg: true;
    recip: true;
    exp: true;
    log: true;
    log1p: true;
    sqrt: true;
    abs: true;
    sign: true;
    sigmoid: true;
    softplus: true;
    tanh: true;
    detach: true;
    add: true;
    sub: true;
    mul: true;
    div: true;
    pow: true;
    maximum: true;
    minimum: true;
    lt: true;
    le: true;
    gt: true;
    ge: true;
    eq: true;
    ne: true;
    where: true;
  }
}

/**
 * log(1 + x) accurate for small x on every backend: GLSL and WGSL compute
 * log1p as log(1 + x). With u = 1 + x rounded, log(u)·x/(u − 1) cancels the
 * rounding of u (Goldberg 1991, thm. 4).
 */
function emitLog1p(x: string, ctx: EmitContext): string {
  const u = ctx.bind(`1.0 + ${x}`);
  return `(${u} == 1.0 ? ${x} : Math.log(${u}) * ${x} / (${u} - 1.0))`;
}

const log1pStable = (x: number) => Math.log1p(x);
const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
// softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|), exact for every x.
const softplus = (x: number) => Math.max(x, 0) + log1pStable(Math.exp(-Math.abs(x)));
const bool = (b: boolean) => (b ? 1 : 0);

const src = (n: Node, i: number) => n.src[i]!;
const zeroGrad = () => [undefined, undefined, undefined];
const ANY: Domain = [-3, 3];
const POS: Domain = [0.2, 4];

type Fields = Omit<ElementwiseRecord, 'op' | 'arity' | 'kind' | 'tf'> & { tf: (tf: typeof TF, xs: TF.Tensor[], ctx: TfContext) => TF.Tensor };

function elementwise(op: Op, arity: number, r: Fields): ElementwiseRecord {
  const { tf, ...rest } = r;
  return { op, arity, kind: 'elementwise', ...rest, tf: (t, xs, _n, ctx) => tf(t, xs, ctx) };
}

/** `oracle` sees only the sign of a − b: the comparison read off Math.sign. */
function comparison(op: Op, sym: BinaryOperator, f: (a: number, b: number) => boolean, oracle: (sign: number) => boolean, tfop: 'less' | 'lessEqual' | 'greater' | 'greaterEqual' | 'equal' | 'notEqual'): ElementwiseRecord {
  return elementwise(op, 2, {
    f64: (a, b) => bool(f(a, b)),
    oracle: (a, b) => bool(oracle(Math.sign(a - b))),
    vjp: zeroGrad,
    tf: (t, xs, ctx) => ctx.noGrad((a, b) => t.cast(t[tfop](a!, b!), 'float32'), xs),
    // Equality compares float32 values: gpu.js's cpu backend computes in float64
    // but reads reduction results (a max's gradient compares with one) as float32.
    emit: ([a, b]) => (sym === '==' || sym === '!=' ? `(Math.fround(${a}) ${sym} Math.fround(${b}) ? 1.0 : 0.0)` : `(${a} ${sym} ${b} ? 1.0 : 0.0)`),
    print: { infix: sym },
    latex: ([a, b]) => `[${a} ${({ '<': '<', '<=': '\\le', '>': '>', '>=': '\\ge', '==': '=', '!=': '\\ne' } as Record<string, string>)[sym]} ${b}]`,
    domain: [ANY, ANY],
  });
}

/** A function of one argument; `print` adds to its printing as `fn(x)`. */
function unary(op: Op, fn: string, r: Omit<Fields, 'print'> & { print?: Omit<PrintForm, 'fn'> }): ElementwiseRecord {
  return elementwise(op, 1, { ...r, print: { fn, ...r.print } });
}

export const ELEMENTWISE = {
  neg: elementwise('neg', 1, {
    f64: (x) => -x, oracle: (x) => 0 - x,
    vjp: (g) => [B.neg(g)], tf: (t, [x]) => t.neg(x!), emit: ([x]) => `(-${x})`,
    // A negated sum is named when shared (t3 = -t2 reads better than repeating it); any other negation repeats.
    print: { prefix: '-', repeat: (n) => n.src[0]!.op !== 'sum' }, latex: ([x]) => `-${x}`, domain: [ANY],
  }),
  recip: unary('recip', 'recip', {
    f64: (x) => 1 / x, oracle: (x) => Math.pow(x, -1),
    vjp: (g, out) => [B.neg(B.mul(g, B.mul(out, out)))], tf: (t, [x]) => t.reciprocal(x!), emit: ([x]) => `(1.0 / ${x})`,
    latex: ([x]) => `\\frac{1}{${x}}`, print: { grouped: [0] }, domain: [POS],
  }),
  exp: unary('exp', 'exp', {
    f64: Math.exp, oracle: (x) => Math.pow(Math.E, x),
    vjp: (g, out) => [B.mul(g, out)], tf: (t, [x]) => t.exp(x!), emit: ([x]) => `Math.exp(${x})`,
    latex: ([x]) => `e^{${x}}`, print: { grouped: [0] }, domain: [ANY],
  }),
  log: unary('log', 'log', {
    f64: Math.log, oracle: (x) => Math.log2(x) / Math.LOG2E,
    vjp: (g, out) => [B.div(g, src(out, 0))], tf: (t, [x]) => t.log(x!), emit: ([x]) => `Math.log(${x})`,
    latex: ([x]) => `\\log ${x}`, domain: [POS],
  }),
  log1p: unary('log1p', 'log1p', {
    f64: log1pStable, oracle: (x) => Math.log(1 + x),
    vjp: (g, out) => [B.div(g, B.add(B.ONE, src(out, 0)))], tf: (t, [x]) => t.log1p(x!), emit: ([x], c) => emitLog1p(x!, c),
    latex: ([x]) => `\\log(1 + ${x})`, domain: [[-0.8, 4]],
  }),
  sqrt: unary('sqrt', 'sqrt', {
    f64: Math.sqrt, oracle: (x) => Math.pow(x, 0.5),
    vjp: (g, out) => [B.div(g, B.mul(B.K(2), out))], tf: (t, [x]) => t.sqrt(x!), emit: ([x]) => `Math.sqrt(${x})`,
    latex: ([x]) => `\\sqrt{${x}}`, print: { grouped: [0] }, domain: [POS],
  }),
  abs: unary('abs', 'abs', {
    // Subgradient 0 at 0, as tf.abs (x * sign(x)).
    f64: Math.abs, oracle: (x) => (x < 0 ? -x : x),
    vjp: (g, out) => [B.mul(g, B.un('sign', src(out, 0)))], tf: (t, [x]) => t.abs(x!), emit: ([x]) => `Math.abs(${x})`,
    latex: ([x]) => `\\left|${x}\\right|`, domain: [ANY],
  }),
  sign: unary('sign', 'sign', {
    f64: (x) => (x > 0 ? 1 : x < 0 ? -1 : x), oracle: Math.sign, // sign(NaN) = NaN, as Math.sign and tf.sign
    vjp: zeroGrad, tf: (t, xs, ctx) => ctx.noGrad((x) => t.sign(x!), xs), emit: ([x]) => `Math.sign(${x})`,
    latex: ([x]) => `\\operatorname{sign}(${x})`, domain: [ANY],
  }),
  sigmoid: unary('sigmoid', 'sigmoid', {
    f64: sigmoid, oracle: (x) => 1 / (1 + Math.exp(-x)),
    // σ'(x) = σ(x)(1 − σ(x))
    vjp: (g, out) => [B.mul(g, B.mul(out, B.sub(B.ONE, out)))], tf: (t, [x]) => t.sigmoid(x!),
    // σ(x) from e = e^(−|x|): never overflows, exact in both tails.
    emit: ([x], c) => { const e = c.bind(`Math.exp(-Math.abs(${x}))`); return `(${x} >= 0.0 ? 1.0 / (1.0 + ${e}) : ${e} / (1.0 + ${e}))`; },
    latex: ([x]) => `\\sigma(${x})`, domain: [[-6, 6]],
  }),
  softplus: unary('softplus', 'softplus', {
    f64: softplus, oracle: (x) => Math.log(1 + Math.exp(x)),
    // softplus'(x) = σ(x)
    vjp: (g, out) => [B.mul(g, B.un('sigmoid', src(out, 0)))], tf: (t, [x]) => t.softplus(x!),
    emit: ([x], c) => `(Math.max(${x}, 0.0) + ${emitLog1p(c.bind(`Math.exp(-Math.abs(${x}))`), c)})`,
    latex: ([x]) => `\\operatorname{softplus}(${x})`, domain: [[-6, 6]],
  }),
  tanh: unary('tanh', 'tanh', {
    f64: Math.tanh, oracle: (x) => (Math.exp(2 * x) - 1) / (Math.exp(2 * x) + 1),
    // tanh'(x) = 1 − tanh²(x)
    vjp: (g, out) => [B.mul(g, B.sub(B.ONE, B.mul(out, out)))], tf: (t, [x]) => t.tanh(x!),
    // tanh is NaN for |x| ≥ 50 on llvmpipe (100 on SwiftShader): from t = e^(−2|x|) instead.
    emit: ([x], c) => { const t = c.bind(`Math.exp(-2.0 * Math.abs(${x}))`); return `(Math.sign(${x}) * (1.0 - ${t}) / (1.0 + ${t}))`; },
    latex: ([x]) => `\\tanh(${x})`, domain: [ANY],
  }),
  detach: unary('detach', 'detach', {
    f64: (x) => x, oracle: (x) => x, stopsGradient: true,
    vjp: zeroGrad, tf: (t, xs, ctx) => ctx.noGrad((x) => t.clone(x!), xs), emit: ([x]) => x!,
    latex: ([x]) => `\\lfloor ${x} \\rfloor_{\\nabla = 0}`, domain: [ANY],
  }),
  add: elementwise('add', 2, {
    f64: (a, b) => a + b, oracle: (a, b) => -(-a - b),
    vjp: (g) => [g, g], tf: (t, [a, b]) => t.add(a!, b!), emit: ([a, b]) => `(${a} + ${b})`,
    print: { infix: '+', assoc: true }, latex: ([a, b]) => `${a} + ${b}`, domain: [ANY, ANY],
  }),
  sub: elementwise('sub', 2, {
    f64: (a, b) => a - b, oracle: (a, b) => a + -b,
    vjp: (g) => [g, B.neg(g)], tf: (t, [a, b]) => t.sub(a!, b!), emit: ([a, b]) => `(${a} - ${b})`,
    print: { infix: '-' }, latex: ([a, b]) => `${a} - ${b}`, domain: [ANY, ANY],
  }),
  mul: elementwise('mul', 2, {
    f64: (a, b) => a * b, oracle: (a, b) => Math.exp(Math.log(Math.abs(a)) + Math.log(Math.abs(b))) * Math.sign(a) * Math.sign(b),
    vjp: (g, out) => [B.mul(g, src(out, 1)), B.mul(g, src(out, 0))], tf: (t, [a, b]) => t.mul(a!, b!), emit: ([a, b]) => `(${a} * ${b})`,
    print: { infix: '*', assoc: true }, latex: ([a, b]) => `${a} \\cdot ${b}`, domain: [ANY, ANY],
  }),
  div: elementwise('div', 2, {
    f64: (a, b) => a / b, oracle: (a, b) => a * Math.pow(b, -1),
    // d(a/b) = da/b − a·db/b²
    vjp: (g, out) => [B.div(g, src(out, 1)), B.neg(B.div(B.mul(g, out), src(out, 1)))],
    tf: (t, [a, b]) => t.div(a!, b!),
    // A literal 0 divisor gives 1 on headlessgl: multiply by the reciprocal constant instead.
    emit: ([a, b], c) => (c.consts[1] !== undefined ? `(${a} * ${c.lit(1 / c.consts[1])})` : `(${a} / ${b})`),
    print: { infix: '/', grouped: [0, 1], latexAtom: true }, latex: ([a, b]) => `\\frac{${a}}{${b}}`, domain: [ANY, POS],
  }),
  pow: elementwise('pow', 2, {
    f64: Math.pow, oracle: (a, b) => Math.exp(b * Math.log(a)),
    // d(a^b) = b·a^(b−1)·da + log(a)·a^b·db
    vjp: (g, out) => [
      B.mul(g, B.mul(src(out, 1), B.bin('pow', src(out, 0), B.sub(src(out, 1), B.ONE)))),
      B.mul(g, B.mul(B.un('log', src(out, 0)), out)),
    ],
    tf: (t, [a, b]) => t.pow(a!, b!),
    // pow of a negative base is NaN on llvmpipe and |a|^b on SwiftShader: small
    // integer powers become products, which every backend computes exactly.
    emit: ([a, b], c) => {
      const k = c.consts[1];
      if (k !== undefined && Number.isInteger(k) && Math.abs(k) <= 8 && k !== 0) {
        const base = c.bind(a!);
        const prod = Array.from({ length: Math.abs(k) }, () => base).join(' * ');
        return k > 0 ? `(${prod})` : `(1.0 / (${prod}))`;
      }
      if (k === 0.5) return `Math.sqrt(${a})`;
      return `Math.pow(${a}, ${b})`;
    },
    print: { infix: '^', rightAssoc: true, grouped: [1] }, latex: ([a, b]) => `{${a}}^{${b}}`, domain: [POS, [-2, 3]],
  }),
  maximum: elementwise('maximum', 2, {
    // Subgradient on ties: the first argument gets it (as tf.maximum).
    f64: (a, b) => (a >= b || a !== a ? a : b), oracle: (a, b) => Math.max(a, b), // NaN on either side gives NaN, as Math.max
    vjp: (g, out) => [B.mul(g, B.bin('ge', src(out, 0), src(out, 1))), B.mul(g, B.bin('lt', src(out, 0), src(out, 1)))],
    tf: (t, [a, b]) => t.maximum(a!, b!), emit: ([a, b]) => `Math.max(${a}, ${b})`,
    print: { fn: 'max' }, latex: ([a, b]) => `\\max(${a}, ${b})`, domain: [ANY, ANY],
  }),
  minimum: elementwise('minimum', 2, {
    // Subgradient on ties: the first argument gets it (as tf.minimum).
    f64: (a, b) => (a <= b || a !== a ? a : b), oracle: (a, b) => Math.min(a, b), // NaN on either side gives NaN, as Math.min
    vjp: (g, out) => [B.mul(g, B.bin('le', src(out, 0), src(out, 1))), B.mul(g, B.bin('gt', src(out, 0), src(out, 1)))],
    tf: (t, [a, b]) => t.minimum(a!, b!), emit: ([a, b]) => `Math.min(${a}, ${b})`,
    print: { fn: 'min' }, latex: ([a, b]) => `\\min(${a}, ${b})`, domain: [ANY, ANY],
  }),
  lt: comparison('lt', '<', (a, b) => a < b, (s) => s === -1, 'less'),
  le: comparison('le', '<=', (a, b) => a <= b, (s) => s !== 1, 'lessEqual'),
  gt: comparison('gt', '>', (a, b) => a > b, (s) => s === 1, 'greater'),
  ge: comparison('ge', '>=', (a, b) => a >= b, (s) => s !== -1, 'greaterEqual'),
  eq: comparison('eq', '==', (a, b) => a === b, (s) => s === 0, 'equal'),
  ne: comparison('ne', '!=', (a, b) => a !== b, (s) => s !== 0, 'notEqual'),
  where: elementwise('where', 3, {
    f64: (c, a, b) => (c !== 0 ? a : b), oracle: (c, a, b) => c * a + (1 - c) * b,
    vjp: (g, out) => [undefined, B.where(src(out, 0), g, B.ZERO), B.where(src(out, 0), B.ZERO, g)],
    tf: (t, [c, a, b], ctx) => t.where(t.cast(ctx.noGrad((x) => t.notEqual(x!, 0), [c!]), 'bool'), a!, b!),
    emit: ([c, a, b]) => `(${c} != 0.0 ? ${a} : ${b})`,
    print: { fn: 'where' }, latex: ([c, a, b]) => `\\begin{cases}${a} & ${c} \\\\ ${b} & \\text{otherwise}\\end{cases}`,
    domain: [{ values: [0, 1] }, ANY, ANY],
  }),
} satisfies Partial<Record<Op, ElementwiseRecord>>;
