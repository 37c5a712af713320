// The SIMD form of codegen/wat.ts: four threads (a map pass) or four iterations of an
// innermost loop (a reduce pass) at a time in f32x4, with the vectorized math of
// codegen/wat-math.ts; what it cannot take stays scalar (codegen/wat-expr.ts).

import type { Stmt } from '../core/kernel-ir.ts';
import { type Ast, type Fn, asF64, parseExpr, scalarBin, scalarCall, watF64 } from './wat-expr.ts';

// ------------------------------------------------------------------ SIMD (f32x4)
//
// Four consecutive threads (a map pass: the thread loop) or four consecutive
// iterations (a reduce pass: its innermost loop) run as one, each value of a
// class: U uniform (one f64, the same in the 4 lanes), B a uniform truth (i32),
// A the lane index itself plus a uniform (kept as lane 0's f64: t, t − 70,
// base + r), V a vector (f32x4: values in float32, as gpu.js webasm computes),
// M a vector of truths (a mask). Loads at an A index are one v128.load, at a U
// index one load splatted; anything else (an index computed per lane: t % C,
// ⌊t / S⌋) leaves the kernel to the scalar form. A condition that differs
// between the lanes sends those 4 threads (iterations) to the scalar form, as
// long as nothing was written before it.

type Cls = 'U' | 'B' | 'A' | 'S' | 'V' | 'M';
/** `stride` (class S): lane k holds code + k·stride, a uniform f64 (nhwc's classes: the spatial index times C). */
/** `inv`: a uniform that stays the same over the whole region (a run of threads, or the loop): computed once, before it. */
interface VX { code: string; c: Cls; stride?: string; inv?: boolean }
interface Var { l: string; c: Cls; key?: string; outer?: boolean; stride?: string; inv?: boolean }

/** The kernel (or loop) cannot run 4 lanes at once: print it scalar. */
export class Unvectorizable extends Error {}
/** A `let` first met uniform takes a vector: print the region again with it a vector from the start. */
class Retry extends Error {}

const LANES = '(v128.const f32x4 0 1 2 3)';
/** The small-values buffer's argument (codegen/pass.ts): the one array read at per-lane indices. */
const SMALL_ARRAY = 'small';
const vconst = (v: number) => `(v128.const f32x4 ${watF64(v)} ${watF64(v)} ${watF64(v)} ${watF64(v)})`;
const localType = (c: Cls) => (c === 'V' || c === 'M' ? 'v128' : c === 'B' ? 'i32' : 'f64');

export class VRegion {
  readonly scopes: Map<string, Var>[] = [new Map()];
  private decls = 0;
  effects = false;
  /** Conditions under which the 4 lanes must run scalar (⌊t / S⌋ differs between them), for the statement at hand. */
  guards: string[] = [];
  /** Reduce loops: outer accumulators (name → vector local, sum/max/min). */
  acc = new Map<string, { vl: string; kind: 'add' | 'max' | 'min' }>();
  constructor(
    readonly f: Fn,
    readonly promoted: Set<string>,
    readonly mode: 'thread' | 'loop',
    /** Code that runs the region's 4 lanes scalar and leaves the region. */
    readonly fallback: string,
    /** Names written in the loop that live outside it (loop mode). */
    readonly outerWritten: ReadonlySet<string> = new Set(),
    readonly width = 1,
  ) {}
  declare(name: string, c: Cls): Var {
    const v: Var = { l: this.f.local(name, localType(c)), c, key: `${name}#${this.decls++}` };
    this.scopes[this.scopes.length - 1]!.set(name, v);
    return v;
  }
  nextKey(name: string): string { return `${name}#${this.decls}`; }
  lookup(name: string): Var {
    for (let s = this.scopes.length - 1; s >= 0; s--) { const v = this.scopes[s]!.get(name); if (v) return v; }
    if (this.mode === 'loop') return { l: this.f.lookup(name), c: 'U', outer: true, inv: true };
    throw new Error(`wasm: unknown name '${name}' in a kernel`);
  }
}

