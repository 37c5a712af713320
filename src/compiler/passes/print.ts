// Renders IR as readable math, in the .loss language's own syntax or as LaTeX.
// How each op prints is its record's (`print` and `latex`, core/ops/types.ts's
// PrintForm); this file walks the graph, formats numbers and axes, and names
// every reduction and every shared subexpression (t1, t2, ...). Broadcasting is
// invisible in math: a broadcast prints as its source, and its uses count as its source's.

import { type Axes, type Node, toposort } from '../core/ir.ts';
import { type PrintContext, type PrintForm, type PrintMode, type PrintedExpr, record } from '../core/ops/index.ts';
import { BINARY_PREC, PREC, PREFIX_PREC } from '../core/precedence.ts';

export type { PrintMode };

export interface Printed { lets: { name: string; expr: string; node: Node }[]; roots: string[] }

function formatNumber(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const short = Number(v.toPrecision(6));
  return String(short === v ? short : v);
}

/** 1e-7 as 10^{-7}, 2.5e-5 as 2.5·10^{-5}: TeX would read `1e-7` as a product and a minus. */
function latexNumber(v: number): string {
  const t = formatNumber(v);
  const m = /^(-?[\d.]+)e([+-]?\d+)$/.exec(t);
  if (!m) return t;
  const exp = `10^{${Number(m[2])}}`;
  return m[1] === '1' ? exp : m[1] === '-1' ? `-${exp}` : `${m[1]} \\cdot ${exp}`;
}

function axesText(axes: Axes, mode: PrintMode = 'text'): string {
  return mode === 'latex' ? axes.map((a) => `\\mathrm{${a}}`).join(', ') : axes.join(', ');
}

/** An operator's level, from the one table; a call or a LaTeX form binds as an atom. */
const levelOf = (p: PrintForm): number => (p.infix ? BINARY_PREC[p.infix] : p.prefix ? PREFIX_PREC[p.prefix] : PREC.primary);

/**
 * One node from its sources' printings, as its record says: its own `show`, its
 * LaTeX form, an infix or prefix operator, or a call. Spatial ops show their
 * window after their sources (the record's argText): window(x, 11 taps, dilation 4),
 * maxpool(x, 3), interior(11, 2), unpool2(g, 1).
 */
function printNode(n: Node, xs: readonly PrintedExpr[], c: PrintContext): PrintedExpr {
  const r = record(n.op);
  const p = r.print;
  if (p.show) return p.show(n, xs, c);
  const prec = levelOf(p);
  if (c.mode === 'latex' && r.latex) {
    const args = xs.map((x, i) => {
      if (p.grouped?.includes(i)) return x.text;
      if (p.infix || p.prefix) return c.wrap(x, i === 0 || p.assoc ? prec : prec + 1);
      return x.text;
    });
    return { text: r.latex(args), prec: p.latexAtom ? PREC.primary : prec };
  }
  if (p.infix) {
    // Left-associative operators need parentheses on an equal-level right side; right-associative ones on the left.
    const right = p.rightAssoc;
    return { text: `${c.wrap(xs[0]!, right ? prec + 1 : prec)} ${p.infix} ${c.wrap(xs[1]!, right ? prec - 1 : prec + 1)}`, prec };
  }
  if (p.prefix) return { text: `${p.prefix}${c.wrap(xs[0]!, prec)}`, prec };
  return { text: `${p.fn}(${[...xs.map((x) => x.text), ...(r.argText?.(n) ?? [])].join(', ')})`, prec: PREC.primary };
}

/** Print several roots of one graph; shared subexpressions are named once. */
export function printGraph(roots: readonly Node[], mode: PrintMode = 'text', alwaysName: ReadonlySet<number> = new Set()): Printed {
  const order = toposort(roots);
  // Uses, with broadcasts transparent: a use of expand(x) is a use of x.
  const seeThrough = (n: Node): boolean => record(n.op).kind === 'expand';
  const uses = new Map<number, number>();
  for (const n of order) {
    if (seeThrough(n)) continue;
    for (const s of n.src) {
      const t = seeThrough(s) ? s.src[0]! : s;
      uses.set(t.id, (uses.get(t.id) ?? 0) + 1);
    }
  }

  const named = new Map<number, string>();
  const rendered = new Map<number, PrintedExpr>();
  const lets: Printed['lets'] = [];
  const rootIds = new Set(roots.map((r) => r.id));
  const ctx: PrintContext = {
    mode,
    number: (v) => (mode === 'latex' ? latexNumber(v) : formatNumber(v)),
    axes: (axes) => axesText(axes, mode),
    wrap: (s, min) => (s.prec < min ? (mode === 'latex' ? `\\left(${s.text}\\right)` : `(${s.text})`) : s.text),
    isNamed: (n) => named.has(n.id),
    notes: new Map(),
  };

  for (const n of order) {
    let out = printNode(n, n.src.map((s) => rendered.get(s.id)!), ctx);
    const r = record(n.op);
    // Every reduction is named; so is a shared subexpression, except leaves, broadcasts and what its record repeats.
    const shared = (uses.get(n.id) ?? 0) > 1 && r.kind !== 'expand' && r.kind !== 'leaf' && !r.print.repeat?.(n);
    if ((r.kind === 'reduce' || shared || alwaysName.has(n.id)) && !rootIds.has(n.id)) {
      const name = `t${named.size + 1}`;
      named.set(n.id, name);
      lets.push({ name, expr: out.text, node: n });
      out = { text: mode === 'latex' ? `t_{${named.size}}` : name, prec: PREC.primary };
    }
    rendered.set(n.id, out);
  }
  return { lets, roots: roots.map((r) => rendered.get(r.id)!.text) };
}

/** A multi-line text: the named subexpressions, then `name = root` for each root. */
export function printRoots(roots: readonly { name: string; node: Node }[], mode: PrintMode = 'text'): string {
  const p = printGraph(roots.map((r) => r.node), mode);
  if (mode === 'latex') {
    const rows = [...p.lets.map((l) => `t_{${l.name.slice(1)}} &= ${l.expr}`), ...roots.map((r, i) => `${r.name} &= ${p.roots[i]}`)];
    return `\\begin{aligned}\n${rows.join(' \\\\\n')}\n\\end{aligned}`;
  }
  const width = [...p.lets.map((l) => l.name), ...roots.map((r) => r.name)].reduce((m, s) => Math.max(m, s.length), 0);
  return [
    ...p.lets.map((l) => `${l.name.padEnd(width)} = ${l.expr}`),
    ...roots.map((r, i) => `${r.name.padEnd(width)} = ${p.roots[i]}`),
  ].join('\n');
}
