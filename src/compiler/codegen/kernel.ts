// Codegen: renders one pass of a plan, for one shape and layout, as gpu.js
// kernel source (the JavaScript subset gpu.js translates to GLSL, WGSL and
// wasm) through the registry's emits. Identifiers are generated and numbers
// printed here: no text from a formula file reaches the kernel.

import * as B from '../core/build.ts';
import { type Axes, type Axis, type Node, type WindowArg, toposort } from '../core/ir.ts';
import type { Dims } from '../core/layout.ts';
import { type BufferSlot, type Pass, type Plan, isLarge } from '../plan/plan.ts';
import { record } from '../core/registry.ts';
import { type Layout, type Sizes, canonicalAxes, count, layoutAxes } from '../core/layout.ts';
import { evaluate } from '../core/reference.ts';

/** The largest finite float32: stands in for ±∞, which no shading language can write. */
const F32_MAX = 3.4028234663852886e38;

/** A number as a literal every backend reads as a float. */
export function lit(v: number): string {
  // Formulas hold float32 constants only (E231); a value computed from the shape (a static) may still be NaN or
  // beyond float32, where float32 arithmetic gives an infinity: the kernel computes it, as no literal spells it.
  if (Number.isNaN(v)) return '(0.0 / 0.0)';
  if (Math.abs(v) > F32_MAX) return v > 0 ? '(1.0 / 0.0)' : '(-1.0 / 0.0)';
  let s = Number.isInteger(v) && Math.abs(v) < 1e21 ? `${v}.0` : String(v);
  if (!/[.e]/.test(s)) s += '.0';
  return v < 0 ? `(${s})` : s;
}

export interface KernelSpec {
  /** gpu.js kernel source: `function(a0, a1, ..., small) { ... }`. */
  source: string;
  /**
   * The same kernel as plain JavaScript over a range of threads:
   * `function(a0, ..., small, out, start, end)` writing `width` values per thread into `out`.
   */
  jsSource: string;
  /** The full-size inputs, in argument order, then the small-values buffer. */
  inputs: string[];
  output: number;
  /** Values per thread: 1 (a number) or 2–4 (an array). */
  width: number;
  loopMaxIterations: number;
  /** Threads [0, mapThreads) write the gradient; the rest accumulate. */
  mapThreads: number;
  reduce: ReduceLayout | undefined;
  /** Reductions whose per-element terms threads [mapThreads, 2·mapThreads) write, for the host to add. */
  terms: Node[];
  /** Buffers this pass writes: node k in output elements [kN, (k+1)N). */
  buffers: Node[];
}

/** How reduce threads are laid out, for the host to sum their partials. */
export interface ReduceLayout {
  reductions: Node[];
  /** Groups: every (batch, class) pair, canonical order. */
  groups: number;
  /** Chunks of the spatial range per group (threads per group). */
  chunks: number;
  /** Blocks of up to 4 accumulators (threads per group and chunk). */
  parts: number;
}

export interface ShapeContext {
  sizes: Sizes;
  dims: Dims;
  layout: Layout;
  /** Offset of each small input in the small-values buffer. */
  smallOffset: ReadonlyMap<number, number>;
  /** Values of the plan's static nodes for this shape. */
  statics: ReadonlyMap<number, number>;
  /** Full-size nodes held in memory (read like inputs), and where. */
  slots: ReadonlyMap<number, BufferSlot>;
}

/**
 * Fold every static node (constants, sizes) to a number for this shape. A
 * static node holds one value everywhere, so it is computed once, as a scalar:
 * evaluating broadcasts at full size cost more than compiling.
 */
export function staticValues(plan: Plan, sizes: Sizes): Map<number, number> {
  const vals = new Map<number, number>();
  for (const n of toposort(plan.grad ? [plan.value, plan.grad] : [plan.value])) {
    if (!plan.static.has(n.id)) continue;
    const xs = n.src.map((x) => vals.get(x.id)!);
    let v: number;
    // A scalar of shape-only values that are not themselves static (a sum of an interior mask): the reference interpreter.
    if (n.src.some((x) => !vals.has(x.id))) { vals.set(n.id, evaluate([n], {}, sizes)[0]!.data[0]!); continue; }
    switch (n.op) {
      case 'const': v = n.arg as number; break;
      case 'size': v = count(n.arg as Axes, sizes); break;
      case 'expand': v = xs[0]!; break;
      // The sum of a constant over axes A is the constant times |A|; its max is itself.
      case 'sum': v = xs[0]! * count(n.arg as Axes, sizes); break;
      case 'max': v = xs[0]!; break;
      default: v = record(n.op).f64!(...xs);
    }
    vals.set(n.id, v);
  }
  return vals;
}

