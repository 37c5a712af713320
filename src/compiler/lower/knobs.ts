// The knobs every loss accepts, applied the same way everywhere (LOSSES.md,
// "Conventions"). They arrive with the parameters (`--param k=v`,
// `load(name, params)`) and are split off here (splitParams); below, how they
// act on the formula (KnobWeights: weights on every reduction; FinalTracer:
// reduction = sum | none), which the lowerer calls. A new knob: its name in
// front/knob-names.ts, its parsing and its action here, a row in the README.
//
// - activation: none | sigmoid | softmax (the prediction holds logits).
// - region: sample | batch | global (what `region` binds to).
// - include_background (true): false drops class 0 from every reduction over
//   `class`, and from the count of a mean over it (ignored with a single channel, as MONAI).
// - class_weights (w_0, …, w_{C−1}): every reduction over `class` weighs class c
//   by w_c; a mean over `class` multiplies, then divides by the class count
//   (MONAI's `weight`).
// - mask (false) / ignore_index: the loss takes one more input, `mask`, per
//   pixel (batch and space; 0 = ignored): every reduction over spatial axes sums
//   mask·e, and a mean divides by the mask's sum (numerator and denominator
//   both masked). `ignore_index = k` implies mask; `segloss eval` and
//   `oneHot(labels, …, ignoreIndex)` (io.ts) build it from a label map.
// - class_distances (every two classes at distance 1): the matrix M of
//   `wasserstein(p, g)` (generalized Wasserstein Dice), normalized by its max as MONAI.
// - label_smoothing (0): each `target` input g becomes g·(1−ε) + ε/K before the
//   formula reads it (KnobWeights.smoothTargets); K = 2 with activation = sigmoid,
//   the class count C with softmax, and without an activation C, or 2 on a single
//   channel (a binary target). A loss that declares its own `label_smoothing`
//   parameter (bce, ce, dice_ce) takes the value as that parameter (toOwnParameter):
//   its formula places the smoothing (dice_ce: in its CE term only, as MONAI).
// - reduction (mean): the loss's final reductions (the mean whose value is the
//   loss, through sums and constant multiples of losses) become sums (`sum`) or
//   are dropped (`none`: per-sample, per-class values; one final reduction only).

import type * as A from '../front/ast.ts';
import * as B from '../core/build.ts';
import { type Axes, type Node, constOf, isSpatial, minusAxes, sortAxes, toposort } from '../core/ir.ts';
import type { Dims } from '../core/layout.ts';
import { representable } from '../core/numbers.ts';
import { simplify } from '../passes/simplify.ts';

/** What a region-reduction (`sum over region`) sums over, besides space: the sample, the batch, or everything. */
export type Region = 'sample' | 'batch' | 'global';
/** What the prediction is given as: probabilities, or logits through this activation (the exact log-space path). */
export type Activation = 'none' | 'sigmoid' | 'softmax';
export type ParamValue = number | string | boolean | readonly number[] | readonly (readonly number[])[];
export type Params = Readonly<Record<string, ParamValue>>;
export type Reduction = 'mean' | 'sum' | 'none';

export interface Knobs {
  activation?: Activation;
  region?: Region;
  includeBackground: boolean;
  classWeights?: readonly number[];
  mask: boolean;
  ignoreIndex?: number;
  reduction: Reduction;
  /** The class distance matrix M (K×K) of `wasserstein(p, g)`; absent: every two classes at distance 1. */
  classDistances?: readonly (readonly number[])[];
  /** ε of label smoothing, in [0, 1): each target g becomes g·(1−ε) + ε/K. */
  labelSmoothing?: number;
}

export { KNOB_NAMES, type KnobName } from '../front/knob-names.ts';

export const DEFAULT_KNOBS: Knobs = { includeBackground: true, mask: false, reduction: 'mean' };

function bool(v: ParamValue): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === '1' || v === 'true' || v === 'yes') return true;
  if (v === 0 || v === '0' || v === 'false' || v === 'no') return false;
  return undefined;
}

function numbers(v: ParamValue): number[] | undefined {
  const xs = typeof v === 'string' ? v.split(',').map((s) => (s.trim() === '' ? NaN : Number(s))) : typeof v === 'number' ? [v] : Array.isArray(v) && v.every((x) => typeof x === 'number') ? [...(v as number[])] : undefined;
  // Kernels hold them as float32 literals: finite, within float32's range (a weight of 1e308 is infinity there).
  return xs && xs.length > 0 && xs.every((x) => typeof x === 'number' && representable(x) && x >= 0) ? xs : undefined;
}

