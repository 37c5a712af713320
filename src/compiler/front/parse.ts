// The parse pass: .loss text → Module AST plus diagnostics (E101–E104); it never throws.
// grammar/ lexes and parses (chevrotain, with error recovery); this file turns
// chevrotain's errors into numbered diagnostics and visits the CST into the AST.

import { EOF, tokenMatcher, type CstElement, type CstNode, type ILexingError, type IRecognitionException, type IToken } from '../../../grammar/chevrotain.ts';
import {
  BindingName, Caret, Comma, CompareOp, Def, Equals, Identifier, LBrace, LBracket, LParen, Loss, lossLexer, markBindingNames,
  Minus, NumberLit, RBrace, RBracket, Repeat, RParen, UnterminatedString, Use,
} from '../../../grammar/lexer.ts';
import { parser } from '../../../grammar/parser.ts';
import type { BinaryOp, Binding, Body, Call, DefDecl, Expr, InputDecl, Item, LossDecl, Module, NamedArg, ParamDecl, Repeat as RepeatBlock, Span, Statement, UseDecl } from './ast.ts';
import { diag, type Diagnostic } from './diagnostics.ts';

export function parse(source: string, file: string): { module: Module; diagnostics: Diagnostic[] } {
  const lexed = lossLexer.tokenize(source);
  const tokens = markBindingNames(lexed.tokens);
  // The parser and every pass after it recurse into nested expressions: past MAX_NESTING, one located error and no parse.
  const deep = tooDeep(tokens, file);
  if (deep) {
    const lexing = lexed.errors.slice(0, 1).map((e) => lexingDiagnostic(e, source, file));
    return { module: { file, source, header: [], items: [] }, diagnostics: dedupe([...lexing, deep]) };
  }
  parser.input = tokens;
  const cst = parser.module();

  const diagnostics: Diagnostic[] = [
    ...lexed.errors.map((e) => lexingDiagnostic(e, source, file)),
    ...tokens.filter((t) => t.tokenType === UnterminatedString).map((t) => diag('E104', tokenSpan(t, file))),
    ...firstPerStatement(parser.errors, tokens).map((e) => parsingDiagnostic(e, tokens, file)),
  ];
  // A visitor per call: what it collects belongs to this parse alone.
  const builder = new AstBuilder({ file, diagnostics: [], recovered: diagnostics.length > 0 });
  const items = builder.visit(cst) as Item[];
  diagnostics.push(...builder.env.diagnostics);

  const first = tokens[0]?.startOffset ?? Infinity;
  const header = (lexed.groups['comments'] ?? [])
    .filter((c) => c.startOffset < first)
    .map((c) => c.image.slice(1).replace(/^ /, '').trimEnd());
  return { module: { file, source, header, items }, diagnostics: dedupe(diagnostics) };
}

// ---- Diagnostics ----

/**
 * How deep an expression may nest: brackets, calls and repeat blocks, runs of unary minus, chains of `^`
 * (each a level of recursion in the parser and in the passes after it). Formulas nest a few levels; 64 keeps
 * every pass far inside Node's stack (the parser alone overflowed near 300 brackets).
 */
export const MAX_NESTING = 64;

/** E105 at the first token nested deeper than MAX_NESTING, from the tokens alone (before the recursive parser runs). */
function tooDeep(tokens: IToken[], file: string): Diagnostic | undefined {
  const opens = [LParen, LBracket, LBrace];
  const closes = [RParen, RBracket, RBrace];
  const operandEnd = (t: IToken | undefined) => !!t && (tokenMatcher(t, Identifier) || t.tokenType === NumberLit || t.tokenType === RParen || t.tokenType === RBracket);
  // Per open bracket, the prefix run (unary minus, powers) it sits in; total: the levels of the open brackets and their runs.
  const frames: number[] = [];
  let total = 0;
  let run = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const type = t.tokenType;
    if (opens.includes(type)) { frames.push(run); total += run + 1; run = 0; }
    else if (closes.includes(type)) { const r = frames.pop(); if (r !== undefined) { total -= r + 1; run = r; } }
    else if (type === Caret || (type === Minus && !operandEnd(tokens[i - 1]))) run++;
    else if (!tokenMatcher(t, Identifier) && type !== NumberLit) run = 0; // a binary operator, a comma, a statement: a new operand
    if (total + run > MAX_NESTING) return diag('E105', tokenSpan(t, file), { max: MAX_NESTING });
  }
  return undefined;
}

function lexingDiagnostic(e: ILexingError, source: string, file: string): Diagnostic {
  const span = { file, line: e.line ?? 1, col: e.column ?? 1, start: e.offset, end: e.offset + e.length };
  return diag('E101', span, { text: source.slice(span.start, span.end) });
}

const ITEMS = "'loss', 'def' or 'use'";

