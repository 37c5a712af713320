// The shape of an op record, one type per kind: the type checker says what
// each kind of op owes. Elementwise ops compute per element (float64
// semantics, oracle, kernel expression); stencil ops read their sources at
// shifted positions inside kernels (a float64 loop over whole images, which
// sources they shift, how their argument prints); host ops run between passes
// on whole arrays. Structural ops (leaves, broadcasts, reductions) are the
// IR's scaffolding: every layer treats them by kind.
//
// A stencil's kernel code is its record's `kernel`, written against
// KernelEmitter (what codegen's emitter offers it) and core/kernel-ir.ts's
// statements. A host op needs nothing more: the executor (in a standalone
// module too, which bundles it) runs its record's `ref`.

import type * as TF from '@tensorflow/tfjs-core';
import type { Arg, Axes, Axis, Node, Op } from '../ir.ts';
import type { Expr, Stmt } from '../kernel-ir.ts';
import type { Sizes } from '../layout.ts';
import type { BinaryOperator, PrefixOperator } from '../precedence.ts';

/** Test inputs of one argument: an interval, or a few values (a condition's 0 and 1). */
export type Domain = readonly [number, number] | { readonly values: readonly number[] };

export interface TfContext {
  /** Position of an axis in the evaluator's fixed-rank tensors. */
  axis(a: Axis): number;
  /** Product of the run-time sizes of `axes`. */
  size(axes: Axes): number;
  /** The evaluator's fixed-rank shape of a value with `axes` (1 where an axis is absent). */
  shape(axes: Axes): number[];
  /** Spatial axes of the data (['y', 'x'] or ['z', 'y', 'x']). */
  space: Axes;
  /** Runs `f` with a zero gradient for every argument (comparisons, detach). */
  noGrad(f: (...xs: TF.Tensor[]) => TF.Tensor, xs: TF.Tensor[]): TF.Tensor;
}

export interface EmitContext {
  /** The value of each argument when it is a compile-time constant. */
  consts: readonly (number | undefined)[];
  /** Bind an expression to a fresh kernel variable; returns its name. */
  bind(expr: string): string;
  /** A number as a kernel literal. */
  lit(v: number): string;
}

/** A block of a kernel being built, at some coordinates: a stencil's kernel code appends its statements to `body`. */
export interface KernelScope {
  readonly body: Stmt[];
}

/**
 * What a stencil's kernel code needs from the emitter (codegen/emitter.ts
 * implements it): the shape's sizes, coordinates, source values at the
 * coordinates of a scope (a shifted one: `block` with new coordinates), fresh
 * names, and binding an expression to a name. Statements come from
 * core/kernel-ir.ts.
 */
export interface KernelEmitter {
  readonly ctx: { readonly sizes: Sizes };
  /** A fresh kernel variable name. */
  fresh(prefix?: string): string;
  /** A scope for the nested block `body` (or the same block), at the coordinates `coords` bound there, the parent's otherwise. */
  block(parent: KernelScope, body: Stmt[], coords?: Map<Axis, Expr>): KernelScope;
  /** The coordinate of axis `a` at scope `s` ('0' for an absent axis). */
  coord(s: KernelScope, a: Axis): Expr;
  /** The value of node `n` at the coordinates of scope `s`, its statements appended there. */
  value(s: KernelScope, n: Node): Expr;
  /** `expr` under a name of its own in the scope's block (a name or literal is already one). */
  bind(s: KernelScope, expr: Expr): Expr;
  /** The ops computing `x` takes per read in this kernel (core/cost.ts): what a window weighs to unroll its taps. */
  opsPerRead(x: Node): number;
}

/**
 * A stencil op's kernel code: its value at the coordinates of scope `s`, loops
 * and branches appended to the scope's block as statements.
 */
export type StencilKernel = (em: KernelEmitter, s: KernelScope, n: Node) => Expr;

/** The TensorFlow.js evaluation of a node from its sources' tensors (an oracle independent of ours). */
export type TfRule = (tf: typeof TF, xs: TF.Tensor[], node: Node, ctx: TfContext) => TF.Tensor;

