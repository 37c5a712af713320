// Checking and lowering in one pass: AST -> interned IR, with diagnostics.
// They are one pass because `def`s are inlined at each call, so a name's axes
// are only known there. Errors never throw: a failed subexpression lowers to
// `undefined` and the errors above it stay quiet (no cascades).

import type * as A from '../front/ast.ts';
import * as B from '../core/build.ts';
import { type Code, type Diagnostic, diag, suggest } from '../front/diagnostics.ts';
import { type Axes, type Axis, type Node, type Op, constOf, internCalls, isSpatial, minusAxes, sortAxes, toposort } from '../core/ir.ts';
import { record } from '../core/ops/index.ts';
import { F32_MAX, representable } from '../core/numbers.ts';
import { simplify } from '../passes/simplify.ts';
import type { Dims } from '../core/layout.ts';
import { boxWeights, gaussianWeights } from '../core/ops/f64-loops.ts';
import { verify } from '../core/verify.ts';
import { type Activation, KNOB_NAMES, type Knobs, type Params, type Region, splitParams } from './knobs.ts';
import { toLogSpace } from './logspace.ts';


export interface LowerOptions {
  dims: Dims;
  region: Region;
  /** Overrides of the loss's parameter defaults, and the knobs (knobs.ts). */
  params?: Params;
  /**
   * The prediction holds logits: the loss's `prob` input becomes σ(x) (or the
   * softmax over `class`) of them, and the gradient is taken with respect to x.
   */
  activation?: Activation;
}


export interface LoweredInput { name: string; role: A.Role; node: Node }
export interface LoweredParam { name: string; value: number; default: number }

export interface LoweredLoss {
  name: string;
  /** Where the loss is declared (its name), for diagnostics about the whole formula. */
  nameSpan: A.Span;
  file: string;
  header: string[];
  inputs: LoweredInput[];
  params: LoweredParam[];
  /** The differentiated input (role prob or logits). */
  wrt: LoweredInput;
  value: Node;
  options: LowerOptions;
  /** The knobs in force (region and activation resolved into `options`). */
  knobs: Knobs;
}

/** Every module a compilation sees: the main one first, then what it `use`s. */
export interface Program { main: A.Module; modules: A.Module[] }

type Value = Node | undefined;

interface Builtin {
  /** Accepted positional argument counts. */
  arity: readonly number[];
  reduction?: boolean;
  /** Runs along spatial axes (pools, sorts): its `[axes]`, resolved, come to `lower`, which checks them. */
  alongSpace?: boolean;
  /** An axis its first argument must have (softmax runs over class). */
  needs?: Axis;
  lower(args: Node[], axes: Axes | undefined, call: A.Call): Value;
}

const unary = (op: Op) => ({ arity: [1], lower: ([x]: Node[]) => B.un(op, x!) });
const LOG2 = Math.LN2;

function allAxes(dims: Dims): Axes {
  return dims === 3 ? ['batch', 'class', 'z', 'y', 'x'] : ['batch', 'class', 'y', 'x'];
}

export class Lowerer {
  readonly diagnostics: Diagnostic[] = [];
  private readonly defs = new Map<string, A.DefDecl | A.LossDecl>();
  private readonly stack: string[] = [];
  private readonly builtins: Map<string, Builtin>;
  /**
   * After a syntax error, names bound on broken lines are missing and results may
   * be cut short: unknown names, a missing loss and a non-scalar result would be noise.
   */
  private readonly quietUnknownNames: boolean;
  private readonly opts: LowerOptions;
  private readonly knobs: Knobs;
  private readonly params: Record<string, number>;
  private readonly knobErrors: { name: string; want: string; got: string }[];
  /** The knobs the caller set (not defaults). */
  private readonly knobsSet: ReadonlySet<string>;
  /** Per-pixel weight (the ignore mask, axes batch and space) every spatial reduction applies. */
  private pixelMask: Node | undefined;
  /** Per-class weight (class weights times the background mask) every reduction over class applies, and the mask alone (for counts). */
  private classWeight: Node | undefined;
  private classMask: Node | undefined;
  /** How many final reductions were lowered under reduction = sum | none (the loss's value comes from them). */
  private finals = 0;

  constructor(private readonly program: Program, options: LowerOptions, hadParseErrors: boolean) {
    this.quietUnknownNames = hadParseErrors;
    const split = splitParams(options.params ?? {});
    this.knobs = split.knobs;
    this.params = split.params;
    this.knobErrors = split.errors;
    this.knobsSet = new Set(Object.keys(options.params ?? {}).filter((k) => KNOB_SET.has(k)));
    this.opts = { ...options, region: split.knobs.region ?? options.region, activation: split.knobs.activation ?? options.activation };
    this.builtins = this.makeBuiltins();
    for (const m of program.modules) {
      for (const item of m.items) {
        if (item.kind === 'use') continue;
        if (this.builtins.has(item.name)) this.err('E205', item.nameSpan, { name: item.name });
        else if (this.defs.has(item.name) && m === program.main) this.err('E205', item.nameSpan, { name: item.name });
        else if (!this.defs.has(item.name)) this.defs.set(item.name, item);
      }
    }
  }

  private err(code: Code, span: A.Span | undefined, args: Record<string, string | number> = {}): undefined {
    // One diagnostic per code and place (a def inlined at many calls reports its mistake once); a set, so that
    // 20,000 mistakes cost 20,000 lookups, not 20,000².
    const key = `${code}@${span?.file}:${span?.start}`;
    if (!this.reported.has(key)) { this.reported.add(key); this.diagnostics.push(diag(code, span, args)); }
    return undefined;
  }
  private readonly reported = new Set<string>();

