// The simplifier on random formulas. Oracle: the float64 reference interpreter
// on the graph before simplification. It must not change values, nor grow the
// graph's operation count (leaves and broadcasts are indexing, not work).

import fc from 'fast-check';
import { expect, test } from 'vitest';
import * as B from '../src/compiler/core/build.ts';
import { frontend } from '../src/runtime/sources.ts';
import { opCount } from '../src/compiler/core/ir.ts';
import { simplify } from '../src/compiler/passes/simplify.ts';
import { randomInputs } from '../src/tools/check.ts';
import { sizesOf } from '../src/compiler/core/layout.ts';
import { evaluate } from '../src/compiler/core/reference.ts';
import { lossSource, shape2d } from './arbitraries.ts';

test('simplification keeps values and never grows the graph (random formulas)', () => {
  let grew = 0;
  fc.assert(
    fc.property(lossSource, shape2d, fc.integer(), (src, shape, seed) => {
      const { sizes, dims } = sizesOf(shape, 'nhwc');
      const ir = frontend(src, 'random.loss', { dims }).ir!;
      const before = ir.passes.diff;
      const after = ir.passes.simplify;
      grew = Math.max(grew, opCount(after) - opCount(before));
      expect(opCount(after)).toBeLessThanOrEqual(opCount(before));
      const inputs = randomInputs(ir.loss.inputs, sizes, dims, false, seed);
      const want = evaluate(before, inputs, sizes);
      const got = evaluate(after, inputs, sizes);
      want.forEach((w, k) => {
        const scale = Math.max(1e-300, ...w.data.map(Math.abs));
        const err = Math.max(...w.data.map((x, i) => Math.abs(x - got[k]!.data[i]!)));
        // Rewrites reassociate a few float64 operations: a few ulps of the largest value.
        expect(err / scale, src).toBeLessThanOrEqual(1e-12);
      });
    }),
    { numRuns: 300 },
  );
});

// Each rule of simplify.ts, with the expected result (oracle: the rule's own math).
const p = B.input('p', ['batch', 'y', 'x']);
const q = B.input('q', ['batch', 'y', 'x']);
const s = B.sum(p, ['y', 'x']);
test.each([
  ['x + 0 = x', B.add(p, B.ZERO), p],
  ['0 · x = 0', B.mul(B.ZERO, p), B.expand(B.ZERO, p.axes)],
  ['x − (−y) = x + y', B.sub(p, B.neg(q)), B.add(p, q)],
  ['−(−x) = x', B.neg(B.neg(p)), p],
  ['(−x)(−y) = xy', B.mul(B.neg(p), B.neg(q)), B.mul(p, q)],
  ['x / 1 = x', B.div(p, B.ONE), p],
  ['x¹ = x', B.bin('pow', p, B.ONE), p],
  ['constants fold', B.add(B.K(2), B.K(3)), B.K(5)],
  ['Σ over broadcast axes = x · |A|', B.sum(B.expand(s, ['batch', 'y', 'x']), ['y', 'x']), B.mul(s, B.size(['y', 'x']))],
  ['f(expand a, expand b) = expand f(a, b)', B.mul(B.expand(s, p.axes), B.expand(s, p.axes)), B.expand(B.mul(s, s), p.axes)],
])('rule: %s', (_name, input, want) => {
  expect(simplify([input])[0]).toBe(want);
});

test('a sum over space of a sorted (or unsorted) value is the sum of the value: the sort step leaves the reduction', () => {
  const space = ['y', 'x'] as const;
  const p = B.input('p', ['batch', 'class', 'y', 'x']);
  const g = B.input('g', ['batch', 'class', 'y', 'x']);
  const [s] = simplify([B.sum(B.sorted(B.mul(p, g), p, [...space]), [...space])]);
  expect(s).toBe(B.sum(B.mul(p, g), [...space]));
  // Oracle: the reference interpreter, sorted and not, on random inputs.
  const { sizes } = sizesOf([2, 4, 5, 1], 'nhwc');
  const inputs = randomInputs([{ name: 'p', role: 'prob' }, { name: 'g', role: 'target' }], sizes, 2, false, 11);
  const [a, b] = evaluate([B.sum(B.sorted(B.mul(p, g), p, [...space]), [...space]), s!], inputs, sizes);
  for (let i = 0; i < a!.data.length; i++) expect(Math.abs(a!.data[i]! - b!.data[i]!)).toBeLessThan(1e-12);
  // Over space and nothing else: a sum over only some spatial axes keeps the sort.
  const [partial] = simplify([B.sum(B.sorted(p, g, [...space]), ['y'])]);
  expect(partial!.src[0]!.op).toBe('sorted');
});
