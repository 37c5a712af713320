// The runtime on every backend against the float64 reference interpreter (the
// unfused evaluation of the same IR): every library loss, odd shapes, 1x1
// images, empty and full masks, both layouts, 3-D, and random formulas.
// Also the plan's pass counts.

import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { frontend } from '../src/runtime/sources.ts';
import { plan } from '../src/compiler/plan/plan.ts';
import { type CompiledLoss, compile } from '../src/index.ts';
import { continuousLossSource } from './arbitraries.ts';
import { backendCases } from './backends.ts';
import { F32_TOL, MORE_SHAPES, type Shape, inputsFor, relErr } from './draw.ts';

const LOSSES = readdirSync('losses').filter((f) => f.endsWith('.loss')).sort();

const SHAPES: Shape[] = [
  { name: 'binary 2-D, odd sizes', shape: [2, 7, 5, 1], layout: 'nhwc', target: 'random' },
  { name: 'multi-class 2-D', shape: [2, 5, 6, 3], layout: 'nhwc', target: 'onehot' },
  { name: 'multi-class 2-D, nchw', shape: [2, 3, 5, 6], layout: 'nchw', target: 'onehot' },
  { name: 'binary 3-D', shape: [1, 3, 4, 5, 1], layout: 'nhwc', target: 'random' },
  { name: '1x1 image', shape: [1, 1, 1, 1], layout: 'nhwc', target: 'random' },
  { name: 'empty mask', shape: [2, 4, 4, 1], layout: 'nhwc', target: 'empty' },
  { name: 'full mask', shape: [2, 4, 4, 1], layout: 'nhwc', target: 'full' },
];




export const worst = new Map<string, number>();
/** Per loss and backend, for the table printed at the end (the closing notes quote it). */
const worstByLoss = new Map<string, Map<string, number>>();
const open: CompiledLoss[] = [];
afterAll(() => {
  open.forEach((l) => l.dispose());
  console.log(`largest relative error against the float64 reference, library losses: ${[...worst].map(([b, e]) => `${b} ${e.toExponential(2)}`).join(', ')}`);
  const backends = [...worst.keys()];
  const rows = [...worstByLoss].sort(([a], [b]) => a.localeCompare(b)).map(([f, m]) => `  ${f.replace('.loss', '').padEnd(30)}${backends.map((b) => (m.has(b) ? m.get(b)!.toExponential(1) : '-').padStart(11)).join('')}`);
  console.log(`per loss, every shape (value and gradient, relative):\n  ${'loss'.padEnd(30)}${backends.map((b) => b.padStart(11)).join('')}\n${rows.join('\n')}`);
});

