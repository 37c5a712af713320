// What a compiled loss does around the executor on every platform: check the
// inputs against the shape (a per-pixel mask repeated along class, probabilities
// in [0, 1]), check a caller's gradient buffer, and the float64 `reference`
// backend, the gpu.js kernel options, a formula error's message. CompiledLoss (runtime/loss.ts, Node) and BrowserLoss
// (runtime/browser/loss.ts) both call these; nothing here is Node-specific.

import type { LossIR } from '../compiler/pipeline.ts';
import type { KernelSpec } from '../compiler/codegen/kernel.ts';
import { SeglossError, formatDiagnostics } from '../compiler/front/diagnostics.ts';
import { InputError } from '../compiler/core/errors.ts';
import { type Dims, type Layout, type Sizes, fromCanonical, toCanonical } from '../compiler/core/layout.ts';
import { evaluate } from '../compiler/core/reference.ts';
import { isLarge } from '../compiler/plan/plan.ts';
import { repeatClass, valuesOut } from './executor.ts';

export type Inputs = Readonly<Record<string, ArrayLike<number>>>;

/** `out` (a gradient destination) must be a Float32Array of the shape's size. */
export function checkOut(out: Float32Array | undefined, shape: readonly number[]): Float32Array | undefined {
  const n = shape.reduce((a, b) => a * b, 1);
  if (out && (!(out instanceof Float32Array) || out.length !== n)) throw new InputError(`out must be a Float32Array of ${n} elements for shape [${shape.join(', ')}]`);
  return out;
}

/**
 * The inputs checked against the shape; a per-pixel `mask` (no class axis) repeated along class.
 * `probabilities: false` leaves the [0, 1] check of probability inputs to the caller (the wasm backend
 * checks them in its memory as it takes them in: `probabilityError`).
 */
export function checkInputs(inputs: Inputs, shape: readonly number[], ir: LossIR, sizes: Sizes, dims: Dims, layout: Layout, probabilities = true): Inputs {
  const n = shape.reduce((a, b) => a * b, 1);
  const cw = ir.loss.knobs.classWeights;
  if (cw && cw.length !== sizes.class) throw new InputError(`class_weights has ${cw.length} weights; the data has ${sizes.class} classes`);
  const cd = ir.loss.knobs.classDistances;
  if (cd && cd.length !== sizes.class) throw new InputError(`class_distances is ${cd.length}x${cd.length}; the data has ${sizes.class} classes`);
  let out = inputs;
  for (const inp of ir.loss.inputs) {
    // Own properties only: an input may be called toString or constructor.
    const v = Object.hasOwn(inputs, inp.name) ? inputs[inp.name] : undefined;
    if (!v) throw new InputError(`loss '${ir.loss.name}' needs input '${inp.name}' (${inp.role}); got ${Object.keys(inputs).join(', ') || 'none'}`);
    if (inp.name === 'mask' && ir.loss.knobs.mask && v.length * sizes.class === n && sizes.class > 1) {
      out = { ...out, mask: repeatClass(v, layout, sizes, dims) };
      continue;
    }
    if (v.length !== n) throw new InputError(`input '${inp.name}' has ${v.length} elements; shape [${shape.join(', ')}] needs ${n}${inp.name === 'mask' ? ` (or ${n / sizes.class}, one per pixel)` : ''}`);
    if (inp.role === 'prob' && probabilities) checkProbabilities(v, inp.name, ir.loss.name);
  }
  return out;
}

/** Logits fed to a loss on probabilities give a wrong number, often finite (clips hide it): refuse them. */
function checkProbabilities(v: ArrayLike<number>, name: string, loss: string): void {
  // The common case first, in a loop over one array type (monomorphic: a few microseconds for 16,384 values).
  if (v instanceof Float32Array) {
    let ok = true;
    for (let i = 0; i < v.length; i++) { const x = v[i]!; if (!(x >= 0 && x <= 1) && !Number.isNaN(x)) { ok = false; break; } }
    if (ok) return;
  }
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (x < 0 || x > 1) throw probabilityError(name, loss, i, x);
  }
}

/** Element i (x) of a probability input is outside [0, 1]. */
export function probabilityError(name: string, loss: string, i: number, x: number): InputError {
  return new InputError(`input '${name}' of loss '${loss}' holds probabilities, but element ${i} is ${x}, outside [0, 1]: ` +
    "if the prediction holds logits, compile with activation 'sigmoid' or 'softmax' (segloss: --activation sigmoid|softmax)");
}

export function toF32(a: ArrayLike<number>): Float32Array {
  return a instanceof Float32Array ? a : Float32Array.from(a);
}

/** The `reference` backend: the loss's IR through the float64 interpreter (a float64 gradient). */
export function runReference(ir: LossIR, inputs: Inputs, sizes: Sizes, dims: Dims, layout: Layout, wantGrad: boolean): { value: number; grad?: Float64Array; values?: Float64Array } {
  const canon: Record<string, Float64Array> = Object.create(null); // an input may be called __proto__
  for (const inp of ir.loss.inputs) canon[inp.name] = toCanonical(inputs[inp.name]!, layout, sizes, dims);
  const [v, g, vs] = evaluate([ir.value, ir.grad, ...(ir.values ? [ir.values] : [])], canon, sizes);
  const values = vs && (isLarge(ir.values!) ? valuesOut(vs.data, vs.axes, vs.axes, sizes, dims, layout) : vs.data);
  return { value: v!.data[0]!, grad: wantGrad ? fromCanonical(g!.data, layout, sizes, dims, (n) => new Float64Array(n)) : undefined, ...(values ? { values } : {}) };
}

/** The options every gpu.js kernel of a loss is built with (Node's gpu.js modes and the browser's). */
export function gpuKernelOptions(spec: Pick<KernelSpec, 'output' | 'loopMaxIterations'>): { output: number[]; loopMaxIterations: number; precision: 'single'; tactic: 'precision' } {
  return { output: [spec.output], loopMaxIterations: spec.loopMaxIterations, precision: 'single', tactic: 'precision' };
}

/**
 * Rethrows `e`; a SeglossError with its message as the CLI prints it: `file:line:col: error[E201]: ...`,
 * the source line and a caret under the span, the hint (no colour). Its `diagnostics` and `sources` stay.
 */
export function located(e: unknown): never {
  if (e instanceof SeglossError) {
    const before = e.message;
    e.message = formatDiagnostics(e.diagnostics, e.sources);
    if (e.stack) e.stack = e.stack.replace(before, e.message);
  }
  throw e;
}
