// The expressions of a kernel's statements (JavaScript text, as the op records' emits write
// them) read into a tree, and printed as scalar WebAssembly (f64 values, i32 truths) for
// codegen/wat.ts; codegen/wat-simd.ts builds its f32x4 form on these.

import type { Expr } from '../core/kernel-ir.ts';

// ------------------------------------------------------------------ parsing

export type Ast =
  | { k: 'num'; v: number }
  | { k: 'id'; name: string }
  | { k: 'index'; arr: string; i: Ast }
  | { k: 'call'; f: string; args: Ast[] }
  | { k: 'un'; op: '-' | '!' | '+'; a: Ast }
  | { k: 'bin'; op: string; a: Ast; b: Ast }
  | { k: 'cond'; c: Ast; a: Ast; b: Ast };

const TOKEN = /\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|(Math\.[A-Za-z0-9_]+|[A-Za-z_$#][A-Za-z0-9_$]*)|(===|!==|==|!=|<=|>=|&&|\|\||[-+*/%<>!?:()[\],]))/y;

function tokenize(src: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  let at = 0;
  while (at < src.length) {
    if (/^\s*$/.test(src.slice(at))) break;
    TOKEN.lastIndex = at;
    const m = TOKEN.exec(src);
    if (!m) throw new Error(`wasm: cannot read the kernel expression at '${src.slice(at, at + 20)}' in '${src}'`);
    out.push(m[1] ?? m[2] ?? m[3]!);
    at = TOKEN.lastIndex;
  }
  return out;
}

const BINARY: Readonly<Record<string, number>> = {
  '||': 1, '&&': 2, '==': 3, '!=': 3, '===': 3, '!==': 3, '<': 4, '>': 4, '<=': 4, '>=': 4, '+': 5, '-': 5, '*': 6, '/': 6, '%': 6,
};

/** An expression of the kernel IR as a tree. */
export function parseExpr(src: Expr): Ast {
  const t = tokenize(src);
  let i = 0;
  const peek = () => t[i];
  const take = (want?: string) => {
    const x = t[i++];
    if (x === undefined || (want !== undefined && x !== want)) throw new Error(`wasm: expected '${want ?? 'a term'}' in '${src}'`);
    return x;
  };
  const primary = (): Ast => {
    const x = take();
    if (x === '(') { const e = ternary(); take(')'); return e; }
    if (x === '-' || x === '!' || x === '+') return { k: 'un', op: x, a: unary() };
    if (/^[\d.]/.test(x)) return { k: 'num', v: Number(x) };
    if (x.startsWith('Math.')) {
      take('(');
      const args: Ast[] = [];
      if (peek() !== ')') for (;;) { args.push(ternary()); if (peek() === ',') { take(); continue; } break; }
      take(')');
      return { k: 'call', f: x.slice(5), args };
    }
    if (/^[A-Za-z_$#]/.test(x)) {
      if (peek() === '[') { take(); const e = ternary(); take(']'); return { k: 'index', arr: x, i: e }; }
      return { k: 'id', name: x };
    }
    throw new Error(`wasm: unexpected '${x}' in '${src}'`);
  };
  const unary = (): Ast => primary();
  const binary = (min: number): Ast => {
    let a = unary();
    for (;;) {
      const op = peek();
      const p = op === undefined ? undefined : BINARY[op];
      if (p === undefined || p < min) return a;
      take();
      const b = binary(p + 1);
      a = { k: 'bin', op: op!, a, b };
    }
  };
  const ternary = (): Ast => {
    const c = binary(1);
    if (peek() !== '?') return c;
    take();
    const a = ternary();
    take(':');
    const b = ternary();
    return { k: 'cond', c, a, b };
  };
  const e = ternary();
  if (i !== t.length) throw new Error(`wasm: trailing '${t[i]}' in '${src}'`);
  return e;
}

// ------------------------------------------------------------------ printing (scalar, f64)

/** Math functions the module imports: (f64) -> f64, pow (f64, f64) -> f64. */
export const WAT_IMPORTS = ['exp', 'log', 'pow'] as const;

/** A float literal in WAT. */
export function watF64(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (Object.is(v, -0)) return '-0';
  return String(v);
}

export type Ty = 'f64' | 'i32';

export class Fn {
  readonly locals: string[] = [];
  private n = 0;
  /** Scopes: a name of the kernel → its local. */
  readonly scopes: Map<string, string>[] = [new Map()];
  constructor(readonly arrays: ReadonlyMap<string, string>, readonly simd = false) {}
  local(name: string, ty: Ty | 'v128' = 'f64'): string {
    const l = `$l${this.n++}_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
    this.locals.push(`(local ${l} ${ty})`);
    return l;
  }
  declare(name: string): string {
    const l = this.local(name);
    this.scopes[this.scopes.length - 1]!.set(name, l);
    return l;
  }
  lookup(name: string): string {
    for (let s = this.scopes.length - 1; s >= 0; s--) { const l = this.scopes[s]!.get(name); if (l) return l; }
    throw new Error(`wasm: unknown name '${name}' in a kernel`);
  }
}

/** The expression as WAT, of type f64 or i32 (a comparison's truth). */
export function expr(f: Fn, e: Ast): { code: string; ty: Ty } {
  const F = (x: Ast) => asF64(expr(f, x));
  const B = (x: Ast) => asBool(expr(f, x));
  switch (e.k) {
    case 'num': return { code: `(f64.const ${watF64(e.v)})`, ty: 'f64' };
    case 'id': return { code: `(local.get ${f.lookup(e.name)})`, ty: 'f64' };
    case 'index': {
      const base = f.arrays.get(e.arr);
      if (!base) throw new Error(`wasm: '${e.arr}' is not an array of the kernel`);
      return { code: `(f64.promote_f32 (f32.load (i32.add (local.get ${base}) (i32.shl (i32.trunc_f64_s ${F(e.i)}) (i32.const 2)))))`, ty: 'f64' };
    }
    case 'un':
      if (e.op === '!') return { code: `(i32.eqz ${B(e.a)})`, ty: 'i32' };
      if (e.op === '+') return { code: F(e.a), ty: 'f64' };
      return { code: `(f64.neg ${F(e.a)})`, ty: 'f64' };
    case 'cond':
      return { code: `(if (result f64) ${B(e.c)} (then ${F(e.a)}) (else ${F(e.b)}))`, ty: 'f64' };
    case 'call': return scalarCall(f, e.f, e.args.map(F));
    case 'bin': {
      const { op } = e;
      if (op === '&&' || op === '||') return { code: `(i32.${op === '&&' ? 'and' : 'or'} ${B(e.a)} ${B(e.b)})`, ty: 'i32' };
      return scalarBin(f, op, F(e.a), F(e.b));
    }
  }
}

/** Math.f of f64 arguments, scalar. */
export function scalarCall(f: Fn, fname: string, a: string[]): { code: string; ty: Ty } {
  const one = (op: string) => { if (a.length !== 1) throw new Error(`wasm: Math.${fname} with ${a.length} arguments`); return { code: `(${op} ${a[0]!})`, ty: 'f64' as Ty }; };
  switch (fname) {
    case 'floor': return one('f64.floor');
    case 'ceil': return one('f64.ceil');
    case 'abs': return one('f64.abs');
    case 'sqrt': return one('f64.sqrt');
    case 'trunc': return one('f64.trunc');
    case 'fround': return { code: `(f64.promote_f32 (f32.demote_f64 ${a[0]!}))`, ty: 'f64' };
    case 'exp': case 'log': return one(`call $${fname}`);
    case 'pow': return { code: `(call $pow ${a[0]!} ${a[1]!})`, ty: 'f64' };
    case 'min': case 'max': {
      if (a.length === 0) throw new Error(`wasm: Math.${fname}()`);
      return { code: a.slice(1).reduce((x, y) => `(f64.${fname} ${x} ${y})`, a[0]!), ty: 'f64' };
    }
    case 'sign': {
      // Math.sign: -1, 0 (±0 kept), 1, NaN.
      const x = f.local('sign');
      return { code: `(block (result f64) (local.set ${x} ${a[0]!}) (if (result f64) (f64.gt (local.get ${x}) (f64.const 0)) (then (f64.const 1)) (else (if (result f64) (f64.lt (local.get ${x}) (f64.const 0)) (then (f64.const -1)) (else (local.get ${x}))))))`, ty: 'f64' };
    }
    default: throw new Error(`wasm: Math.${fname} has no WebAssembly form here`);
  }
}

/** A binary operator on f64 operands, scalar. */
export function scalarBin(f: Fn, op: string, a: string, b: string): { code: string; ty: Ty } {
  switch (op) {
    case '+': return { code: `(f64.add ${a} ${b})`, ty: 'f64' };
    case '-': return { code: `(f64.sub ${a} ${b})`, ty: 'f64' };
    case '*': return { code: `(f64.mul ${a} ${b})`, ty: 'f64' };
    case '/': return { code: `(f64.div ${a} ${b})`, ty: 'f64' };
    case '%': {
      // JavaScript's remainder (the dividend's sign): a − b·trunc(a / b), exact on the integers kernels index with.
      const x = f.local('ra'), y = f.local('rb');
      return { code: `(block (result f64) (local.set ${x} ${a}) (local.set ${y} ${b}) (f64.sub (local.get ${x}) (f64.mul (local.get ${y}) (f64.trunc (f64.div (local.get ${x}) (local.get ${y}))))))`, ty: 'f64' };
    }
    case '<': return { code: `(f64.lt ${a} ${b})`, ty: 'i32' };
    case '>': return { code: `(f64.gt ${a} ${b})`, ty: 'i32' };
    case '<=': return { code: `(f64.le ${a} ${b})`, ty: 'i32' };
    case '>=': return { code: `(f64.ge ${a} ${b})`, ty: 'i32' };
    case '==': case '===': return { code: `(f64.eq ${a} ${b})`, ty: 'i32' };
    case '!=': case '!==': return { code: `(f64.ne ${a} ${b})`, ty: 'i32' };
  }
  throw new Error(`wasm: operator '${op}'`);
}

export const asF64 = (x: { code: string; ty: Ty }) => (x.ty === 'f64' ? x.code : `(f64.convert_i32_u ${x.code})`);
// JavaScript truthiness of a number: nonzero and not NaN.
export const asBool = (x: { code: string; ty: Ty }) => (x.ty === 'i32' ? x.code : `(f64.ne ${x.code} (f64.const 0))`);
