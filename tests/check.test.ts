// The checker's kernels row and its warnings. Oracles: the runtime's float64
// `reference` backend (the value a row prints), the check's own tolerance for
// the kernels (a corrupted kernel result must fail it), and formulas whose value
// or gradient is zero by construction.

import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { frontend } from '../src/runtime/sources.ts';
import { CHECK_CASES, type CheckOptions, checkSource, randomInputs } from '../src/tools/check.ts';
import { fromCanonical, sizesOf } from '../src/compiler/core/layout.ts';
import { compile } from '../src/index.ts';

const dice = readFileSync('losses/dice.loss', 'utf8');
const ce = readFileSync('losses/ce.loss', 'utf8');

/** The inputs check draws for case k, in the case's layout, as a user passes them. */
function caseInputs(source: string, k: number): Record<string, Float32Array> {
  const c = CHECK_CASES[k]!;
  const { sizes, dims } = sizesOf(c.shape, c.layout);
  const ir = frontend(source, 'x.loss', { dims }).ir!;
  const canon = randomInputs(ir.loss.inputs, sizes, dims, c.multiclass, 1234 + k);
  return Object.fromEntries(Object.entries(canon).map(([n, a]) => [n, fromCanonical(a, c.layout, sizes, dims, (m) => new Float32Array(m))]));
}

describe('check: the compiled kernels', () => {
  test.each([['dice', dice], ['ce', ce]])('%s: one kernels row per case, on js, within 5e-5 of the reference; the value is the reference backend\'s', async (name, source) => {
    const res = await checkSource(source, `losses/${name}.loss`);
    const kernels = res.rows.filter((r) => r.oracle === 'kernels');
    expect(kernels.map((r) => r.case)).toEqual(CHECK_CASES.map((c) => c.name));
    expect(res.rows).toHaveLength(3 * CHECK_CASES.length);
    for (const [k, r] of kernels.entries()) {
      expect(r.ok).toBe(true);
      expect(r.backend).toBe('js');
      expect(r.maxRelErr).toBeLessThanOrEqual(5e-5);
      // The printed value against the runtime's float64 backend on the same (float32-rounded) inputs.
      const ref = await compile(source, { backend: 'reference' });
      const want = await ref.value(caseInputs(source, k), CHECK_CASES[k]!.shape);
      ref.dispose();
      expect(Math.abs(r.value - want.value) / want.value).toBeLessThan(1e-6);
      expect(Math.abs(r.oracleValue - r.value) / r.value).toBeLessThan(5e-5);
      expect(r.value).toBeGreaterThan(0.05);
    }
    expect(res.warnings).toEqual([]);
  });

  // Faults a wrong kernel could make: each must fail the kernels row and only it.
  const faults: [string, NonNullable<CheckOptions['runKernels']>][] = [
    ['one gradient element 1% off', async (l, x, s) => { const r = await l.valueAndGrad(x, s); r.grad[7] = r.grad[7]! * 1.01; return r; }],
    ['the whole gradient 0.1% large', async (l, x, s) => { const r = await l.valueAndGrad(x, s); r.grad.forEach((g, i) => { r.grad[i] = g * 1.001; }); return r; }],
    ['the value 0.1% large', async (l, x, s) => { const r = await l.valueAndGrad(x, s); return { ...r, value: r.value * 1.001 }; }],
    ['the gradient in the wrong layout (class-major)', async (l, x, s) => {
      const r = await l.valueAndGrad(x, s);
      const { sizes, dims } = sizesOf(s, 'nhwc');
      return { ...r, grad: fromCanonical(r.grad, 'nhwc', sizes, dims, (m) => new Float32Array(m)) };
    }],
  ];
  test.each(faults)('a corrupted kernel result is a mismatch: %s', async (_, runKernels) => {
    // The multi-class case alone: a layout fault is invisible with one class.
    const res = await checkSource(ce, 'losses/ce.loss', { runKernels }, [CHECK_CASES[1]!]);
    expect(res.rows.map((r) => [r.oracle, r.ok])).toEqual([['tfjs', true], ['finite-diff', true], ['kernels', false]]);
    expect(res.rows[2]!.maxRelErr).toBeGreaterThan(5e-5);
  });
});

test('inputs the kernels refuse (3 class weights on one class): a warning and no kernels row for that case, not an abort', async () => {
  const res = await checkSource(ce, 'losses/ce.loss', { params: { class_weights: '1,2,3' } });
  expect(res.rows.filter((r) => r.oracle === 'kernels').map((r) => [r.case, r.ok])).toEqual([['multiclass-2d', true]]);
  expect(res.warnings).toEqual(['binary-2d', 'binary-3d'].map((c) => `the kernels refused case ${c} of loss 'ce' (no kernels row): class_weights has 3 weights; the data has 1 classes`));
});

describe('check: losses that cannot train', () => {
  test('a loss that is identically zero: value and gradient warnings, every row ok', async () => {
    const res = await checkSource('loss z(p: prob, g: target) = mean(p * 0)', 'z.loss');
    expect(res.rows.every((r) => r.ok && r.value === 0)).toBe(true);
    expect(res.warnings).toHaveLength(2);
    expect(res.warnings[0]).toMatch(/loss 'z' is zero in every case/);
    expect(res.warnings[1]).toMatch(/gradient of loss 'z' is zero in every case/);
  });

  test('a loss that does not read the prediction: a warning, not an error from TensorFlow.js', async () => {
    const res = await checkSource('loss zg(p: prob, g: target) = mean(g)', 'zg.loss');
    expect(res.warnings).toEqual(["loss 'zg' does not read its prediction 'p': its gradient is zero and it cannot train"]);
    expect(res.rows.every((r) => r.ok)).toBe(true);
    // mean(g) of check's targets: 40% ones (binary), one class in three (multi-class).
    const values = res.rows.filter((r) => r.oracle === 'tfjs').map((r) => r.value);
    expect(values[1]).toBeCloseTo(1 / 3, 12);
    expect(values[0]).toBeGreaterThan(0.2);
  });

  test('a constant loss that reads the prediction: only the gradient warning', async () => {
    const res = await checkSource('loss c(p: prob, g: target) = mean(p * 0) + 1', 'c.loss');
    expect(res.rows.every((r) => r.ok && r.value === 1)).toBe(true);
    expect(res.warnings).toEqual(["the gradient of loss 'c' is zero in every case (|d/dp| <= 1e-12): it cannot train"]);
  });
});
