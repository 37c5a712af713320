// Per-op table tests over the registry. Oracles: each record's textbook formula
// (Math) for the float64 semantics (spatial ops: their TensorFlow.js rule), and
// central finite differences of those semantics for the VJP rule. Adding an op
// to the registry adds its rows here.

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import * as B from '../src/compiler/core/build.ts';
import { grad } from '../src/compiler/passes/diff.ts';
import { type Domain, OPS, rebuild } from '../src/compiler/core/ops/index.ts';
import { rng } from '../src/tools/check.ts';
import { intern } from '../src/compiler/core/ir.ts';
import { type Sizes, canonicalAxes, count } from '../src/compiler/core/layout.ts';
import { evaluate } from '../src/compiler/core/reference.ts';
import { tfEvaluate } from '../src/tools/tfjs-eval.ts';

const elementwise = Object.values(OPS).filter((r) => r.kind === 'elementwise');
const SIZES = { batch: 1, class: 1, z: 1, y: 1, x: 8 } as const;

function draw(d: Domain): fc.Arbitrary<number> {
  return Array.isArray(d) ? fc.double({ min: d[0], max: d[1], noNaN: true }) : fc.constantFrom(...(d as { values: number[] }).values);
}

describe('every elementwise op has what the compiler needs', () => {
  test.each(elementwise.map((r) => [r.op, r]))('%s: semantics, oracle, VJP, domain, emit', (_op, r) => {
    expect(r.f64).toBeTypeOf('function');
    expect(r.oracle).toBeTypeOf('function');
    expect(r.vjp).toBeTypeOf('function');
    expect(r.emit).toBeTypeOf('function');
    expect(r.domain?.length).toBe(r.arity);
  });
});

describe('float64 semantics equal the textbook formula (oracle: Math)', () => {
  test.each(elementwise.map((r) => [r.op, r]))('%s', (_op, r) => {
    fc.assert(
      fc.property(fc.tuple(...r.domain!.map(draw)), (xs) => {
        const got = r.f64!(...xs);
        const want = r.oracle!(...xs);
        // The oracles take other roads through Math (exp∘log, pow): a few ulps apart.
        expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want)));
      }),
      { numRuns: 200 },
    );
  });
});

describe('VJP equals central finite differences of the semantics, on the op domain', () => {
  test.each(elementwise.map((r) => [r.op, r]))('%s', (_op, r) => {
    fc.assert(
      // Uniform draws from a seeded generator: kinks (abs at 0, ties of max, comparison
      // thresholds) have probability zero, where fast-check would aim at them on purpose.
      fc.property(fc.integer(), (seed) => {
        const u = rng(seed);
        const pick = (d: Domain) => (Array.isArray(d) ? d[0] + (d[1] - d[0]) * u() : (d as { values: number[] }).values[Math.floor(u() * 2)]!);
        const rows = Array.from({ length: 8 }, () => r.domain!.map(pick));
        const w = Array.from({ length: 8 }, () => 2 * u() - 1);
        const names = r.domain!.map((_, i) => `a${i}`);
        const ins = names.map((n) => B.input(n, ['x']));
        // L = Σ w · op(a0, a1, ...): its gradient in each argument is w · ∂op/∂a_i.
        const L = B.sum(B.mul(B.input('w', ['x']), rebuild({ ...ins[0]!, op: r.op, src: ins, arg: undefined, axes: ['x'] }, ins)));
        const data: Record<string, Float64Array> = { w: Float64Array.from(w) };
        names.forEach((n, i) => (data[n] = Float64Array.from(rows.map((row) => row[i]!))));
        names.forEach((n, i) => {
          if (!Array.isArray(r.domain![i])) return; // discrete argument: no derivative
          const g = evaluate([grad(L, ins[i]!)], data, SIZES)[0]!.data;
          if (r.stopsGradient) return expect([...g]).toEqual(new Array(8).fill(0));
          for (let k = 0; k < 8; k++) {
            const x = data[n]![k]!;
            const h = 1e-6 * Math.max(1, Math.abs(x));
            const at = (v: number) => { const a = Float64Array.from(data[n]!); a[k] = v; return evaluate([L], { ...data, [n]: a }, SIZES)[0]!.data[0]!; };
            const fd = (at(x + h) - at(x - h)) / (2 * h);
            // Float64 central differences: error ~h² f''' + ε/h ≈ 1e-9 on these domains.
            expect(Math.abs(g[k]! - fd)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(fd)));
          }
        });
      }),
      { numRuns: 25 },
    );
  });
});

// Spatial ops with `examples` (windows, 2x average pooling and its adjoint): the float64 semantics
// against the op's TensorFlow.js rule (tensor ops: convolutions, pads, reshapes; not the loops of
// spatial.ts), and the VJP against central finite differences of the semantics. Odd and even extents
// at every scale level, 2-D and 3-D.
const spatialOps = Object.values(OPS).filter((r) => r.kind === 'stencil' && r.examples);
const SPATIAL_CASES: { name: string; dims: 2 | 3; sizes: Sizes }[] = [
  { name: '2-D 9x6, two classes', dims: 2, sizes: { batch: 1, class: 2, z: 1, y: 9, x: 6 } },
  { name: '3-D 5x3x6', dims: 3, sizes: { batch: 1, class: 1, z: 5, y: 3, x: 6 } },
];

describe('spatial ops: float64 semantics = the TensorFlow.js rule; VJP = central finite differences', () => {
  test('the linear spatial ops have examples', () => {
    expect(spatialOps.map((r) => r.op).sort()).toEqual(expect.arrayContaining(['avgpool2', 'unpool2', 'window']));
  });
  const rows = spatialOps.flatMap((r) => r.examples!.flatMap((arg) => SPATIAL_CASES.map((c) => [r.op, JSON.stringify(arg), c.name, r, arg, c] as const)));
  test.each(rows)('%s %s, %s', async (_op, _a, _c, r, arg, c) => {
    expect(r.arity).toBe(1);
    const axes = canonicalAxes(c.dims);
    const n = count(axes, c.sizes);
    const x = B.input('x', axes);
    const node = intern(r.op, [x], arg, axes);
    await fc.assert(
      fc.asyncProperty(fc.integer(), async (seed) => {
        const u = rng(seed);
        const data = { x: Float64Array.from({ length: n }, () => Math.fround(2 * u() - 1)), w: Float64Array.from({ length: n }, () => 2 * u() - 1) };
        const ours = evaluate([node], data, c.sizes)[0]!.data;
        const theirs = (await tfEvaluate([node], data, c.sizes, c.dims))[0]!;
        // tfjs runs float32: sums of ≤ 125 terms of magnitude ≤ 1 stay within 1e-6.
        for (let i = 0; i < n; i++) expect(Math.abs(ours[i]! - theirs[i]!)).toBeLessThanOrEqual(1e-5);
        // L = Σ w · op(x): its gradient is the op's adjoint applied to w.
        const L = B.sum(B.mul(B.input('w', axes), node));
        const g = evaluate([grad(L, x)], data, c.sizes)[0]!.data;
        for (let k = 0; k < n; k++) {
          const at = (v: number) => { const a = Float64Array.from(data.x); a[k] = v; return evaluate([L], { ...data, x: a }, c.sizes)[0]!.data[0]!; };
          const h = 1e-3;
          // L is linear in x: central differences are exact up to rounding (~1e-13 / h).
          expect(Math.abs(g[k]! - (at(data.x[k]! + h) - at(data.x[k]! - h)) / (2 * h))).toBeLessThanOrEqual(1e-9);
        }
      }),
      { numRuns: 3 },
    );
  });
});
