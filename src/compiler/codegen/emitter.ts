// The emitter: a node's value at the coordinates of a scope, as an expression,
// with the statements computing it appended to the scope's block (kernel-ir.ts).
// Identifiers are generated and numbers printed here: no text from a formula
// file reaches the kernel. Elementwise ops come from their records' emits,
// stencil ops from their records' kernel code (core/ops/stencil.ts), which
// builds statements through the KernelEmitter interface this class implements.

import { type Axes, type Axis, type Node, toposort } from '../core/ir.ts';
import { F32_MAX } from '../core/numbers.ts';
import { canonicalAxes, count, layoutAxes } from '../core/layout.ts';
import { recomputeOps } from '../core/cost.ts';
import { type KernelEmitter, record } from '../core/ops/index.ts';
import { type Expr, type Stmt, addTo, assign, constant, letVar, lit, loop } from '../core/kernel-ir.ts';
import { type ShapeContext, inputVar } from './spec.ts';

/** A block of a kernel, with what is known at its coordinates. */
export interface Scope {
  parent: Scope | undefined;
  /** The statements of this block: what the scope emits goes here. */
  body: Stmt[];
  memo: Map<number, Expr>;
  /** Coordinate expression of each axis bound here. */
  coords: Map<Axis, Expr>;
  /** The element's index in the input layout, when known directly. */
  index: Expr | undefined;
  /** The axes of `coords` read so far (only where given): a coordinate is declared only when read. */
  read?: Set<Axis>;
  /** The loop of an inline reduction that opened this scope (a statement of the parent's block). */
  loop?: Stmt;
}

export class Emitter implements KernelEmitter {
  private n = 0;
  /** Expressions that need no name of their own: generated names and literals. */
  private readonly atoms = new Set<Expr>(['0', '0.0', '1.0']);
  /** Whether a kernel reads the small-values buffer. */
  usesSmall = false;

  constructor(readonly ctx: ShapeContext) {}

  fresh(prefix = 'v'): string {
    const v = `${prefix}${this.n++}`;
    this.atoms.add(v);
    return v;
  }

  /** A name made outside fresh() (a decoded coordinate): it is used as it is. */
  declare(name: string): string {
    this.atoms.add(name);
    return name;
  }

  /** A scope for a nested block `body` (or the same block, at other coordinates). */
  block(parent: Scope, body: Stmt[], coords = new Map<Axis, Expr>()): Scope {
    return { parent, body, memo: new Map(), coords, index: undefined };
  }

  /** A value computed in this scope or an enclosing one, unless a loop in between rebinds one of its axes. */
  private lookup(s: Scope, n: Node): Expr | undefined {
    for (let x: Scope | undefined = s; x; x = x.parent) {
      const v = x.memo.get(n.id);
      if (v !== undefined) return v;
      if (n.axes.some((a) => x!.coords.has(a))) return undefined;
    }
    return undefined;
  }

  coord(s: Scope, a: Axis): Expr {
    for (let x: Scope | undefined = s; x; x = x.parent) {
      const c = x.coords.get(a);
      if (c !== undefined) { x.read?.add(a); return c; }
    }
    // An absent axis (z in 2-D data) has the single coordinate 0.
    if (this.ctx.sizes[a] === 1) return '0';
    throw new Error(`internal: axis ${a} is not bound in this kernel scope`);
  }

  /** `Σ coordinate · stride` over `axes` (row-major), the axes of size 1 left out. */
  private offset(s: Scope, axes: readonly Axis[]): string[] {
    let stride = 1;
    const terms: string[] = [];
    for (let i = axes.length - 1; i >= 0; i--) {
      const a = axes[i]!;
      if (this.ctx.sizes[a] > 1) terms.push(stride === 1 ? this.coord(s, a) : `${this.coord(s, a)} * ${stride}`);
      stride *= this.ctx.sizes[a];
    }
    return terms.reverse();
  }

  /** Index of the element at the scope's coordinates in a full input (the user's layout). */
  inputIndex(s: Scope): Expr {
    if (s.index !== undefined) return s.index;
    const terms = this.offset(s, layoutAxes(this.ctx.layout, this.ctx.dims));
    return terms.length ? terms.join(' + ') : '0';
  }

  private smallIndex(s: Scope, n: Node): Expr {
    const off = this.ctx.smallOffset.get(n.id);
    if (off === undefined) throw new Error(`internal: small node ${n.id} (${n.op}) has no buffer slot`);
    this.usesSmall = true;
    return `small[${[String(off), ...this.offset(s, n.axes)].join(' + ')}]`;
  }

  /**
   * Whether value(s, n) would emit n as an elementwise op (or look through a broadcast) of values at the same
   * scope, recursing into its sources: not a static, a memo, a buffer read or an op that opens loops.
   */
  private plain(s: Scope, n: Node): boolean {
    if (this.ctx.statics.has(n.id) || this.ctx.smallOffset.has(n.id) || n.op === 'input' || this.ctx.slots.has(n.id)) return false;
    if (n.op === 'expand') return true;
    const r = record(n.op);
    return !!r.emit && n.op !== 'sum' && n.op !== 'max' && this.lookup(s, n) === undefined;
  }

