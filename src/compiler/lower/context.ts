// What lowering's parts share: the lowered loss's types, and LowerContext, what
// the builtins (builtins.ts) and the input binding (bind.ts) ask of the lowerer
// (lower.ts), which implements it. No code of its own beyond axis lists.

import type * as A from '../front/ast.ts';
import type { Code } from '../front/diagnostics.ts';
import type { Axes, Node } from '../core/ir.ts';
import type { Dims } from '../core/layout.ts';
import type { Activation, Knobs, Params, Region } from './knobs.ts';

export interface LowerOptions {
  dims: Dims;
  region: Region;
  /** Overrides of the loss's parameter defaults, and the knobs (knobs.ts). */
  params?: Params;
  /**
   * The prediction holds logits: the loss's `prob` input becomes σ(x) (or the
   * softmax over `class`) of them, and the gradient is taken with respect to x.
   */
  activation?: Activation;
}

export interface LoweredInput { name: string; role: A.Role; node: Node }
export interface LoweredParam { name: string; value: number; default: number }

export interface LoweredLoss {
  name: string;
  /** Where the loss is declared (its name), for diagnostics about the whole formula. */
  nameSpan: A.Span;
  file: string;
  header: string[];
  inputs: LoweredInput[];
  params: LoweredParam[];
  /** The differentiated input (role prob or logits). */
  wrt: LoweredInput;
  value: Node;
  options: LowerOptions;
  /** The knobs in force (region and activation resolved into `options`). */
  knobs: Knobs;
}

/** Every module a compilation sees: the main one first, then what it `use`s. */
export interface Program { main: A.Module; modules: A.Module[] }

/** A lowered value; undefined after a reported mistake (what depends on it stays quiet). */
export type Value = Node | undefined;
export type Scope = Map<string, Value>;

/** What the builtins and the binding of inputs ask of the lowerer. */
export interface LowerContext {
  readonly opts: LowerOptions;
  /** Report a diagnostic (once per code and place); returns undefined, the failed value. */
  err(code: Code, span: A.Span | undefined, args?: Record<string, string | number>): undefined;
  lowerExpr(e: A.Expr, scope: Scope): Value;
  /** The scope of the builtin call being lowered (a window's kernel reads its size and sigma there). */
  readonly callScope: Scope;
  /** The scale level of a lowered value (levels.ts). */
  levelOf(n: Node): number | undefined;
  /** A `sum` or `mean` of the formula, with the knobs' weights (knobs.ts). */
  reduce(x: Node, axes: Axes, mean: boolean): Node;
  /** The Wasserstein distance with the class_distances knob's matrix (knobs.ts). */
  wasserstein(p: Node, g: Node): Node;
}

/** The spatial axes of `dims`-D data. */
export function spaceOf(dims: Dims): Axes {
  return dims === 3 ? ['z', 'y', 'x'] : ['y', 'x'];
}

/** Every axis of an input in `dims`-D data. */
export function allAxes(dims: Dims): Axes {
  return ['batch', 'class', ...spaceOf(dims)];
}