/** A number parameter from a CLI string or a number. */
export function numberParam(v: ParamValue): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

export interface Split {
  /** The loss's own parameters (numbers; a non-number value is an error below). */
  params: Record<string, number>;
  knobs: Knobs;
  /** One message per bad knob or non-numeric parameter: `name`, what it wants, what it got. */
  errors: { name: string; want: string; got: string }[];
}

/** Separate the knobs from the loss's own parameters and check their values. */
export function splitParams(all: Params): Split {
  // Null-prototype: a parameter may be called constructor or __proto__.
  const params: Record<string, number> = Object.create(null);
  const knobs: Knobs = { ...DEFAULT_KNOBS };
  const errors: Split['errors'] = [];
  const bad = (name: string, want: string, v: ParamValue) => errors.push({ name, want, got: String(v) });
  for (const [k, v] of Object.entries(all)) {
    switch (k) {
      case 'activation':
        if (v === 'none' || v === 'sigmoid' || v === 'softmax') knobs.activation = v;
        else bad(k, 'none, sigmoid or softmax', v);
        break;
      case 'region':
        if (v === 'sample' || v === 'batch' || v === 'global') knobs.region = v;
        else bad(k, 'sample, batch or global', v);
        break;
      case 'include_background': {
        const b = bool(v);
        if (b === undefined) bad(k, 'true or false', v);
        else knobs.includeBackground = b;
        break;
      }
      case 'class_weights': {
        const xs = numbers(v);
        if (!xs) bad(k, 'non-negative float32 numbers (at most 3.4e38), one per class (1,2,0.5)', v);
        else knobs.classWeights = xs;
        break;
      }
      case 'mask': {
        const b = bool(v);
        if (b === undefined) bad(k, 'true or false', v);
        else knobs.mask = knobs.mask || b;
        break;
      }
      case 'ignore_index': {
        const n = numberParam(v);
        // Labels are compared in float32, exact for integers up to 2^24.
        if (n === undefined || !Number.isInteger(n) || Math.abs(n) > 2 ** 24) bad(k, 'an integer label (at most 2^24 in size)', v);
        else { knobs.ignoreIndex = n; knobs.mask = true; }
        break;
      }
      case 'class_distances': {
        // Rows separated by ';' on the command line (0,1;1,0), or an array of rows.
        const rows = typeof v === 'string' ? v.split(';').map((r) => numbers(r)) : Array.isArray(v) ? v.map((r) => (Array.isArray(r) ? numbers(r as number[]) : undefined)) : [];
        const k = rows.length;
        const ok = k >= 2 && rows.every((r) => r && r.length === k) && rows.every((r, i) => r![i] === 0) && rows.some((r) => r!.some((x) => x > 0));
        if (!ok) bad('class_distances', 'a square matrix of non-negative distances with a zero diagonal, rows separated by ; (0,1,1;1,0,0.5;1,0.5,0)', Array.isArray(v) ? JSON.stringify(v) : v);
        else knobs.classDistances = rows as number[][];
        break;
      }
      case 'label_smoothing': {
        const n = numberParam(v);
        if (n === undefined || n < 0 || n >= 1) bad(k, 'a number in [0, 1) (0.1)', v);
        else knobs.labelSmoothing = n;
        break;
      }
      case 'reduction':
        if (v === 'mean' || v === 'sum' || v === 'none') knobs.reduction = v;
        else bad(k, 'mean, sum or none', v);
        break;
      default: {
        // Any number passes here (the lowerer reports a non-finite one at the parameter); text must read as one.
        const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
        if (Number.isNaN(n)) bad(k, 'a finite number', v);
        else params[k] = n;
      }
    }
  }
  return { params, knobs, errors };
}

// ---- Application: the knobs on the formula's reductions (the lowerer calls these) ----

/** A lowered value; undefined after a reported mistake. */
type Value = Node | undefined;
type Scope = Map<string, Value>;

/**
 * A knob the loss also declares as its own parameter goes to that parameter, and
 * the knob does not act: bce's, ce's and dice_ce's `label_smoothing` (their formulas
 * place the smoothing; dice_ce's Dice term reads the target unsmoothed, as MONAI's DiceCELoss).
 */
export function toOwnParameter(knobs: Knobs, params: Record<string, number>, declared: readonly string[]): void {
  if (knobs.labelSmoothing !== undefined && declared.includes('label_smoothing')) {
    params['label_smoothing'] = knobs.labelSmoothing;
    delete knobs.labelSmoothing;
  }
}

