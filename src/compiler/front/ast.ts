// The abstract syntax tree of a .loss file, as the parser's visitor builds it.
// Plain data with source spans; names are not resolved here (see check.ts).

import type { BinaryOperator } from '../core/precedence.ts';

export interface Span {
  file: string;
  /** 1-based line and column of the first character. */
  line: number;
  col: number;
  /** 0-based offsets into the source, end exclusive. */
  start: number;
  end: number;
}

/** The binary operators: core/precedence.ts's table lists them with their levels. */
export type BinaryOp = BinaryOperator;

export interface NumberLit { kind: 'num'; value: number; text: string; span: Span }
export interface NameRef { kind: 'name'; name: string; span: Span }
export interface Unary { kind: 'neg'; arg: Expr; span: Span }
export interface Binary { kind: 'binary'; op: BinaryOp; lhs: Expr; rhs: Expr; span: Span }
export interface AxisRef { name: string; span: Span }
export interface NamedArg { name: string; value: Expr; span: Span }
/**
 * `f(a, b, k = 1)` or a reduction `sum[batch, space](e)`.
 * `axes` is undefined when no `[...]` was written.
 */
export interface Call {
  kind: 'call';
  callee: string;
  calleeSpan: Span;
  axes: AxisRef[] | undefined;
  args: Expr[];
  named: NamedArg[];
  span: Span;
}
export type Expr = NumberLit | NameRef | Unary | Binary | Call;

export interface Binding { kind: 'bind'; name: string; nameSpan: Span; value: Expr; span: Span }
/**
 * `repeat count { statements }`: the statements `count` times in order, `count`
 * a constant (lower.ts unrolls it). `span` runs from `repeat` through `}`.
 */
export interface Repeat { kind: 'repeat'; count: Expr; body: Statement[]; span: Span }
export type Statement = Binding | Repeat;

export type Role = 'prob' | 'logits' | 'target' | 'weight' | 'map';
export const ROLES: readonly Role[] = ['prob', 'logits', 'target', 'weight', 'map'];

export interface InputDecl { name: string; role: string; span: Span; roleSpan: Span }
/** A parameter with a default: a number, possibly negated (`-1`). */
export interface ParamDecl { name: string; value: Expr; span: Span }

/** `bindings`: the statements before the result, bindings and repeat blocks, in order. */
export interface Body { bindings: Statement[]; result: Expr }

export interface LossDecl extends Body {
  kind: 'loss';
  name: string;
  nameSpan: Span;
  inputs: InputDecl[];
  params: ParamDecl[];
  span: Span;
}

/** `def f(a, b, k = 1)` then bindings, then `= expr`. Parameters without a default are positional. */
export interface DefDecl extends Body {
  kind: 'def';
  name: string;
  nameSpan: Span;
  params: { name: string; value: Expr | undefined; span: Span }[];
  span: Span;
}

export interface UseDecl { kind: 'use'; path: string; span: Span }

export type Item = LossDecl | DefDecl | UseDecl;

export interface Module {
  file: string;
  source: string;
  /** The leading `#` comment block, without the `#`, one entry per line. */
  header: string[];
  items: Item[];
}
