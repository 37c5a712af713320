// `segloss check`: compile a loss, then compare our value and symbolic gradient
// (reference interpreter, float64) with three oracles on random inputs:
// TensorFlow.js autodiff of the same formula, central finite differences, and
// the compiled kernels on the default backend (what a user's call runs).
// It also flags losses that cannot train: a value or gradient that is zero everywhere.

import type { Role } from '../compiler/front/ast.ts';
import type { LossIR } from '../compiler/pipeline.ts';
import { type FileOptions, frontend } from '../runtime/sources.ts';
import type { Diagnostic } from '../compiler/front/diagnostics.ts';
import type { Dims } from '../compiler/core/layout.ts';
import { type Layout, type Sizes, canonicalAxes, count, fromCanonical, layoutAxes, sizesOf, toCanonical, transpose } from '../compiler/core/layout.ts';
import { type Backend, type CompiledLoss, type GradResult, compile } from '../runtime/loss.ts';
import { InputError } from '../compiler/core/errors.ts';
import { evaluate } from '../compiler/core/reference.ts';
import { toposort } from '../compiler/core/ir.ts';
import { record } from '../compiler/core/ops/index.ts';
import { tfEvaluate, tfValueAndGrad } from './tfjs-eval.ts';

export interface CheckCase {
  name: string; shape: number[]; layout: Layout; multiclass: boolean;
  /** Predictions that mostly agree with the target (MS-SSIM of unrelated images is 0, with no gradient). */
  nearTarget?: true;
}

/** Binary 2-D, multi-class 2-D, binary 3-D: small, so finite differences take every element. */
export const CHECK_CASES: readonly CheckCase[] = [
  { name: 'binary-2d', shape: [2, 6, 5, 1], layout: 'nhwc', multiclass: false },
  { name: 'multiclass-2d', shape: [2, 5, 4, 3], layout: 'nhwc', multiclass: true },
  { name: 'binary-3d', shape: [1, 3, 4, 4, 1], layout: 'nhwc', multiclass: false },
];

/**
 * For losses with windows (SSIM's 11-wide valid window needs images at least
 * that large): bigger images, checked by finite differences along random directions.
 */
export const SPATIAL_CHECK_CASES: readonly CheckCase[] = [
  { name: 'binary-2d', shape: [2, 16, 15, 1], layout: 'nhwc', multiclass: false },
  { name: 'multiclass-2d', shape: [1, 14, 13, 3], layout: 'nhwc', multiclass: true },
  { name: 'binary-3d', shape: [1, 12, 12, 11, 1], layout: 'nhwc', multiclass: false },
];

/**
 * For losses over scale levels (avgpool2): one 2-D image large enough for five
 * levels of an 11-wide valid window (161 per axis), with odd sizes at several
 * levels; smaller ones where the coarser levels have no valid position.
 */
export const MULTISCALE_CHECK_CASES: readonly CheckCase[] = [
  { name: 'binary-2d', shape: [1, 165, 170, 1], layout: 'nhwc', multiclass: false, nearTarget: true },
  { name: 'multiclass-2d', shape: [1, 44, 37, 2], layout: 'nhwc', multiclass: true, nearTarget: true },
  { name: 'binary-3d', shape: [1, 24, 23, 22, 1], layout: 'nhwc', multiclass: false, nearTarget: true },
];

export interface CheckRow {
  loss: string;
  case: string;
  oracle: 'tfjs' | 'finite-diff' | 'kernels';
  /** The loss on this case: our float64 value (the reference interpreter). */
  value: number;
  /** The oracle's own value: tfjs's (float32), the kernels' (float32), or the reference's again for finite differences. */
  oracleValue: number;
  maxAbsErr: number;
  maxRelErr: number;
  ok: boolean;
  /** Where the kernels ran (kernels rows only). */
  backend?: Backend;
}

export interface CheckResult {
  file: string; rows: CheckRow[]; diagnostics: Diagnostic[]; sources: Map<string, string>;
  /** What the rows do not say: a value or gradient zero in every case (the loss cannot train), cases the kernels refused. */
  warnings: string[];
}

