// The formula as written, typeset: a .loss module's `def`s and its `loss`,
// printed from the AST (front/ast.ts) as LaTeX for KaTeX. This is the file's
// own text in mathematical notation (sums with their axes, fractions, powers);
// the compiler's simplified loss and gradient are printed elsewhere from the IR.

import type { Body, Expr, Module, Statement } from '../../compiler/front/ast.ts';
import { BINARY_PREC, PREC } from '../../compiler/core/precedence.ts';

const GREEK = new Set(['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'lambda', 'mu', 'sigma', 'phi', 'psi', 'rho', 'tau', 'theta', 'omega', 'kappa', 'eta', 'xi', 'zeta', 'nu', 'pi', 'chi']);
/** Calls printed as named operators with parentheses (the rest get \operatorname). */
const KNOWN = new Set(['exp', 'log', 'tanh', 'cosh', 'sinh', 'min', 'max']);

const escName = (s: string) => s.replace(/_/g, '\\_');

/** A name: one letter or a Greek letter as itself, `a_b` with a subscript, a word upright. */
export function texName(name: string): string {
  const word = (w: string) => (GREEK.has(w) ? `\\${w}` : w === 'eps' ? '\\epsilon' : w.length === 1 ? w : `\\mathit{${escName(w)}}`);
  const us = name.indexOf('_');
  if (us > 0 && us < name.length - 1) return `${word(name.slice(0, us))}_{\\mathrm{${escName(name.slice(us + 1))}}}`;
  return word(name);
}

/** A number as written; 1e-5 as 10^{-5}. */
function texNumber(text: string): string {
  const m = /^(\d+(?:\.\d*)?|\.\d+)[eE]([+-]?\d+)$/.exec(text);
  if (!m) return text;
  const exp = String(Number(m[2]));
  return m[1] === '1' ? `10^{${exp}}` : `${m[1]} \\cdot 10^{${exp}}`;
}

const level = (e: Expr): number => (e.kind === 'binary' ? (e.op === '/' ? PREC.primary : BINARY_PREC[e.op]) : e.kind === 'neg' ? PREC.unary : PREC.primary);
const at = (e: Expr, min: number): string => (level(e) >= min ? tex(e) : `\\left(${tex(e)}\\right)`);
/** A factor that reads unambiguously after a big operator (sum, mean): a name, a number, a call, a fraction, a power. */
const atom = (e: Expr): boolean => e.kind !== 'neg' && (e.kind !== 'binary' || e.op === '/' || e.op === '^');
/** The operand of a sum or mean: bare when it is an atom or a product of atoms, else in parentheses. */
function operand(e: Expr): string {
  const product = (x: Expr): boolean => atom(x) || (x.kind === 'binary' && x.op === '*' && product(x.lhs) && atom(x.rhs));
  return product(e) ? tex(e) : `\\left(${tex(e)}\\right)`;
}
const REL: Record<string, string> = { '<': '<', '<=': '\\le', '>': '>', '>=': '\\ge', '==': '=', '!=': '\\ne' };

/** One expression as LaTeX. */
export function tex(e: Expr): string {
  switch (e.kind) {
    case 'num': return texNumber(e.text);
    case 'name': return texName(e.name);
    case 'neg': return `-${at(e.arg, PREC.unary + 1)}`;
    case 'binary': {
      const l = BINARY_PREC[e.op];
      if (e.op === '/') return `\\frac{${tex(e.lhs)}}{${tex(e.rhs)}}`;
      if (e.op === '^') return `{${e.lhs.kind === 'binary' || e.lhs.kind === 'neg' ? `\\left(${tex(e.lhs)}\\right)` : tex(e.lhs)}}^{${tex(e.rhs)}}`;
      if (l === PREC.compare) return `${at(e.lhs, PREC.additive)} ${REL[e.op]} ${at(e.rhs, PREC.additive)}`;
      if (e.op === '*') return `${at(e.lhs, l)} \\cdot ${at(e.rhs, l + 1)}`;
      return `${at(e.lhs, l)} ${e.op} ${at(e.rhs, l + 1)}`;
    }
    case 'call': return call(e);
  }
}

function call(e: Extract<Expr, { kind: 'call' }>): string {
  const args = [...e.args.map(tex), ...e.named.map((a) => `${texName(a.name)}{=}${tex(a.value)}`)];
  const sub = e.axes ? `_{${e.axes.map((a) => `\\mathrm{${escName(a.name)}}`).join(',\\,')}}` : '';
  const one = e.args[0];
  switch (e.callee) {
    case 'sum':
      if (e.args.length === 1 && !e.named.length) return `\\sum${sub || '_{\\mathrm{all}}'} ${operand(one!)}`;
      break;
    case 'mean':
      if (e.args.length === 1 && !e.named.length) return `\\operatorname*{mean}${sub || '_{\\mathrm{all}}'} ${operand(one!)}`;
      break;
    case 'max': case 'min':
      if (e.axes && e.args.length === 1) return `\\${e.callee}${sub} ${operand(one!)}`;
      break;
    case 'sqrt': if (e.args.length === 1) return `\\sqrt{${tex(one!)}}`; break;
    case 'abs': if (e.args.length === 1) return `\\left|${tex(one!)}\\right|`; break;
    case 'where':
      if (e.args.length === 3) return `\\begin{cases}${tex(e.args[1]!)} & \\text{if } ${tex(e.args[0]!)} \\\\ ${tex(e.args[2]!)} & \\text{otherwise}\\end{cases}`;
      break;
  }
  const name = KNOWN.has(e.callee) && !e.axes ? `\\${e.callee}` : `\\operatorname{${escName(e.callee)}}${sub}`;
  return `${name}\\left(${args.join(',\\ ')}\\right)`;
}

/**
 * The statements of a body, one row each, every row flush left (`&` first): on a phone a
 * right-aligned column of names would sit off screen behind a long head. A repeat's rows
 * are indented under its line.
 */
function rows(body: readonly Statement[], indent = ''): string[] {
  return body.flatMap((s) => (s.kind === 'bind'
    ? [`&${indent}${texName(s.name)} = ${tex(s.value)}`]
    : [`&${indent}\\text{repeat } ${tex(s.count)} \\text{ times:}`, ...rows(s.body, `${indent}\\quad `)]));
}

const aligned = (r: string[]) => `\\begin{aligned}\n${r.join(' \\\\\n')}\n\\end{aligned}`;

function block(head: string, b: Body): string {
  return aligned([...rows(b.bindings), `&${head} = ${tex(b.result)}`]);
}

/**
 * The module's `def`s and `loss`es as LaTeX displays, in file order. A def's head shows its
 * parameters' names only (a long head would push its bindings off a phone's screen); its
 * defaults come as text in `defaults`. A `use` is listed, not expanded.
 */
export function moduleTex(m: Module): { kind: 'def' | 'loss' | 'use'; name: string; latex: string; defaults: string }[] {
  return m.items.map((item) => {
    if (item.kind === 'use') return { kind: 'use' as const, name: item.path, latex: '', defaults: '' };
    if (item.kind === 'def') {
      const ps = item.params.map((p) => texName(p.name));
      const defaults = item.params.flatMap((p) => (p.value ? [`${p.name} = ${p.value.kind === 'num' ? p.value.text : p.value.kind === 'neg' && p.value.arg.kind === 'num' ? `-${p.value.arg.text}` : '…'}`] : [])).join(', ');
      return { kind: 'def' as const, name: item.name, latex: block(`\\operatorname{${escName(item.name)}}\\left(${ps.join(',\\ ')}\\right)`, item), defaults };
    }
    const ins = item.inputs.map((i) => texName(i.name));
    return { kind: 'loss' as const, name: item.name, latex: block(`\\mathcal{L}_{\\mathrm{${escName(item.name)}}}\\left(${ins.join(',\\ ')}\\right)`, item), defaults: '' };
  });
}