/** Threads per reduce kernel to aim for: enough for a GPU and for webasm's worker pool (≥ 4096 cells). */
const TARGET_THREADS = 4096;

const SPATIAL: readonly Axis[] = ['z', 'y', 'x'];

interface Scope {
  parent: Scope | undefined;
  lines: string[];
  indent: string;
  memo: Map<number, string>;
  /** Coordinate expression of each axis bound here. */
  coords: Map<Axis, string>;
  /** The element's index in the input layout, when known directly. */
  index: string | undefined;
}

class Emitter {
  private n = 0;
  constructor(private readonly ctx: ShapeContext, private readonly usesSmall: { used: boolean }) {}

  fresh(prefix = 'v'): string {
    return `${prefix}${this.n++}`;
  }

  /** A value computed in this scope or an enclosing one, unless a loop in between rebinds one of its axes. */
  private lookup(s: Scope, n: Node): string | undefined {
    for (let x: Scope | undefined = s; x; x = x.parent) {
      const v = x.memo.get(n.id);
      if (v !== undefined) return v;
      if (n.axes.some((a) => x!.coords.has(a))) return undefined;
    }
    return undefined;
  }

  coord(s: Scope, a: Axis): string {
    for (let x: Scope | undefined = s; x; x = x.parent) { const c = x.coords.get(a); if (c !== undefined) return c; }
    // An absent axis (z in 2-D data) has the single coordinate 0.
    if (this.ctx.sizes[a] === 1) return '0';
    throw new Error(`internal: axis ${a} is not bound in this kernel scope`);
  }

  /** Index of the element at the scope's coordinates in a full input (the user's layout). */
  inputIndex(s: Scope): string {
    for (let x: Scope | undefined = s; x; x = x.parent) if (x.index !== undefined && x === s) return x.index;
    const axes = layoutAxes(this.ctx.layout, this.ctx.dims);
    let stride = 1;
    const terms: string[] = [];
    for (let i = axes.length - 1; i >= 0; i--) {
      const a = axes[i]!;
      if (this.ctx.sizes[a] > 1) terms.push(stride === 1 ? this.coord(s, a) : `${this.coord(s, a)} * ${stride}`);
      stride *= this.ctx.sizes[a];
    }
    return terms.length ? terms.reverse().join(' + ') : '0';
  }

  private smallIndex(s: Scope, n: Node): string {
    const off = this.ctx.smallOffset.get(n.id);
    if (off === undefined) throw new Error(`internal: small node ${n.id} (${n.op}) has no buffer slot`);
    this.usesSmall.used = true;
    let stride = 1;
    const terms: string[] = [];
    for (let i = n.axes.length - 1; i >= 0; i--) {
      const a = n.axes[i]!;
      if (this.ctx.sizes[a] > 1) terms.push(stride === 1 ? this.coord(s, a) : `${this.coord(s, a)} * ${stride}`);
      stride *= this.ctx.sizes[a];
    }
    return `small[${[String(off), ...terms.reverse()].join(' + ')}]`;
  }

  /**
   * Whether value(s, n) would emit n as an elementwise op (or look through a broadcast) of values at the same
   * scope, recursing into its sources: not a static, a memo, a buffer read or an op that opens loops.
   */
  private plain(s: Scope, n: Node): boolean {
    if (this.ctx.statics.has(n.id) || this.ctx.smallOffset.has(n.id) || n.op === 'input' || this.ctx.slots.has(n.id)) return false;
    if (n.op === 'expand') return true;
    const r = record(n.op);
    return !!r.emit && !r.host && n.op !== 'sum' && n.op !== 'max' && this.lookup(s, n) === undefined;
  }