export interface CheckOptions extends FileOptions {
  /** How the compiled kernels are called (default: `loss.valueAndGrad`); tests pass a faulty one to see the check fail. */
  runKernels?: (loss: CompiledLoss, inputs: Record<string, Float32Array>, shape: readonly number[]) => Promise<GradResult>;
}

// TensorFlow.js computes in float32: ~1e-7 per op, grown by sums of ~100 terms and
// by cancellation (1 − Dice); 2e-4 of the largest magnitude leaves room for that
// while a wrong formula or gradient is off by O(1).
const TFJS_REL_TOL = 2e-4;
// Central differences in float64 with h = 1e-6·max(1, |x|): truncation ~h²·f''' and
// rounding ~1e-16/h, both below 1e-8 for these smooth losses; 1e-6 is a safe bound.
const FD_REL_TOL = 1e-6;
// The kernels compute in float32 (ε = 6e-8): sums of a few hundred terms and a dozen
// ops per element stay near 1e-6 relative; 5e-5 (the runtime tests' F32_TOL) leaves
// room for cancellation while a wrong kernel is off by O(1). Value and gradient are
// compared apart, so a small gradient is not measured against a larger value.
const KERNEL_REL_TOL = 5e-5;
// Below this in every case, a value or gradient counts as identically zero.
const ZERO = 1e-12;

/** A small seeded generator (mulberry32): the same inputs on every run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random canonical-order inputs for each role. */
export function randomInputs(inputs: readonly { name: string; role: Role }[], sizes: Sizes, dims: Dims, multiclass: boolean, seed: number): Record<string, Float64Array> {
  const r = rng(seed);
  const axes = canonicalAxes(dims);
  const n = count(axes, sizes);
  const C = sizes.class;
  const out: Record<string, Float64Array> = Object.create(null); // an input may be called __proto__
  for (const inp of inputs) {
    const a = new Float64Array(n);
    switch (inp.role) {
      case 'prob': for (let i = 0; i < n; i++) a[i] = 0.02 + 0.96 * r(); break;
      case 'logits': for (let i = 0; i < n; i++) a[i] = 6 * r() - 3; break;
      case 'weight': case 'map': for (let i = 0; i < n; i++) a[i] = 0.5 + 1.5 * r(); break;
      case 'target': {
        if (!multiclass) { for (let i = 0; i < n; i++) a[i] = r() < 0.4 ? 1 : 0; break; }
        // One-hot along class: canonical order is (batch, class, space...).
        const spatial = n / (sizes.batch * C);
        for (let b = 0; b < sizes.batch; b++) for (let s = 0; s < spatial; s++) {
          const k = Math.floor(r() * C);
          a[(b * C + k) * spatial + s] = 1;
        }
        break;
      }
    }
    out[inp.name] = a;
  }
  return out;
}

/** The prob input redrawn to agree with the target: on [0.3, 1) where it is 1, [0, 0.7) elsewhere (scaled into [0.02, 0.98]). */
function nearTarget(inputs: readonly { name: string; role: Role }[], data: Record<string, Float64Array>, seed: number): void {
  const p = inputs.find((i) => i.role === 'prob'), g = inputs.find((i) => i.role === 'target');
  if (!p || !g) return;
  const r = rng(seed);
  const t = data[g.name]!;
  data[p.name] = Float64Array.from(t, (v) => 0.02 + 0.96 * (v > 0.5 ? 0.3 + 0.7 * r() : 0.7 * r()));
}

