// The language's builtin functions: each DSL name, its arity and what it lowers
// to in IR (core/build.ts's constructors). Spatial builtins check their constant
// arguments here (window widths, kernels, scale levels: E221, E222); sum and mean
// go through the knobs' weights (knobs.ts), via the lowerer.

import type * as A from '../front/ast.ts';
import * as B from '../core/build.ts';
import { type Axes, type Axis, type Node, type Op, constOf, isSpatial, sortAxes, unionAxes } from '../core/ir.ts';
import { boxWeights, gaussianWeights } from '../core/ops/f64-loops.ts';
import { shift } from '../core/ops/stencil.ts';
import { type LowerContext, type Value, spaceOf } from './context.ts';

export interface Builtin {
  /** Accepted positional argument counts. */
  arity: readonly number[];
  reduction?: boolean;
  /** Runs along spatial axes (pools, sorts): its `[axes]`, resolved, come to `lower`, which checks them. */
  alongSpace?: boolean;
  /** An axis its first argument must have (softmax runs over class). */
  needs?: Axis;
  lower(args: Node[], axes: Axes | undefined, call: A.Call): Value;
}

/**
 * The widest window or pool: 255 taps per axis. The library's widest is 11 (SSIM); a window wider than the
 * image reads mostly padding, and every backend's cost grows with the width (the reference's with its square).
 */
export const MAX_WIDTH = 255;

const LOG2 = Math.LN2;
const unary = (op: Op): Builtin => ({ arity: [1], lower: ([x]) => B.un(op, x!) });
const softplus = (x: Node) => B.un('softplus', x);
const absx = (x: Node) => B.un('abs', x);

/** x minus its (gradient-free) max over `class`: softmax's shift, exact and without overflow. */
export function shifted(x: Node): Node {
  return B.sub(x, B.un('detach', B.rmax(x, ['class'])));
}

/** softmax over `class` (the builtin, and the activation of a prob input holding logits). */
export function softmax(x: Node): Node {
  const e = B.un('exp', shifted(x));
  return B.div(e, B.sum(e, ['class']));
}