  /** An expression for node `n` at the coordinates of scope `s`; `compute` ignores n's own buffer (to fill it). */
  value(s: Scope, n: Node, compute = false): string {
    // A long chain of elementwise ops (a repeat unrolled 1000 times) is emitted sources first, with a loop:
    // each value() below then finds its sources memoized and recursion stays shallow.
    const st = this.ctx.statics.get(n.id);
    if (st !== undefined) return lit(st);
    const memo = this.lookup(s, n);
    if (memo !== undefined) return memo;
    if (!compute && this.plain(s, n) && n.src.some((x) => this.plain(s, x) && x.src.some((y) => this.plain(s, y)))) {
      for (const m of toposort([n], (m) => m !== n && !this.plain(s, m))) if (m !== n && this.plain(s, m)) this.value(s, m);
    }
    let out: string;
    if (this.ctx.smallOffset.has(n.id)) out = this.smallIndex(s, n);
    else if (n.op === 'input') out = this.bind(s, `${inputVar(n.arg as string)}[${this.inputIndex(s)}]`);
    else if (this.ctx.slots.has(n.id) && !compute) {
      const { region, slot } = this.ctx.slots.get(n.id)!;
      const n0 = count(canonicalAxes(this.ctx.dims), this.ctx.sizes);
      // No `+ 0`: gpu.js types a sum of two literals as a float, and GLSL then finds no texture lookup for it.
      const idx = this.inputIndex(s);
      const at = slot === 0 ? idx : idx === '0' ? String(slot * n0) : `${slot * n0} + ${idx}`;
      out = this.bind(s, `${inputVar(region)}[${at}]`);
    }
    else if (n.op === 'window') out = this.window(s, n);
    else if (n.op === 'maxpool' || n.op === 'poolarg' || n.op === 'poolgrad') out = this.stencil(s, n);
    else if (n.op === 'interior') out = this.interior(s, n);
    else if (n.op === 'avgpool2') out = this.avgpool2(s, n);
    else if (n.op === 'unpool2') out = this.unpool2(s, n);
    else if (record(n.op).host) throw new Error(`internal: host op '${n.op}' must be a buffer`);
    else if (n.op === 'expand') out = this.value(s, n.src[0]!);
    else if (n.op === 'sum' || n.op === 'max') out = this.inlineReduce(s, n);
    else {
      const r = record(n.op);
      if (!r.emit) throw new Error(`internal: op '${n.op}' has no kernel emit`);
      const args = n.src.map((x) => this.value(s, x));
      const consts = n.src.map((x) => this.ctx.statics.get(x.id));
      const expr = r.emit(args, { consts, lit, bind: (e) => this.bind(s, e) });
      out = this.bind(s, expr);
    }
    s.memo.set(n.id, out);
    return out;
  }

  bind(s: Scope, expr: string): string {
    if (/^[A-Za-z_]\w*$/.test(expr) || /^\(?-?[\d.]+(e-?\d+)?\)?$/.test(expr)) return expr;
    const v = this.fresh();
    s.lines.push(`${s.indent}const ${v} = ${expr};`);
    return v;
  }

  /** 1 where a k-wide window fits inside the image (at scale level s: at the level's lattice points, inside its image). */
  private interior(s: Scope, n: Node): string {
    const [k, level] = n.arg as number[];
    const h = (k! - 1) / 2;
    const q = 2 ** level!;
    const conds: string[] = [];
    for (const a of n.axes) {
      const size = this.ctx.sizes[a];
      const ns = Math.ceil(size / q);
      if (ns - 2 * h < 1) return '0.0';
      if (q > 1 && size > 1) conds.push(`${this.coord(s, a)} % ${q} == 0`);
      if (h > 0) conds.push(`${this.coord(s, a)} >= ${h * q} && ${this.coord(s, a)} < ${(ns - h - 1) * q + 1}`);
    }
    return conds.length ? this.bind(s, `((${conds.join(' && ')}) ? 1.0 : 0.0)`) : '1.0';
  }

  /** The spatial axes of n that have more than one element (the others have the single coordinate 0). */
  private spatialAxes(n: Node): Axis[] {
    return n.axes.filter((a) => (a === 'z' || a === 'y' || a === 'x') && this.ctx.sizes[a] > 1);
  }

  /**
   * `if (every coordinate is a multiple of q) {`: a scale level's lattice. The
   * scope inside it, to close with `}`, or undefined when every point is on it.
   */
  private onLattice(s: Scope, axes: readonly Axis[], q: number): Scope | undefined {
    if (q === 1 || axes.length === 0) return undefined;
    s.lines.push(`${s.indent}if (${axes.map((a) => `${this.coord(s, a)} % ${q} == 0`).join(' && ')}) {`);
    return { parent: s, lines: s.lines, indent: `${s.indent}  `, memo: new Map(), coords: new Map(), index: undefined };
  }

