// Kernel IR: one kernel's body as a small list of statements, which the
// emitter builds and a printer per target renders. Expressions are text (the
// registry's emits write them; they read the same in every JavaScript-like
// target); statements, their nesting and the thread's result are structure, so a
// printer decides how a kernel hands back its values (gpu.js: `return`; the
// plain-JS thread loop: `out[t] = …; continue thread`). A backend that is not
// gpu.js is one more printer here.

import { F32_MAX } from '../core/numbers.ts';

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
  /** `for (let v = 0; v < count; v++) { body }`. */
  | { readonly kind: 'for'; readonly v: string; readonly count: number; readonly body: Stmt[] }
  /** `if (cond) { body }`; `inline`: on one line (a body of one-line statements). */
  | { readonly kind: 'if'; readonly cond: Expr; readonly body: Stmt[]; readonly inline?: boolean }
  /** The thread's result: one value, or `width` values (an array in gpu.js). Ends the thread. */
  | { readonly kind: 'return'; readonly values: readonly Expr[] };

export const constant = (name: string, value: Expr, run?: number): Stmt => (run === undefined ? { kind: 'const', name, value } : { kind: 'const', name, value, run });
export const letVar = (name: string, value: Expr): Stmt => ({ kind: 'let', name, value });
export const assign = (name: string, value: Expr): Stmt => ({ kind: 'assign', name, value });
export const addTo = (name: string, value: Expr): Stmt => ({ kind: 'assign', name, value, add: true });
export const loop = (v: string, count: number, body: Stmt[] = []): Stmt & { kind: 'for' } => ({ kind: 'for', v, count, body });
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

/** How a printer writes a thread's result, on one line. */
type Result = (values: readonly Expr[]) => string;

/** Statements as lines, each indented two spaces per level of nesting below `depth`. */
function lines(body: readonly Stmt[], depth: number, ret: Result, out: string[] = []): string[] {
  const ind = '  '.repeat(depth);
  for (const s of body) {
    if (s.kind === 'for') {
      out.push(`${ind}for (let ${s.v} = 0; ${s.v} < ${s.count}; ${s.v}++) {`);
      lines(s.body, depth + 1, ret, out);
      out.push(`${ind}}`);
    } else if (s.kind === 'if' && !s.inline) {
      out.push(`${ind}if (${s.cond}) {`);
      lines(s.body, depth + 1, ret, out);
      out.push(`${ind}}`);
    } else out.push(`${ind}${line(s, ret)}`);
  }
  return out;
}

/** A statement that prints on one line. */
function line(s: Stmt, ret: Result): string {
  switch (s.kind) {
    case 'const': return `const ${s.name} = ${s.value};`;
    case 'let': return `let ${s.name} = ${s.value};`;
    case 'assign': return `${s.name} ${s.add ? '+=' : '='} ${s.value};`;
    case 'return': return ret(s.values);
    case 'if': return `if (${s.cond}) { ${s.body.map((b) => line(b, ret)).join(' ')} }`;
    case 'for': throw new Error('internal: a loop does not fit on one line');
  }
}

/** The thread index, in both printers. */
export const THREAD = 't';

/** gpu.js kernel source: `function(a0, a1, ...) { const t = this.thread.x; ... }`. */
export function printGpuJs(args: readonly string[], body: readonly Stmt[]): string {
  const ret: Result = (xs) => `return ${xs.length === 1 ? xs[0]! : `[${xs.join(', ')}]`};`;
  return [`function(${args.join(', ')}) {`, `  const ${THREAD} = this.thread.x;`, ...lines(body, 1, ret), '}'].join('\n');
}

/**
 * The kernel as a plain JavaScript loop over threads [start, end):
 * `function(a0, ..., out, start, end)`, each result stored into `out` (`width`
 * values per thread) before going on to the next thread.
 */
export function printPlainJs(args: readonly string[], body: readonly Stmt[]): string {
  const ret: Result = (xs) =>
    xs.length === 1
      ? `out[${THREAD}] = ${xs[0]!}; continue thread;`
      : `${xs.map((x, j) => `out[${THREAD} * ${xs.length}${j ? ` + ${j}` : ''}] = ${x};`).join(' ')} continue thread;`;
  const sig = [...args, 'out', 'start', 'end'].join(', ');
  // The outermost coordinate (⌊t / S⌋) is constant over runs of S threads: loop over
  // those runs and decode it once per run, not once per element.
  const outer = body.findIndex((s) => s.kind === 'const' && s.run !== undefined);
  if (outer < 0) return [`function(${sig}) {`, `  thread: for (let ${THREAD} = start; ${THREAD} < end; ${THREAD}++) {`, ...lines(body, 2, ret), '  }', '}'].join('\n');
  const { name, run } = body[outer] as Stmt & { kind: 'const' };
  return [
    `function(${sig}) {`,
    '  for (let run = start; run < end;) {',
    `    const ${name} = Math.floor(run / ${run!});`,
    `    const runEnd = Math.min(end, (${name} + 1) * ${run!});`,
    `    thread: for (let ${THREAD} = run; ${THREAD} < runEnd; ${THREAD}++) {`,
    ...lines(body.filter((_, i) => i !== outer), 3, ret),
    '    }',
    '    run = runEnd;',
    '  }',
    '}',
  ].join('\n');
}