/**
 * E102 for a missing token, E103 for anything else. The parser's messages are
 * only the "expected ..." phrase (see grammar/parser.ts). An error raised by the
 * top rule itself is a stray token between items.
 */
function parsingDiagnostic(e: IRecognitionException, tokens: IToken[], file: string): Diagnostic {
  const at = indexOf(e.token, tokens);
  const span = at < tokens.length ? tokenSpan(e.token, file) : endSpan(tokens.at(-1), file);
  const found = at < tokens.length ? `'${e.token.image}'` : 'end of file';
  if (chainedComparison(tokens, at)) {
    return diag('E103', span, { found: `second comparison ${found}`, expected: 'the end of the expression (comparisons do not chain; add parentheses)' });
  }
  const topLevel = e.context.ruleStack.length <= 1;
  if (e.name === 'MismatchedTokenException' && !topLevel) {
    return diag('E102', span, { expected: e.message, found, hint: unclosedHint(tokens, at, e.message) });
  }
  return diag('E103', span, { found, expected: topLevel ? ITEMS : e.message });
}

const indexOf = (t: IToken, tokens: IToken[]) => (t.tokenType === EOF ? tokens.length : tokens.indexOf(t));

/**
 * After one error, chevrotain's recovery often trips again before it reaches the
 * next statement (a binding, a result `=`, an item); only the first is reported.
 */
function firstPerStatement(errors: IRecognitionException[], tokens: IToken[]): IRecognitionException[] {
  const startsStatement = (t: IToken, i: number) =>
    [BindingName, Repeat, Loss, Def, Use].includes(t.tokenType) || (t.tokenType === Equals && !(i > 0 && tokenMatcher(tokens[i - 1]!, Identifier)));
  let last = -1;
  return errors.filter((e) => {
    const at = indexOf(e.token, tokens);
    const fresh = last < 0 || tokens.slice(last + 1, at + 1).some((t, k) => startsStatement(t, last + 1 + k));
    last = at;
    return fresh;
  });
}

/** "a '(' opened at line 3 col 12 is never closed", when that is why `)` (or `]`, `}`) is missing. */
function unclosedHint(tokens: IToken[], at: number, expected: string): string {
  const pairs = { "')'": [LParen, RParen], "']'": [LBracket, RBracket], "'}'": [LBrace, RBrace] } as const;
  const [open, close] = pairs[expected as keyof typeof pairs] ?? [];
  if (!open) return '';
  const isItemStart = (t: IToken) => t.tokenType === Loss || t.tokenType === Def || t.tokenType === Use;
  // The innermost opener still open at the error...
  let opener = -1;
  for (let i = at - 1, depth = 0; i >= 0 && opener < 0 && !isItemStart(tokens[i]!); i--) {
    if (tokens[i]!.tokenType === close) depth++;
    else if (tokens[i]!.tokenType === open && depth-- === 0) opener = i;
  }
  if (opener < 0) return '';
  // ...that is not closed later in its item either.
  for (let i = opener, depth = 0; i < tokens.length && !(i > opener && isItemStart(tokens[i]!)); i++) {
    if (tokens[i]!.tokenType === open) depth++;
    else if (tokens[i]!.tokenType === close && --depth === 0) return '';
  }
  const t = tokens[opener]!;
  return `a '${t.image}' opened at line ${t.startLine} col ${t.startColumn} is never closed`;
}

/** Whether the token at `at` is a comparison after another one in the same expression. */
function chainedComparison(tokens: IToken[], at: number): boolean {
  const t = tokens[at];
  if (!t || !tokenMatcher(t, CompareOp)) return false;
  for (let i = at - 1, depth = 0; i >= 0; i--) {
    const type = tokens[i]!.tokenType;
    if (type === RParen || type === RBracket) depth++;
    else if (type === LParen || type === LBracket) { if (depth-- === 0) return false; }
    else if (depth === 0 && (type === Equals || type === Comma || type === BindingName || type === Repeat || type === LBrace || type === RBrace)) return false;
    else if (depth === 0 && tokenMatcher(tokens[i]!, CompareOp)) return true;
  }
  return false;
}

/** Chevrotain's recovery can report one mistake several times at one place; keep the first. */
function dedupe(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<number | undefined>();
  const firsts = ds.filter((d) => d.span === undefined || (!seen.has(d.span.start) && seen.add(d.span.start)));
  return firsts.sort((a, b) => (a.span?.start ?? Infinity) - (b.span?.start ?? Infinity));
}

// ---- Spans ----

interface Loc { startOffset: number; startLine?: number; startColumn?: number; endOffset?: number }

const locOf = (x: CstElement): Loc => ('image' in x ? x : (x.location ?? { startOffset: NaN }));

/**
 * From the first character of `from` to the last of `to`. Recovery inserts
 * tokens with no position; a construct that starts with one cannot be placed.
 */