  /** An expression for node `n` at the coordinates of scope `s`; `compute` ignores n's own buffer (to fill it). */
  value(s: Scope, n: Node, compute = false): Expr {
    // A long chain of elementwise ops (a repeat unrolled 1000 times) is emitted sources first, with a loop:
    // each value() below then finds its sources memoized and recursion stays shallow.
    const st = this.ctx.statics.get(n.id);
    if (st !== undefined) return this.literal(st);
    const memo = this.lookup(s, n);
    if (memo !== undefined) return memo;
    // Loop-invariant code motion: a value that does not vary along an inline reduction's loop (softmax's
    // max and sum over classes, read inside a loop over classes) is computed once, before the loop.
    if (!compute && s.loop) {
      let h: Scope = s;
      let before: Stmt | undefined;
      while (h.loop && h.parent && ![...h.coords.keys()].some((a) => n.axes.includes(a))) { before = h.loop; h = h.parent; }
      if (before && h.body.includes(before)) return this.hoisted(h, before, n);
    }
    if (!compute && this.plain(s, n) && n.src.some((x) => this.plain(s, x) && x.src.some((y) => this.plain(s, y)))) {
      for (const m of toposort([n], (m) => m !== n && !this.plain(s, m))) if (m !== n && this.plain(s, m)) this.value(s, m);
    }
    let out: Expr;
    const r = record(n.op);
    if (this.ctx.smallOffset.has(n.id)) out = this.smallIndex(s, n);
    else if (n.op === 'input') out = this.bind(s, `${inputVar(n.arg as string)}[${this.inputIndex(s)}]`);
    else if (this.ctx.slots.has(n.id) && !compute) out = this.bufferRead(s, n);
    else if (r.kind === 'stencil') out = r.kernel(this, s, n);
    else if (r.kind === 'host') throw new Error(`internal: host op '${n.op}' must be a buffer`);
    else if (n.op === 'expand') out = this.value(s, n.src[0]!);
    else if (n.op === 'sum' || n.op === 'max') out = this.inlineReduce(s, n);
    else out = this.elementwise(s, n);
    s.memo.set(n.id, out);
    return out;
  }

  /** The ops computing `x` takes per read here: inputs, buffers, small values and literals are read; a stencil or host op opens loops. */
  opsPerRead(x: Node): number {
    const { slots, statics, smallOffset } = this.ctx;
    return recomputeOps(x, (m) => slots.has(m.id) || statics.has(m.id) || smallOffset.has(m.id), (m) => { const k = record(m.op).kind; return k === 'stencil' || k === 'host'; });
  }

  /** A literal: needs no name. */
  literal(v: number): Expr {
    const e = lit(v);
    this.atoms.add(e);
    return e;
  }

  /** `expr` under a name of its own in the scope's block (a name or literal is already one). */
  bind(s: Scope, expr: Expr): Expr {
    if (this.atoms.has(expr)) return expr;
    const v = this.fresh();
    s.body.push(constant(v, expr));
    return v;
  }

  /** A full-size node held in a buffer: read like an input, at its slot. */
  private bufferRead(s: Scope, n: Node): Expr {
    const { region, slot } = this.ctx.slots.get(n.id)!;
    const n0 = count(canonicalAxes(this.ctx.dims), this.ctx.sizes);
    // No `+ 0`: gpu.js types a sum of two literals as a float, and GLSL then finds no texture lookup for it.
    const idx = this.inputIndex(s);
    const at = slot === 0 ? idx : idx === '0' ? String(slot * n0) : `${slot * n0} + ${idx}`;
    return this.bind(s, `${inputVar(region)}[${at}]`);
  }

  /** An elementwise op: its record's emit of its sources' values. */
  private elementwise(s: Scope, n: Node): Expr {
    const r = record(n.op);
    if (!r.emit) throw new Error(`internal: op '${n.op}' has no kernel emit`);
    const args = n.src.map((x) => this.value(s, x));
    const consts = n.src.map((x) => this.ctx.statics.get(x.id));
    const expr = r.emit(args, { consts, lit, bind: (e) => this.bind(s, e) });
    return this.bind(s, expr);
  }

  /** value(h, n) with its statements placed in h's block before `before` (a loop in that block). */
  private hoisted(h: Scope, before: Stmt, n: Node): Expr {
    const block = h.body;
    const moved: Stmt[] = [];
    h.body = moved;
    let v: Expr;
    try { v = this.value(h, n); } finally { h.body = block; }
    block.splice(block.indexOf(before), 0, ...moved);
    return v;
  }

  /** A reduction inside a kernel (over class, or part of space): a loop per reduced axis. */
  private inlineReduce(s: Scope, n: Node): Expr {
    const acc = this.fresh('acc');
    s.body.push(letVar(acc, n.op === 'sum' ? '0.0' : lit(-F32_MAX)));
    let inner: Scope = s;
    for (const a of n.arg as Axes) {
      const v = this.fresh(a[0]);
      const l = loop(v, this.ctx.sizes[a]);
      inner.body.push(l);
      inner = { ...this.block(inner, l.body, new Map([[a, v]])), loop: l };
    }
    const x = this.value(inner, n.src[0]!);
    inner.body.push(n.op === 'sum' ? addTo(acc, x) : assign(acc, `Math.max(${acc}, ${x})`));
    return acc;
  }
}
