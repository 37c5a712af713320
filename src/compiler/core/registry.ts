// One record per primitive op: float64 semantics (the definition), a textbook
// oracle for tests, the vector-Jacobian rule in IR ops, the TensorFlow.js
// evaluation, the kernel emit, how it prints, and the domain tests draw from.
// Adding an op is adding one record here; the tests iterate this table.

import type * as TF from '@tensorflow/tfjs-core';
import * as B from './build.ts';
import { type Arg, type Axes, type Axis, type Node, type Op, type WindowArg, isSpatial } from './ir.ts';
import {
  avgpool2Ref, boxWeights, cumsumRef, edtRef, gaussianWeights, interiorRef, levelExtent, maxpoolRef, poolargRef, poolgradRef, sortSlices,
  sortedRef, unpool2Ref, unsortRef, windowRef,
} from './ops/f64-loops.ts';

export type Domain = readonly [number, number] | { readonly values: readonly number[] };

export interface TfContext {
  /** Position of an axis in the evaluator's fixed-rank tensors. */
  axis(a: Axis): number;
  /** Product of the run-time sizes of `axes`. */
  size(axes: Axes): number;
  /** The evaluator's fixed-rank shape of a value with `axes` (1 where an axis is absent). */
  shape(axes: Axes): number[];
  /** Spatial axes of the data (['y', 'x'] or ['z', 'y', 'x']). */
  space: Axes;
  /** Runs `f` with a zero gradient for every argument (comparisons, detach). */
  noGrad(f: (...xs: TF.Tensor[]) => TF.Tensor, xs: TF.Tensor[]): TF.Tensor;
}