  /**
   * avgpool2, level s → s + 1, at the coarser lattice: the mean of the 2^d
   * level-s points {c, c + 2^s} per axis, the second the first again at the end
   * of an odd extent (tf's SYMMETRIC pad); 0 elsewhere. Axes of size 1 average a point with itself.
   */
  private avgpool2(s: Scope, n: Node): string {
    const q = 2 ** (n.arg as number);
    const axes = this.spatialAxes(n);
    if (axes.length === 0) return this.value(s, n.src[0]!);
    const acc = this.fresh('acc');
    s.lines.push(`${s.indent}let ${acc} = 0.0;`);
    const body = this.onLattice(s, axes, 2 * q)!;
    const next = new Map(axes.map((a) => {
      const c = this.coord(s, a);
      const ns = Math.ceil(this.ctx.sizes[a] / q);
      return [a, this.bind(body, ns % 2 === 1 ? `(${c} == ${(ns - 1) * q} ? ${c} : ${c} + ${q})` : `${c} + ${q}`)] as const;
    }));
    for (let m = 0; m < 2 ** axes.length; m++) {
      const coords = new Map(axes.flatMap((a, i) => ((m >> i) & 1 ? [[a, next.get(a)!] as const] : [])));
      const at: Scope = { parent: body, lines: s.lines, indent: body.indent, memo: new Map(), coords, index: undefined };
      s.lines.push(`${body.indent}${acc} += ${this.value(at, n.src[0]!)};`);
    }
    s.lines.push(`${s.indent}}`);
    return this.bind(s, `${acc} * ${lit(1 / 2 ** axes.length)}`);
  }

  /**
   * unpool2, the adjoint of avgpool2 (level s + 1 → s): at a level-s lattice
   * point, half the value of its block's coarser point per axis (all of it at
   * the end of an odd extent, which both taps of the last block read); 0 elsewhere.
   */
  private unpool2(s: Scope, n: Node): string {
    const q = 2 ** (n.arg as number);
    const axes = this.spatialAxes(n);
    if (axes.length === 0) return this.value(s, n.src[0]!);
    const acc = this.fresh('acc');
    s.lines.push(`${s.indent}let ${acc} = 0.0;`);
    const body = this.onLattice(s, axes, q) ?? s;
    const parent = new Map(axes.map((a) => [a, this.bind(body, `Math.floor(${this.coord(s, a)} / ${2 * q}) * ${2 * q}`)] as const));
    const at: Scope = { parent: body, lines: s.lines, indent: body.indent, memo: new Map(), coords: parent, index: undefined };
    const w = axes.map((a) => {
      const ns = Math.ceil(this.ctx.sizes[a] / q);
      return ns % 2 === 1 ? `(${this.coord(s, a)} == ${(ns - 1) * q} ? 1.0 : 0.5)` : '0.5';
    });
    s.lines.push(`${body.indent}${acc} = ${w.join(' * ')} * ${this.value(at, n.src[0]!)};`);
    if (body !== s) s.lines.push(`${s.indent}}`);
    return acc;
  }

  /**
   * A 1-D window: the source read at each tap's coordinate along the window's
   * axis, skipping taps outside the image. A cheap source (≤ UNROLL_OPS per
   * read) has its k taps unrolled, each with its literal weight and only the
   * bound it can cross (below 0 before the centre, past the end after it);
   * otherwise one loop over the taps keeps the kernel small (V8 does not
   * optimize a function past about 60 KB of bytecode). At scale level s
   * (dilation q = 2^s) the taps are q apart and it runs only at the level's
   * lattice points (0 elsewhere).
   */
  private window(outer: Scope, n: Node): string {
    const { weights, axis, dilation: q } = n.arg as WindowArg;
    const h = (weights.length - 1) / 2;
    const size = this.ctx.sizes[axis];
    const acc = this.fresh('acc');
    outer.lines.push(`${outer.indent}let ${acc} = 0.0;`);
    const lattice = this.onLattice(outer, this.spatialAxes(n), q);
    const s = lattice ?? outer;
    const c = this.coord(s, axis);
    if (this.inlineOps(n.src[0]!) > UNROLL_OPS) {
      const d = this.fresh('d');
      const sc = this.fresh(`s${axis}`);
      s.lines.push(`${s.indent}for (let ${d} = 0; ${d} < ${weights.length}; ${d}++) {`);
      s.lines.push(`${s.indent}  const ${sc} = ${c} + ${q === 1 ? `${d} - ${h}` : `${d} * ${q} - ${h * q}`};`);
      s.lines.push(`${s.indent}  if (${sc} >= 0 && ${sc} < ${size}) {`);
      const at: Scope = { parent: s, lines: s.lines, indent: `${s.indent}    `, memo: new Map(), coords: new Map([[axis, sc]]), index: undefined };
      s.lines.push(`${at.indent}${acc} += ${weightExpr(weights, d)} * ${this.value(at, n.src[0]!)};`);
      s.lines.push(`${s.indent}  }`, `${s.indent}}`);
    } else weights.forEach((w, t) => {
      const off = (t - h) * q;
      if (Math.abs(off) >= size) return;
      // The centre tap reads the element's own coordinates: values computed there stay shared.
      if (off === 0) return s.lines.push(`${s.indent}${acc} += ${lit(w)} * ${this.value(s, n.src[0]!)};`);
      const sc = this.fresh(`s${axis}`);
      s.lines.push(`${s.indent}const ${sc} = ${c} ${off < 0 ? '-' : '+'} ${Math.abs(off)};`);
      s.lines.push(`${s.indent}if (${off < 0 ? `${sc} >= 0` : `${sc} < ${size}`}) {`);
      const at: Scope = { parent: s, lines: s.lines, indent: `${s.indent}  `, memo: new Map(), coords: new Map([[axis, sc]]), index: undefined };
      s.lines.push(`${at.indent}${acc} += ${lit(w)} * ${this.value(at, n.src[0]!)};`);
      s.lines.push(`${s.indent}}`);
    });
    if (lattice) outer.lines.push(`${outer.indent}}`);
    return acc;
  }