/**
 * Adjoints of the sources given the adjoint `g` of `out`, in IR ops; `undefined`
 * means no gradient flows to that source. Only called for sources on a path to
 * the differentiated input.
 */
export type Vjp = (g: Node, out: Node) => (Node | undefined)[];

/**
 * Float64 semantics of a spatial op over canonical-order arrays: `outer`
 * slices of the spatial `dims` (the reference interpreter runs exactly this),
 * `batch` of them along the batch axis (outermost; 1 when the arrays have none).
 */
export type F64Loop = (xs: Float64Array[], node: Node, outer: number, dims: readonly number[], batch: number) => Float64Array;

export type PrintMode = 'text' | 'latex';

/** A printed expression: its text and how tightly it binds (a level of core/precedence.ts's PREC). */
export interface PrintedExpr { readonly text: string; readonly prec: number }

/** What an op's own printing (PrintForm.show) gets from the printer (passes/print.ts). */
export interface PrintContext {
  readonly mode: PrintMode;
  /** A number as the mode writes it (1e-7 as 10^{-7} in LaTeX). */
  number(v: number): string;
  /** Axes as the mode writes them. */
  axes(axes: Axes): string;
  /** The text of `s`, in parentheses when it binds looser than `min`. */
  wrap(s: PrintedExpr, min: number): string;
  /** Whether node `n` (printed already) prints as its name (t3) rather than as its expression. */
  isNamed(n: Node): boolean;
  /** What an op's printing keeps per node during one printing (a window's chain of 1-D windows). */
  readonly notes: Map<number, unknown>;
}

/**
 * How an op prints: an infix or prefix operator (its level is core/precedence.ts's, by
 * symbol), or a function name; or, for what is neither (leaves, broadcasts, reductions,
 * windows), its own `show`. In LaTeX an op with a `latex` form prints through it.
 */
export interface PrintForm {
  readonly infix?: BinaryOperator;
  readonly prefix?: PrefixOperator;
  readonly fn?: string;
  /** An infix operator that is associative (+, ·): LaTeX prints an equal-level right operand without parentheses. */
  readonly assoc?: true;
  /** An infix operator that is right-associative (^): the parentheses go on an equal-level left operand instead of the right. */
  readonly rightAssoc?: true;
  /** LaTeX: the arguments (by index) the `latex` form groups itself (\frac{a}{b}, \sqrt{x}, e^{x}): they print bare. */
  readonly grouped?: readonly number[];
  /** LaTeX: the `latex` form is an atom (\frac{a}{b}) whatever the operator's level. */
  readonly latexAtom?: true;
  /** When shared, printed again at each use rather than named (a negation of anything but a sum). */
  readonly repeat?: (n: Node) => boolean;
  /** The whole printing of a node, from its sources' printings. */
  readonly show?: (n: Node, xs: readonly PrintedExpr[], ctx: PrintContext) => PrintedExpr;
}

interface Common {
  readonly op: Op;
  readonly arity: number;
  readonly tf: TfRule;
  readonly print: PrintForm;
  readonly latex?: (xs: string[]) => string;
  /** Absent on leaves, and on ops no gradient is ever taken through (they appear only in gradients). */
  readonly vjp?: Vjp;
}

/** Every field that only some kinds have, so any record can be asked for any of them (`record(op).f64`). */
interface Slots {
  f64: unknown; oracle: unknown; emit: unknown; domain: unknown; stopsGradient: unknown;
  ref: unknown; shifted: unknown; kernel: unknown; fullResolution: unknown; level: unknown; tapsPerElement: unknown; argText: unknown; examples: unknown;
  checkImages: unknown; permutes: unknown; leafAxes: unknown;
}
/** The kind has none of these fields. */
type Absent<K extends keyof Slots> = { readonly [P in K]?: never };
type NotElementwise = 'f64' | 'oracle' | 'emit' | 'domain' | 'stopsGradient';
type NotStencil = 'shifted' | 'kernel' | 'level' | 'tapsPerElement' | 'examples' | 'checkImages';
type NotHost = 'permutes';
type NotSpatial = NotStencil | NotHost | 'fullResolution' | 'argText';

