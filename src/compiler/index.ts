// The compiler as one import, from formula text to kernels: no Node built-in,
// nothing that reads a file (a `use` asks the SourceHost the caller passes), so
// it bundles for a browser as it is (tests/bundle.test.ts builds it with
// esbuild for platform=browser). The Node API (compile, load, backends) is
// src/index.ts.

export type { Module, Expr, Span } from './front/ast.ts';
export { parse } from './front/parse.ts';
export { printModule, printExpr } from './front/print-ast.ts';
export { type Diagnostic, SeglossError, formatDiagnostics, formatDiagnostic } from './front/diagnostics.ts';
export { type LossEntry, describeModule, parseHeader } from './front/catalogue.ts';
export { type Node, type Axis, type Axes, toposort } from './core/ir.ts';
export { type Dims, type Layout, type Sizes, canonicalAxes, indexMap, layoutAxes, sizesOf, toCanonical, fromCanonical } from './core/layout.ts';
export { InputError } from './core/errors.ts';
export { evaluate, type Tensor64 } from './core/reference.ts';
export { type Params, type ParamValue, type Region, type Activation, KNOB_NAMES } from './lower/knobs.ts';
export { printGraph, printRoots, type PrintMode } from './passes/print.ts';
export { type Plan, type Pass, plan, passCount } from './plan/plan.ts';
export { printPlan } from './plan/print-plan.ts';
export { type FrontendOptions, type FrontendResult, type LossIR, type SourceHost, type Stage, NO_FILES, MAX_PASSES, STAGES, compileIR } from './pipeline.ts';
export { printStage } from './dump.ts';
export { type KernelSpec, type ShapeContext, emitPass } from './codegen/kernel.ts';