export interface EmitContext {
  /** The value of each argument when it is a compile-time constant. */
  consts: readonly (number | undefined)[];
  /** Bind an expression to a fresh kernel variable; returns its name. */
  bind(expr: string): string;
  /** A number as a kernel literal. */
  lit(v: number): string;
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

export interface OpRecord {
  readonly op: Op;
  readonly arity: number;
  readonly kind: 'leaf' | 'elementwise' | 'reduce' | 'expand' | 'spatial';
  /**
   * Float64 semantics of a spatial op over canonical-order arrays: `outer`
   * slices of the spatial `dims` (the reference interpreter runs exactly this),
   * `batch` of them along the batch axis (outermost; 1 when the arrays have none).
   */
  readonly ref?: (xs: Float64Array[], node: Node, outer: number, dims: readonly number[], batch: number) => Float64Array;
  /** Runs on the host over whole arrays between passes (its sources must be in memory), not in kernels. */
  readonly host?: true;
  /** Elementwise float64 semantics: the reference interpreter runs exactly this. */
  readonly f64?: (...xs: number[]) => number;
  /** An independent textbook formula the tests compare `f64` with (defaults to `f64`'s Math twin). */
  readonly oracle?: (...xs: number[]) => number;
  /**
   * Adjoints of the sources given the adjoint `g` of `out`, in IR ops; `undefined`
   * means no gradient flows to that source. Only called for sources on a path to
   * the differentiated input.
   */
  readonly vjp?: (g: Node, out: Node) => (Node | undefined)[];
  readonly tf: (tf: typeof TF, xs: TF.Tensor[], node: Node, ctx: TfContext) => TF.Tensor;
  /**
   * gpu.js kernel JS (the subset gpu.js translates to GLSL, WGSL and wasm), one
   * form for every backend: the numeric traps of GLSL/WGSL are avoided here.
   */
  readonly emit?: (xs: string[], ctx: EmitContext) => string;
  readonly print: { readonly infix?: string; readonly prefix?: string; readonly prec?: number; readonly fn?: string };
  readonly latex?: (xs: string[]) => string;
  readonly domain?: readonly Domain[];
  /** The gradient is zero by definition, not by calculus (detach): finite differences do not apply. */
  readonly stopsGradient?: true;
  /**
   * Spatial ops: the args the table tests build the op with, each run on random
   * images against the TensorFlow.js rule and finite differences of `ref`.
   */
  readonly examples?: readonly Arg[];
  /** Reads whole images at full resolution: its sources must be at scale level 0. */
  readonly fullResolution?: true;
  /** The scale level of its result, when the op sets one (rather than keeping its sources'). */
  readonly level?: (n: Node) => number;
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

function elementwise(
  op: Op,
  arity: number,
  r: Omit<OpRecord, 'op' | 'arity' | 'kind' | 'tf'> & { tf: (tf: typeof TF, xs: TF.Tensor[], ctx: TfContext) => TF.Tensor },
): OpRecord {
  const { tf, ...rest } = r;
  return { op, arity, kind: 'elementwise', ...rest, tf: (t, xs, _n, ctx) => tf(t, xs, ctx) };
}

/** `oracle` sees only the sign of a − b: the comparison read off Math.sign. */
function comparison(op: Op, sym: string, f: (a: number, b: number) => boolean, oracle: (sign: number) => boolean, tfop: 'less' | 'lessEqual' | 'greater' | 'greaterEqual' | 'equal' | 'notEqual'): OpRecord {
  return elementwise(op, 2, {
    f64: (a, b) => bool(f(a, b)),
    oracle: (a, b) => bool(oracle(Math.sign(a - b))),
    vjp: zeroGrad,
    tf: (t, xs, ctx) => ctx.noGrad((a, b) => t.cast(t[tfop](a!, b!), 'float32'), xs),
    // Equality compares float32 values: gpu.js's cpu backend computes in float64
    // but reads reduction results (a max's gradient compares with one) as float32.
    emit: ([a, b]) => (sym === '==' || sym === '!=' ? `(Math.fround(${a}) ${sym} Math.fround(${b}) ? 1.0 : 0.0)` : `(${a} ${sym} ${b} ? 1.0 : 0.0)`),
    print: { infix: sym, prec: 1 },
    latex: ([a, b]) => `[${a} ${({ '<': '<', '<=': '\\le', '>': '>', '>=': '\\ge', '==': '=', '!=': '\\ne' } as Record<string, string>)[sym]} ${b}]`,
    domain: [ANY, ANY],
  });
}

function unary(op: Op, fn: string, r: Omit<Parameters<typeof elementwise>[2], 'print'>): OpRecord {
  return elementwise(op, 1, { ...r, print: { fn } });
}

const RECORDS: OpRecord[] = [
  { op: 'const', arity: 0, kind: 'leaf', tf: (t, _x, n) => t.scalar(n.arg as number), print: {} },
  { op: 'input', arity: 0, kind: 'leaf', tf: () => { throw new Error('internal: inputs are bound by the evaluator'); }, print: {} },
  { op: 'size', arity: 0, kind: 'leaf', tf: (t, _x, n, ctx) => t.scalar(ctx.size(n.arg as Axes)), print: {} },
  {
    // c along `class`: what class weights and include_background select by. Small, so the host computes it.
    op: 'classindex', arity: 0, kind: 'leaf',
    ref: (_x, _n, outer) => Float64Array.from({ length: outer }, (_, i) => i),
    tf: (t, _x, n, ctx) => t.reshape(t.range(0, ctx.size(['class']), 1, 'float32'), ctx.shape(n.axes)),
    print: { fn: 'classindex' },
    latex: () => 'c',
  },
  {
    op: 'expand', arity: 1, kind: 'expand',
    // The transpose of broadcasting is summing over the broadcast axes.
    vjp: (g, out) => [B.sum(g, out.axes.filter((a) => !src(out, 0).axes.includes(a)))],
    // Evaluator tensors keep every axis (size 1 where absent): broadcasting is implicit there.
    // x + zeros rather than broadcastTo: broadcastTo is a Tile, and tfjs has no Tile
    // gradient at rank 5 (3-D data); Add's gradient sums at any rank.
    tf: (t, [x], n, ctx) => t.add(t.reshape(x!, ctx.shape(n.src[0]!.axes)), t.zeros(ctx.shape(n.axes))),
    print: {},
  },
  {
    op: 'sum', arity: 1, kind: 'reduce',
    vjp: (g, out) => [B.expand(g, src(out, 0).axes)],
    tf: (t, [x], n, ctx) => t.sum(x!, (n.arg as Axes).map((a) => ctx.axis(a)), true),
    print: { fn: 'sum' },
  },
  {
    op: 'max', arity: 1, kind: 'reduce',
    // Subgradient: every element equal to the max gets the full adjoint (as tf.max).
    vjp: (g, out) => [B.mul(B.expand(g, src(out, 0).axes), B.bin('eq', src(out, 0), B.expand(out, src(out, 0).axes)))],
    tf: (t, [x], n, ctx) => t.max(x!, (n.arg as Axes).map((a) => ctx.axis(a)), true),
    print: { fn: 'max' },
  },
  elementwise('neg', 1, {
    f64: (x) => -x, oracle: (x) => 0 - x,
    vjp: (g) => [B.neg(g)], tf: (t, [x]) => t.neg(x!), emit: ([x]) => `(-${x})`,
    print: { prefix: '-', prec: 4 }, latex: ([x]) => `-${x}`, domain: [ANY],
  }),
  unary('recip', 'recip', {
    f64: (x) => 1 / x, oracle: (x) => Math.pow(x, -1),
    vjp: (g, out) => [B.neg(B.mul(g, B.mul(out, out)))], tf: (t, [x]) => t.reciprocal(x!), emit: ([x]) => `(1.0 / ${x})`,
    latex: ([x]) => `\\frac{1}{${x}}`, domain: [POS],
  }),
  unary('exp', 'exp', {
    f64: Math.exp, oracle: (x) => Math.pow(Math.E, x),
    vjp: (g, out) => [B.mul(g, out)], tf: (t, [x]) => t.exp(x!), emit: ([x]) => `Math.exp(${x})`,
    latex: ([x]) => `e^{${x}}`, domain: [ANY],
  }),
  unary('log', 'log', {
    f64: Math.log, oracle: (x) => Math.log2(x) / Math.LOG2E,
    vjp: (g, out) => [B.div(g, src(out, 0))], tf: (t, [x]) => t.log(x!), emit: ([x]) => `Math.log(${x})`,
    latex: ([x]) => `\\log ${x}`, domain: [POS],
  }),
  unary('log1p', 'log1p', {
    f64: log1pStable, oracle: (x) => Math.log(1 + x),
    vjp: (g, out) => [B.div(g, B.add(B.ONE, src(out, 0)))], tf: (t, [x]) => t.log1p(x!), emit: ([x], c) => emitLog1p(x!, c),
    latex: ([x]) => `\\log(1 + ${x})`, domain: [[-0.8, 4]],
  }),
  unary('sqrt', 'sqrt', {
    f64: Math.sqrt, oracle: (x) => Math.pow(x, 0.5),
    vjp: (g, out) => [B.div(g, B.mul(B.K(2), out))], tf: (t, [x]) => t.sqrt(x!), emit: ([x]) => `Math.sqrt(${x})`,
    latex: ([x]) => `\\sqrt{${x}}`, domain: [POS],
  }),
  unary('abs', 'abs', {
    // Subgradient 0 at 0, as tf.abs (x * sign(x)).
    f64: Math.abs, oracle: (x) => (x < 0 ? -x : x),
    vjp: (g, out) => [B.mul(g, B.un('sign', src(out, 0)))], tf: (t, [x]) => t.abs(x!), emit: ([x]) => `Math.abs(${x})`,
    latex: ([x]) => `\\left|${x}\\right|`, domain: [ANY],
  }),
  unary('sign', 'sign', {
    f64: (x) => (x > 0 ? 1 : x < 0 ? -1 : x), oracle: Math.sign, // sign(NaN) = NaN, as Math.sign and tf.sign
    vjp: zeroGrad, tf: (t, xs, ctx) => ctx.noGrad((x) => t.sign(x!), xs), emit: ([x]) => `Math.sign(${x})`,
    latex: ([x]) => `\\operatorname{sign}(${x})`, domain: [ANY],
  }),
  unary('sigmoid', 'sigmoid', {
    f64: sigmoid, oracle: (x) => 1 / (1 + Math.exp(-x)),
    // σ'(x) = σ(x)(1 − σ(x))
    vjp: (g, out) => [B.mul(g, B.mul(out, B.sub(B.ONE, out)))], tf: (t, [x]) => t.sigmoid(x!),
    // σ(x) from e = e^(−|x|): never overflows, exact in both tails.
    emit: ([x], c) => { const e = c.bind(`Math.exp(-Math.abs(${x}))`); return `(${x} >= 0.0 ? 1.0 / (1.0 + ${e}) : ${e} / (1.0 + ${e}))`; },
    latex: ([x]) => `\\sigma(${x})`, domain: [[-6, 6]],
  }),
  unary('softplus', 'softplus', {
    f64: softplus, oracle: (x) => Math.log(1 + Math.exp(x)),
    // softplus'(x) = σ(x)
    vjp: (g, out) => [B.mul(g, B.un('sigmoid', src(out, 0)))], tf: (t, [x]) => t.softplus(x!),
    emit: ([x], c) => `(Math.max(${x}, 0.0) + ${emitLog1p(c.bind(`Math.exp(-Math.abs(${x}))`), c)})`,
    latex: ([x]) => `\\operatorname{softplus}(${x})`, domain: [[-6, 6]],
  }),
  unary('tanh', 'tanh', {
    f64: Math.tanh, oracle: (x) => (Math.exp(2 * x) - 1) / (Math.exp(2 * x) + 1),
    // tanh'(x) = 1 − tanh²(x)
    vjp: (g, out) => [B.mul(g, B.sub(B.ONE, B.mul(out, out)))], tf: (t, [x]) => t.tanh(x!),
    // tanh is NaN for |x| ≥ 50 on llvmpipe (100 on SwiftShader): from t = e^(−2|x|) instead.
    emit: ([x], c) => { const t = c.bind(`Math.exp(-2.0 * Math.abs(${x}))`); return `(Math.sign(${x}) * (1.0 - ${t}) / (1.0 + ${t}))`; },
    latex: ([x]) => `\\tanh(${x})`, domain: [ANY],
  }),
  unary('detach', 'detach', {
    f64: (x) => x, oracle: (x) => x, stopsGradient: true,
    vjp: zeroGrad, tf: (t, xs, ctx) => ctx.noGrad((x) => t.clone(x!), xs), emit: ([x]) => x!,
    latex: ([x]) => `\\lfloor ${x} \\rfloor_{\\nabla = 0}`, domain: [ANY],
  }),
  elementwise('add', 2, {
    f64: (a, b) => a + b, oracle: (a, b) => -(-a - b),
    vjp: (g) => [g, g], tf: (t, [a, b]) => t.add(a!, b!), emit: ([a, b]) => `(${a} + ${b})`,
    print: { infix: '+', prec: 2 }, latex: ([a, b]) => `${a} + ${b}`, domain: [ANY, ANY],
  }),
  elementwise('sub', 2, {
    f64: (a, b) => a - b, oracle: (a, b) => a + -b,
    vjp: (g) => [g, B.neg(g)], tf: (t, [a, b]) => t.sub(a!, b!), emit: ([a, b]) => `(${a} - ${b})`,
    print: { infix: '-', prec: 2 }, latex: ([a, b]) => `${a} - ${b}`, domain: [ANY, ANY],
  }),
  elementwise('mul', 2, {
    f64: (a, b) => a * b, oracle: (a, b) => Math.exp(Math.log(Math.abs(a)) + Math.log(Math.abs(b))) * Math.sign(a) * Math.sign(b),
    vjp: (g, out) => [B.mul(g, src(out, 1)), B.mul(g, src(out, 0))], tf: (t, [a, b]) => t.mul(a!, b!), emit: ([a, b]) => `(${a} * ${b})`,
    print: { infix: '*', prec: 3 }, latex: ([a, b]) => `${a} \\cdot ${b}`, domain: [ANY, ANY],
  }),
  elementwise('div', 2, {
    f64: (a, b) => a / b, oracle: (a, b) => a * Math.pow(b, -1),
    // d(a/b) = da/b − a·db/b²
    vjp: (g, out) => [B.div(g, src(out, 1)), B.neg(B.div(B.mul(g, out), src(out, 1)))],
    tf: (t, [a, b]) => t.div(a!, b!),
    // A literal 0 divisor gives 1 on headlessgl: multiply by the reciprocal constant instead.
    emit: ([a, b], c) => (c.consts[1] !== undefined ? `(${a} * ${c.lit(1 / c.consts[1])})` : `(${a} / ${b})`),
    print: { infix: '/', prec: 3 }, latex: ([a, b]) => `\\frac{${a}}{${b}}`, domain: [ANY, POS],
  }),
  elementwise('pow', 2, {
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
    print: { infix: '^', prec: 5 }, latex: ([a, b]) => `{${a}}^{${b}}`, domain: [POS, [-2, 3]],
  }),
  elementwise('maximum', 2, {
    // Subgradient on ties: the first argument gets it (as tf.maximum).
    f64: (a, b) => (a >= b || a !== a ? a : b), oracle: (a, b) => Math.max(a, b), // NaN on either side gives NaN, as Math.max
    vjp: (g, out) => [B.mul(g, B.bin('ge', src(out, 0), src(out, 1))), B.mul(g, B.bin('lt', src(out, 0), src(out, 1)))],
    tf: (t, [a, b]) => t.maximum(a!, b!), emit: ([a, b]) => `Math.max(${a}, ${b})`,
    print: { fn: 'max' }, latex: ([a, b]) => `\\max(${a}, ${b})`, domain: [ANY, ANY],
  }),
  elementwise('minimum', 2, {
    // Subgradient on ties: the first argument gets it (as tf.minimum).
    f64: (a, b) => (a <= b || a !== a ? a : b), oracle: (a, b) => Math.min(a, b), // NaN on either side gives NaN, as Math.min
    vjp: (g, out) => [B.mul(g, B.bin('le', src(out, 0), src(out, 1))), B.mul(g, B.bin('gt', src(out, 0), src(out, 1)))],
    tf: (t, [a, b]) => t.minimum(a!, b!), emit: ([a, b]) => `Math.min(${a}, ${b})`,
    print: { fn: 'min' }, latex: ([a, b]) => `\\min(${a}, ${b})`, domain: [ANY, ANY],
  }),
  comparison('lt', '<', (a, b) => a < b, (s) => s === -1, 'less'),
  comparison('le', '<=', (a, b) => a <= b, (s) => s !== 1, 'lessEqual'),
  comparison('gt', '>', (a, b) => a > b, (s) => s === 1, 'greater'),
  comparison('ge', '>=', (a, b) => a >= b, (s) => s !== -1, 'greaterEqual'),
  comparison('eq', '==', (a, b) => a === b, (s) => s === 0, 'equal'),
  comparison('ne', '!=', (a, b) => a !== b, (s) => s !== 0, 'notEqual'),
  elementwise('where', 3, {
    f64: (c, a, b) => (c !== 0 ? a : b), oracle: (c, a, b) => c * a + (1 - c) * b,
    vjp: (g, out) => [undefined, B.where(src(out, 0), g, B.ZERO), B.where(src(out, 0), B.ZERO, g)],
    tf: (t, [c, a, b], ctx) => t.where(t.cast(ctx.noGrad((x) => t.notEqual(x!, 0), [c!]), 'bool'), a!, b!),
    emit: ([c, a, b]) => `(${c} != 0.0 ? ${a} : ${b})`,
    print: { fn: 'where' }, latex: ([c, a, b]) => `\\begin{cases}${a} & ${c} \\\\ ${b} & \\text{otherwise}\\end{cases}`,
    domain: [{ values: [0, 1] }, ANY, ANY],
  }),
];

/** Spatial ops in tfjs: the evaluator's [b, c, (z), y, x] tensors as single-channel images. */
function asImages(t: typeof TF, x: TF.Tensor, ctx: TfContext): [TF.Tensor, (y: TF.Tensor) => TF.Tensor] {
  const shape = x.shape;
  const sp = ctx.space.map((a) => shape[ctx.axis(a)]!);
  const n = x.size / sp.reduce((a, b) => a * b, 1);
  return [t.reshape(x, [n, ...sp, 1]), (y) => t.reshape(y, shape)];
}

function spatial(op: Op, arity: number, r: Omit<OpRecord, 'op' | 'arity' | 'kind'>): OpRecord {
  return { op, arity, kind: 'spatial', ...r };
}

RECORDS.push(
  spatial('window', 1, {
    ref: ([x], n, outer, dims) => {
      const a = n.arg as WindowArg;
      return windowRef(x!, outer, dims, n.axes.filter(isSpatial).findIndex((b) => b === a.axis), a.weights, a.dilation);
    },
    // Symmetric weights, zero padding: the window is its own adjoint (also dilated and
    // masked to its lattice: at a lattice point it reads lattice points only).
    vjp: (g, out) => [B.rebuild(out, [g])],
    // A convolution whose kernel is the weights along the window's axis (1 along the others).
    tf: (t, [x], n, ctx) => {
      const { weights: w, axis, dilation: q } = n.arg as WindowArg;
      const conv = (v: TF.Tensor) => {
        const [img, back] = asImages(t, v, ctx);
        const shape = ctx.space.map((a) => (a === axis ? w.length : 1));
        if (ctx.space.length === 2) return back(t.conv2d(img as TF.Tensor4D, t.tensor4d([...w], [shape[0]!, shape[1]!, 1, 1]), 1, 'same'));
        return back(t.conv3d(img as TF.Tensor5D, t.tensor5d([...w], [shape[0]!, shape[1]!, shape[2]!, 1, 1]), 1, 'same'));
      };
      if (q === 1) return conv(x!);
      // A coarser level: the window of the level's image (its lattice), put back on the full grid.
      // (tfjs has no gradient for dilated convolutions.)
      const dims = ctx.space.map((a) => x!.shape[ctx.axis(a)]!);
      let y = ctx.space.reduce((v, a) => alongAxis(t, v, ctx.axis(a), (l) => lattice(t, l, q)), x!);
      y = conv(y);
      return ctx.space.reduce((v, a, i) => alongAxis(t, v, ctx.axis(a), (l) => spread(t, l, q, dims[i]!)), y);
    },
    // Text and LaTeX: print.ts, which shows the 1-D windows of one separable window as one.
    print: { fn: 'window' },
    examples: [
      { weights: gaussianWeights(3, 1), axis: 'x', dilation: 1 },
      { weights: gaussianWeights(5, 1.5), axis: 'y', dilation: 1 },
      { weights: gaussianWeights(5, 1.5), axis: 'x', dilation: 2 },
      { weights: boxWeights(3), axis: 'y', dilation: 4 },
    ],
  }),
  spatial('maxpool', 1, {
    fullResolution: true,
    // arg: the width of a cube window, or the widths per spatial axis (an axis-wise window, B.poolArg).
    ref: ([x], n, outer, dims) => maxpoolRef(x!, outer, dims, n.arg as number | number[]),
    // Subgradient: each window's adjoint goes to its first maximum (poolarg), as TensorFlow's.
    vjp: (g, out) => [B.poolgrad(g, B.poolarg(out.src[0]!, out.arg), out.arg)],
    // 'same' with stride 1 and odd widths pads (k − 1)/2 per side, which tfjs's max pool skips (−∞ padding).
    tf: (t, [x], n, ctx) => {
      const k = B.poolWidths(n.arg, ctx.space.length);
      const [img, back] = asImages(t, x!, ctx);
      if (ctx.space.length === 2) return back(t.maxPool(img as TF.Tensor4D, k as [number, number], 1, 'same'));
      if (k.every((w) => w === k[0])) return back(t.maxPool3d(img as TF.Tensor5D, k[0]!, 1, 'same'));
      return back(maxPool3dAsImages(t, img as TF.Tensor5D, k));
    },
    print: { fn: 'maxpool' },
    latex: ([x]) => `\\operatorname{maxpool}(${x})`,
  }),
  spatial('poolarg', 1, {
    fullResolution: true,
    ref: ([x], n, outer, dims) => poolargRef(x!, outer, dims, n.arg as number | number[]),
    tf: () => { throw new Error('internal: poolarg appears only in gradients, which tfjs computes itself'); },
    print: { fn: 'poolarg' },
  }),
  spatial('poolgrad', 2, {
    fullResolution: true,
    ref: ([g, a], n, outer, dims) => poolgradRef(g!, a!, outer, dims, n.arg as number | number[]),
    tf: () => { throw new Error('internal: poolgrad appears only in gradients, which tfjs computes itself'); },
    print: { fn: 'poolgrad' },
  }),
  spatial('interior', 0, {
    level: (n) => (n.arg as number[])[1]!,
    ref: (_x, n, outer, dims) => { const [k, level] = n.arg as number[]; return interiorRef(outer, dims, k!, level); },
    tf: (t, _x, n, ctx) => {
      const dims = ctx.space.map((a) => ctx.size([a]));
      const [k, level] = n.arg as number[];
      return t.reshape(t.tensor(Float32Array.from(interiorRef(1, dims, k!, level))), ctx.shape(n.axes));
    },
    print: { fn: 'interior' },
    latex: () => '\\mathbb{1}_{\\mathrm{interior}}',
  }),
  spatial('avgpool2', 1, {
    level: (n) => (n.arg as number) + 1,
    ref: ([x], n, outer, dims) => avgpool2Ref(x!, outer, dims, n.arg as number),
    vjp: (g, out) => [B.unpool2(g, out.arg as number)],
    // Per axis: the level's lattice, SYMMETRIC pad of an odd extent, means of pairs, back on the full grid.
    tf: (t, [x], n, ctx) => {
      const q = 2 ** (n.arg as number);
      return ctx.space.reduce((v, a) => alongAxis(t, v, ctx.axis(a), (l) => {
        let img = lattice(t, l, q);
        const [pre, m, post] = img.shape;
        if (m % 2 === 1) img = t.concat([img, t.slice(img, [0, m - 1, 0], [pre, 1, post])], 1);
        const pooled = t.mean(t.reshape(img, [pre, (m + (m % 2)) / 2, 2, post]), 2) as TF.Tensor3D;
        return spread(t, pooled, 2 * q, l.shape[1]);
      }), x!);
    },
    print: { fn: 'avgpool2' },
    latex: ([x]) => `\\operatorname{avgpool}_2(${x})`,
    examples: [0, 1, 2],
  }),
  spatial('unpool2', 1, {
    level: (n) => n.arg as number,
    ref: ([g], n, outer, dims) => unpool2Ref(g!, outer, dims, n.arg as number),
    // The adjoint of the adjoint is avgpool2 itself.
    vjp: (g, out) => [B.avgpool2(g, out.arg as number, out.axes.filter((a) => a === 'z' || a === 'y' || a === 'x'))],
    // Per axis: the coarser lattice, each value twice (half each; the padded end's whole), on the level's lattice.
    tf: (t, [g], n, ctx) => {
      const level = n.arg as number;
      const q = 2 ** level;
      return ctx.space.reduce((v, a) => alongAxis(t, v, ctx.axis(a), (l) => {
        const ns = levelExtent(l.shape[1], level);
        const c = lattice(t, l, 2 * q);
        const [pre, m, post] = c.shape;
        const col = t.reshape(c, [pre, m, 1, post]);
        const twice = t.slice(t.reshape(t.concat([col, col], 2), [pre, 2 * m, post]), [0, 0, 0], [pre, ns, post]);
        const w = t.tensor3d(Float32Array.from({ length: ns }, (_, j) => (j === ns - 1 && ns % 2 === 1 ? 1 : 0.5)), [1, ns, 1]);
        return spread(t, t.mul(twice, w), q, l.shape[1]);
      }), g!);
    },
    print: { fn: 'unpool2' },
    latex: ([x]) => `\\operatorname{avgpool}_2^{\\top}(${x})`,
    examples: [0, 1, 2],
  }),
  spatial('edt', 1, {
    fullResolution: true,
    host: true,
    ref: ([m], _n, outer, dims) => edtRef(m!, outer, dims),
    // A distance map is a constant of the loss: no gradient flows through it.
    vjp: () => [undefined],
    tf: (t, xs, _n, ctx) => ctx.noGrad((x) => {
      const dims = ctx.space.map((a) => x!.shape[ctx.axis(a)]!);
      const outer = x!.size / dims.reduce((a, b) => a * b, 1);
      return t.reshape(t.tensor(Float32Array.from(edtRef(Float64Array.from(x!.dataSync()), outer, dims))), x!.shape);
    }, xs),
    print: { fn: 'edt' },
    latex: ([x]) => `\\operatorname{edt}(${x})`,
  }),
  spatial('sorted', 2, {
    fullResolution: true,
    host: true,
    // arg: the axes sorted over (space, or batch and space), flattened in canonical order.
    ref: ([x, k], n, outer, dims, batch) => sortedRef(x!, k!, sortSlices(outer, prod(dims), joined(n, batch))),
    // The permutation is a constant of the loss: the adjoint goes back through its inverse.
    vjp: (g, out) => [B.unsort(g, out.src[1]!, out.arg as Axes), undefined],
    tf: (t, [x, k], n, ctx) => {
      const [xs, back] = asRows(t, x!, ctx, n.arg as Axes);
      // The order is a constant: indices rebuilt from data, off tfjs's tape (its gather
      // gradient rejects int32 indices that lie on a path to the differentiated input).
      const [ks] = asRows(t, k!, ctx, n.arg as Axes);
      const { indices } = t.topk(ks, ks.shape[1]!, true);
      const order = t.tensor(Int32Array.from(indices.dataSync()), indices.shape, 'int32');
      return back(t.gather(xs, order, 1, 1));
    },
    print: { fn: 'sorted' },
    latex: ([x, k]) => `\\operatorname{sort}_{${k}\\downarrow}(${x})`,
  }),
  spatial('unsort', 2, {
    fullResolution: true,
    host: true,
    ref: ([x, k], n, outer, dims, batch) => unsortRef(x!, k!, sortSlices(outer, prod(dims), joined(n, batch))),
    vjp: (g, out) => [B.sorted(g, out.src[1]!, out.arg as Axes), undefined],
    tf: () => { throw new Error('internal: unsort appears only in gradients, which tfjs computes itself'); },
    print: { fn: 'unsort' },
  }),
  spatial('cumsum', 1, {
    fullResolution: true,
    host: true,
    ref: ([x], n, outer, dims, batch) => cumsumRef(x!, sortSlices(outer, prod(dims), joined(n, batch))),
    // The adjoint of an inclusive prefix sum is the suffix sum: Σ_{j≥i} g_j = Σ g − cumsum(g) + g (Σ, cumsum over the same axes).
    vjp: (g, out) => {
      const over = out.arg as Axes;
      return [B.add(B.sub(B.expand(B.sum(g, over), g.axes), B.cumsum(g, over)), g)];
    },
    tf: (t, [x], n, ctx) => { const [xs, back] = asRows(t, x!, ctx, n.arg as Axes); return back(t.cumsum(xs, 1)); },
    print: { fn: 'cumsum' },
    latex: ([x]) => `\\operatorname{cumsum}(${x})`,
  }),
);

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/**
 * A 3-D max pool whose window is 1 wide along some axis, as a 2-D max pool over the other two (that axis
 * moved next to the batch): tfjs 4.22's maxPool3d gradient is wrong for such windows ((1, 3, 1) sends the
 * adjoint to the wrong elements), its 2-D one is right.
 */
function maxPool3dAsImages(t: typeof TF, img: TF.Tensor5D, k: readonly number[]): TF.Tensor5D {
  const [n, D, H, W] = img.shape;
  const pool = (x: TF.Tensor4D, kk: number[]) => t.maxPool(x, kk as [number, number], 1, 'same');
  if (k[0] === 1) return t.reshape(pool(t.reshape(img, [n * D, H, W, 1]), [k[1]!, k[2]!]), img.shape);
  if (k[1] === 1 && k[2] === 1) return t.reshape(pool(t.reshape(img, [n, D, H * W, 1]), [k[0]!, 1]), img.shape);
  // (kd, kh, 1): W next to the batch; (kd, 1, kw): H next to the batch.
  const perm = k[2] === 1 ? [0, 3, 1, 2, 4] : [0, 2, 1, 3, 4];
  const moved = t.transpose(img, perm);
  const [, a, b, c] = moved.shape;
  const pooled = t.reshape(pool(t.reshape(moved, [n * a, b, c, 1]), [k[0]!, k[2] === 1 ? k[1]! : k[2]!]), moved.shape);
  return t.transpose(pooled, perm.map((_, i) => perm.indexOf(i))) as TF.Tensor5D;
}

/** f on x seen as [before, axis ax, after]; back at x's rank, axis ax as long as f made it. */
function alongAxis(t: typeof TF, x: TF.Tensor, ax: number, f: (x3: TF.Tensor3D) => TF.Tensor3D): TF.Tensor {
  const sh = x.shape;
  const y = f(t.reshape(x, [prod(sh.slice(0, ax)), sh[ax]!, prod(sh.slice(ax + 1))]));
  return t.reshape(y, [...sh.slice(0, ax), y.shape[1], ...sh.slice(ax + 1)]);
}

/** Every q-th element along the middle axis (a scale level's lattice): [a, n, b] → [a, ceil(n/q), b]. */
function lattice(t: typeof TF, x: TF.Tensor3D, q: number): TF.Tensor3D {
  if (q === 1) return x;
  const [a, n, b] = x.shape;
  const m = Math.ceil(n / q);
  const rows = t.reshape(t.pad(x, [[0, 0], [0, m * q - n], [0, 0]]), [a, m, q, b]);
  return t.reshape(t.slice(rows, [0, 0, 0, 0], [a, m, 1, b]), [a, m, b]);
}

/** The inverse placement: element k at k·q along the middle axis, zeros between, n long. */
function spread(t: typeof TF, y: TF.Tensor3D, q: number, n: number): TF.Tensor3D {
  const [a, m, b] = y.shape;
  const z = t.reshape(t.pad(t.reshape(y, [a, m, 1, b]), [[0, 0], [0, 0], [0, q - 1], [0, 0]]), [a, m * q, b]);
  return t.slice(z, [0, 0, 0], [a, n, b]) as TF.Tensor3D;
}

/** How many batch slices one sort, unsort or cumsum joins: the batch when it runs across it, else 1. */
const joined = (n: Node, batch: number) => ((n.arg as Axes).includes('batch') ? batch : 1);

/**
 * The evaluator's tensors as rows: one row per slice of the axes not in `over`, the axes `over` flattened
 * in canonical order (batch first), as sortSlices orders them.
 */
function asRows(t: typeof TF, x: TF.Tensor, ctx: TfContext, over: Axes): [TF.Tensor2D, (y: TF.Tensor) => TF.Tensor] {
  const inner = [...over].map((a) => ctx.axis(a)).sort((a, b) => a - b);
  const perm = [...x.shape.keys()].filter((i) => !inner.includes(i)).concat(inner);
  const n = inner.reduce((a, i) => a * x.shape[i]!, 1);
  const moved = t.transpose(x, perm);
  const inv = perm.map((_, i) => perm.indexOf(i));
  return [t.reshape(moved, [x.size / n, n]), (y) => t.transpose(t.reshape(y, moved.shape), inv)];
}

export const REGISTRY: ReadonlyMap<Op, OpRecord> = new Map(RECORDS.map((r) => [r.op, r]));

export function record(op: Op): OpRecord {
  const r = REGISTRY.get(op);
  if (!r) throw new Error(`internal: no registry record for op '${op}'`);
  return r;
}
