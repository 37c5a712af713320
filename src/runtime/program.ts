// A plan for one shape and layout: its static values, its kernels (codegen's
// KernelSpecs), and the Program the executor runs. CompiledLoss builds one per
// shape it meets; the module writer builds one per plan of the shape it writes.

import type { Axes, Node } from '../compiler/core/ir.ts';
import { toposort } from '../compiler/core/ir.ts';
import { type Dims, type Layout, type Sizes, count } from '../compiler/core/layout.ts';
import { evaluate } from '../compiler/core/reference.ts';
import { record } from '../compiler/core/ops/index.ts';
import { type KernelSpec, SMALL, emitPass } from '../compiler/codegen/kernel.ts';
import { MEMORY, type Plan, isLarge } from '../compiler/plan/plan.ts';
import { type Gathered, MEMORY_ARG, type Program, SMALL_ARG, type Step } from './executor.ts';

/**
 * Fold every static node (constants, sizes) to a number for this shape. A
 * static node holds one value everywhere, so it is computed once, as a scalar
 * in float64 (the op records' f64 semantics, as core/reference.ts): evaluating
 * broadcasts at full size cost more than compiling.
 */
export function staticValues(plan: Pick<Plan, 'value' | 'grad' | 'static'>, sizes: Sizes): Map<number, number> {
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

export interface ShapeProgram {
  program: Program;
  /** Per pass its kernel (undefined for a host step); step k runs kernel k of this list. */
  specs: (KernelSpec | undefined)[];
  /** Every static node's value, full-size ones too (they live in kernels only). */
  statics: Map<number, number>;
}

const gathered = (n: Node): Gathered => ({ id: n.id, op: n.op as 'sum' | 'max', axes: n.axes });

/**
 * `values`: the loss's unreduced values under reduction 'none' (the plan computes them among its extras).
 * `cpu`: kernels for a CPU backend (the plain-JS loop, WebAssembly): reduce threads over long chunks
 * (codegen/pass.ts reduceShape); without it, the GPU layout gpu.js runs.
 */
export function shapeProgram(plan: Plan, values: Node | undefined, sizes: Sizes, dims: Dims, layout: Layout, options: { cpu?: boolean } = {}): ShapeProgram {
  const statics = staticValues(plan, sizes);
  const smallOffset = new Map<number, number>();
  let smallSize = 0;
  for (const n of plan.smallInputs) { smallOffset.set(n.id, smallSize); smallSize += count(n.axes, sizes); }
  const ctx = { sizes, dims, layout, smallOffset, statics, slots: plan.slots, ...(options.cpu ? { cpu: true } : {}) };
  // Host steps (distance transforms, sorts, prefix sums) have no kernel.
  const specs = plan.passes.map((p) => (p.kind === 'host' ? undefined : emitPass(plan, p, ctx)));
  const slotOf = (n: Node) => plan.slots.get(n.id)!.slot;
  // The values known before any pass: small statics (full-size ones live in kernels only).
  const smallStatics = toposort(plan.grad ? [plan.value, plan.grad] : [plan.value])
    .filter((n) => statics.has(n.id) && !isLarge(n))
    .map((n) => [n.id, statics.get(n.id)!, count(n.axes, sizes)] as const);
  // A level is complete once every pass reduction at it or below is computed.
  const have = new Set(smallStatics.map(([id]) => id));
  const steps = plan.passes.map((pass, i): Step => {
    if (pass.kind === 'host') {
      return { kind: 'host', ops: pass.nodes.map((n) => ({ node: n, from: n.src.map((s) => (s.op === 'input' ? (s.arg as string) : slotOf(s))), slot: slotOf(n) })) };
    }
    const spec = specs[i]!;
    for (const r of [...(spec.reduce?.reductions ?? []), ...spec.terms]) have.add(r.id);
    const pending = [...plan.level].filter(([id]) => !have.has(id)).map(([, l]) => l);
    return {
      kind: 'kernel',
      kernel: i,
      args: spec.inputs.map((a) => (a === SMALL ? SMALL_ARG : a === MEMORY ? MEMORY_ARG : a)),
      output: spec.output,
      width: spec.width,
      mapThreads: spec.mapThreads,
      buffers: spec.buffers.map(slotOf),
      reduce: spec.reduce && { reductions: spec.reduce.reductions.map(gathered), groups: spec.reduce.groups, chunks: spec.reduce.chunks },
      terms: spec.terms.length ? gathered(spec.terms[0]!) : undefined,
      finish: Math.min(plan.epilogue.length, ...pending) - 1,
    };
  });
  const program: Program = {
    sizes, dims, layout,
    // Slots are reused by liveness (plan.ts): as many as the most buffers alive at once.
    slots: Math.max(0, ...[...plan.slots.values()].map((s) => s.slot + 1)),
    small: [...smallOffset],
    smallSize,
    statics: smallStatics,
    steps,
    epilogue: plan.epilogue,
    value: plan.value.id,
    values: values && { node: values, from: !isLarge(values) ? undefined : values.op === 'input' ? (values.arg as string) : slotOf(values) },
  };
  return { program, specs, statics };
}