  private makeBuiltins(): Map<string, Builtin> {
    const softplus = (x: Node) => B.un('softplus', x);
    const absx = (x: Node) => B.un('abs', x);
    const m = new Map<string, Builtin>([
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
      ['sum', { arity: [1], reduction: true, lower: ([x], axes) => this.reduce(x!, axes ?? x!.axes, false) }],
      ['mean', { arity: [1], reduction: true, lower: ([x], axes) => this.reduce(x!, axes ?? x!.axes, true) }],
      // max(e) reduces; max(a, b) is elementwise.
      ['max', { arity: [1, 2], reduction: true, lower: ([a, b], axes) => (b ? B.bin('maximum', a!, b) : B.rmax(a!, axes ?? a!.axes)) }],
      // min over axes = −max(−e)
      ['min', { arity: [1, 2], reduction: true, lower: ([a, b], axes) => (b ? B.bin('minimum', a!, b) : B.neg(B.rmax(B.neg(a!), axes ?? a!.axes))) }],
      // softmax over `class`, shifted by the (gradient-free) max: exact, and no overflow.
      ['softmax', { arity: [1], needs: 'class', lower: ([x]) => { const e = B.un('exp', this.shifted(x!)); return B.div(e, B.sum(e, ['class'])); } }],
      // e at class k (a constant): the class axis removed. With a one-hot g, sum[class](g * e) gathers e by label.
      ['at', { arity: [2], lower: ([x, k], _a, call) => this.atClass(x!, k!, call) }],
      // Per pixel, the Wasserstein distance between p and the label distribution g over the class distances M (knob class_distances).
      ['wasserstein', { arity: [2], lower: ([p, g]) => this.wasserstein(p!, g!) }],
      ['logsoftmax', { arity: [1], needs: 'class', lower: ([x]) => { const s = this.shifted(x!); return B.sub(s, B.un('log', B.sum(B.un('exp', s), ['class']))); } }],
      // Spatial ops over every spatial axis (y, x, and z in 3-D), stride 1, same size.
      ['window', { arity: [2], lower: ([x], _axes, call) => this.windowOf(x!, call) }],
      // maxpool[axes](e, k): over the window k wide along the spatial axes named (all by default: a cube), 1 along
      // the others; maxpool[axes](e, cross(k)): over the cross, the max of the k-wide pools along each axis named.
      ['maxpool', { arity: [2], alongSpace: true, lower: ([x, k], axes, call) => this.pool(x!, k!, axes, call, false) }],
      // minpool(e) = −maxpool(−e)
      ['minpool', { arity: [2], alongSpace: true, lower: ([x, k], axes, call) => this.pool(x!, k!, axes, call, true) }],
      // interior(k, s): the valid positions of a k-wide window at scale level s (a constant, default 0).
      ['interior', { arity: [1, 2], lower: ([k, l], _a, call) => { const w = this.width(k!, call, 0); return w === undefined ? undefined : this.withLevel(l, call, (s) => B.interior(w, this.space(), s)); } }],
      // 2x average pooling: one scale level down (tf.image.ssim_multiscale's downsampling).
      ['avgpool2', { arity: [1], lower: ([x]) => B.avgpool2(x!, this.levelOf(x!) ?? 0, this.space()) }],
      ['edt', { arity: [1], lower: ([m]) => B.edt(m!, this.space()) }],
      // The signed distance of the mask m > 0.5 (Kervadec's one_hot2dist): the distance to it outside, minus the
      // distance to its outside plus 1 inside (0 on its inner boundary); 0 for an empty or a full mask. No gradient.
      ['sdt', { arity: [1], lower: ([m]) => {
        // Over every spatial axis, as edt: a value constant over space is broadcast first.
        const fg = B.expand(B.bin('gt', m!, B.K(0.5)), sortAxes([...m!.axes, ...this.space()]));
        const bg = B.sub(B.ONE, fg);
        const full = B.neg(B.rmax(B.neg(fg), this.space()));
        const inside = B.mul(B.sub(B.edt(fg, this.space()), B.ONE), fg);
        return B.mul(B.sub(B.mul(B.edt(bg, this.space()), bg), inside), B.sub(B.ONE, full));
      } }],
      // Along the flattened spatial axes (and the batch's, with [batch, space]), per slice of the others: a stable
      // descending sort by a key, and prefix sums.
      ['sorted', { arity: [2], alongSpace: true, lower: ([x, by], axes, call) => this.sortOver(axes, call, (over) => B.sorted(x!, by!, over)) }],
      ['cumsum', { arity: [1], alongSpace: true, lower: ([x], axes, call) => this.sortOver(axes, call, (over) => B.cumsum(x!, over)) }],
    ]);
    return m;
  }

  private space(): Axes {
    return this.opts.dims === 3 ? ['z', 'y', 'x'] : ['y', 'x'];
  }

  /** A window width argument: a constant odd integer from 1 to MAX_WIDTH (E221 otherwise). */
  private width(k: Node, call: A.Call, i: number): number | undefined {
    const v = constOf(k);
    if (v === undefined || !Number.isInteger(v) || v < 1 || v % 2 === 0 || v > MAX_WIDTH) {
      return this.err('E221', (call.args[i] ?? call).span, { name: call.callee, what: 'a window width', want: `a constant odd integer from 1 to ${MAX_WIDTH}` });
    }
    return v;
  }

  /**
   * maxpool/minpool[axes](x, k): the window k wide along `axes` (spatial only; all by default), 1 along the
   * others. With cross(k) for k: the max (min) of the k-wide pools along each axis in turn, z, y, x, as the
   * clDice authors' soft_erode takes the torch.min of its axis-wise pools. minpool(e) = −maxpool(−e).
   */
  private pool(x: Node, k: Node, axes: Axes | undefined, call: A.Call, min: boolean): Value {
    const along = axes ?? this.space();
    if (!along.every(isSpatial)) {
      return this.err('E222', call.span, { name: call.callee, want: 'spatial axes', axes: along.join(', '), hint: `name the spatial axes its window spans (${call.callee}[y](e, 3) pools along y), or leave the axes out for all of them` });
    }
    const arg = call.args[1]!;
    const cross = arg.kind === 'call' && arg.callee === 'cross';
    if (cross && arg.args.length !== 1) return this.err('E203', arg.span, { name: 'cross', expected: '1 argument', got: arg.args.length });
    const kv = cross ? this.lowerExpr(arg.args[0]!, this.callScope) : k;
    const w = kv && (cross ? this.width(kv, arg, 0) : this.width(kv, call, 1));
    if (w === undefined) return undefined;
    const pool = (a: Axes) => (min ? B.neg(B.maxpool(B.neg(x), w, this.space(), a)) : B.maxpool(x, w, this.space(), a));
    return (cross ? along.map((a) => [a]) : [along]).map(pool).reduce((a, b) => B.bin(min ? 'minimum' : 'maximum', a, b));
  }

