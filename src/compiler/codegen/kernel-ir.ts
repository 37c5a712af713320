// The kernel IR's printers: one kernel's statement list (core/kernel-ir.ts,
// which the emitter and the stencil records build) rendered per target: gpu.js
// source, and the plain-JS thread loop. A backend that is not gpu.js prints
// the same statements (KernelSpec's `args` and `body`) its own way: the backend
// recipe in docs/ARCHITECTURE.md, done in tests/backend-recipe.test.ts.

import type { Expr, Stmt } from '../core/kernel-ir.ts';

export * from '../core/kernel-ir.ts';

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