/** Where the region being printed hoists its invariant vectors (each once), while it is printed. */
let hoist: { f: Fn; code: string[]; memo: Map<string, string> } | undefined;

function toV(x: VX): string {
  switch (x.c) {
    case 'V': return x.code;
    case 'U': {
      const splat = `(f32x4.splat (f32.demote_f64 ${x.code}))`;
      if (!x.inv || !hoist) return splat;
      let l = hoist.memo.get(splat);
      if (!l) { l = hoist.f.local('inv', 'v128'); hoist.memo.set(splat, l); hoist.code.push(`(local.set ${l} ${splat})`); }
      return `(local.get ${l})`;
    }
    case 'A': return `(f32x4.add (f32x4.splat (f32.demote_f64 ${x.code})) ${LANES})`;
    case 'S': return `(f32x4.add (f32x4.splat (f32.demote_f64 ${x.code})) (f32x4.mul ${LANES} (f32x4.splat (f32.demote_f64 ${x.stride!}))))`;
    case 'B': return `(f32x4.convert_i32x4_u (i32x4.splat ${x.code}))`;
    case 'M': return `(v128.and ${x.code} ${vconst(1)})`;
  }
}
function toM(r: VRegion, x: VX): string {
  switch (x.c) {
    case 'M': return x.code;
    case 'B': return `(i32x4.splat (i32.sub (i32.const 0) ${x.code}))`;
    case 'U': return `(i32x4.splat (i32.sub (i32.const 0) (f64.ne ${x.code} (f64.const 0))))`;
    default: {
      const t = r.f.local('m', 'v128');
      return `(block (result v128) (local.set ${t} ${toV(x)}) (v128.and (f32x4.ne (local.get ${t}) ${vconst(0)}) (f32x4.eq (local.get ${t}) (local.get ${t}))))`;
    }
  }
}
const toB = (x: VX) => (x.c === 'B' ? x.code : x.c === 'U' ? `(f64.ne ${x.code} (f64.const 0))` : null);
const toU = (x: VX) => (x.c === 'U' ? x.code : x.c === 'B' ? `(f64.convert_i32_u ${x.code})` : null);

const CMP: Readonly<Record<string, string>> = { '<': 'lt', '>': 'gt', '<=': 'le', '>=': 'ge', '==': 'eq', '===': 'eq', '!=': 'ne', '!==': 'ne' };
const FLIP: Readonly<Record<string, string>> = { lt: 'gt', gt: 'lt', le: 'ge', ge: 'le', eq: 'eq', ne: 'ne' };