  private sortOverClass = false;

  /** The axes a sort or prefix sum runs along: space (the default), or batch and space (one sort across the batch). */
  private sortOver(axes: Axes | undefined, call: A.Call, f: (over: Axes) => Node): Value {
    const over = axes ?? this.space();
    const space = this.space().join();
    if (over.join() !== space && over.join() !== `batch,${space}`) {
      const mixes = over.includes('class');
      // One cause (region global), many sorts: say it once.
      if (mixes && this.sortOverClass) return undefined;
      this.sortOverClass ||= mixes;
      const hint = mixes
        ? 'it runs per class: a sort over class would mix the classes (a Lovász loss sorts each class apart); region batch sorts each class across the batch'
        : `write ${call.callee}[space](...) (per sample), ${call.callee}[batch, space](...) (across the batch), or leave the axes out`;
      return this.err('E222', call.span, { name: call.callee, want: 'every spatial axis, or batch and every spatial axis', axes: over.join(', '), hint });
    }
    return f(over);
  }

  /** window(e, gaussian(size, sigma)) or window(e, box(size)): the kernel is a constant. */
  private windowOf(x: Node, call: A.Call): Value {
    const k = call.args[1]!;
    if (k.kind !== 'call' || (k.callee !== 'gaussian' && k.callee !== 'box')) {
      return this.err('E221', k.span, { name: 'window', what: 'its kernel', want: 'gaussian(size, sigma) or box(size)' });
    }
    const want = k.callee === 'gaussian' ? 2 : 1;
    if (k.args.length !== want) return this.err('E203', k.span, { name: k.callee, expected: `${want} argument${want === 1 ? '' : 's'}`, got: k.args.length });
    // Its size and sigma may be parameters (constants when the loss is compiled).
    const vals = k.args.map((a) => this.lowerExpr(a, this.callScope));
    if (vals.some((v) => !v)) return undefined;
    const size = this.width(vals[0]!, k, 0);
    if (size === undefined) return undefined;
    // At scale level s the taps are 2^s apart: the window of the level's image.
    const dilation = 2 ** (this.levelOf(x) ?? 0);
    if (k.callee === 'box') return B.window(x, boxWeights(size), this.space(), dilation);
    const sigma = constOf(vals[1]!);
    const weights = sigma === undefined || !(sigma > 0) ? undefined : gaussianWeights(size, sigma);
    if (!weights?.every(Number.isFinite)) return this.err('E221', k.args[1]!.span, { name: 'gaussian', what: 'sigma', want: 'a positive constant' });
    return B.window(x, weights, this.space(), dilation);
  }

  /** An optional scale level argument: a constant integer ≥ 0 (E221 otherwise). */
  private withLevel(l: Node | undefined, call: A.Call, f: (level: number) => Node): Value {
    const v = l === undefined ? 0 : constOf(l);
    if (v === undefined || !Number.isInteger(v) || v < 0) {
      return this.err('E221', (call.args[1] ?? call).span, { name: call.callee, what: 'the scale level', want: 'a constant integer ≥ 0' });
    }
    return f(v);
  }

  /** Scale levels of the values lowered so far (see ir.ts); undefined: constant over space. */
  private readonly levels = new Map<number, number | undefined>();

  /**
   * The scale level of n: 0 for the inputs, one more after each avgpool2, else
   * the level of its sources; undefined for a value constant over space (a
   * scalar, a per-class value), which fits every level. A clash when two
   * sources have different levels, or when an op that runs at full resolution
   * (pools, distance maps, sorts) gets a coarser value.
   */
  private levelOf(n: Node): number | undefined {
    const l = this.levelOrClash(n);
    if (typeof l === 'object') throw new Error(`internal: node ${n.id} (${n.op}) mixes scale levels ${l.a} and ${l.b}`);
    return l;
  }

  private levelOrClash(n: Node): number | undefined | { a: number; b: number; fullResolution: boolean } {
    if (this.levels.has(n.id)) return this.levels.get(n.id);
    let l: number | undefined;
    for (const src of n.src) {
      const ls = this.levelOrClash(src);
      if (typeof ls === 'object') return ls;
      if (ls === undefined) continue;
      if (l !== undefined && l !== ls) return { a: l, b: ls, fullResolution: false };
      l = ls;
    }
    const r = record(n.op);
    if (l && r.fullResolution) return { a: l, b: 0, fullResolution: true };
    if (!n.axes.some(isSpatial)) l = undefined;
    else if (n.op === 'input') l = 0;
    else if (r.level) l = r.level(n);
    this.levels.set(n.id, l);
    return l;
  }

  /** `v`, or E223 at `e` when it mixes scale levels (no cascade: undefined then). */
  private leveled(v: Value, e: A.Expr, name: string): Value {
    const l = v && this.levelOrClash(v);
    if (!v || typeof l !== 'object') return v;
    const hint = l.fullResolution
      ? 'maxpool, minpool, edt, sdt, sorted and cumsum run at full resolution (level 0), before any avgpool2'
      : 'each avgpool2 moves a value one level down; combine values of one level (scalars and values reduced over space fit every level)';
    return this.err('E223', e.span, { name, a: l.a, b: l.b, hint });
  }