function spanOf(file: string, from: CstElement, to: CstElement = from): Span {
  const a = locOf(from);
  const b = locOf(to);
  if (Number.isNaN(a.startOffset)) throw broken;
  const last = Number.isNaN(b.endOffset) || b.endOffset === undefined ? a.endOffset! : b.endOffset;
  return { file, line: a.startLine ?? 1, col: a.startColumn ?? 1, start: a.startOffset, end: last + 1 };
}

const tokenSpan = (t: IToken, file: string): Span => spanOf(file, t);

/** Just after the last token: where the parser wanted more input. */
function endSpan(last: IToken | undefined, file: string): Span {
  if (!last) return { file, line: 1, col: 1, start: 0, end: 0 };
  const end = last.endOffset! + 1;
  return { file, line: last.endLine ?? 1, col: (last.endColumn ?? 0) + 1, start: end, end };
}

// ---- CST → AST ----

/** Thrown when a recovered CST lacks a part; the item holding it is dropped (its error is already reported). */
const broken = new Error('incomplete CST');

type Ctx = Record<string, CstElement[] | undefined>;
const tokensAt = (ctx: Ctx, key: string) => (ctx[key] ?? []) as IToken[];
const nodesAt = (ctx: Ctx, key: string) => (ctx[key] ?? []) as CstNode[];

function one<T>(xs: T[]): T {
  if (xs[0] === undefined) throw broken;
  return xs[0];
}
function nameOf(t: IToken): string {
  if (t.isInsertedInRecovery) throw broken;
  return t.image;
}

/** What one parse's visitor reads and collects. */
interface BuildEnv {
  readonly file: string;
  readonly diagnostics: Diagnostic[];
  /** Set when the CST may be partial: then an item that cannot be rebuilt is dropped, not fatal. */
  readonly recovered: boolean;
}

class AstBuilder extends parser.getBaseCstVisitorConstructor() {
  constructor(readonly env: BuildEnv) {
    super();
  }

  private span(from: CstElement, to?: CstElement): Span {
    return spanOf(this.env.file, from, to);
  }

  private expr(node: CstNode): Expr {
    return this.visit(node) as Expr;
  }

  module(ctx: Ctx): Item[] {
    return nodesAt(ctx, 'items').flatMap((node) => {
      try {
        return [this.visit(node) as Item];
      } catch (err) {
        if (err === broken || this.env.recovered) return [];
        throw err;
      }
    });
  }

  useItem(ctx: Ctx): UseDecl {
    const path = one(tokensAt(ctx, 'path'));
    const closed = path.tokenType !== UnterminatedString;
    const text = path.image.slice(1, closed ? -1 : undefined).replace(/\\(.)/g, '$1');
    return { kind: 'use', path: text, span: this.span(one(tokensAt(ctx, 'Use')), path) };
  }

  defItem(ctx: Ctx): DefDecl {
    const name = one(tokensAt(ctx, 'name'));
    const body = this.visit(one(nodesAt(ctx, 'body'))) as Body;
    const params = nodesAt(ctx, 'params').map((n) => this.visit(n) as DefDecl['params'][number]);
    return { kind: 'def', name: nameOf(name), nameSpan: this.span(name), params, ...body, span: this.span(one(tokensAt(ctx, 'Def')), one(nodesAt(ctx, 'body'))) };
  }

  defParam(ctx: Ctx): DefDecl['params'][number] {
    const name = one(tokensAt(ctx, 'name'));
    const value = nodesAt(ctx, 'value')[0];
    return { name: nameOf(name), value: value && this.expr(value), span: this.span(name, value) };
  }

  lossItem(ctx: Ctx): LossDecl {
    const name = one(tokensAt(ctx, 'name'));
    const body = this.visit(one(nodesAt(ctx, 'body'))) as Body;
    return {
      kind: 'loss',
      name: nameOf(name),
      nameSpan: this.span(name),
      inputs: nodesAt(ctx, 'inputs').map((n) => this.visit(n) as InputDecl),
      params: nodesAt(ctx, 'params').map((n) => this.visit(n) as ParamDecl),
      ...body,
      span: this.span(one(tokensAt(ctx, 'Loss')), one(nodesAt(ctx, 'body'))),
    };
  }

  inputDecl(ctx: Ctx): InputDecl {
    const name = one(tokensAt(ctx, 'name'));
    const role = one(tokensAt(ctx, 'role'));
    return { name: nameOf(name), role: nameOf(role), span: this.span(name, role), roleSpan: this.span(role) };
  }

  param(ctx: Ctx): ParamDecl {
    const name = one(tokensAt(ctx, 'name'));
    const value = one(nodesAt(ctx, 'value'));
    return { name: nameOf(name), value: this.expr(value), span: this.span(name, value) };
  }