  /** The ops computing `x` takes in this kernel (reads of inputs, buffers and small values are free; a stencil is many). */
  private inlineOps(x: Node): number {
    const seen = new Set<number>();
    let ops = 0;
    const visit = (m: Node): void => {
      if (seen.has(m.id) || m.op === 'input' || this.ctx.slots.has(m.id) || this.ctx.statics.has(m.id) || this.ctx.smallOffset.has(m.id)) return;
      seen.add(m.id);
      ops += record(m.op).kind === 'spatial' ? UNROLL_OPS + 1 : m.op === 'expand' ? 0 : 1;
      m.src.forEach(visit);
    };
    visit(x);
    return ops;
  }

  /**
   * maxpool, poolarg, poolgrad: a loop per spatial axis over its k taps (k = the window's width
   * along it; none where it is 1), the source read at shifted coordinates, skipping taps outside the image.
   */
  private stencil(s: Scope, n: Node): string {
    const spatial = n.axes.filter((a) => a === 'z' || a === 'y' || a === 'x');
    const widths = B.poolWidths(n.arg, spatial.length);
    const acc = this.fresh('acc');
    const best = n.op === 'poolarg' ? this.fresh('best') : '';
    s.lines.push(`${s.indent}let ${acc} = ${n.op === 'maxpool' ? lit(-F32_MAX) : '0.0'};`);
    if (best) s.lines.push(`${s.indent}let ${best} = ${lit(-F32_MAX)};`);
    let inner: Scope = s;
    // The axes the window spans, with their loop variables: an axis of width 1 adds nothing to a tap index.
    const taps: { d: string; k: number }[] = [];
    spatial.forEach((a, i) => {
      const k = widths[i]!;
      if (k === 1) return;
      const d = this.fresh('d');
      const c = this.fresh(`s${a}`);
      taps.push({ d, k });
      inner.lines.push(`${inner.indent}for (let ${d} = 0; ${d} < ${k}; ${d}++) {`);
      inner.lines.push(`${inner.indent}  const ${c} = ${this.coord(s, a)} + ${d} - ${(k - 1) / 2};`);
      inner.lines.push(`${inner.indent}  if (${c} >= 0 && ${c} < ${this.ctx.sizes[a]}) {`);
      inner = { parent: inner, lines: inner.lines, indent: `${inner.indent}    `, memo: new Map(), coords: new Map([[a, c]]), index: undefined };
    });
    const at = inner;
    if (n.op === 'maxpool') {
      at.lines.push(`${at.indent}${acc} = Math.max(${acc}, ${this.value(at, n.src[0]!)});`);
    } else if (n.op === 'poolarg') {
      // The first maximum in scan order: the tap index, row-major over the window's axes.
      const tap = taps.reduce((e, { d, k }) => (e === '' ? d : `(${e}) * ${k} + ${d}`), '') || '0';
      const v = this.value(at, n.src[0]!);
      at.lines.push(`${at.indent}if (${v} > ${best}) { ${best} = ${v}; ${acc} = ${tap}; }`);
    } else {
      // Element i gets g[j] from each window j whose first max it is: its tap in window j is k − 1 − d per axis.
      const mine = taps.reduce((e, { d, k }) => (e === '' ? `${k - 1} - ${d}` : `(${e}) * ${k} + ${k - 1} - ${d}`), '') || '0';
      const a = this.value(at, n.src[1]!);
      const g = this.value(at, n.src[0]!);
      at.lines.push(`${at.indent}if (${a} == ${mine}) { ${acc} += ${g}; }`);
    }
    for (let q = taps.length; q > 0; q--) {
      const ind = `${s.indent}${'    '.repeat(q - 1)}`;
      s.lines.push(`${ind}  }`, `${ind}}`);
    }
    return acc;
  }