function vexpr(r: VRegion, e: Ast): VX {
  switch (e.k) {
    case 'num': return { code: `(f64.const ${watF64(e.v)})`, c: 'U', inv: true };
    case 'id': {
      const v = r.lookup(e.name);
      if (v.outer && r.outerWritten.has(e.name)) throw new Unvectorizable(`'${e.name}' read in the loop that sums into it`);
      return { code: `(local.get ${v.l})`, c: v.c, ...(v.stride ? { stride: v.stride } : {}), ...(v.inv ? { inv: true } : {}) };
    }
    case 'index': {
      const base = r.f.arrays.get(e.arr);
      if (!base) throw new Error(`wasm: '${e.arr}' is not an array of the kernel`);
      const i = vexpr(r, e.i);
      const addr = (x: string) => `(i32.add (local.get ${base}) (i32.shl (i32.trunc_f64_s ${x}) (i32.const 2)))`;
      if (i.c === 'U') return { code: `(f64.promote_f32 (f32.load ${addr(i.code)}))`, c: 'U', inv: i.inv };
      if (i.c === 'A') return { code: `(v128.load ${addr(i.code)})`, c: 'V' };
      if (i.c === 'S') {
        // Lanes a stride apart: four loads into one vector.
        const b0 = r.f.local('sb'), st = r.f.local('st');
        const at = (k: number) => `(f32.load ${addr(`(f64.add (local.get ${b0}) (f64.mul (f64.const ${k}) (local.get ${st})))`)})`;
        let code = `(f32x4.splat ${at(0)})`;
        for (let k = 1; k < 4; k++) code = `(f32x4.replace_lane ${k} ${code} ${at(k)})`;
        return { code: `(block (result v128) (local.set ${b0} ${i.code}) (local.set ${st} ${i.stride!}) ${code})`, c: 'V' };
      }
      // The small values (a few per batch and class): each lane its own, at indices exact in float32.
      if (i.c === 'V' && e.arr === SMALL_ARRAY) {
        const iv = r.f.local('gi', 'v128');
        const at = (k: number) => `(f32.load (i32.add (local.get ${base}) (i32.shl (i32x4.extract_lane ${k} (local.get ${iv})) (i32.const 2))))`;
        let code = `(f32x4.splat ${at(0)})`;
        for (let k = 1; k < 4; k++) code = `(f32x4.replace_lane ${k} ${code} ${at(k)})`;
        return { code: `(block (result v128) (local.set ${iv} (i32x4.trunc_sat_f32x4_s ${i.code})) ${code})`, c: 'V' };
      }
      throw new Unvectorizable('an index computed per lane');
    }
    case 'un': {
      const a = vexpr(r, e.a);
      if (e.op === '+') return a;
      if (e.op === '!') { const b = toB(a); return b ? { code: `(i32.eqz ${b})`, c: 'B' } : { code: `(v128.not ${toM(r, a)})`, c: 'M' }; }
      const u = toU(a);
      if (a.c === 'S') throw new Unvectorizable('a strided index negated');
      return u ? { code: `(f64.neg ${u})`, c: 'U', inv: a.inv } : { code: `(f32x4.neg ${toV(a)})`, c: 'V' };
    }
    case 'cond': {
      const c = vexpr(r, e.c), a = vexpr(r, e.a), b = vexpr(r, e.b);
      const cb = toB(c);
      if (cb) {
        const ua = toU(a), ub = toU(b);
        if (ua && ub) return { code: `(if (result f64) ${cb} (then ${ua}) (else ${ub}))`, c: 'U', inv: c.inv && a.inv && b.inv };
        return { code: `(select (result v128) ${toV(a)} ${toV(b)} ${cb})`, c: 'V' };
      }
      return { code: `(v128.bitselect ${toV(a)} ${toV(b)} ${toM(r, c)})`, c: 'V' };
    }
    case 'call': {
      const q = e.args[0];
      if (e.f === 'floor' && e.args.length === 1 && q!.k === 'bin' && q!.op === '/') {
        // ⌊(t + k) / S⌋: uniform over the 4 lanes unless they straddle a multiple of S, when they run scalar.
        const n = vexpr(r, q!.a), d = vexpr(r, q!.b);
        const ud = toU(d);
        if (n.c === 'A' && ud) {
          const q0 = `(f64.floor (f64.div ${n.code} ${ud}))`;
          r.guards.push(`(f64.ne ${q0} (f64.floor (f64.div (f64.add ${n.code} (f64.const 3)) ${ud})))`);
          return { code: q0, c: 'U' };
        }
      }
      const a = e.args.map((x) => vexpr(r, x));
      const us = a.map(toU);
      if (us.every((u) => u !== null)) return { code: asF64(scalarCall(r.f, e.f, us as string[])), c: 'U', inv: a.every((y) => y.inv) };
      const [x] = a;
      if (a.some((y) => y.c === 'S')) throw new Unvectorizable(`Math.${e.f} of a strided index`);
      if (a.some((y) => y.c === 'A')) {
        if ((e.f === 'floor' || e.f === 'ceil' || e.f === 'trunc') && x!.c === 'A') return x!;
        throw new Unvectorizable(`Math.${e.f} of the thread index`);
      }
      const v = a.map(toV);
      switch (e.f) {
        case 'floor': case 'ceil': case 'trunc': case 'abs': case 'sqrt': return { code: `(f32x4.${e.f} ${v[0]!})`, c: 'V' };
        case 'fround': return { code: v[0]!, c: 'V' };
        case 'exp': case 'log': return { code: `(call $v${e.f} ${v[0]!})`, c: 'V' };
        case 'pow': return { code: `(call $vpow ${v[0]!} ${v[1]!})`, c: 'V' };
        case 'min': case 'max': return { code: v.slice(1).reduce((p, q) => `(f32x4.${e.f} ${p} ${q})`, v[0]!), c: 'V' };
        case 'sign': {
          const t = r.f.local('sg', 'v128');
          return { code: `(block (result v128) (local.set ${t} ${v[0]!}) (v128.bitselect ${vconst(1)} (v128.bitselect ${vconst(-1)} (local.get ${t}) (f32x4.lt (local.get ${t}) ${vconst(0)})) (f32x4.gt (local.get ${t}) ${vconst(0)})))`, c: 'V' };
        }
      }
      throw new Unvectorizable(`Math.${e.f}`);
    }
    case 'bin': {
      const { op } = e;
      const a = vexpr(r, e.a), b = vexpr(r, e.b);
      if (op === '&&' || op === '||') {
        const ba = toB(a), bb = toB(b);
        if (ba && bb) return { code: `(i32.${op === '&&' ? 'and' : 'or'} ${ba} ${bb})`, c: 'B' };
        return { code: `(v128.${op === '&&' ? 'and' : 'or'} ${toM(r, a)} ${toM(r, b)})`, c: 'M' };
      }
      const ua = toU(a), ub = toU(b);
      if (ua && ub) { const x = scalarBin(r.f, op, ua, ub); return { code: x.code, c: x.ty === 'i32' ? 'B' : 'U', inv: a.inv && b.inv }; }
      const cmp = CMP[op];
      if (cmp && (a.c === 'S' || b.c === 'S')) throw new Unvectorizable('a strided index compared');
      if (cmp) {
        // The lane index against a uniform: a0 + k OP b ⇔ k OP b − a0, compared with the lanes 0..3.
        if (a.c === 'A' && ub) return { code: `(f32x4.${cmp} ${LANES} (f32x4.splat (f32.demote_f64 (f64.sub ${ub} ${a.code}))))`, c: 'M' };
        if (b.c === 'A' && ua) return { code: `(f32x4.${FLIP[cmp]} ${LANES} (f32x4.splat (f32.demote_f64 (f64.sub ${ua} ${b.code}))))`, c: 'M' };
        if (a.c === 'A' && b.c === 'A') return { code: `(f64.${cmp} ${a.code} ${b.code})`, c: 'B' };
        if (a.c === 'A' || b.c === 'A') throw new Unvectorizable('the thread index compared per lane');
        return { code: `(f32x4.${cmp} ${toV(a)} ${toV(b)})`, c: 'M' };
      }
      if (a.c === 'S' || b.c === 'S') {
        // base + k·stride: plus or minus a uniform.
        if (op === '+' && a.c === 'S' && ub) return { code: `(f64.add ${a.code} ${ub})`, c: 'S', stride: a.stride! };
        if (op === '+' && b.c === 'S' && ua) return { code: `(f64.add ${ua} ${b.code})`, c: 'S', stride: b.stride! };
        if (op === '-' && a.c === 'S' && ub) return { code: `(f64.sub ${a.code} ${ub})`, c: 'S', stride: a.stride! };
        throw new Unvectorizable(`'${op}' on a strided index`);
      }
      if (a.c === 'A' || b.c === 'A') {
        // (t + k)·s = t·s + k·s: lanes a stride apart.
        if (op === '*' && a.c === 'A' && ub) return { code: `(f64.mul ${a.code} ${ub})`, c: 'S', stride: ub };
        if (op === '*' && b.c === 'A' && ua) return { code: `(f64.mul ${ua} ${b.code})`, c: 'S', stride: ua };
        const lit = ub && /^\(f64\.const ([0-9.e+]+)\)$/.exec(ub);
        if (op === '%' && a.c === 'A' && lit && (Number(lit[1]) >= 16 || Number(lit[1]) % 4 === 0)) {
          // (t + k) % C for a row of C ≥ 16 (a coordinate along the innermost axis), or C a multiple of 4
          // (nhwc's classes: 4 lanes, 4 classes of one pixel): the lane index plus t % C, unless the 4 lanes
          // straddle a row's end (never, for C a multiple of 4 from an aligned start), when they run scalar.
          const m0 = scalarBin(r.f, '%', a.code, ub).code;
          const l = r.f.local('row');
          r.guards.push(`(f64.ge (f64.add (local.tee ${l} ${m0}) (f64.const 3)) ${ub})`);
          return { code: `(local.get ${l})`, c: 'A' };
        }
        if (op === '%' && a.c === 'A' && ub) {
          // (t + k) % C = (t % C + k) wrapped below C: small integers, exact in float32.
          const m = r.f.local('mod', 'v128'), c = r.f.local('modc', 'v128');
          const m0 = scalarBin(r.f, '%', a.code, ub).code;
          const wrap = `(local.set ${m} (f32x4.sub (local.get ${m}) (v128.and (f32x4.ge (local.get ${m}) (local.get ${c})) (local.get ${c}))))`;
          return { code: `(block (result v128) (local.set ${c} (f32x4.splat (f32.demote_f64 ${ub}))) (local.set ${m} (f32x4.add (f32x4.splat (f32.demote_f64 ${m0})) ${LANES})) ${wrap} ${wrap} ${wrap} (local.get ${m}))`, c: 'V' };
        }
        if (op === '+' && a.c === 'A' && ub) return { code: `(f64.add ${a.code} ${ub})`, c: 'A' };
        if (op === '+' && b.c === 'A' && ua) return { code: `(f64.add ${ua} ${b.code})`, c: 'A' };
        if (op === '-' && a.c === 'A' && ub) return { code: `(f64.sub ${a.code} ${ub})`, c: 'A' };
        if (op === '-' && a.c === 'A' && b.c === 'A') return { code: `(f64.sub ${a.code} ${b.code})`, c: 'U' };
        throw new Unvectorizable(`'${op}' on the thread index`);
      }
      const V = { '+': 'add', '-': 'sub', '*': 'mul', '/': 'div' }[op as '+'];
      if (!V) throw new Unvectorizable(`'${op}' per lane`);
      return { code: `(f32x4.${V} ${toV(a)} ${toV(b)})`, c: 'V' };
    }
  }
}