/** The builtins of one lowering: their checks report through `cx`. */
export function makeBuiltins(cx: LowerContext): Map<string, Builtin> {
  const space = () => spaceOf(cx.opts.dims);
  /** One cause (region global), many sorts: E222 about a sort over class is said once. */
  let sortOverClass = false;

  /** A window width argument: a constant odd integer from 1 to MAX_WIDTH (E221 otherwise). */
  const width = (k: Node, call: A.Call, i: number): number | undefined => {
    const v = constOf(k);
    if (v === undefined || !Number.isInteger(v) || v < 1 || v % 2 === 0 || v > MAX_WIDTH) {
      return cx.err('E221', (call.args[i] ?? call).span, { name: call.callee, what: 'a window width', want: `a constant odd integer from 1 to ${MAX_WIDTH}` });
    }
    return v;
  };

  /**
   * maxpool/minpool[axes](x, k): the window k wide along `axes` (spatial only; all by default), 1 along the
   * others. With cross(k) for k: the max (min) of the k-wide pools along each axis in turn, z, y, x, as the
   * clDice authors' soft_erode takes the torch.min of its axis-wise pools. minpool(e) = −maxpool(−e).
   */
  const pool = (x: Node, k: Node, axes: Axes | undefined, call: A.Call, min: boolean): Value => {
    const along = axes ?? space();
    if (!along.every(isSpatial)) {
      return cx.err('E222', call.span, { name: call.callee, want: 'spatial axes', axes: along.join(', '), hint: `name the spatial axes its window spans (${call.callee}[y](e, 3) pools along y), or leave the axes out for all of them` });
    }
    const arg = call.args[1]!;
    const cross = arg.kind === 'call' && arg.callee === 'cross';
    if (cross && arg.args.length !== 1) return cx.err('E203', arg.span, { name: 'cross', expected: '1 argument', got: arg.args.length });
    const kv = cross ? cx.lowerExpr(arg.args[0]!, cx.callScope) : k;
    const w = kv && (cross ? width(kv, arg, 0) : width(kv, call, 1));
    if (w === undefined) return undefined;
    const one = (a: Axes) => (min ? B.neg(B.maxpool(B.neg(x), w, space(), a)) : B.maxpool(x, w, space(), a));
    return (cross ? along.map((a) => [a]) : [along]).map(one).reduce((a, b) => B.bin(min ? 'minimum' : 'maximum', a, b));
  };

  /** The axes a sort or prefix sum runs along: space (the default), or batch and space (one sort across the batch). */
  const sortOver = (axes: Axes | undefined, call: A.Call, f: (over: Axes) => Node): Value => {
    const over = axes ?? space();
    const sp = space().join();
    if (over.join() !== sp && over.join() !== `batch,${sp}`) {
      const mixes = over.includes('class');
      if (mixes && sortOverClass) return undefined;
      sortOverClass ||= mixes;
      const hint = mixes
        ? 'it runs per class: a sort over class would mix the classes (a Lovász loss sorts each class apart); region batch sorts each class across the batch'
        : `write ${call.callee}[space](...) (per sample), ${call.callee}[batch, space](...) (across the batch), or leave the axes out`;
      return cx.err('E222', call.span, { name: call.callee, want: 'every spatial axis, or batch and every spatial axis', axes: over.join(', '), hint });
    }
    return f(over);
  };

  /** window(e, gaussian(size, sigma)) or window(e, box(size)): the kernel is a constant. */
  const windowOf = (x: Node, call: A.Call): Value => {
    const k = call.args[1]!;
    if (k.kind !== 'call' || (k.callee !== 'gaussian' && k.callee !== 'box')) {
      return cx.err('E221', k.span, { name: 'window', what: 'its kernel', want: 'gaussian(size, sigma) or box(size)' });
    }
    const want = k.callee === 'gaussian' ? 2 : 1;
    if (k.args.length !== want) return cx.err('E203', k.span, { name: k.callee, expected: `${want} argument${want === 1 ? '' : 's'}`, got: k.args.length });
    // Its size and sigma may be parameters (constants when the loss is compiled).
    const vals = k.args.map((a) => cx.lowerExpr(a, cx.callScope));
    if (vals.some((v) => !v)) return undefined;
    const size = width(vals[0]!, k, 0);
    if (size === undefined) return undefined;
    // At scale level s the taps are 2^s apart: the window of the level's image.
    const dilation = 2 ** (cx.levelOf(x) ?? 0);
    if (k.callee === 'box') return B.window(x, boxWeights(size), space(), dilation);
    const sigma = constOf(vals[1]!);
    const weights = sigma === undefined || !(sigma > 0) ? undefined : gaussianWeights(size, sigma);
    if (!weights?.every(Number.isFinite)) return cx.err('E221', k.args[1]!.span, { name: 'gaussian', what: 'sigma', want: 'a positive constant' });
    return B.window(x, weights, space(), dilation);
  };

  /** An optional scale level argument: a constant integer ≥ 0 (E221 otherwise). */
  const withLevel = (l: Node | undefined, call: A.Call, f: (level: number) => Node): Value => {
    const v = l === undefined ? 0 : constOf(l);
    if (v === undefined || !Number.isInteger(v) || v < 0) {
      return cx.err('E221', (call.args[1] ?? call).span, { name: call.callee, what: 'the scale level', want: 'a constant integer ≥ 0' });
    }
    return f(v);
  };

  const atClass = (x: Node, k: Node, call: A.Call): Value => {
    const v = constOf(k);
    if (v === undefined || !Number.isInteger(v) || v < 0) return cx.err('E221', call.args[1]!.span, { name: 'at', what: 'the class', want: 'a constant class number (0, 1, ...)' });
    if (!x.axes.includes('class')) return cx.err('E301', call.span, { op: 'at', axes: 'class', missing: 'class', have: x.axes.join(', '), hint: '' });
    return B.sum(B.mul(x, B.bin('eq', B.classIndex(), B.K(v))), ['class']);
  };

  return new Map<string, Builtin>([
    ['exp', unary('exp')], ['log', unary('log')], ['log1p', unary('log1p')], ['sqrt', unary('sqrt')],
    ['abs', unary('abs')], ['sign', unary('sign')], ['sigmoid', unary('sigmoid')], ['softplus', unary('softplus')],
    ['tanh', unary('tanh')], ['detach', unary('detach')],
    // log σ(x) = −softplus(−x), stable for every x.
    ['logsigmoid', { arity: [1], lower: ([x]) => B.neg(softplus(B.neg(x!))) }],
    // cosh x = (eˣ + e⁻ˣ)/2
    ['cosh', { arity: [1], lower: ([x]) => B.div(B.add(B.un('exp', x!), B.un('exp', B.neg(x!))), B.K(2)) }],
    // log cosh x = |x| + log(1 + e^(−2|x|)) − log 2, with no overflow.
    ['logcosh', { arity: [1], lower: ([x]) => B.sub(B.add(absx(x!), softplus(B.mul(B.K(-2), absx(x!)))), B.K(LOG2)) }],
    // relu(x) = max(0, x): gradient 0 at x = 0, as tf.relu.
    ['relu', { arity: [1], lower: ([x]) => B.bin('maximum', B.ZERO, x!) }],
    ['pow', { arity: [2], lower: ([a, b]) => B.bin('pow', a!, b!) }],
    ['clip', { arity: [3], lower: ([x, lo, hi]) => B.bin('minimum', B.bin('maximum', x!, lo!), hi!) }],
    ['where', { arity: [3], lower: ([c, a, b]) => B.where(c!, a!, b!) }],
    // The number of classes (channels), known when the loss runs: 1 for a binary prediction.
    ['classes', { arity: [0], lower: () => B.size(['class']) }],
    // The class index c (0, 1, …) along `class`.
    ['classindex', { arity: [0], lower: () => B.classIndex() }],
    ['sum', { arity: [1], reduction: true, lower: ([x], axes) => cx.reduce(x!, axes ?? x!.axes, false) }],
    ['mean', { arity: [1], reduction: true, lower: ([x], axes) => cx.reduce(x!, axes ?? x!.axes, true) }],
    // max(e) reduces; max(a, b) is elementwise.
    ['max', { arity: [1, 2], reduction: true, lower: ([a, b], axes) => (b ? B.bin('maximum', a!, b) : B.rmax(a!, axes ?? a!.axes)) }],
    // min over axes = −max(−e)
    ['min', { arity: [1, 2], reduction: true, lower: ([a, b], axes) => (b ? B.bin('minimum', a!, b) : B.neg(B.rmax(B.neg(a!), axes ?? a!.axes))) }],
    // softmax over `class`, shifted by the (gradient-free) max: exact, and no overflow.
    ['softmax', { arity: [1], needs: 'class', lower: ([x]) => softmax(x!) }],
    // e at class k (a constant): the class axis removed. With a one-hot g, sum[class](g * e) gathers e by label.
    ['at', { arity: [2], lower: ([x, k], _a, call) => atClass(x!, k!, call) }],
    // Per pixel, the Wasserstein distance between p and the label distribution g over the class distances M (knob class_distances).
    ['wasserstein', { arity: [2], lower: ([p, g]) => cx.wasserstein(p!, g!) }],
    ['logsoftmax', { arity: [1], needs: 'class', lower: ([x]) => { const s = shifted(x!); return B.sub(s, B.un('log', B.sum(B.un('exp', s), ['class']))); } }],
    // Spatial ops over every spatial axis (y, x, and z in 3-D), stride 1, same size.
    ['window', { arity: [2], lower: ([x], _axes, call) => windowOf(x!, call) }],
    // maxpool[axes](e, k): over the window k wide along the spatial axes named (all by default: a cube), 1 along
    // the others; maxpool[axes](e, cross(k)): over the cross, the max of the k-wide pools along each axis named.
    ['maxpool', { arity: [2], alongSpace: true, lower: ([x, k], axes, call) => pool(x!, k!, axes, call, false) }],
    // minpool(e) = −maxpool(−e)
    ['minpool', { arity: [2], alongSpace: true, lower: ([x, k], axes, call) => pool(x!, k!, axes, call, true) }],
    // interior(k, s): the valid positions of a k-wide window at scale level s (a constant, default 0).
    ['interior', { arity: [1, 2], lower: ([k, l], _a, call) => { const w = width(k!, call, 0); return w === undefined ? undefined : withLevel(l, call, (s) => B.interior(w, space(), s)); } }],
    // 2x average pooling: one scale level down (tf.image.ssim_multiscale's downsampling).
    ['avgpool2', { arity: [1], lower: ([x]) => B.avgpool2(x!, cx.levelOf(x!) ?? 0, space()) }],
    // shift[axis](e, k): e at c + k along one spatial axis, 0 outside the image (a finite difference is
    // shift[x](e, 1) - e). k a constant integer, |k| ≤ MAX_WIDTH; e broadcast over space first.
    ['shift', { arity: [2], alongSpace: true, lower: ([x, k], axes, call) => {
      if (axes?.length !== 1 || !space().includes(axes[0]!)) {
        return cx.err('E222', call.span, { name: 'shift', want: 'one spatial axis', axes: (axes ?? space()).join(', '), hint: 'name the axis it shifts along: shift[x](e, 1) is e one step along x' });
      }
      const v = constOf(k!);
      if (v === undefined || !Number.isInteger(v) || Math.abs(v) > MAX_WIDTH) {
        return cx.err('E221', (call.args[1] ?? call).span, { name: 'shift', what: 'its offset', want: `a constant integer from -${MAX_WIDTH} to ${MAX_WIDTH}` });
      }
      const s = B.expand(x!, unionAxes(x!.axes, space()));
      return v === 0 ? s : shift(s, axes[0]!, v);
    } }],
    ['edt', { arity: [1], lower: ([m]) => B.edt(m!, space()) }],
    // The signed distance of the mask m > 0.5 (Kervadec's one_hot2dist): the distance to it outside, minus the
    // distance to its outside plus 1 inside (0 on its inner boundary); 0 for an empty or a full mask. No gradient.
    ['sdt', { arity: [1], lower: ([m]) => {
      // Over every spatial axis, as edt: a value constant over space is broadcast first.
      const fg = B.expand(B.bin('gt', m!, B.K(0.5)), sortAxes([...m!.axes, ...space()]));
      const bg = B.sub(B.ONE, fg);
      const full = B.neg(B.rmax(B.neg(fg), space()));
      const inside = B.mul(B.sub(B.edt(fg, space()), B.ONE), fg);
      return B.mul(B.sub(B.mul(B.edt(bg, space()), bg), inside), B.sub(B.ONE, full));
    } }],
    // Along the flattened spatial axes (and the batch's, with [batch, space]), per slice of the others: a stable
    // descending sort by a key, and prefix sums.
    ['sorted', { arity: [2], alongSpace: true, lower: ([x, by], axes, call) => sortOver(axes, call, (over) => B.sorted(x!, by!, over)) }],
    ['cumsum', { arity: [1], alongSpace: true, lower: ([x], axes, call) => sortOver(axes, call, (over) => B.cumsum(x!, over)) }],
  ]);
}
