// Random formulas (fast-check): our symbolic gradient, run by the float64
// reference interpreter, against two oracles: TensorFlow.js autodiff of the same
// formula, and central finite differences in float64.

import fc from 'fast-check';
import { expect, test } from 'vitest';
import { frontend } from '../src/runtime/sources.ts';
import { finiteDiff, randomInputs } from '../src/tools/check.ts';
import { sizesOf } from '../src/compiler/core/layout.ts';
import { evaluate } from '../src/compiler/core/reference.ts';
import { tfValueAndGrad } from '../src/tools/tfjs-eval.ts';
import { lossSource, shape2d } from './arbitraries.ts';

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let err = 0, scale = 0;
  for (let i = 0; i < b.length; i++) { err = Math.max(err, Math.abs(a[i]! - b[i]!)); scale = Math.max(scale, Math.abs(b[i]!)); }
  return err / Math.max(scale, 1e-6);
}

export const worst = { tfjs: 0, fd: 0 };

test('gradient of random formulas = TensorFlow.js autodiff = finite differences', async () => {
  await fc.assert(
    fc.asyncProperty(lossSource, shape2d, fc.integer(), async (src, shape, seed) => {
      const { sizes, dims } = sizesOf(shape, 'nhwc');
      const fe = frontend(src, 'random.loss', { dims });
      expect(fe.diagnostics).toEqual([]);
      const ir = fe.ir!;
      const inputs = randomInputs(ir.loss.inputs, sizes, dims, false, seed);
      const [v, g] = evaluate([ir.value, ir.grad], inputs, sizes);
      const ours = [v!.data[0]!, ...g!.data];

      const fdValue = evaluate([ir.loss.value], inputs, sizes)[0]!.data[0]!;
      const fd = [fdValue, ...finiteDiff(ir, inputs, sizes)];
      // Float64 central differences: truncation h²·f''' and rounding ε/h; random
      // formulas of depth ≤ 4 stay well inside 1e-5 of the largest entry.
      const eFd = relErr(ours, fd);
      worst.fd = Math.max(worst.fd, eFd);
      expect(eFd, `finite differences\n${src}`).toBeLessThanOrEqual(1e-5);

      const tf = await tfValueAndGrad(ir.loss.value, ir.loss.wrt.name, inputs, sizes, dims);
      // TensorFlow.js runs float32 (ε ≈ 1.2e-7); a few dozen ops and sums of ≤ 120
      // terms amplify that to ~1e-5 at worst; 1e-3 leaves margin, a wrong rule is O(1).
      const eTf = relErr(ours, [tf.value, ...tf.grad]);
      worst.tfjs = Math.max(worst.tfjs, eTf);
      expect(eTf, `tfjs\n${src}`).toBeLessThanOrEqual(1e-3);
    }),
    { numRuns: 200 },
  );
  console.log(`random formulas: worst relative error vs finite differences ${worst.fd.toExponential(2)}, vs TensorFlow.js ${worst.tfjs.toExponential(2)}`);
}, 120_000);