const mentions = (e: Ast, name: string): boolean => {
  switch (e.k) {
    case 'num': return false;
    case 'id': return e.name === name;
    case 'index': return mentions(e.i, name);
    case 'call': return e.args.some((a) => mentions(a, name));
    case 'un': return mentions(e.a, name);
    case 'bin': return mentions(e.a, name) || mentions(e.b, name);
    case 'cond': return mentions(e.c, name) || mentions(e.a, name) || mentions(e.b, name);
  }
};

/** An accumulation `a = a + x`, `a += x`, `a = Math.max(a, x)` into a name: its kind and x. */
function accumulation(s: Stmt & { kind: 'assign' }): { kind: 'add' | 'max' | 'min'; x: Ast } | undefined {
  const e = parseExpr(s.value);
  const self = (a: Ast) => a.k === 'id' && a.name === s.name;
  if (s.add) return mentions(e, s.name) ? undefined : { kind: 'add', x: e };
  if (e.k === 'bin' && e.op === '+') {
    if (self(e.a) && !mentions(e.b, s.name)) return { kind: 'add', x: e.b };
    if (self(e.b) && !mentions(e.a, s.name)) return { kind: 'add', x: e.a };
  }
  if (e.k === 'call' && (e.f === 'max' || e.f === 'min') && e.args.length === 2) {
    if (self(e.args[0]!) && !mentions(e.args[1]!, s.name)) return { kind: e.f, x: e.args[1]! };
    if (self(e.args[1]!) && !mentions(e.args[0]!, s.name)) return { kind: e.f, x: e.args[0]! };
  }
  return undefined;
}