/**
 * The knobs' weights, built when the loss's inputs are bound: the ignore mask
 * input, the class weights and the background mask; and what the formula did
 * that they act on (E229 when a knob set has nothing to act on).
 */
export class KnobWeights {
  /** The extra `mask` input (mask or ignore_index set). */
  readonly maskInput: { name: string; role: 'weight'; node: Node } | undefined;
  /** Per-pixel weight (the ignore mask, axes batch and space) every spatial reduction applies. */
  private readonly pixelMask: Node | undefined;
  /** Per-class weight (class weights times the background mask) every reduction over class applies, and the mask alone (for counts). */
  private readonly classWeight: Node | undefined;
  private readonly classMask: Node | undefined;
  /** Whether the formula reduces over `class`, over space, and calls wasserstein: the knobs that act there apply only then. */
  reducedClass = false;
  reducedSpace = false;
  usedDistances = false;
  /** Whether the loss has a `target` input, which label_smoothing smooths. */
  hasTarget = false;

  constructor(readonly knobs: Knobs, private readonly dims: Dims, private readonly levelOf: (n: Node) => number | undefined) {
    const k = knobs;
    if (k.mask) {
      const node = B.input('mask', ['batch', 'class', ...this.space()]);
      this.maskInput = { name: 'mask', role: 'weight', node };
      // The runtime repeats a per-pixel mask along class; its mean over class is the mask itself.
      this.pixelMask = B.mean(node, ['class']);
    }
    const c = B.classIndex();
    // As MONAI: with a single channel there is no background to leave out, and the knob is ignored.
    if (!k.includeBackground) this.classMask = B.bin('maximum', B.bin('gt', c, B.ZERO), B.bin('eq', B.size(['class']), B.ONE));
    if (k.classWeights) {
      const ws = k.classWeights;
      // w_c by the class index; the runtime checks there are as many weights as classes.
      let w: Node = B.K(ws[ws.length - 1]!);
      for (let i = ws.length - 2; i >= 0; i--) w = B.where(B.bin('eq', c, B.K(i)), B.K(ws[i]!), w);
      this.classWeight = this.classMask ? B.mul(this.classMask, w) : w;
    } else {
      this.classWeight = this.classMask;
    }
  }

  /**
   * label_smoothing: each `target` input in `scope` becomes g·(1−ε) + ε/K before the formula reads it.
   * K = 2 under sigmoid (tf.losses.sigmoidCrossEntropy, Keras's BinaryCrossentropy), C under softmax
   * (softmaxCrossEntropy, torch's CrossEntropyLoss), and without an activation C, or 2 on one channel.
   */
  smoothTargets(scope: Map<string, Node | undefined>, inputs: readonly { name: string; role: string }[], activation: Activation): void {
    const eps = this.knobs.labelSmoothing;
    for (const i of inputs) {
      if (i.role !== 'target') continue;
      this.hasTarget = true;
      const g = scope.get(i.name);
      if (eps === undefined || eps === 0 || !g) continue;
      const c = B.size(['class']);
      const k = activation === 'sigmoid' ? B.K(2) : activation === 'softmax' ? c : B.where(B.bin('eq', c, B.ONE), B.K(2), c);
      scope.set(i.name, B.add(B.mul(g, B.K(1 - eps)), B.div(B.K(eps), k)));
    }
  }

  private space(): Axes {
    return this.dims === 3 ? ['z', 'y', 'x'] : ['y', 'x'];
  }

  /**
   * A `sum` or `mean` of the formula, with the knobs' weights: over spatial axes
   * the ignore mask m, over `class` the class weight w (and background mask M).
   * sum[A](e) = Σ_A W·e; mean[A](e) = Σ_A W·e / Σ_A Q, Q = m and M where they apply
   * (the count of what is not ignored; 1 when nothing is left, as 0/1 = 0).
   */
  reduce(x: Node, axes: Axes, mean: boolean): Node {
    this.noteReduced(axes);
    const space = axes.some((a) => a === 'y' || a === 'x' || a === 'z') ? this.maskAt(this.levelOf(x) ?? 0) : undefined;
    const cls = axes.includes('class') ? this.classWeight : undefined;
    const w = space && cls ? B.mul(space, cls) : space ?? cls;
    if (!w) return mean ? B.mean(x, axes) : B.sum(x, axes);
    const num = B.sum(B.mul(w, x), axes);
    if (!mean) return num;
    const q = [space, axes.includes('class') ? this.classMask : undefined].filter((n): n is Node => n !== undefined).reduce<Node | undefined>((a, b) => (a ? B.mul(a, b) : b), undefined);
    if (!q) return B.div(num, B.size(axes));
    const cnt = B.sum(B.expand(q, sortAxes([...new Set([...q.axes, ...axes])])), axes);
    return B.div(num, B.where(B.bin('gt', cnt, B.ZERO), cnt, B.ONE));
  }