for (const bc of backendCases()) {
  describe.skipIf(bc.skip)(`backend ${bc.backend}${bc.skip ? ` (skipped: ${bc.why})` : ''}`, () => {
    test.each(LOSSES)('%s on every shape equals the float64 reference', async (file) => {
      const source = readFileSync(`losses/${file}`, 'utf8');
      for (const s of [...SHAPES, ...(MORE_SHAPES[file] ?? [])]) {
        const opts = { file: `losses/${file}`, layout: s.layout };
        const loss = await compile(source, { ...opts, backend: bc.backend });
        const ref = await compile(source, { ...opts, backend: 'reference' });
        open.push(loss);
        const inputs = inputsFor(loss, s, 7);
        const got = await loss.valueAndGrad(inputs, s.shape);
        const want = await ref.valueAndGrad(inputs, s.shape);
        expect(got.backend).toBe(bc.backend);
        const e = Math.max(relErr([got.value], [want.value]), relErr(got.grad, want.grad));
        worst.set(bc.backend, Math.max(worst.get(bc.backend) ?? 0, e));
        const byLoss = worstByLoss.get(file) ?? new Map<string, number>();
        byLoss.set(bc.backend, Math.max(byLoss.get(bc.backend) ?? 0, e));
        worstByLoss.set(file, byLoss);
        expect(e, `${file}, ${s.name}`).toBeLessThanOrEqual(F32_TOL);
        expect(Number.isFinite(got.value)).toBe(true);
        // The kernels actually ran where we asked (gpu.js falls back silently otherwise).
        if (bc.backend !== 'reference') expect(new Set(loss.kernelBackends())).toEqual(new Set([bc.backend]));
        loss.dispose();
      }
    });

    test('random formulas and shapes equal the float64 reference', async () => {
      await fc.assert(
        fc.asyncProperty(continuousLossSource, fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 4 })), async (src, shape) => {
          const loss = await compile(src, { backend: bc.backend });
          const ref = await compile(src, { backend: 'reference' });
          const inputs = inputsFor(loss, { name: 'random', shape, layout: 'nhwc', target: 'random' }, 3);
          const got = await loss.valueAndGrad(inputs, shape);
          const want = await ref.valueAndGrad(inputs, shape);
          loss.dispose();
          // Random formulas chain up to a dozen transcendental ops in float32: 1e-3.
          expect(Math.max(relErr([got.value], [want.value]), relErr(got.grad, want.grad)), src).toBeLessThanOrEqual(1e-3);
        }),
        { numRuns: bc.backend === 'headlessgl' || bc.backend === 'webgpu' ? 12 : 40 },
      );
    }, 300_000);

    test('valueAndGradSync equals valueAndGrad', async () => {
      if (bc.backend === 'webgpu') return expect(() => undefined).not.toThrow();
      const source = readFileSync('losses/dice.loss', 'utf8');
      const loss = await compile(source, { backend: bc.backend });
      const inputs = inputsFor(loss, SHAPES[0]!, 5);
      const a = await loss.valueAndGrad(inputs, SHAPES[0]!.shape);
      const b = loss.valueAndGradSync(inputs, SHAPES[0]!.shape);
      loss.dispose();
      expect(b.value).toBeCloseTo(a.value, 6);
      expect(relErr(b.grad, a.grad)).toBeLessThanOrEqual(1e-6);
    });
  });
}

describe('plan: passes over the full tensor', () => {
  const passes = (src: string) => {
    const ir = frontend(src, 'x.loss').ir!;
    const p = plan(ir.value, ir.grad);
    return p.passes.map((x) => (x.kind === 'map' && x.reductions.length ? 'map+reduce' : x.kind));
  };
  const file = (f: string) => passes(readFileSync(`losses/${f}.loss`, 'utf8').replace(/^use "/gm, 'use "losses/'));
  test.each([
    ['dice', ['reduce', 'map']],
    ['bce', ['map+reduce']],
    ['tversky', ['reduce', 'map']],
    ['focal_tversky', ['reduce', 'map']],
    ['jaccard', ['reduce', 'map']],
    ['focal', ['map+reduce']],
  ])('%s', (f, want) => expect(file(f)).toEqual(want));
  test('dependent reductions: one reduce pass per level', () => {
    // A mean (level 1), then the sum of squared deviations from it (level 2): the
    // gradient needs Σ(p − m) at level 2 too, so two reduce passes, then the map.
    expect(passes('loss v(p: prob)\n  m = mean[space](p)\n  = mean(sum[space]((p - m) ^ 2))')).toEqual(['reduce', 'reduce', 'map']);
    // Deeper chains: exactly one reduce pass per dependency level, in order, then the map.
    const ir = frontend('loss v(p: prob)\n  m = mean[space](p)\n  s = mean[space]((p - m) ^ 2)\n  = mean(sum[space](exp(p / (s + 1))) / sum[space](p))', 'x.loss').ir!;
    const p = plan(ir.value, ir.grad);
    const levels = p.passes.filter((x) => x.kind === 'reduce').map((x) => x.level);
    expect(levels).toEqual(Array.from({ length: Math.max(...p.level.values()) }, (_, i) => i + 1));
    expect(levels.length).toBeGreaterThanOrEqual(3);
    expect(p.passes.at(-1)!.kind).toBe('map');
  });
});