function vstmts(r: VRegion, body: readonly Stmt[], out: string[]): void {
  for (const s of body) {
    const mark = out.length, before = r.effects, enclosing = r.guards;
    r.guards = [];
    vstmt(r, s, out);
    const g = r.guards;
    r.guards = enclosing;
    if (g.length) {
      if (before) throw new Unvectorizable('lanes part after a write');
      out.splice(mark, 0, `(if ${g.reduce((x, y) => `(i32.or ${x} ${y})`)} (then ${r.fallback}))`);
    }
  }
}

function vstmt(r: VRegion, s: Stmt, out: string[]): void {
  switch (s.kind) {
    case 'const': case 'let': {
      const x = vexpr(r, parseExpr(s.value));
      const vec = s.kind === 'let' && r.promoted.has(r.nextKey(s.name));
      const c: Cls = vec ? 'V' : x.c;
      const v = r.declare(s.name, c);
      if (c === 'S') v.stride = x.stride!;
      // A constant the same over the region is computed once before it (where its hoisted uses read it).
      if (s.kind === 'const' && x.inv && hoist && (c === 'U' || c === 'B')) { v.inv = true; hoist.code.push(`(local.set ${v.l} ${x.code})`); break; }
      out.push(`(local.set ${v.l} ${vec ? toV(x) : x.code})`);
      break;
    }
    case 'assign': {
      const v = r.lookup(s.name);
      if (v.outer) {
        const a = accumulation(s);
        if (!a) throw new Unvectorizable(`'${s.name}' written in the loop other than by a sum, max or min`);
        let acc = r.acc.get(s.name);
        if (!acc) { acc = { vl: r.f.local(`acc_${s.name}`, 'v128'), kind: a.kind }; r.acc.set(s.name, acc); }
        if (acc.kind !== a.kind) throw new Unvectorizable(`'${s.name}' both summed and maxed`);
        const x = toV(vexpr(r, a.x));
        out.push(`(local.set ${acc.vl} (f32x4.${a.kind} (local.get ${acc.vl}) ${x}))`);
        r.effects = true;
        break;
      }
      const x = vexpr(r, parseExpr(s.value));
      const addTo = (cur: string, val: string, c: Cls) => (s.add ? (c === 'V' ? `(f32x4.add ${cur} ${val})` : `(f64.add ${cur} ${val})`) : val);
      if (v.c === 'V') out.push(`(local.set ${v.l} ${addTo(`(local.get ${v.l})`, toV(x), 'V')})`);
      else if (v.c === 'U' && toU(x)) out.push(`(local.set ${v.l} ${addTo(`(local.get ${v.l})`, toU(x)!, 'U')})`);
      else if (v.key) { r.promoted.add(v.key); throw new Retry(); }
      else throw new Unvectorizable(`'${s.name}' changes class`);
      break;
    }
    case 'if': {
      const c = vexpr(r, parseExpr(s.cond));
      const inner: string[] = [];
      const before = r.effects;
      r.scopes.push(new Map());
      vstmts(r, s.body, inner);
      r.scopes.pop();
      // A body that ends in the thread's result leaves nothing written for the code after it.
      if (s.body.at(-1)?.kind === 'return') r.effects = before;
      const b = toB(c);
      if (b) { out.push(`(if ${b} (then ${inner.join(' ')}))`); break; }
      // Lanes that part go scalar from the region's start: only while nothing was written yet.
      if (before) throw new Unvectorizable('lanes part after a write');
      const m = r.f.local('mask', 'v128');
      out.push(`(local.set ${m} ${toM(r, c)})`);
      out.push(`(if (v128.any_true (local.get ${m})) (then (if (i32x4.all_true (local.get ${m})) (then ${inner.join(' ')}) (else ${r.fallback}))))`);
      break;
    }
    case 'for': {
      r.scopes.push(new Map());
      const v = r.declare(s.v, 'U');
      const inner: string[] = [];
      vstmts(r, s.body, inner);
      r.scopes.pop();
      out.push(`(local.set ${v.l} (f64.const 0))`);
      out.push(`(block $vfb${v.l} (loop $vfl${v.l} (br_if $vfb${v.l} (f64.ge (local.get ${v.l}) (f64.const ${s.count}))) ${inner.join(' ')} (local.set ${v.l} (f64.add (local.get ${v.l}) (f64.const 1))) (br $vfl${v.l})))`);
      break;
    }
    case 'return': {
      if (r.mode !== 'thread') throw new Unvectorizable('a result inside a loop');
      const w = r.width;
      if (w === 1) out.push(`(v128.store (i32.add (local.get $p_out) (i32.shl (local.get $ti) (i32.const 2))) ${toV(vexpr(r, parseExpr(s.values[0]!)))})`);
      else s.values.forEach((x, j) => {
        const t = r.f.local('res', 'v128');
        out.push(`(local.set ${t} ${toV(vexpr(r, parseExpr(x)))})`);
        for (let k = 0; k < 4; k++) out.push(`(f32.store offset=${4 * (k * w + j)} (i32.add (local.get $p_out) (i32.shl (i32.mul (local.get $ti) (i32.const ${w})) (i32.const 2))) (f32x4.extract_lane ${k} (local.get ${t})))`);
      });
      out.push('(br $nextq)');
      r.effects = true;
      break;
    }
  }
}

