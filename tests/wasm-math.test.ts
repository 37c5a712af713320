// The wasm backend's vectorized float32 math (codegen/wat-math.ts) against Math:
// each function over its domain (dense grids, log-spaced ranges down to the
// subnormals, the special values), the distance in ulps from Math's float64
// result rounded to float32 asserted below the bound stated here.
// Oracle: Math.exp, Math.log, Math.log1p, Math.pow in float64, rounded once.

import { beforeAll, describe, expect, test } from 'vitest';
import { printMathModule } from '../src/compiler/codegen/wat-math.ts';
import { assemble, loadWasm } from '../src/runtime/backends/wasm.ts';

interface MathExports { mem: WebAssembly.Memory; [f: string]: unknown }
let ex: MathExports;
beforeAll(async () => {
  await loadWasm();
  ex = new WebAssembly.Instance(assemble(printMathModule()), {}).exports as unknown as MathExports;
});

const f32 = new Float32Array(1), i32 = new Int32Array(f32.buffer);
/** A float32's place on the ordered line of float32s (−0 and +0 both 0). */
const ord = (v: number) => { f32[0] = v; const b = i32[0]!; return b < 0 ? -2147483648 - b : b; };
/** Distance in float32 ulps; 0 for equal values and for two NaNs, Infinity when only one is NaN. */
const ulps = (a: number, b: number) => (Object.is(a, b) || a === b || (Number.isNaN(a) && Number.isNaN(b)) ? 0 : Number.isNaN(a) || Number.isNaN(b) ? Infinity : Math.abs(ord(a) - ord(b)));

function apply(name: string, xs: Float32Array, ys?: Float32Array): Float32Array {
  const n = xs.length;
  const need = 3 * n * 4;
  if (ex.mem.buffer.byteLength < need) ex.mem.grow(Math.ceil((need - ex.mem.buffer.byteLength) / 65536));
  const F = new Float32Array(ex.mem.buffer);
  F.set(xs, 0);
  if (ys) F.set(ys, n);
  const out = 2 * n * 4;
  if (ys) (ex.pow as (a: number, b: number, c: number, n: number) => void)(0, n * 4, out, n);
  else (ex[name] as (a: number, b: number, n: number) => void)(0, out, n);
  return new Float32Array(ex.mem.buffer, out, n).slice();
}

const grid = (lo: number, hi: number, n: number) => Float32Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));
const logGrid = (lo: number, hi: number, n: number) => Float32Array.from({ length: n }, (_, i) => Math.exp(Math.log(lo) + ((Math.log(hi) - Math.log(lo)) * i) / (n - 1)));
const neg = (a: Float32Array) => a.map((v) => -v);
const SPECIAL = Float32Array.from([0, -0, -1, 1, Infinity, -Infinity, NaN, 1e-45, -1e-45, 1.1754943508222875e-38, 3.4028234663852886e38, 0.5, 2]);

/** Each function: Math's formula, its domain, and the bound in ulps (what tests/wasm-math measured, stated as the contract). */
const CASES: { name: string; ref: (x: number) => number; domain: Float32Array[]; ulps: number }[] = [
  { name: 'exp', ref: Math.exp, domain: [grid(-104, 89, 200_000), grid(-1, 1, 50_000), SPECIAL], ulps: 1 },
  { name: 'log', ref: Math.log, domain: [logGrid(1e-45, 3.4e38, 200_000), grid(0.5, 2, 50_000), neg(grid(0, 10, 100)), SPECIAL], ulps: 1 },
  { name: 'log1p', ref: Math.log1p, domain: [grid(-0.999, 10, 200_000), logGrid(1e-30, 1, 50_000), neg(logGrid(1e-30, 0.999, 50_000)), logGrid(10, 3.4e38, 10_000), SPECIAL], ulps: 2 },
  { name: 'sigmoid', ref: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))), domain: [grid(-110, 110, 200_000), SPECIAL], ulps: 2 },
  { name: 'softplus', ref: (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))), domain: [grid(-110, 110, 200_000), SPECIAL], ulps: 3 },
];

describe('vectorized float32 math against Math', () => {
  test.each(CASES)('$name within $ulps ulp over its domain', ({ name, ref, domain, ulps: bound }) => {
    let worst = 0, at = NaN;
    for (const d of domain) {
      const xs = d.subarray(0, d.length & ~3);
      const got = apply(name, xs);
      xs.forEach((x, i) => { const u = ulps(got[i]!, Math.fround(ref(x))); if (u > worst) { worst = u; at = x; } });
    }
    console.log(`wasm ${name}: at most ${worst} ulp (at x = ${at})`);
    expect(worst, `${name} at x = ${at}`).toBeLessThanOrEqual(bound);
  });

  test('pow within 24 ulp where |y·log x| ≤ 16, and its special cases exactly', () => {
    let s = 1;
    const r = () => (s = (s * 16807) % 2147483647) / 2147483647;
    const n = 200_000;
    const xs = new Float32Array(n), ys = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      xs[i] = Math.exp(-40 + 80 * r());
      ys[i] = (2 * r() - 1) * Math.min(16 / Math.max(Math.abs(Math.log(xs[i]!)), 1e-3), 8);
    }
    const got = apply('pow', xs, ys);
    let worst = 0;
    got.forEach((v, i) => { worst = Math.max(worst, ulps(v, Math.fround(Math.pow(xs[i]!, ys[i]!)))); });
    console.log(`wasm pow: at most ${worst} ulp where |y·log x| ≤ 16`);
    expect(worst).toBeLessThanOrEqual(24);
    // Negative bases with integer exponents, zeros, y = 0, and non-integer exponents of negative bases.
    const sx = Float32Array.from([0, -0, -2, -2, -2, 2, 0, 0, -0, -0, 3, -3, 1, -1, -1]);
    const sy = Float32Array.from([2, 3, 2, 3, 0.5, 0, -1, -2, -3, 3, 1, -1, 1e9, 2, 3]);
    const want = Array.from(sx, (x, i) => Math.fround(Math.pow(x, sy[i]!)));
    const g = apply('pow', sx, sy);
    Array.from(g).forEach((v, i) => expect(ulps(v, want[i]!), `${sx[i]}^${sy[i]} = ${v}, Math: ${want[i]}`).toBeLessThanOrEqual(1));
  });
});