  /** A final reduction under reduction = sum (a weighted sum) or none (the values a mean would weigh, with their class weights). */
  final(x: Node, axes: Axes): Node {
    if (this.knobs.reduction !== 'none') return this.reduce(x, axes, false);
    this.noteReduced(axes);
    const w = axes.includes('class') ? this.classWeight : undefined;
    return w ? B.mul(w, x) : x;
  }

  private noteReduced(axes: Axes): void {
    if (axes.includes('class')) this.reducedClass = true;
    if (axes.some(isSpatial)) this.reducedSpace = true;
  }

  /** The ignore mask at scale level s: pooled like the values (the kept fraction of each block). */
  private maskAt(level: number): Node | undefined {
    let m = this.pixelMask;
    for (let l = 0; m && l < level; l++) m = B.avgpool2(m, l, this.space());
    return m;
  }

  /**
   * W(p, g) = Σ_l g_l Σ_c M_lc p_c (Fidon 2017, eq. 6, for a label distribution
   * g). Without a matrix every two classes are at distance 1 (M = 1 − I), and
   * W = Σ_l g_l · Σ_c p_c − Σ_c g_c p_c. A matrix is divided by its max (MONAI).
   */
  wasserstein(p: Node, g: Node): Node {
    const m = this.knobs.classDistances;
    const classes = (x: Node) => (x.axes.includes('class') ? x : B.expand(x, [...x.axes, 'class']));
    const [pc, gc] = [classes(p), classes(g)];
    if (!m) return B.sub(B.mul(B.sum(gc, ['class']), B.sum(pc, ['class'])), B.sum(B.mul(gc, pc), ['class']));
    this.usedDistances = true;
    const top = Math.max(...m.flat());
    const c = B.classIndex();
    // h_l = Σ_c M_lc p_c per pixel; W = Σ_l g_l h_l.
    let w: Node | undefined;
    m.forEach((row, l) => {
      let ml: Node = B.K(row[row.length - 1]! / top);
      for (let i = row.length - 2; i >= 0; i--) ml = B.where(B.bin('eq', c, B.K(i)), B.K(row[i]! / top), ml);
      const h = B.sum(B.mul(pc, ml), ['class']);
      const gl = B.sum(B.mul(gc, B.bin('eq', c, B.K(l))), ['class']);
      const t = B.mul(gl, h);
      w = w ? B.add(w, t) : t;
    });
    return w!;
  }

  /**
   * A knob that was set (`set`: the knobs the caller named) but has nothing to act on in this formula (E229's
   * arguments), or undefined. `region`: what region binds to; `usedRegion`: whether the formula names it.
   */
  unused(loss: string, set: ReadonlySet<string>, region: Region, usedRegion: boolean): Record<string, string> | undefined {
    const k = this.knobs;
    if ((set.has('region') || region !== 'sample') && !usedRegion) return { name: 'region', loss, why: "its formula never reduces over `region` (its reductions name their axes, or take all of them)" };
    if ((set.has('class_weights') || (set.has('include_background') && !k.includeBackground)) && !this.reducedClass) {
      return { name: set.has('class_weights') ? 'class_weights' : 'include_background', loss, why: 'its formula never sums or averages over `class`, where class weights and the background exclusion act' };
    }
    if (set.has('label_smoothing') && k.labelSmoothing !== undefined && !this.hasTarget) return { name: 'label_smoothing', loss, why: 'it has no `target` input to smooth' };
    if (k.mask && !this.reducedSpace) return { name: k.ignoreIndex !== undefined ? 'ignore_index' : 'mask', loss, why: 'its formula never sums or averages over space, where the mask acts' };
    return undefined;
  }
}

/** What tracing the final reductions asks of the lowerer. */
export interface FinalLowering {
  lowerExpr(e: A.Expr, scope: Scope): Value;
  resolveAxes(refs: A.AxisRef[]): Axes | undefined;
  /** The def (or used loss) a call names, when it is not a builtin. */
  defOf(name: string): A.DefDecl | A.LossDecl | undefined;
  /** Inline a def whose result is traced as final too. */
  inlineFinal(def: A.DefDecl | A.LossDecl, call: A.Call, args: Value[], scope: Scope): Value;
  /** Throws when the formula has grown too large (E232 at `span`). */
  budget(span: A.Span): void;
}

