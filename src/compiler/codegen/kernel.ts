// Codegen's entry: one pass of a plan, for one shape and layout, as a kernel
// (pass.ts builds it as statements, kernel-ir.ts prints them for gpu.js and for
// the plain-JS thread loop; emitter.ts computes the values, with a stencil's
// kernel code from its record), and the shape's static values every kernel
// reads as literals.

import { type Axes, toposort } from '../core/ir.ts';
import type { Plan } from '../plan/plan.ts';
import { record } from '../core/ops/index.ts';
import { type Sizes, count } from '../core/layout.ts';
import { evaluate } from '../core/reference.ts';

export { type KernelSpec, type ReduceLayout, type ShapeContext, SMALL, inputVar } from './spec.ts';
export { emitPass, reduceShape } from './pass.ts';
export { lit } from './kernel-ir.ts';
export { isLarge } from '../plan/plan.ts';

/**
 * Fold every static node (constants, sizes) to a number for this shape. A
 * static node holds one value everywhere, so it is computed once, as a scalar:
 * evaluating broadcasts at full size cost more than compiling.
 */
export function staticValues(plan: Plan, sizes: Sizes): Map<number, number> {
  const vals = new Map<number, number>();
  for (const n of toposort(plan.grad ? [plan.value, plan.grad] : [plan.value])) {
    if (!plan.static.has(n.id)) continue;
    const xs = n.src.map((x) => vals.get(x.id)!);
    let v: number;
    // A scalar of shape-only values that are not themselves static (a sum of an interior mask): the reference interpreter.
    if (n.src.some((x) => !vals.has(x.id))) { vals.set(n.id, evaluate([n], {}, sizes)[0]!.data[0]!); continue; }
    switch (n.op) {
      case 'const': v = n.arg as number; break;
      case 'size': v = count(n.arg as Axes, sizes); break;
      case 'expand': v = xs[0]!; break;
      // The sum of a constant over axes A is the constant times |A|; its max is itself.
      case 'sum': v = xs[0]! * count(n.arg as Axes, sizes); break;
      case 'max': v = xs[0]!; break;
      default: v = record(n.op).f64!(...xs);
    }
    vals.set(n.id, v);
  }
  return vals;
}