export interface ElementwiseRecord extends Common, Absent<'ref' | NotSpatial | 'leafAxes'> {
  readonly kind: 'elementwise';
  /** Elementwise float64 semantics: the reference interpreter runs exactly this. */
  readonly f64: (...xs: number[]) => number;
  /** An independent textbook formula the tests compare `f64` with. */
  readonly oracle: (...xs: number[]) => number;
  readonly vjp: Vjp;
  /**
   * gpu.js kernel JS (the subset gpu.js translates to GLSL, WGSL and wasm), one
   * form for every backend: the numeric traps of GLSL/WGSL are avoided here.
   */
  readonly emit: (xs: string[], ctx: EmitContext) => string;
  /** Where the table tests draw each argument from. */
  readonly domain: readonly Domain[];
  /** The gradient is zero by definition, not by calculus (detach): finite differences do not apply. */
  readonly stopsGradient?: true;
}

/** const, input, size, classindex: no sources. */
export interface LeafRecord extends Common, Absent<NotElementwise | NotSpatial> {
  readonly kind: 'leaf';
  /** Its axes, which the verifier checks: fixed (none for a constant, `class` for the class index), or any (an input's are its declaration's). */
  readonly leafAxes: Axes | 'any';
  /** classindex: its values, computed on the host. */
  readonly ref?: F64Loop;
}

/** Broadcasting: indexing, not computing. */
export interface ExpandRecord extends Common, Absent<NotElementwise | NotSpatial | 'ref' | 'leafAxes'> {
  readonly kind: 'expand';
  readonly vjp: Vjp;
}

/** sum and max over the axes in `arg`. */
export interface ReduceRecord extends Common, Absent<NotElementwise | NotSpatial | 'ref' | 'leafAxes'> {
  readonly kind: 'reduce';
  readonly op: 'sum' | 'max';
  readonly vjp: Vjp;
}

/** What every spatial op (stencil or host) owes besides its kind's own fields. */
interface Spatial extends Common {
  /** The float64 semantics over whole images (the reference interpreter runs exactly this). */
  readonly ref: F64Loop;
  /** Reads whole images at full resolution: its sources must be at scale level 0 (lowering's E223). */
  readonly fullResolution: boolean;
  /** Its arguments as printed after its sources: maxpool(x, 3), window(x, 11 taps, dilation 4). */
  readonly argText: (n: Node) => string[];
}

export interface StencilRecord extends Spatial, Absent<NotElementwise | NotHost | 'leafAxes'> {
  readonly kind: 'stencil';
  /** The sources (by index) a kernel reads at shifted positions: the planner makes buffers of the stencils below them. */
  readonly shifted: readonly number[];
  /** Its kernel code (gpu.js and the plain-JS loop print the statements it builds). */
  readonly kernel: StencilKernel;
  /** The scale level of its result, when the op sets one (rather than keeping its sources'). */
  readonly level?: (n: Node) => number;
  /**
   * Taps read per element of the full grid, for a stencil whose shifted source the planner buffers
   * when recomputing it per tap costs more (windows; other stencils recompute theirs).
   */
  readonly tapsPerElement?: (n: Node) => number;
  /** The args the table tests build the op with, each run on random images against the tfjs rule and finite differences. */
  readonly examples?: readonly Arg[];
  /**
   * The bigger cases tools/check.ts gives a loss that uses the op: 'wide' images for a window wider
   * than the default 4x4 ones, 'multiscale' ones for several 2x scale levels (these win).
   */
  readonly checkImages?: 'wide' | 'multiscale';
}

export interface HostRecord extends Spatial, Absent<NotElementwise | NotStencil | 'leafAxes'> {
  readonly kind: 'host';
  /**
   * It only permutes its first source's values within each slice along the axes in `arg` (sorted, unsort):
   * a sum over all those axes of its result is that sum of the source (simplify's rule).
   */
  readonly permutes?: true;
}

export type OpRecord = LeafRecord | ExpandRecord | ReduceRecord | ElementwiseRecord | StencilRecord | HostRecord;