/** Print a region, again with the promoted `let`s vectors until none changes class. */
export function region(make: (promoted: Set<string>) => VRegion, body: readonly Stmt[], seed?: (r: VRegion) => void): { r: VRegion; code: string[]; hoisted: string[] } {
  const promoted = new Set<string>();
  const outer = hoist;
  try {
    for (let tries = 0; tries < 64; tries++) {
      const r = make(promoted);
      seed?.(r);
      const code: string[] = [];
      hoist = { f: r.f, code: [], memo: new Map() };
      try { vstmts(r, body, code); return { r, code, hoisted: hoist.code }; } catch (e) { if (!(e instanceof Retry)) throw e; }
    }
    throw new Unvectorizable('classes do not settle');
  } finally {
    hoist = outer;
  }
}

const written = (body: readonly Stmt[], into = new Set<string>()): Set<string> => {
  for (const s of body) {
    if (s.kind === 'assign') into.add(s.name);
    if (s.kind === 'if' || s.kind === 'for') written(s.body, into);
  }
  return into;
};
const declared = (body: readonly Stmt[], into = new Set<string>()): Set<string> => {
  for (const s of body) {
    if (s.kind === 'const' || s.kind === 'let') into.add(s.name);
    if (s.kind === 'for') into.add(s.v);
    if (s.kind === 'if' || s.kind === 'for') declared(s.body, into);
  }
  return into;
};