  body(ctx: Ctx): Body {
    return {
      bindings: nodesAt(ctx, 'bindings').map((n) => this.visit(n) as Statement),
      result: this.expr(one(nodesAt(ctx, 'result'))),
    };
  }

  statement(ctx: Ctx): Statement {
    return this.visit(one([...nodesAt(ctx, 'binding'), ...nodesAt(ctx, 'repeatBlock')])) as Statement;
  }

  repeatBlock(ctx: Ctx): RepeatBlock {
    const body = nodesAt(ctx, 'body').map((n) => this.visit(n) as Statement);
    return { kind: 'repeat', count: this.expr(one(nodesAt(ctx, 'count'))), body, span: this.span(one(tokensAt(ctx, 'Repeat')), one(tokensAt(ctx, 'RBrace'))) };
  }

  binding(ctx: Ctx): Binding {
    const name = one(tokensAt(ctx, 'name'));
    const value = one(nodesAt(ctx, 'value'));
    return { kind: 'bind', name: nameOf(name), nameSpan: this.span(name), value: this.expr(value), span: this.span(name, value) };
  }

  expression(ctx: Ctx): Expr {
    return this.leftFold(ctx);
  }

  additive(ctx: Ctx): Expr {
    return this.leftFold(ctx);
  }

  multiplicative(ctx: Ctx): Expr {
    return this.leftFold(ctx);
  }

  /** `lhs (op rhs)*` as ((lhs op rhs1) op rhs2)...; each binary spans lhs through its rhs. */
  private leftFold(ctx: Ctx): Expr {
    const lhs = one(nodesAt(ctx, 'lhs'));
    const ops = tokensAt(ctx, 'op');
    return nodesAt(ctx, 'rhs').reduce<Expr>(
      (acc, rhs, i) => ({ kind: 'binary', op: one([ops[i]!]).image as BinaryOp, lhs: acc, rhs: this.expr(rhs), span: this.span(lhs, rhs) }),
      this.expr(lhs),
    );
  }

  unary(ctx: Ctx): Expr {
    const arg = one(nodesAt(ctx, 'arg'));
    const minus = tokensAt(ctx, 'minus')[0];
    return minus ? { kind: 'neg', arg: this.expr(arg), span: this.span(minus, arg) } : this.expr(arg);
  }

  power(ctx: Ctx): Expr {
    const base = one(nodesAt(ctx, 'base'));
    const exponent = nodesAt(ctx, 'exponent')[0];
    if (!exponent) return this.expr(base);
    return { kind: 'binary', op: '^', lhs: this.expr(base), rhs: this.expr(exponent), span: this.span(base, exponent) };
  }

  primary(ctx: Ctx): Expr {
    const number = tokensAt(ctx, 'number')[0];
    if (number) {
      if (number.isInsertedInRecovery) throw broken;
      return { kind: 'num', value: Number(number.image), text: number.image, span: this.span(number) };
    }
    return this.expr(one([...nodesAt(ctx, 'nameOrCall'), ...nodesAt(ctx, 'parenthesized')]));
  }

  parenthesized(ctx: Ctx): Expr {
    return this.expr(one(nodesAt(ctx, 'inner')));
  }

  nameOrCall(ctx: Ctx): Expr {
    const name = one(tokensAt(ctx, 'name'));
    const open = tokensAt(ctx, 'LParen')[0];
    if (!open) return { kind: 'name', name: nameOf(name), span: this.span(name) };
    const args: Expr[] = [];
    const named: NamedArg[] = [];
    for (const node of nodesAt(ctx, 'args')) {
      const arg = this.visit(node) as Expr | NamedArg;
      if (!('kind' in arg)) named.push(arg);
      else {
        if (named.length > 0) {
          this.env.diagnostics.push(diag('E103', arg.span, { found: 'positional argument', expected: 'a named argument (name = value), since named arguments come last' }));
        }
        args.push(arg);
      }
    }
    const call: Call = {
      kind: 'call',
      callee: nameOf(name),
      calleeSpan: this.span(name),
      axes: ctx['LBracket'] ? tokensAt(ctx, 'axes').map((t) => ({ name: nameOf(t), span: this.span(t) })) : undefined,
      args,
      named,
      span: this.span(name, one(tokensAt(ctx, 'RParen'))),
    };
    return call;
  }

  argument(ctx: Ctx): Expr | NamedArg {
    const value = one(nodesAt(ctx, 'value'));
    const name = tokensAt(ctx, 'name')[0];
    if (!name) return this.expr(value);
    return { name: nameOf(name), value: this.expr(value), span: this.span(name, value) };
  }
}

// Once, at load: every grammar rule has its visitor method (a fresh visitor per parse holds that parse's state).
new AstBuilder({ file: '', diagnostics: [], recovered: false }).validateVisitor();
