// Codegen's entry: one pass of a plan, for one shape and layout, as a kernel
// (pass.ts builds it as statements, kernel-ir.ts prints them for gpu.js and for
// the plain-JS thread loop; emitter.ts computes the values, with a stencil's
// kernel code from its record). The shape's static values, which kernels read
// as literals, are the runtime's (runtime/program.ts, staticValues).

export { type KernelSpec, type ReduceLayout, type ShapeContext, SMALL, inputVar } from './spec.ts';
export { emitPass, reduceShape } from './pass.ts';
export { lit } from './kernel-ir.ts';
export { isLarge } from '../plan/plan.ts';