  /**
   * A `sum` or `mean` of the formula, with the knobs' weights: over spatial axes
   * the ignore mask m, over `class` the class weight w (and background mask M).
   * sum[A](e) = Σ_A W·e; mean[A](e) = Σ_A W·e / Σ_A Q, Q = m and M where they apply
   * (the count of what is not ignored; 1 when nothing is left, as 0/1 = 0).
   */
  private reduce(x: Node, axes: Axes, mean: boolean): Node {
    if (axes.includes('class')) this.reducedClass = true;
    if (axes.some(isSpatial)) this.reducedSpace = true;
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

  private atClass(x: Node, k: Node, call: A.Call): Value {
    const v = constOf(k);
    if (v === undefined || !Number.isInteger(v) || v < 0) return this.err('E221', call.args[1]!.span, { name: 'at', what: 'the class', want: 'a constant class number (0, 1, ...)' });
    if (!x.axes.includes('class')) return this.err('E301', call.span, { op: 'at', axes: 'class', missing: 'class', have: x.axes.join(', '), hint: '' });
    return B.sum(B.mul(x, B.bin('eq', B.classIndex(), B.K(v))), ['class']);
  }

  /**
   * W(p, g) = Σ_l g_l Σ_c M_lc p_c (Fidon 2017, eq. 6, for a label distribution
   * g). Without a matrix every two classes are at distance 1 (M = 1 − I), and
   * W = Σ_l g_l · Σ_c p_c − Σ_c g_c p_c. A matrix is divided by its max (MONAI).
   */
  private wasserstein(p: Node, g: Node): Node {
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

  private usedDistances = false;
  /** The scope of the builtin call being lowered (a window's kernel reads its size and sigma there). */
  private callScope = new Map<string, Value>();
  /** Whether the formula names `region`, reduces over `class`, over space: the knobs that act there apply only then (E229). */
  private usedRegion = false;
  private reducedClass = false;
  private reducedSpace = false;

  /** The ignore mask at scale level s: pooled like the values (the kept fraction of each block). */
  private maskAt(level: number): Node | undefined {
    let m = this.pixelMask;
    for (let l = 0; m && l < level; l++) m = B.avgpool2(m, l, this.space());
    return m;
  }

  private shifted(x: Node): Node {
    return B.sub(x, B.un('detach', B.rmax(x, ['class'])));
  }

  /** Resolve `[batch, space]` to axes; `undefined` with a diagnostic when one is unknown. */
  private resolveAxes(refs: A.AxisRef[]): Axes | undefined {
    const out: Axis[] = [];
    const space: Axis[] = this.opts.dims === 3 ? ['z', 'y', 'x'] : ['y', 'x'];
    const region: Record<Region, Axis[]> = { sample: space, batch: ['batch', ...space], global: ['batch', 'class', ...space] };
    let ok = true;
    for (const r of refs) {
      let add: Axis[];
      switch (r.name) {
        case 'space': add = space; break;
        case 'region': add = region[this.opts.region]; this.usedRegion = true; break;
        case 'batch': case 'class': case 'y': case 'x': add = [r.name]; break;
        case 'z':
          if (this.opts.dims !== 3) { this.err('E304', r.span, { name: 'z', dims: this.opts.dims }); ok = false; continue; }
          add = ['z'];
          break;
        default:
          this.err('E206', r.span, { name: r.name, hint: [suggest(r.name, AXIS_NAMES), `known axes: ${AXIS_NAMES.join(', ')}`].filter(Boolean).join(' ') }); ok = false; continue;
      }
      for (const a of add) {
        if (out.includes(a)) { this.err('E303', r.span, { name: a }); ok = false; }
        out.push(a);
      }
    }
    return ok ? sortAxes(out) : undefined;
  }

  lowerExpr(e: A.Expr, scope: Map<string, Value>): Value {
    if (internCalls() - this.startCalls > MAX_LOWERED) throw new TooLarge(e.span);
    switch (e.kind) {
      case 'num': return representable(e.value) ? B.K(e.value) : this.err('E231', e.span, { what: `the number ${e.text}`, value: rangeText(e.value) });
      case 'name': {
        if (scope.has(e.name)) return scope.get(e.name);
        if (this.builtins.has(e.name) || this.defs.has(e.name)) return this.err('E217', e.span, { name: e.name });
        if (this.quietUnknownNames) return undefined;
        const ended = this.endedIn.get(scope)?.has(e.name);
        return this.err('E201', e.span, { name: e.name, hint: ended ? `'${e.name}' is bound in a repeat block and ends with it; bind it before the block to keep its last value` : suggest(e.name, scope.keys()) });
      }
      case 'neg': {
        const x = this.lowerExpr(e.arg, scope);
        return this.folded(x && B.neg(x), e);
      }
      case 'binary': {
        // A long chain (a + b + c + …) is a deep left spine: walked with a loop, not recursion.
        const spine: A.Binary[] = [];
        let lhs: A.Expr = e;
        while (lhs.kind === 'binary') { spine.push(lhs); lhs = lhs.lhs; }
        let acc = this.lowerExpr(lhs, scope);
        for (let i = spine.length - 1; i >= 0; i--) {
          const x = spine[i]!;
          const b = this.lowerExpr(x.rhs, scope);
          acc = acc && b && this.folded(this.leveled(B.bin(BINARY_OPS[x.op], acc, b), x, x.op), x);
        }
        return acc;
      }
      case 'call': return this.lowerCall(e, scope);
    }
  }

  private lowerCall(e: A.Call, scope: Map<string, Value>): Value {
    const builtin = this.builtins.get(e.callee);
    const def = this.defs.get(e.callee);
    if (!builtin && !def) {
      return this.err('E202', e.calleeSpan, { name: e.callee, hint: suggest(e.callee, [...this.builtins.keys(), ...this.defs.keys()]) });
    }
    let along: Axes | undefined;
    if (e.axes && builtin?.alongSpace) {
      along = this.resolveAxes(e.axes);
      if (!along) return undefined;
    } else if (e.axes && !builtin?.reduction) {
      return this.err('E215', e.calleeSpan, { name: e.callee });
    }
    // A window's kernel (gaussian/box) and a pool's cross(k) are read by the op itself, not lowered as values.
    const shape = (a: A.Expr, i: number) => i === 1 && (e.callee === 'window' || ((e.callee === 'maxpool' || e.callee === 'minpool') && a.kind === 'call' && a.callee === 'cross'));
    const args = e.args.map((a, i) => (shape(a, i) ? B.ZERO : this.lowerExpr(a, scope)));
    if (builtin) {
      if (e.named.length) return this.err('E204', e.named[0]!.span, { name: e.callee, arg: e.named[0]!.name, hint: `'${e.callee}' takes only positional arguments` });
      if (!builtin.arity.includes(e.args.length)) {
        return this.err('E203', e.span, { name: e.callee, expected: arityText(builtin.arity), got: e.args.length });
      }
      if (args.some((a) => !a)) return undefined;
      if (builtin.needs && !args[0]!.axes.includes(builtin.needs)) {
        return this.err('E305', e.span, { name: e.callee, axis: builtin.needs, have: args[0]!.axes.join(', ') || 'none: a scalar' });
      }
      let axes: Axes | undefined;
      if (e.axes && !builtin.alongSpace) {
        axes = this.resolveAxes(e.axes);
        if (!axes) return undefined;
        const x = args[0]!;
        const missing = minusAxes(axes, x.axes);
        if (missing.length && args.length === 1) {
          const lost = missing.every((a) => allAxes(this.opts.dims).includes(a));
          return this.err('E301', e.span, {
            op: e.callee, axes: e.axes.map((a) => a.name).join(', '), missing: missing.join(', '), have: x.axes.join(', '),
            hint: lost ? `an earlier reduction already removed ${missing.join(', ')}` : '',
          });
        }
        if (args.length === 2) return this.err('E203', e.span, { name: `${e.callee}[...]`, expected: '1 argument', got: 2 });
      }
      this.callScope = scope;
      const v = this.leveled(builtin.lower(args as Node[], axes ?? along, e), e, e.callee);
      return args.every((a) => constOf(a!) !== undefined) ? this.foldedCall(v, e) : v;
    }
    return this.inline(def!, e, args, scope);
  }

  /** Inline a `def` (or a `use`d loss called as a function) at a call site. */
  private inline(def: A.DefDecl | A.LossDecl, call: A.Call, args: Value[], scope: Map<string, Value>, final = false): Value {
    if (this.stack.includes(def.name)) {
      return this.err('E216', call.calleeSpan, { name: def.name, chain: [...this.stack.slice(this.stack.indexOf(def.name)), def.name].join(' -> ') });
    }
    // Each call inlined is a level of recursion here, as a bracket is in the parser.
    if (this.stack.length >= MAX_CALL_DEPTH) throw new TooDeep(call.calleeSpan, def.name);
    // Positional slots: a def's parameters in order; a loss's inputs.
    const slots = def.kind === 'def' ? def.params.map((p) => ({ name: p.name, value: p.value })) : def.inputs.map((i) => ({ name: i.name, value: undefined as A.Expr | undefined }));
    const named = def.kind === 'def' ? slots : def.params.map((p) => ({ name: p.name, value: p.value as A.Expr | undefined }));
    if (args.length > slots.length) {
      return this.err('E203', call.span, { name: def.name, expected: `${slots.length} positional argument${slots.length === 1 ? '' : 's'}`, got: args.length });
    }
    const local = new Map<string, Value>();
    let ok = args.every((a) => a !== undefined);
    slots.forEach((s, i) => { if (i < args.length) local.set(s.name, args[i]); });
    for (const n of call.named) {
      if (!named.some((s) => s.name === n.name) || local.has(n.name)) {
        this.err('E204', n.span, { name: def.name, arg: n.name, hint: suggest(n.name, named.map((s) => s.name)) });
        ok = false;
        continue;
      }
      const v = this.lowerExpr(n.value, scope);
      if (!v) ok = false;
      local.set(n.name, v);
    }
    for (const s of [...slots, ...named]) {
      if (local.has(s.name)) continue;
      if (!s.value) {
        this.err('E203', call.span, { name: def.name, expected: `a value for '${s.name}'`, got: `${args.length} positional` });
        ok = false;
        continue;
      }
      this.stack.push(def.name);
      local.set(s.name, this.lowerExpr(s.value, new Map()));
      this.stack.pop();
    }
    if (!ok) return undefined;
    // A def called again with the same arguments is the same value: lowered once (a chain of defs that each
    // call the previous one twice is linear, not exponential).
    const key = `${final ? 'F' : 'V'}|${[...local].map(([k, v]) => `${k}=${v?.id ?? '?'}`).join(',')}`;
    let memo = this.inlined.get(def);
    if (!memo) this.inlined.set(def, (memo = new Map()));
    if (memo.has(key)) return memo.get(key);
    this.stack.push(def.name);
    const out = this.lowerBody(def, local, final);
    this.stack.pop();
    memo.set(key, out);
    return out;
  }

  /** Per def, its lowered results by arguments (see inline). */
  private readonly inlined = new Map<A.DefDecl | A.LossDecl, Map<string, Value>>();
  /** internCalls() when lowering began: the formula's size so far is the difference. */
  private readonly startCalls = internCalls();

  /** A node whose sources are all constants, folded; a located E231 when it folds to a non-finite or out-of-range value. */
  private folded(v: Value, e: A.Expr): Value {
    if (!v || v.op === 'const' || v.op === 'expand' || v.src.some((x) => constOf(x) === undefined)) return v;
    const c = foldConstant(v);
    return c === undefined ? v : this.constant(c, v, e);
  }

  /** A builtin call on constants (cosh(1000), log(0)): its constant, or E231 when float32 cannot hold it. */
  private foldedCall(v: Value, e: A.Expr): Value {
    const c = v && v.op !== 'const' ? foldConstant(v) : undefined;
    return c === undefined || !v ? v : this.constant(c, v, e);
  }

  private constant(c: number, v: Node, e: A.Expr): Value {
    if (!representable(c)) return this.err('E231', e.span, { what: 'this constant expression', value: rangeText(c, true) });
    return B.expand(B.K(c), v.axes);
  }

  lowerBody(body: A.Body, scope: Map<string, Value>, final = false): Value {
    const local = new Map(scope);
    const bound = new Map<string, { expr: A.Expr; scope: Map<string, Value> }>();
    for (const b of body.bindings) {
      if (b.kind === 'repeat') {
        // A name a loop rebinds holds the loop's last value: not traced as final.
        for (const name of this.lowerRepeat(b, local)) bound.delete(name);
        continue;
      }
      if (local.has(b.name) && !scope.has(b.name)) this.err('E205', b.nameSpan, { name: b.name });
      // A binding the result uses may hold a final reduction (combo's wce = −mean(…)).
      if (final) bound.set(b.name, { expr: b.value, scope: new Map(local) });
      local.set(b.name, this.lowerExpr(b.value, local));
    }
    if (!final) return this.lowerExpr(body.result, local);
    const saved = this.finalBindings;
    this.finalBindings = bound;
    try { return this.lowerFinal(body.result, local); } finally { this.finalBindings = saved; }
  }

  /**
   * `repeat n { … }` unrolled into `local`: its statements n times in order. In
   * the block a binding may rebind a name (the loop's state, carried from one
   * iteration to the next and out of the block); a name first bound in the block
   * ends with each iteration. The block is lowered once even when it runs zero
   * times or its count is wrong, so its mistakes are reported. Returns the names
   * of `local` it rebinds.
   */
  private lowerRepeat(r: A.Repeat, local: Map<string, Value>): string[] {
    const n = this.repeatCount(r.count, local);
    const names = boundIn(r.body);
    const rebound = [...names].filter((name) => local.has(name));
    const outer = this.unrolled;
    this.unrolled = outer * Math.max(n ?? 0, 1);
    try {
      for (let i = 0; i < Math.max(n ?? 0, 1); i++) {
        const inner = new Map(local);
        for (const s of r.body) {
          if (s.kind === 'repeat') this.lowerRepeat(s, inner);
          else inner.set(s.name, this.lowerExpr(s.value, inner));
        }
        if (i < (n ?? 0)) for (const name of rebound) local.set(name, inner.get(name));
      }
    } finally { this.unrolled = outer; }
    // A wrong count leaves the loop's state unknown: undefined, so no errors cascade from it.
    if (n === undefined) for (const name of rebound) local.set(name, undefined);
    const ended = [...names].filter((name) => !local.has(name));
    if (ended.length) this.endedIn.set(local, new Set([...(this.endedIn.get(local) ?? []), ...ended]));
    return rebound;
  }

  /** The product of the counts of the repeat blocks being lowered (nested blocks multiply). */
  private unrolled = 1;
  /** Per scope, the names that were first bound in a repeat block and ended with it (for E201's hint). */
  private readonly endedIn = new WeakMap<Map<string, Value>, Set<string>>();

  /**
   * A repeat count: a constant whole number from 0 to MAX_REPEAT, divided by the
   * counts of the blocks around it (E227, E228 otherwise).
   */
  private repeatCount(e: A.Expr, scope: Map<string, Value>): number | undefined {
    const v = this.lowerExpr(e, scope);
    if (!v) return undefined;
    // Folded, so that `iterations - 1` counts; nothing that depends on an input does.
    const inputFree = v.axes.length === 0 && !toposort([v]).some((x) => x.op === 'input' || x.op === 'classindex');
    const c = inputFree ? foldConstant(v) : undefined;
    if (c === undefined) return this.err('E227', e.span);
    const max = Math.floor(MAX_REPEAT / this.unrolled);
    if (!Number.isInteger(c) || c < 0 || c > max) {
      const hint = c <= max ? '' : this.unrolled > 1 ? `nested repeats multiply: at most ${MAX_REPEAT} iterations in all` : 'each iteration is unrolled into the compiled formula';
      return this.err('E228', e.span, { max, value: String(c), hint });
    }
    return c;
  }

  private finalBindings = new Map<string, { expr: A.Expr; scope: Map<string, Value> }>();
  private readonly finalMemo = new Map<{ expr: A.Expr; scope: Map<string, Value> }, Value>();
  /** Terms of a final result that depend on the inputs but hold no final reduction (E226 under sum and none). */
  private opaque = 0;

  /** Lower the main module's loss; E232 (and nothing more) when the formula grows past MAX_LOWERED nodes. */
  lowerLoss(): LoweredLoss | undefined {
    try {
      return this.lowerMain();
    } catch (err) {
      if (err instanceof TooDeep) return this.err('E233', err.span, { name: err.def, max: MAX_CALL_DEPTH });
      if (!(err instanceof TooLarge)) throw err;
      return this.err('E232', err.span, { max: MAX_LOWERED });
    }
  }

  private lowerMain(): LoweredLoss | undefined {
    const main = this.program.main;
    const losses = main.items.filter((i): i is A.LossDecl => i.kind === 'loss');
    // A loss that failed to parse is missing, not absent.
    if (losses.length === 0 && this.quietUnknownNames) return undefined;
    if (losses.length === 0) return this.err('E212', { file: main.file, line: 1, col: 1, start: 0, end: 0 }, { file: main.file });
    for (const extra of losses.slice(1)) this.err('E218', extra.nameSpan, { name: extra.name });
    const loss = losses[0]!;
    const scope = new Map<string, Value>();
    const inputs: LoweredInput[] = [];
    const names = new Set<string>();
    for (const i of loss.inputs) {
      if (names.has(i.name)) this.err('E205', i.span, { name: i.name });
      names.add(i.name);
      if (!(['prob', 'logits', 'target', 'weight', 'map'] as string[]).includes(i.role)) {
        this.err('E207', i.roleSpan, { name: i.role });
        scope.set(i.name, undefined);
        continue;
      }
      const node = B.input(i.name, allAxes(this.opts.dims));
      const act = this.opts.activation ?? 'none';
      if (act !== 'none' && (i.role === 'prob' || i.role === 'logits')) {
        if (i.role === 'logits') this.err('E220', i.roleSpan, { name: i.name, activation: act });
        inputs.push({ name: i.name, role: 'logits', node });
        scope.set(i.name, act === 'sigmoid' ? B.un('sigmoid', node) : this.builtins.get('softmax')!.lower([node], undefined, undefined as never));
        continue;
      }
      inputs.push({ name: i.name, role: i.role as A.Role, node });
      scope.set(i.name, node);
    }
    const preds = inputs.filter((i) => i.role === 'prob' || i.role === 'logits');
    if (preds.length === 0 && inputs.length === loss.inputs.length) this.err('E208', loss.nameSpan, { name: loss.name });
    if (preds.length > 1) this.err('E209', loss.nameSpan, { name: loss.name, names: preds.map((p) => p.name).join(', ') });

    for (const e of this.knobErrors) {
      this.err(KNOB_SET.has(e.name) ? 'E225' : 'E219', loss.nameSpan, { name: e.name, value: e.got, want: e.want });
    }
    this.setKnobs(loss, names);
    const overrides = this.params;
    for (const k of Object.keys(overrides)) {
      if (!loss.params.some((p) => p.name === k)) {
        this.err('E214', loss.nameSpan, { loss: loss.name, name: k, hint: suggest(k, loss.params.map((p) => p.name)) || `parameters: ${loss.params.map((p) => p.name).join(', ') || 'none'}` });
      }
    }
    const params: LoweredParam[] = [];
    for (const p of loss.params) {
      if (names.has(p.name)) this.err('E205', p.span, { name: p.name });
      names.add(p.name);
      const dflt = constantValue(p.value);
      const value = overrides[p.name] ?? dflt;
      if (dflt === undefined) this.err('E213', p.value.span, { name: p.name });
      else if (!representable(value)) this.err('E219', p.span, { name: p.name, value: String(value) });
      if (value === undefined || !representable(value) || dflt === undefined) { scope.set(p.name, undefined); continue; }
      params.push({ name: p.name, value, default: dflt });
      scope.set(p.name, B.K(value));
    }
    if (this.diagnostics.length) {
      // Still check the body, so one run reports every mistake.
      this.lowerBody(loss, scope);
      return undefined;
    }
    this.stack.push(loss.name);
    const value = this.lowerBody(loss, scope, this.knobs.reduction !== 'mean');
    this.stack.pop();
    if (!value) return undefined;
    if (this.knobs.reduction !== 'mean') {
      const why = this.finals === 0 || this.opaque > 0 ? 'its result is not a mean or sum of the formula (or a sum of losses, each times a constant)'
        : this.knobs.reduction === 'none' && this.finals > 1 ? `it adds ${this.finals} final reductions (one per loss it combines); 'none' needs one`
        : undefined;
      if (why) return this.err('E226', loss.result.span, { name: loss.name, reduction: this.knobs.reduction, why });
    }
    // After a syntax error the result may be cut short: its axes prove nothing.
    if (value.axes.length && !this.quietUnknownNames && this.knobs.reduction !== 'none') {
      return this.err('E302', loss.result.span, { have: value.axes.join(', ') });
    }
    if (this.knobs.classDistances && !this.usedDistances) {
      return this.err('E225', loss.nameSpan, { name: 'class_distances', want: `used by a loss that calls wasserstein(p, g), which '${loss.name}' does not`, value: JSON.stringify(this.knobs.classDistances) });
    }
    const unused = this.unusedKnob(loss.name);
    if (unused) return this.err('E229', loss.nameSpan, unused);
    let out = value;
    const act = this.opts.activation ?? 'none';
    if (act !== 'none') {
      // Logits: every log and power of the activated prediction in log space, through its eps-clips (logspace.ts).
      const r = toLogSpace(simplify([value])[0]!);
      if (r.epsInLog) return this.err('E230', loss.nameSpan, { name: loss.name, activation: act });
      out = r.root;
    }
    if (this.pixelMask) inputs.push(this.maskInput!);
    verify([out], 'lower');
    return { name: loss.name, nameSpan: loss.nameSpan, file: main.file, header: main.header, inputs, params, wrt: preds[0]!, value: out, options: this.opts, knobs: this.knobs };
  }

  private maskInput: LoweredInput | undefined;

  /** A knob that was set but has nothing to act on in this formula (E229's arguments), or undefined. */
  private unusedKnob(loss: string): Record<string, string> | undefined {
    const k = this.knobs;
    const set = this.knobsSet;
    if ((set.has('region') || this.opts.region !== 'sample') && !this.usedRegion) return { name: 'region', loss, why: "its formula never reduces over `region` (its reductions name their axes, or take all of them)" };
    if ((set.has('class_weights') || (set.has('include_background') && !k.includeBackground)) && !this.reducedClass) {
      return { name: set.has('class_weights') ? 'class_weights' : 'include_background', loss, why: 'its formula never sums or averages over `class`, where class weights and the background exclusion act' };
    }
    if (k.mask && !this.reducedSpace) return { name: k.ignoreIndex !== undefined ? 'ignore_index' : 'mask', loss, why: 'its formula never sums or averages over space, where the mask acts' };
    return undefined;
  }

  /** The knobs' weights: the ignore mask input, the class weights and the background mask. */
  private setKnobs(loss: A.LossDecl, names: Set<string>): void {
    const k = this.knobs;
    if (k.mask) {
      if (names.has('mask')) this.err('E205', loss.nameSpan, { name: 'mask' });
      const node = B.input('mask', allAxes(this.opts.dims));
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
   * The loss's result under reduction = sum | none: its final reductions (a
   * `mean`/`sum` call, reached through + and −, constant factors, and the
   * results of called losses and defs) become sums, or their arguments.
   */
  private lowerFinal(e: A.Expr, scope: Map<string, Value>): Value {
    if (internCalls() - this.startCalls > MAX_LOWERED) throw new TooLarge(e.span);
    if (e.kind === 'binary' && (e.op === '+' || e.op === '-')) {
      // The left spine of a + / − chain, with a loop.
      const spine: A.Binary[] = [];
      let lhs: A.Expr = e;
      while (lhs.kind === 'binary' && (lhs.op === '+' || lhs.op === '-')) { spine.push(lhs); lhs = lhs.lhs; }
      let acc = this.lowerFinal(lhs, scope);
      for (let i = spine.length - 1; i >= 0; i--) {
        const b = this.lowerFinal(spine[i]!.rhs, scope);
        acc = acc && b && B.bin(spine[i]!.op === '+' ? 'add' : 'sub', acc, b);
      }
      return acc;
    }
    if (e.kind === 'neg') { const x = this.lowerFinal(e.arg, scope); return x && B.neg(x); }
    if (e.kind === 'binary' && (e.op === '*' || e.op === '/')) {
      // A constant factor (a parameter, a number) keeps the other side final.
      const lc = e.op === '*' && this.isConstant(e.lhs, scope);
      const rc = this.isConstant(e.rhs, scope);
      if (lc || rc) {
        // A term times a constant 0 (a parameter that switches a form off) is no final reduction and not opaque.
        const k = this.lowerExpr(lc ? e.lhs : e.rhs, scope);
        if (e.op === '*' && k && constOf(simplify([k])[0]!) === 0) return B.mul(k, this.lowerExpr(lc ? e.rhs : e.lhs, scope) ?? k);
        const a = lc ? this.lowerExpr(e.lhs, scope) : this.lowerFinal(e.lhs, scope);
        const b = lc ? this.lowerFinal(e.rhs, scope) : this.lowerExpr(e.rhs, scope);
        return a && b && B.bin(e.op === '*' ? 'mul' : 'div', a, b);
      }
    }
    const b = e.kind === 'name' ? this.finalBindings.get(e.name) : undefined;
    if (b) {
      // Once per binding: a chain of bindings that each use the previous one twice stays linear.
      if (!this.finalMemo.has(b)) this.finalMemo.set(b, this.lowerFinal(b.expr, b.scope));
      return this.finalMemo.get(b);
    }
    if (e.kind === 'call' && (e.callee === 'mean' || e.callee === 'sum') && e.args.length === 1 && !this.defs.has(e.callee)) {
      const x = this.lowerExpr(e.args[0]!, scope);
      const axes = e.axes ? this.resolveAxes(e.axes) : x?.axes;
      if (!x || !axes) return this.lowerExpr(e, scope);
      const missing = minusAxes(axes, x.axes);
      if (missing.length) return this.lowerExpr(e, scope);
      // none keeps the values a mean would weigh: with their class weights (0 for an excluded background).
      const w = axes.includes('class') ? this.classWeight : undefined;
      if (axes.includes('class')) this.reducedClass = true;
      if (axes.some(isSpatial)) this.reducedSpace = true;
      const node = this.knobs.reduction === 'none' ? (w ? B.mul(w, x) : x) : this.reduce(x, axes, false);
      this.finals++;
      return node;
    }
    if (e.kind === 'call' && this.defs.has(e.callee) && !this.builtins.has(e.callee)) {
      const args = e.args.map((a) => this.lowerExpr(a, scope));
      return this.inline(this.defs.get(e.callee)!, e, args, scope, true);
    }
    if (!this.isConstant(e, scope)) this.opaque++;
    return this.lowerExpr(e, scope);
  }

  /** Whether `e` depends on no input (numbers, parameters, sizes). */
  private isConstant(e: A.Expr, scope: Map<string, Value>): boolean {
    const v = this.lowerExpr(e, scope);
    return v !== undefined && v.axes.length === 0 && !toposort([v]).some((n) => n.op === 'input' || n.op === 'classindex');
  }
}

const KNOB_SET: ReadonlySet<string> = new Set(KNOB_NAMES);
/** The axis names a formula may write in `f[...]`. */
const AXIS_NAMES = ['batch', 'class', 'z', 'y', 'x', 'space', 'region'];

/** The most iterations a `repeat` may have: each one is unrolled into the IR. */
const MAX_REPEAT = 1000;

/**
 * The widest window or pool: 255 taps per axis. The library's widest is 11 (SSIM); a window wider than the
 * image reads mostly padding, and every backend's cost grows with the width (the reference's with its square).
 */
export const MAX_WIDTH = 255;

/**
 * The most nodes lowering may build (intern calls, shared ones included): 50 times the largest library loss
 * (ms_ssim in 3-D builds about 1,800 in the whole front end), room for `repeat 1000` over a body of 30 operations,
 * and a bound on the work and memory of every later pass, which grow with it.
 */
export const MAX_LOWERED = 100_000;

/** Thrown when lowering passes MAX_LOWERED; lowerLoss turns it into E232 at the expression being lowered. */
class TooLarge extends Error {
  constructor(readonly span: A.Span) { super('formula too large'); }
}

/** How deep calls of defs (and used losses) may nest: as MAX_NESTING for brackets, far inside Node's stack. */
export const MAX_CALL_DEPTH = 64;

/** Thrown past MAX_CALL_DEPTH; lowerLoss turns it into E233 at the call. */
class TooDeep extends Error {
  constructor(readonly span: A.Span, readonly def: string) { super('calls nest too deeply'); }
}

const BINARY_OPS = { '+': 'add', '-': 'sub', '*': 'mul', '/': 'div', '^': 'pow', '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge', '==': 'eq', '!=': 'ne' } as const satisfies Record<A.BinaryOp, Op>;

/** Why v is not representable; with `shown`, the value itself first (a folded expression's value is not on the page). */
/**
 * The float64 value of a graph of constants and elementwise ops (the registry's semantics, as the simplifier folds),
 * whatever it is (NaN included); undefined when the graph holds anything else (an input, a size, a spatial op).
 */
function foldConstant(root: Node): number | undefined {
  const vals = new Map<number, number>();
  for (const n of toposort([root])) {
    const r = record(n.op);
    if (n.op === 'const') vals.set(n.id, n.arg as number);
    else if (n.op === 'expand') vals.set(n.id, vals.get(n.src[0]!.id)!);
    else if (r.kind === 'elementwise' && r.f64) vals.set(n.id, r.f64(...n.src.map((x) => vals.get(x.id)!)));
    else return undefined;
  }
  return vals.get(root.id);
}

function rangeText(v: number, shown = false): string {
  if (Number.isNaN(v)) return 'NaN (not a number)';
  if (!Number.isFinite(v)) return `${v > 0 ? '' : 'minus '}infinity`;
  const why = Math.abs(v) > F32_MAX ? "beyond float32's largest number (3.4e38)" : "below float32's smallest normal number (1.2e-38) but not 0";
  return shown ? `${v}, ${why}` : why;
}

/** The names bound in `stmts`, nested repeat blocks included. */
function boundIn(stmts: readonly A.Statement[]): Set<string> {
  return new Set(stmts.flatMap((s) => (s.kind === 'repeat' ? [...boundIn(s.body)] : [s.name])));
}

function arityText(arity: readonly number[]): string {
  const n = arity.join(' or ');
  return `${n} argument${arity.length === 1 && arity[0] === 1 ? '' : 's'}`;
}

/** The value of a literal default (`0.5`, `-1`, `--2`), or undefined. */
export function constantValue(e: A.Expr): number | undefined {
  if (e.kind === 'num') return e.value;
  if (e.kind === 'neg') {
    const v = constantValue(e.arg);
    return v === undefined ? undefined : -v;
  }
  return undefined;
}
