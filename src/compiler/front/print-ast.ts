// Prints the AST back as .loss text: expressions with the fewest parentheses the
// grammar needs, modules in canonical layout. parse(printModule(m)) equals m up to spans.
// Comments after the header are not in the AST: printModule finds them in
// `m.source` and puts each back next to the statement it was written at.

import { lossLexer } from '../../../grammar/lexer.ts';
import type { DefDecl, Expr, Item, LossDecl, Module, Statement } from './ast.ts';
import { BINARY_PREC, PREC } from '../core/precedence.ts';

// Binding strength: the one table (core/precedence.ts).
const { primary: PRIMARY, unary: UNARY } = PREC;
const LEVEL = BINARY_PREC;

const levelOf = (e: Expr): number => (e.kind === 'binary' ? LEVEL[e.op] : e.kind === 'neg' ? UNARY : PRIMARY);

/** `e` printed so that it parses back in a context that needs at least `min`. */
function at(e: Expr, min: number): string {
  return levelOf(e) >= min ? printExpr(e) : `(${printExpr(e)})`;
}

export function printExpr(e: Expr): string {
  switch (e.kind) {
    case 'num':
      return e.text;
    case 'name':
      return e.name;
    case 'neg':
      return `-${at(e.arg, UNARY)}`;
    case 'call': {
      const axes = e.axes ? `[${e.axes.map((a) => a.name).join(', ')}]` : '';
      const args = [...e.args.map(printExpr), ...e.named.map((a) => `${a.name} = ${printExpr(a.value)}`)];
      return `${e.callee}${axes}(${args.join(', ')})`;
    }
    case 'binary': {
      // `^` is right-associative over a unary exponent (`2^-3`, `a^b^c`); its base must be a primary.
      if (e.op === '^') return `${at(e.lhs, PRIMARY)}^${at(e.rhs, UNARY)}`;
      // The others are left-associative; comparisons do not chain, so neither side may be one.
      const level = LEVEL[e.op];
      if (level === PREC.compare) return `${at(e.lhs, PREC.additive)} ${e.op} ${at(e.rhs, PREC.additive)}`;
      // A chain (a + b + c + …) along its left spine with a loop: 50,000 terms are no deeper than one.
      const tail: string[] = [];
      let x: Expr = e;
      while (x.kind === 'binary' && LEVEL[x.op] === level) { tail.push(` ${x.op} ${at(x.rhs, level + 1)}`); x = x.lhs; }
      return at(x, level) + tail.reverse().join('');
    }
  }
}

/**
 * One printed line and the source range it stands for, [start, end) in
 * `m.source`: comments are put back by where they were in that source.
 * `leadIndent`: the indent of the comments before it, when not its own (a
 * block's `}`: those comments are inside the block).
 */
interface Line { text: string; indent: string; leadIndent?: string; start: number; end: number; lead: string[]; trail: string[] }

const line = (text: string, indent: string, start: number, end: number): Line => ({ text, indent, start, end, lead: [], trail: [] });

/** A `def` without bindings on one line at most this long. */
const ONE_LINE = 80;

/** `split`: the result goes on a line of its own even without bindings (a loss; comments inside). */
function bodyLines(head: string, headEnd: number, item: DefDecl | LossDecl, split: boolean): Line[] {
  const one = `${head} = ${printExpr(item.result)}`;
  if (item.bindings.length === 0 && !split && one.length <= ONE_LINE) return [line(one, '', item.span.start, item.span.end)];
  return [
    line(head, '', item.span.start, headEnd),
    ...item.bindings.flatMap((s) => statementLines(s, '  ')),
    line(`= ${printExpr(item.result)}`, '  ', item.result.span.start, item.result.span.end),
  ];
}

/** A binding on one line; a repeat block as `repeat n {`, its statements indented two more spaces, `}`. */
function statementLines(s: Statement, indent: string): Line[] {
  if (s.kind === 'bind') return [line(`${s.name} = ${printExpr(s.value)}`, indent, s.span.start, s.span.end)];
  const inner = `${indent}  `;
  // The span ends with the `}`; the head line stands for `repeat n` only, so comments inside go to the statements.
  const close = { ...line('}', indent, s.span.end - 1, s.span.end), leadIndent: inner };
  return [line(`repeat ${printExpr(s.count)} {`, indent, s.span.start, s.count.span.end), ...s.body.flatMap((b) => statementLines(b, inner)), close];
}