/**
 * A loop of a scalar thread as f32x4 over 4 iterations at a time: the outer
 * names it writes are sums (max, min) kept in vector accumulators and added
 * into the scalar after the loop; the iterations left (fewer than 4) run in the
 * scalar loop printed after this, from where the counter `v` stops. Undefined
 * when the loop cannot.
 */
export function vectorLoop(f: Fn, s: Stmt & { kind: 'for' }, v: string, scalarBody: readonly string[]): string | undefined {
  if (s.count < 4) return undefined;
  const own = declared(s.body);
  const outer = new Set([...written(s.body)].filter((n) => !own.has(n)));
  const base = f.local(`${s.v}_v`);
  // One copy of the body over iterations [at, at + 4): its own block, which lanes that part leave after
  // running those 4 iterations scalar. Two copies per step of 8 sum into two sets of accumulators (two
  // dependency chains per sum); a single copy takes a last step of 4.
  const hoisted: string[] = [];
  const copy = (k: number, acc: VRegion['acc']): string[] | undefined => {
    const at = f.local(`${s.v}_v${k}`);
    const label = `$vnext${at}`;
    const fallback = `(local.set ${v} (local.get ${at})) (block $fbk${at} (loop $flk${at} (br_if $fbk${at} (f64.ge (local.get ${v}) (f64.add (local.get ${at}) (f64.const 4)))) ${scalarBody.join(' ')} (local.set ${v} (f64.add (local.get ${v}) (f64.const 1))) (br $flk${at}))) (br ${label})`;
    try {
      const { code, hoisted: h } = region((p) => { const r = new VRegion(f, p, 'loop', fallback, outer); r.acc = acc; return r; }, s.body, (r) => { r.scopes[0]!.set(s.v, { l: at, c: 'A' }); });
      hoisted.push(...h);
      return [`(local.set ${at} (f64.add (local.get ${base}) (f64.const ${4 * (k % 2)})))`, `(block ${label} ${code.join(' ')})`];
    } catch (e) {
      if (e instanceof Unvectorizable) return undefined;
      throw e;
    }
  };
  const acc0: VRegion['acc'] = new Map(), acc1: VRegion['acc'] = new Map();
  const c0 = copy(0, acc0), c1 = copy(1, acc1), c2 = copy(2, acc0);
  if (!c0 || !c1 || !c2) return undefined;
  const accs = [...acc0.values(), ...acc1.values()];
  const init = accs.map((a) => `(local.set ${a.vl} ${vconst(a.kind === 'add' ? 0 : a.kind === 'max' ? -Infinity : Infinity)})`);
  const lane = (vl: string, k: number) => `(f64.promote_f32 (f32x4.extract_lane ${k} (local.get ${vl})))`;
  const fold = [...acc0].map(([name, a]) => {
    const l = f.lookup(name);
    const b = acc1.get(name)!;
    const op = a.kind === 'add' ? 'add' : a.kind;
    const both = `(f32x4.${op} (local.get ${a.vl}) (local.get ${b.vl}))`;
    const t = f.local('fold', 'v128');
    return `(local.set ${t} ${both}) (local.set ${l} (f64.${op} (local.get ${l}) (f64.${op} (f64.${op} ${lane(t, 0)} ${lane(t, 1)}) (f64.${op} ${lane(t, 2)} ${lane(t, 3)}))))`;
  });
  return [
    ...init,
    // What does not change over the loop, splatted once before it.
    ...hoisted,
    `(local.set ${base} (f64.const 0))`,
    `(block $vb${base} (loop $vl${base} (br_if $vb${base} (f64.gt (f64.add (local.get ${base}) (f64.const 8)) (f64.const ${s.count})))`,
    `  ${c0.join(' ')}`,
    `  ${c1.join(' ')}`,
    `  (local.set ${base} (f64.add (local.get ${base}) (f64.const 8))) (br $vl${base})))`,
    `(if (f64.le (f64.add (local.get ${base}) (f64.const 4)) (f64.const ${s.count})) (then ${c2.join(' ')} (local.set ${base} (f64.add (local.get ${base}) (f64.const 4)))))`,
    ...fold,
    // The scalar loop after this starts where the vector loop stopped.
    `(local.set ${v} (local.get ${base}))`,
  ].join('\n    ');
}