  /** A reduction inside a kernel (over class, or part of space): a loop per reduced axis. */
  private inlineReduce(s: Scope, n: Node): string {
    const acc = this.fresh('acc');
    s.lines.push(`${s.indent}let ${acc} = ${n.op === 'sum' ? '0.0' : lit(-F32_MAX)};`);
    let inner: Scope = s;
    for (const a of n.arg as Axes) {
      const v = this.fresh(a[0]);
      inner.lines.push(`${inner.indent}for (let ${v} = 0; ${v} < ${this.ctx.sizes[a]}; ${v}++) {`);
      inner = { parent: inner, lines: inner.lines, indent: `${inner.indent}  `, memo: new Map(), coords: new Map([[a, v]]), index: undefined };
    }
    const x = this.value(inner, n.src[0]!);
    inner.lines.push(n.op === 'sum' ? `${inner.indent}${acc} += ${x};` : `${inner.indent}${acc} = Math.max(${acc}, ${x});`);
    for (let k = (n.arg as Axes).length; k > 0; k--) s.lines.push(`${s.indent}${'  '.repeat(k - 1)}}`);
    return acc;
  }
}

/** Ops a window's source may take per read for its taps to be unrolled (p * g is 1). */
const UNROLL_OPS = 4;

/** The weight of tap `d` (a loop variable): a literal for a box, else a chain of selects (cheaper than exp on the CPU). */
function weightExpr(w: readonly number[], d: string): string {
  if (w.every((x) => x === w[0])) return lit(w[0]!);
  return w.slice(0, -1).reduceRight((rest, x, i) => `(${d} == ${i} ? ${lit(x)} : ${rest})`, lit(w[w.length - 1]!));
}

/**
 * The kernel as a plain JavaScript loop over threads [start, end): each
 * `return x;` (always one line, never inside a loop of the body) stores into
 * `out` and goes on to the next thread.
 */
function asPlainJs(args: readonly string[], lines: readonly string[], width: number): string {
  const body = lines.slice(1).map((l) => {
    const m = /^(\s*)return (.*);$/.exec(l);
    if (!m) return l;
    const [, ind, x] = m as unknown as [string, string, string];
    if (!x.startsWith('[')) return `${ind}out[t] = ${x}; continue thread;`;
    const cells = x.slice(1, -1).split(', ');
    return `${ind}${cells.map((c, j) => `out[t * ${width}${j ? ` + ${j}` : ''}] = ${c};`).join(' ')} continue thread;`;
  });
  // The outermost coordinate (const c = Math.floor(t / S), no modulo) is constant over runs of S
  // threads: loop over those runs and decode it once per run, not once per element.
  const outer = body.findIndex((l) => /^const \w+ = Math\.floor\(t \/ \d+\);$/.test(l));
  const sig = [...args, 'out', 'start', 'end'].join(', ');
  if (outer < 0) return `function(${sig}) {\n  thread: for (let t = start; t < end; t++) {\n${body.map((l) => `    ${l}`).join('\n')}\n  }\n}`;
  const [, v, S] = /^const (\w+) = Math\.floor\(t \/ (\d+)\);$/.exec(body[outer]!)!;
  const rest = body.filter((_, i) => i !== outer);
  return [
    `function(${sig}) {`,
    '  for (let run = start; run < end;) {',
    `    const ${v} = Math.floor(run / ${S});`,
    `    const runEnd = Math.min(end, (${v} + 1) * ${S});`,
    '    thread: for (let t = run; t < runEnd; t++) {',
    ...rest.map((l) => `      ${l}`),
    '    }',
    '    run = runEnd;',
    '  }',
    '}',
  ].join('\n');
}

/** `v * k`, without the `* 1`. */
const term = (v: string, k: number) => (k === 1 ? v : `${v} * ${k}`);

/** The small-values buffer's name among a kernel's inputs: '#' cannot start a name in a formula, so no input is called that. */
export const SMALL = '#small';
export const inputVar = (name: string) => `in_${[...name].map((c) => c.charCodeAt(0).toString(36)).join('')}`;

/** Decode the coordinates of element `i` of a full tensor in the user's layout. */
function decode(ctx: ShapeContext, i: string, lines: string[], indent: string, prefix: string): Map<Axis, string> {
  const axes = layoutAxes(ctx.layout, ctx.dims);
  const coords = new Map<Axis, string>();
  let stride = 1;
  for (let k = axes.length - 1; k >= 0; k--) {
    const a = axes[k]!;
    const size = ctx.sizes[a];
    if (size > 1) {
      const v = `${prefix}${a}`;
      const q = stride === 1 ? i : `Math.floor(${i} / ${stride})`;
      lines.push(`${indent}const ${v} = ${k === 0 ? q : `${q} % ${size}`};`);
      coords.set(a, v);
    }
    stride *= size;
  }
  return coords;
}