function itemLines(item: Item, comments: readonly Comment[]): Line[] {
  const split = comments.some((c) => c.offset >= item.span.start && c.offset < item.span.end);
  switch (item.kind) {
    case 'use':
      return [line(`use "${item.path.replace(/[\\"]/g, '\\$&')}"`, '', item.span.start, item.span.end)];
    case 'def': {
      const params = item.params.map((p) => (p.value ? `${p.name} = ${printExpr(p.value)}` : p.name));
      const headEnd = Math.max(item.nameSpan.end, ...item.params.map((p) => p.span.end));
      return bodyLines(`def ${item.name}(${params.join(', ')})`, headEnd, item, split);
    }
    case 'loss': {
      const inputs = item.inputs.map((i) => `${i.name}: ${i.role}`).join(', ');
      const params = item.params.map((p) => `${p.name} = ${printExpr(p.value)}`).join(', ');
      const headEnd = Math.max(item.nameSpan.end, ...item.inputs.map((i) => i.span.end), ...item.params.map((p) => p.span.end));
      return bodyLines(`loss ${item.name}(${inputs}${params ? `; ${params}` : ''})`, headEnd, item, true);
    }
  }
}

interface Comment { offset: number; text: string; afterCode: boolean }

/** The comments of `source` after its first token; whether the header is followed by a blank line. */
function commentsOf(source: string): { comments: Comment[]; headerGap: boolean } {
  if (!source.includes('#')) return { comments: [], headerGap: false };
  const lexed = lossLexer.tokenize(source);
  const tokens = lexed.tokens;
  if (tokens.length === 0) return { comments: [], headerGap: false };
  const first = tokens[0]!.startOffset;
  const all = lexed.groups['comments'] ?? [];
  const header = all.filter((c) => c.startOffset < first);
  const headerGap = header.length > 0 && /\n[ \t\r]*\n/.test(source.slice(header.at(-1)!.endOffset! + 1, first));
  const comments: Comment[] = [];
  let t = 0;
  for (const c of all) {
    if (c.startOffset < first) continue;
    while (t + 1 < tokens.length && tokens[t + 1]!.startOffset < c.startOffset) t++;
    const afterCode = tokens[t]!.startOffset < c.startOffset && tokens[t]!.endLine === c.startLine;
    comments.push({ offset: c.startOffset, text: c.image.trimEnd(), afterCode });
  }
  return { comments, headerGap };
}

/**
 * Attaches comments to `lines` (in source order) and returns those after the
 * last statement. A comment after code stays at the end of that statement's
 * printed line; a comment on a line of its own goes before the statement it
 * is in, or else the next one.
 */
function placeComments(comments: readonly Comment[], lines: Line[]): string[] {
  const tail: string[] = [];
  for (const c of comments) {
    if (c.afterCode) {
      let at: Line | undefined;
      for (const l of lines) if (l.start <= c.offset) at = l;
      if (at) { at.trail.push(c.text); continue; }
    }
    const next = lines.find((l) => l.end > c.offset);
    if (next) next.lead.push(c.text);
    else tail.push(c.text);
  }
  return tail;
}

/**
 * The header comment, then the items with one blank line between (none between
 * consecutive `use`s); a `def` without bindings goes on one line when that fits
 * in 80 columns, a `loss` puts its result on a line of its own. Other comments
 * (from `m.source`) stay next to their statements, and a blank line after the
 * header is kept.
 */
export function printModule(m: Module): string {
  const { comments, headerGap } = commentsOf(m.source);
  const header = m.header.map((h) => (h ? `# ${h}\n` : '#\n')).join('');
  const items = m.items.map((item) => itemLines(item, comments));
  const tail = placeComments(comments, items.flat());
  const text = (l: Line) => [
    ...l.lead.map((c) => `${l.leadIndent ?? l.indent}${c}\n`),
    `${l.indent}${l.text}${l.trail.length ? `  ${l.trail.join('  ')}` : ''}\n`,
  ].join('');
  // one blank line between items, none between consecutive `use`s
  const body = items.map((ls, i) => (i > 0 && !(m.items[i]!.kind === 'use' && m.items[i - 1]!.kind === 'use') ? '\n' : '') + ls.map(text).join('')).join('');
  const end = tail.map((c) => `${c}\n`).join('');
  return header + (header && headerGap && body ? '\n' : '') + body + (body && end ? '\n' : '') + end;
}
