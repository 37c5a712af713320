// What lowering bounds, and how: the formula's size (nodes built), how deep
// def calls nest, repeat counts; and constants, which must fit float32 (folded
// with the op records' float64 semantics to find out).

import type * as A from '../front/ast.ts';
import { type Node, toposort } from '../core/ir.ts';
import { F32_MAX } from '../core/numbers.ts';
import { record } from '../core/ops/index.ts';

/** The most iterations a `repeat` may have: each one is unrolled into the IR. */
export const MAX_REPEAT = 1000;

/**
 * The most nodes lowering may build (intern calls, shared ones included): 50 times the largest library loss
 * (ms_ssim in 3-D builds about 1,800 in the whole front end), room for `repeat 1000` over a body of 30 operations,
 * and a bound on the work and memory of every later pass, which grow with it.
 */
export const MAX_LOWERED = 100_000;

/** Thrown when lowering passes MAX_LOWERED; lowerLoss turns it into E232 at the expression being lowered. */
export class TooLarge extends Error {
  constructor(readonly span: A.Span) { super('formula too large'); }
}

/** How deep calls of defs (and used losses) may nest: as MAX_NESTING for brackets, far inside Node's stack. */
export const MAX_CALL_DEPTH = 64;

/** Thrown past MAX_CALL_DEPTH; lowerLoss turns it into E233 at the call. */
export class TooDeep extends Error {
  constructor(readonly span: A.Span, readonly def: string) { super('calls nest too deeply'); }
}

/**
 * The float64 value of a graph of constants and elementwise ops (the registry's semantics, as the simplifier folds),
 * whatever it is (NaN included); undefined when the graph holds anything else (an input, a size, a spatial op).
 */
export function foldConstant(root: Node): number | undefined {
  const vals = new Map<number, number>();
  for (const n of toposort([root])) {
    const r = record(n.op);
    if (n.op === 'const') vals.set(n.id, n.arg as number);
    else if (n.op === 'expand') vals.set(n.id, vals.get(n.src[0]!.id)!);
    else if (r.kind === 'elementwise' && r.f64) vals.set(n.id, r.f64(...n.src.map((x) => vals.get(x.id)!)));
    else return undefined;
  }
  return vals.get(root.id);
}

/** Why v is not representable; with `shown`, the value itself first (a folded expression's value is not on the page). */
export function rangeText(v: number, shown = false): string {
  if (Number.isNaN(v)) return 'NaN (not a number)';
  if (!Number.isFinite(v)) return `${v > 0 ? '' : 'minus '}infinity`;
  const why = Math.abs(v) > F32_MAX ? "beyond float32's largest number (3.4e38)" : "below float32's smallest normal number (1.2e-38) but not 0";
  return shown ? `${v}, ${why}` : why;
}
