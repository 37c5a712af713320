// Renders IR as readable math, in the .loss language's own syntax or as LaTeX.
// Broadcasting is invisible in math, so `expand` prints as its source; every
// reduction and every shared subexpression gets a name (t1, t2, ...).

import { type Axes, type Axis, type Node, type WindowArg, isSpatial, sortAxes, toposort } from '../core/ir.ts';
import { record } from '../core/ops/index.ts';

export type PrintMode = 'text' | 'latex';

export interface Printed { lets: { name: string; expr: string; node: Node }[]; roots: string[] }

const ATOM = 6;

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

/** A spatial op's arguments after its sources (its record's argText): maxpool(x, 3), interior(11, 2). */
const argText = (n: Node): string[] => record(n.op).argText?.(n) ?? [];

/** Print several roots of one graph; shared subexpressions are named once. */
export function printGraph(roots: readonly Node[], mode: PrintMode = 'text', alwaysName: ReadonlySet<number> = new Set()): Printed {
  const order = toposort(roots);
  // Uses, with `expand` transparent: a use of expand(x) is a use of x.
  const uses = new Map<number, number>();
  for (const n of order) {
    if (n.op === 'expand') continue;
    for (const s of n.src) {
      const t = s.op === 'expand' ? s.src[0]! : s;
      uses.set(t.id, (uses.get(t.id) ?? 0) + 1);
    }
  }

  const named = new Map<number, string>();
  const rendered = new Map<number, { text: string; prec: number }>();
  const lets: Printed['lets'] = [];
  const rootIds = new Set(roots.map((r) => r.id));
  // Per window node: the spatial axes of the 1-D windows it prints as one, and the text they apply to.
  const chains = new Map<number, { axes: Axis[]; base: string }>();

  const wrap = (s: { text: string; prec: number }, min: number) =>
    s.prec < min ? (mode === 'latex' ? `\\left(${s.text}\\right)` : `(${s.text})`) : s.text;

  for (const n of order) {
    const xs = n.src.map((s) => rendered.get(s.id)!);
    let out: { text: string; prec: number };
    const r = record(n.op);
    switch (n.op) {
      case 'const':
        out = { text: mode === 'latex' ? latexNumber(n.arg as number) : formatNumber(n.arg as number), prec: (n.arg as number) < 0 ? 4 : ATOM };
        break;
      case 'input':
        out = { text: n.arg as string, prec: ATOM };
        break;
      case 'size':
        out = { text: mode === 'latex' ? `N_{${axesText(n.arg as Axes, mode)}}` : `size[${axesText(n.arg as Axes)}]`, prec: ATOM };
        break;
      case 'expand':
        out = xs[0]!;
        break;
      case 'window': {
        // The 1-D windows of one separable window print as one: window(x, 11 taps) when the
        // chain covers every spatial axis, window[y](t4, 11 taps) for a part of it (a shared inner window).
        const { axis, weights, dilation } = n.arg as WindowArg;
        const inner = n.src[0]!;
        const ia = inner.op === 'window' ? (inner.arg as WindowArg) : undefined;
        const same = ia && ia.dilation === dilation && ia.weights.length === weights.length && ia.weights.every((w, i) => w === weights[i]);
        const c = same && !named.has(inner.id) ? chains.get(inner.id) : undefined;
        const chain = c && !c.axes.includes(axis) ? { axes: [axis, ...c.axes], base: c.base } : { axes: [axis], base: xs[0]!.text };
        chains.set(n.id, chain);
        const part = chain.axes.length === n.axes.filter(isSpatial).length ? '' : axesText(sortAxes(chain.axes), mode);
        out = mode === 'latex'
          ? { text: `(K${part && `_{${part}}`} \\ast ${chain.base})`, prec: ATOM }
          : { text: `window${part && `[${part}]`}(${[chain.base, ...argText(n)].join(', ')})`, prec: ATOM };
        break;
      }
      case 'sum':
      case 'max':
        out = mode === 'latex'
          ? { text: `${n.op === 'sum' ? '\\sum' : '\\max'}_{${axesText(n.arg as Axes, mode)}} ${wrap(xs[0]!, 3)}`, prec: 3 }
          : { text: `${n.op}[${axesText(n.arg as Axes)}](${xs[0]!.text})`, prec: ATOM };
        break;
      default: {
        const p = r.print;
        if (mode === 'latex' && r.latex) {
          const prec = p.infix ? p.prec! : p.prefix ? p.prec! : ATOM;
          const args = n.src.map((_, i) => {
            if (n.op === 'div' || n.op === 'sqrt' || (n.op === 'pow' && i === 1) || n.op === 'exp' || n.op === 'recip') return xs[i]!.text;
            if (p.infix || p.prefix) return wrap(xs[i]!, i === 0 || n.op === 'add' || n.op === 'mul' ? prec : prec + 1);
            return xs[i]!.text;
          });
          out = { text: r.latex(args), prec: n.op === 'div' ? ATOM : prec };
        } else if (p.infix) {
          const prec = p.prec!;
          // Left-associative operators need parentheses on an equal-precedence right side; `^` on the left.
          const right = n.op === 'pow';
          out = { text: `${wrap(xs[0]!, right ? prec + 1 : prec)} ${p.infix} ${wrap(xs[1]!, right ? prec - 1 : prec + 1)}`, prec };
        } else if (p.prefix) {
          out = { text: `${p.prefix}${wrap(xs[0]!, p.prec!)}`, prec: p.prec! };
        } else {
          // Spatial ops show their window: window(x, 11 taps), maxpool(x, 3), interior(11); at a
          // coarser scale level its spacing or level: window(x, 11 taps, dilation 4), interior(11, 2), unpool2(g, 1).
          const arg = argText(n);
          out = { text: `${p.fn}(${[...xs.map((x) => x.text), ...arg].join(', ')})`, prec: ATOM };
        }
      }
    }
    const shared = (uses.get(n.id) ?? 0) > 1 && n.op !== 'expand' && record(n.op).kind !== 'leaf' && !(n.op === 'neg' && n.src[0]!.op !== 'sum');
    if ((n.op === 'sum' || n.op === 'max' || shared || alwaysName.has(n.id)) && !rootIds.has(n.id)) {
      const name = `t${named.size + 1}`;
      named.set(n.id, name);
      lets.push({ name, expr: out.text, node: n });
      out = { text: mode === 'latex' ? `t_{${named.size}}` : name, prec: ATOM };
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