/** A binding the result of a final body may use (combo's wce = −mean(…)), with the scope it is lowered in. */
interface FinalBinding { expr: A.Expr; scope: Scope }

/**
 * The loss's result under reduction = sum | none: its final reductions (a
 * `mean`/`sum` call, reached through + and −, constant factors, and the
 * results of called losses and defs) become sums, or their arguments.
 */
export class FinalTracer {
  /** How many final reductions were lowered (the loss's value comes from them). */
  finals = 0;
  /** Terms of a final result that depend on the inputs but hold no final reduction (E226 under sum and none). */
  opaque = 0;
  private bindings = new Map<string, FinalBinding>();
  private readonly memo = new Map<FinalBinding, Value>();

  constructor(private readonly lx: FinalLowering, private readonly weights: KnobWeights) {}

  /** `f` with the bindings of the body whose result it traces. */
  within<T>(bindings: Map<string, FinalBinding>, f: () => T): T {
    const saved = this.bindings;
    this.bindings = bindings;
    try { return f(); } finally { this.bindings = saved; }
  }

  lower(e: A.Expr, scope: Scope): Value {
    const lx = this.lx;
    lx.budget(e.span);
    if (e.kind === 'binary' && (e.op === '+' || e.op === '-')) {
      // The left spine of a + / − chain, with a loop.
      const spine: A.Binary[] = [];
      let lhs: A.Expr = e;
      while (lhs.kind === 'binary' && (lhs.op === '+' || lhs.op === '-')) { spine.push(lhs); lhs = lhs.lhs; }
      let acc = this.lower(lhs, scope);
      for (let i = spine.length - 1; i >= 0; i--) {
        const b = this.lower(spine[i]!.rhs, scope);
        acc = acc && b && B.bin(spine[i]!.op === '+' ? 'add' : 'sub', acc, b);
      }
      return acc;
    }
    if (e.kind === 'neg') { const x = this.lower(e.arg, scope); return x && B.neg(x); }
    if (e.kind === 'binary' && (e.op === '*' || e.op === '/')) {
      // A constant factor (a parameter, a number) keeps the other side final. Each side is lowered as a value
      // at most once: the constant one to test it, the other only when it is no final (a constant times 0).
      const lv = e.op === '*' ? lx.lowerExpr(e.lhs, scope) : undefined;
      const lc = inputFree(lv);
      const rv = lc ? undefined : lx.lowerExpr(e.rhs, scope);
      if (lc || inputFree(rv)) {
        const k = (lc ? lv : rv)!;
        // A term times a constant 0 (a parameter that switches a form off) is no final reduction and not opaque.
        if (e.op === '*' && constOf(simplify([k])[0]!) === 0) return B.mul(k, (lc ? lx.lowerExpr(e.rhs, scope) : lv) ?? k);
        const a = lc ? lv : this.lower(e.lhs, scope);
        const b = lc ? this.lower(e.rhs, scope) : rv;
        return a && b && B.bin(e.op === '*' ? 'mul' : 'div', a, b);
      }
    }
    const b = e.kind === 'name' ? this.bindings.get(e.name) : undefined;
    if (b) {
      // Once per binding: a chain of bindings that each use the previous one twice stays linear.
      if (!this.memo.has(b)) this.memo.set(b, this.lower(b.expr, b.scope));
      return this.memo.get(b);
    }
    if (e.kind === 'call' && (e.callee === 'mean' || e.callee === 'sum') && e.args.length === 1 && !lx.defOf(e.callee)) {
      const x = lx.lowerExpr(e.args[0]!, scope);
      const axes = e.axes ? lx.resolveAxes(e.axes) : x?.axes;
      if (!x || !axes) return lx.lowerExpr(e, scope);
      const missing = minusAxes(axes, x.axes);
      if (missing.length) return lx.lowerExpr(e, scope);
      this.finals++;
      return this.weights.final(x, axes);
    }
    const def = e.kind === 'call' ? lx.defOf(e.callee) : undefined;
    if (e.kind === 'call' && def) return lx.inlineFinal(def, e, e.args.map((a) => lx.lowerExpr(a, scope)), scope);
    const v = lx.lowerExpr(e, scope);
    if (!inputFree(v)) this.opaque++;
    return v;
  }
}

/** Whether a lowered value depends on no input (numbers, parameters, sizes): a constant factor. */
export function inputFree(v: Value): v is Node {
  return v !== undefined && v.axes.length === 0 && !toposort([v]).some((n) => n.op === 'input' || n.op === 'classindex');
}