function errors(ours: ArrayLike<number>, ref: ArrayLike<number>): { abs: number; rel: number } {
  let abs = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    abs = Math.max(abs, Math.abs(ours[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  if (Number.isNaN(abs) || ours.length !== ref.length) return { abs: NaN, rel: NaN };
  return { abs, rel: abs / Math.max(scale, ZERO) };
}

function largest(xs: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, Math.abs(xs[i]!));
  return m;
}

/** Central finite differences of the reference value with respect to `wrt`, every element. */
export function finiteDiff(ir: LossIR, inputs: Record<string, Float64Array>, sizes: Sizes): Float64Array {
  const x = Float64Array.from(inputs[ir.loss.wrt.name]!);
  const at = (xs: Float64Array) => evaluate([ir.objective], { ...inputs, [ir.loss.wrt.name]: xs }, sizes)[0]!.data[0]!;
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const h = 1e-6 * Math.max(1, Math.abs(x[i]!));
    const x0 = x[i]!;
    x[i] = x0 + h; const fp = at(x);
    x[i] = x0 - h; const fm = at(x);
    x[i] = x0;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

/**
 * Central differences along random directions v: the directional derivative
 * (f(x + hv) − f(x − hv))/2h against g·v, for big inputs (two evaluations each).
 */
export function directionalFd(ir: LossIR, inputs: Record<string, Float64Array>, sizes: Sizes, g: ArrayLike<number>, directions: number, seed: number): { ours: number[]; fd: number[] } {
  const r = rng(seed);
  const x = inputs[ir.loss.wrt.name]!;
  const ours: number[] = [];
  const fd: number[] = [];
  const at = (xs: Float64Array) => evaluate([ir.objective], { ...inputs, [ir.loss.wrt.name]: xs }, sizes)[0]!.data[0]!;
  for (let d = 0; d < directions; d++) {
    const v = Float64Array.from(x, () => 2 * r() - 1);
    const h = 1e-6;
    fd.push((at(x.map((xi, i) => xi + h * v[i]!)) - at(x.map((xi, i) => xi - h * v[i]!))) / (2 * h));
    ours.push(v.reduce((acc, vi, i) => acc + vi * g[i]!, 0));
  }
  return { ours, fd };
}

/** Run every case of one loss file against the three oracles, and say when it cannot train. */
export async function checkSource(source: string, file: string, opts: CheckOptions = {}, cases?: readonly CheckCase[]): Promise<CheckResult> {
  const { runKernels = (l, x, shape) => l.valueAndGrad(x, shape), ...fopts } = opts;
  const rows: CheckRow[] = [];
  const allSources = new Map<string, string>();
  // Windows need images wider than themselves, scale levels images that halve: the ops' records say
  // which losses get the bigger cases (checkImages).
  const probe = frontend(source, file, { ...fopts, dims: 2 }).ir;
  const wants = new Set(probe ? toposort([probe.objective]).map((n) => record(n.op).checkImages) : []);
  cases ??= wants.has('multiscale') ? MULTISCALE_CHECK_CASES : wants.has('wide') ? SPATIAL_CHECK_CASES : CHECK_CASES;
  // One compiled loss per layout, on the default backend, with the same parameters and knobs.
  const compiled = new Map<Layout, CompiledLoss>();
  let valueMax = 0, gradMax = 0, independent: string | undefined;
  const refused: string[] = [];
  try {
    for (const [k, c] of cases.entries()) {
      const { sizes, dims } = sizesOf(c.shape, c.layout);
      const fe = frontend(source, file, { ...fopts, dims });
      for (const [f, s] of fe.sources) allSources.set(f, s);
      if (!fe.ir) return { file, rows, diagnostics: fe.diagnostics, sources: allSources, warnings: [] };
      const ir = fe.ir;
      const wrt = ir.loss.wrt.name;
      const inputs = randomInputs(ir.loss.inputs, sizes, dims, c.multiclass, 1234 + k);
      if (c.nearTarget) nearTarget(ir.loss.inputs, inputs, 4321 + k);
      const [v, g, vs] = evaluate([ir.value, ir.grad, ...(ir.values ? [ir.values] : [])], inputs, sizes);
      const value = v!.data[0]!;
      const ours = [value, ...g!.data];
      valueMax = Math.max(valueMax, Math.abs(value));
      gradMax = Math.max(gradMax, largest(g!.data));
      const row = (oracle: CheckRow['oracle'], oracleValue: number, e: { abs: number; rel: number }, tol: number): CheckRow =>
        ({ loss: ir.loss.name, case: c.name, oracle, value, oracleValue, maxAbsErr: e.abs, maxRelErr: e.rel, ok: e.rel <= tol });

      // tfjs cannot differentiate a value that does not read the prediction ("y=f(x) ... encloses"): its gradient is zero.
      const reads = toposort([ir.objective]).some((n) => n.op === 'input' && n.arg === wrt);
      if (!reads) independent = wrt;
      const tf = reads
        ? await tfValueAndGrad(ir.objective, wrt, inputs, sizes, dims)
        : { value: (await tfEvaluate([ir.objective], inputs, sizes, dims))[0]![0]!, grad: new Float32Array(g!.data.length) };
      rows.push(row('tfjs', tf.value, errors(ours, [tf.value, ...tf.grad]), TFJS_REL_TOL));

      const fdValue = evaluate([ir.objective], inputs, sizes)[0]!.data[0]!;
      const n = g!.data.length;
      let eFd: { abs: number; rel: number };
      if (n <= 512) {
        eFd = errors(ours, [fdValue, ...finiteDiff(ir, inputs, sizes)]);
      } else {
        const d = directionalFd(ir, inputs, sizes, g!.data, 6, 99 + k);
        eFd = errors([ours[0]!, ...d.ours], [fdValue, ...d.fd]);
      }
      rows.push(row('finite-diff', fdValue, eFd, FD_REL_TOL));

      // The kernels take the user's layout and float32; their gradient comes back in that layout.
      let loss = compiled.get(c.layout);
      if (!loss) {
        loss = await compile(source, { file, backend: 'js', layout: c.layout, region: fopts.region, params: fopts.params, activation: fopts.activation, readFile: fopts.readFile });
        compiled.set(c.layout, loss);
      }
      const f32 = (n: number) => new Float32Array(n);
      const user = Object.fromEntries(Object.entries(inputs).map(([name, a]) => [name, fromCanonical(a, c.layout, sizes, dims, f32)]));
      let got: GradResult;
      try {
        got = await runKernels(loss, user, c.shape);
      } catch (e) {
        // The runtime refuses inputs the reference takes (3 class weights on one class): say so, and go on.
        if (!(e instanceof InputError)) throw e;
        refused.push(`the kernels refused case ${c.name} of loss '${ir.loss.name}' (no kernels row): ${e.message}`);
        continue;
      }
      // Unreduced values (reduction 'none') come in the layout's order of their axes.
      const refValues = vs ? transpose(vs.data, vs.axes, layoutAxes(c.layout, dims).filter((a) => vs.axes.includes(a)), sizes, (m) => new Float64Array(m)) : [];
      const eValue = errors([got.value, ...(got.values ?? [])], [value, ...refValues]);
      const eGrad = errors(toCanonical(got.grad, c.layout, sizes, dims), g!.data);
      const eK = { abs: Math.max(eValue.abs, eGrad.abs), rel: Math.max(eValue.rel, eGrad.rel) };
      rows.push({ ...row('kernels', got.value, eK, KERNEL_REL_TOL), backend: loss.backend });
    }
  } finally {
    for (const l of compiled.values()) l.dispose();
  }
  const name = rows[0]?.loss ?? file;
  const warnings = refused;
  if (valueMax <= ZERO) warnings.push(`loss '${name}' is zero in every case (|value| <= ${ZERO}): a formula that is identically zero matches every oracle`);
  if (independent) warnings.push(`loss '${name}' does not read its prediction '${independent}': its gradient is zero and it cannot train`);
  else if (gradMax <= ZERO) warnings.push(`the gradient of loss '${name}' is zero in every case (|d/d${probe?.loss.wrt.name ?? 'p'}| <= ${ZERO}): it cannot train`);
  return { file, rows, diagnostics: [], sources: allSources, warnings };
}
