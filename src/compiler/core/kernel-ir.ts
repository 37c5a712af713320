// Kernel IR: one kernel's body as a small list of statements, which the
// emitter and the stencil records' kernel code build and a printer per target
// renders (codegen/kernel-ir.ts). Expressions are text (the records' emits
// write them; they read the same in every JavaScript-like target); statements,
// their nesting and the thread's result are structure, so a printer decides how
// a kernel hands back its values (gpu.js: `return`; the plain-JS thread loop:
// `out[t] = …; continue thread`). Here: the statements and their builders, pure
// data.

import { F32_MAX } from './numbers.ts';

/** An expression: generated names, literals from `lit`, operators and Math calls. */
export type Expr = string;

export type Stmt =
  /**
   * `const name = value;`. `run`: the value is ⌊t / run⌋ for the thread index t
   * (the outermost decoded coordinate), constant over runs of `run` threads.
   */
  | { readonly kind: 'const'; readonly name: string; readonly value: Expr; readonly run?: number }
  | { readonly kind: 'let'; readonly name: string; readonly value: Expr }
  /** `name = value;`, or `name += value;` with `add`. */
  | { readonly kind: 'assign'; readonly name: string; readonly value: Expr; readonly add?: boolean }
  /**
   * `for (let v = 0; v < count; v++) { body }`. `scalar`: a SIMD printer keeps this loop scalar and
   * vectorizes the loops inside it (a blocked reduce's loop over blocks: its vector sums fold once per block).
   */
  | { readonly kind: 'for'; readonly v: string; readonly count: number; readonly body: Stmt[]; readonly scalar?: boolean }
  /** `if (cond) { body }`; `inline`: on one line (a body of one-line statements). */
  | { readonly kind: 'if'; readonly cond: Expr; readonly body: Stmt[]; readonly inline?: boolean }
  /** The thread's result: one value, or `width` values (an array in gpu.js). Ends the thread. */
  | { readonly kind: 'return'; readonly values: readonly Expr[] };

export const constant = (name: string, value: Expr, run?: number): Stmt => (run === undefined ? { kind: 'const', name, value } : { kind: 'const', name, value, run });
export const letVar = (name: string, value: Expr): Stmt => ({ kind: 'let', name, value });
export const assign = (name: string, value: Expr): Stmt => ({ kind: 'assign', name, value });
export const addTo = (name: string, value: Expr): Stmt => ({ kind: 'assign', name, value, add: true });
export const loop = (v: string, count: number, body: Stmt[] = [], scalar = false): Stmt & { kind: 'for' } => (scalar ? { kind: 'for', v, count, body, scalar } : { kind: 'for', v, count, body });
export const when = (cond: Expr, body: Stmt[] = [], inline = false): Stmt & { kind: 'if' } => (inline ? { kind: 'if', cond, body, inline } : { kind: 'if', cond, body });
export const result = (values: readonly Expr[]): Stmt => ({ kind: 'return', values });

/** A number as a literal every backend reads as a float. */
export function lit(v: number): Expr {
  // Formulas hold float32 constants only (E231); a value computed from the shape (a static) may still be NaN or
  // beyond float32, where float32 arithmetic gives an infinity: the kernel computes it, as no literal spells it.
  if (Number.isNaN(v)) return '(0.0 / 0.0)';
  if (Math.abs(v) > F32_MAX) return v > 0 ? '(1.0 / 0.0)' : '(-1.0 / 0.0)';
  let s = Number.isInteger(v) && Math.abs(v) < 1e21 ? `${v}.0` : String(v);
  if (!s.includes('.') && !s.includes('e')) s += '.0';
  return v < 0 ? `(${s})` : s;
}