/** Choose chunks so that groups × chunks is about TARGET_THREADS. */
export function reduceShape(sizes: Sizes): { groups: number; chunks: number; chunkLen: number; spatial: number } {
  const groups = sizes.batch * sizes.class;
  const spatial = count(SPATIAL, sizes);
  const want = Math.max(1, Math.min(spatial, Math.ceil(TARGET_THREADS / groups)));
  const chunkLen = Math.ceil(spatial / want);
  return { groups, chunks: Math.ceil(spatial / chunkLen), chunkLen, spatial };
}

export function emitPass(plan: Plan, pass: Pass, ctx: ShapeContext): KernelSpec {
  const inputs = plan.reads.get(pass)!;
  const usesSmall = { used: false };
  const em = new Emitter(ctx, usesSmall);
  const N = count(canonicalAxes(ctx.dims), ctx.sizes);
  const lines: string[] = ['const t = this.thread.x;'];
  const mapThreads = pass.kind === 'map' ? N : 0;
  const rs = pass.reductions;
  const width = pass.kind === 'map' || rs.length === 0 ? 1 : Math.min(4, rs.length);

  // One element per thread, in the user's layout: `t` is the element's index.
  /** `guard`: the value of a term at an element it does not cover (0 for a sum, −max for a max); undefined: no guard. */
  const element = (t: string, prefix: string, node: Node, guard: string | undefined, compute = false): string[] => {
    const body: string[] = [];
    const decodeLines: string[] = [];
    const coords = decode(ctx, t, decodeLines, '  ', prefix);
    const scope: Scope = { parent: undefined, lines: body, indent: '  ', memo: new Map(), coords, index: t };
    let x = em.value(scope, node, compute);
    // A term without an axis the elements run over counts once, at coordinate 0.
    const missing = guard !== undefined ? [...coords.keys()].filter((a) => !node.axes.includes(a)) : [];
    if (missing.length) x = `(${missing.map((a) => `${coords.get(a)} == 0`).join(' && ')} ? ${x} : ${guard})`;
    // Coordinates are decoded only where a value needs them (per-class sums do, BCE does not).
    const used = decodeLines.filter((l) => [...body, x].some((b) => b.includes(l.split(' ')[3]!)));
    return [...used, ...body, `  return ${x};`];
  };
  if (pass.kind === 'map') {
    if (rs.length > 1) throw new Error('internal: a map pass carries at most one accumulator');
    const mapBody = element('t', 'c_', pass.root, undefined);
    if (rs.length) {
      // Threads N..2N-1 write each element's term of the value's sum; the host adds them.
      // No loop in the kernel: webasm's SIMD lanes run both sides of a divergent branch.
      lines.push(`if (t < ${N}) {`, ...mapBody, '}', `const u = t - ${N};`, ...element('u', 'e_', rs[0]!.src[0]!, rs[0]!.op === 'max' ? lit(-F32_MAX) : '0.0').map((l) => l.slice(2)));
    } else {
      lines.push(...mapBody.map((l) => l.slice(2)));
    }
  }

  if (pass.kind === 'materialize') {
    // Buffer k of this pass is written by threads [kN, (k+1)N): one launch, one output.
    pass.nodes.forEach((b, k) => {
      const body = element(k === 0 ? 't' : `u${k}`, `c${k}_`, b, undefined, true);
      if (k > 0) body.unshift(`  const u${k} = t - ${k * N};`);
      if (k < pass.nodes.length - 1) lines.push(`if (t < ${(k + 1) * N}) {`, ...body, '}');
      else lines.push(...body.map((l) => l.slice(2)));
    });
  }
  if (pass.kind === 'host') throw new Error('internal: host steps have no kernel');

  let reduce: ReduceLayout | undefined;
  let loopMax = 0;
  if (pass.kind === 'reduce') {
    const { groups, chunks, chunkLen, spatial } = reduceShape(ctx.sizes);
    const parts = Math.ceil(rs.length / 4);
    reduce = { reductions: rs, groups, chunks, parts };
    const C = ctx.sizes.class;
    const lay = layoutAxes(ctx.layout, ctx.dims);
    // The spatial index r runs over (z, y, x) row-major; in either layout an
    // element's index is base(b, c) + r · strideR.
    const strideR = ctx.layout === 'nhwc' ? C : 1;
    const stride = (a: Axis) => count(lay.slice(lay.indexOf(a) + 1), ctx.sizes);
    lines.push(`const u = t - ${mapThreads};`);
    lines.push(`const part = Math.floor(u / ${groups * chunks});`);
    lines.push(`const w = u - part * ${groups * chunks};`);
    lines.push(`const grp = Math.floor(w / ${chunks});`);
    lines.push(`const chunk = w - grp * ${chunks};`);
    lines.push(C === 1 ? 'const c_batch = grp;' : `const c_batch = Math.floor(grp / ${C});`);
    lines.push(C === 1 ? 'const c_class = 0;' : `const c_class = grp - c_batch * ${C};`);
    lines.push(`const base = ${term('c_batch', stride('batch'))} + ${term('c_class', stride('class'))};`);
    for (let k = 0; k < parts; k++) {
      const mine = rs.slice(4 * k, 4 * k + 4);
      const body: string[] = [];
      const acc = mine.map((r, j) => { body.push(`  let a${j} = ${r.op === 'sum' ? '0.0' : lit(-F32_MAX)};`); return `a${j}`; });
      body.push(`  for (let j = 0; j < ${chunkLen}; j++) {`);
      body.push(`    const r = chunk * ${chunkLen} + j;`);
      body.push(`    if (r < ${spatial}) {`);
      const inner: string[] = [];
      const coords = new Map<Axis, string>([['batch', 'c_batch'], ['class', 'c_class']]);
      const scope: Scope = { parent: undefined, lines: inner, indent: '      ', memo: new Map(), coords, index: `base + ${term('r', strideR)}` };
      // Spatial coordinates from r, only when an expression needs them.
      const sp = SPATIAL.filter((a) => ctx.sizes[a] > 1);
      const spLines: string[] = [];
      let sstride = 1;
      for (let q = sp.length - 1; q >= 0; q--) {
        const a = sp[q]!;
        spLines.unshift(`      const c_${a} = ${sstride === 1 ? 'r' : `Math.floor(r / ${sstride})`}${q === 0 ? '' : ` % ${ctx.sizes[a]}`};`);
        coords.set(a, `c_${a}`);
        sstride *= ctx.sizes[a];
      }
      mine.forEach((r, j) => {
        const x = em.value(scope, r.src[0]!);
        // A source without an axis the threads run over counts once, at coordinate 0.
        const missing = (['batch', 'class', ...SPATIAL] as Axis[]).filter((a) => ctx.sizes[a] > 1 && !r.src[0]!.axes.includes(a));
        const guard = missing.map((a) => `${em.coord(scope, a)} == 0`).join(' && ');
        const update = r.op === 'sum' ? `a${j} + ${x}` : `Math.max(a${j}, ${x})`;
        inner.push(guard ? `      if (${guard}) { a${j} = ${update}; }` : `      a${j} = ${update};`);
      });
      const needed = spLines.filter((l) => inner.some((b) => b.includes(l.split(' ')[7]!)));
      body.push(...needed, ...inner, '    }', '  }');
      const ret = width === 1 ? acc[0]! : `[${Array.from({ length: width }, (_, j) => acc[j] ?? '0.0').join(', ')}]`;
      body.push(`  return ${ret};`);
      if (parts === 1) lines.push(...body.map((l) => l.slice(2)));
      else lines.push(`if (part == ${k}) {`, ...body, '}');
    }
    if (parts > 1) lines.push(`return ${width === 1 ? '0.0' : `[${new Array(width).fill('0.0').join(', ')}]`};`);
    loopMax = chunkLen + 1;
  }
  const args = [...inputs.map(inputVar), ...(usesSmall.used ? ['small'] : [])];
  const source = `function(${args.join(', ')}) {\n${lines.map((l) => `  ${l}`).join('\n')}\n}`;
  const terms = pass.kind === 'map' ? rs : [];
  const made = pass.kind === 'materialize' ? pass.nodes.length * N : 0;
  const output = made + mapThreads + (reduce ? reduce.groups * reduce.chunks * reduce.parts : 0) + (terms.length ? N : 0);
  return {
    source,
    jsSource: asPlainJs(args, lines, width),
    inputs: [...inputs, ...(usesSmall.used ? [SMALL] : [])],
    output,
    width,
    loopMaxIterations: Math.max(1000, loopMax, ...[ctx.sizes.class, ctx.sizes.x, ctx.sizes.y, ctx.sizes.z].map((n) => n + 1)),
    mapThreads,
    reduce,
    terms,
    buffers: pass.kind === 'materialize' ? pass.nodes : [],
  };
}

export { isLarge };
