// The compiler (src/compiler/index.ts) bundles for a browser as it is: esbuild with
// platform=browser resolves every import without a Node built-in, and the bundle,
// loaded as a plain ES module, compiles a formula that `use`s another (through a
// SourceHost over a map of texts, as a browser page would) and evaluates it. Oracle:
// the float64 reference interpreter of this tree, through the Node API, on the same inputs.

import { builtinModules } from 'node:module';
import { build } from 'esbuild';
import { describe, expect, test } from 'vitest';
import { frontend } from '../src/runtime/sources.ts';
import { evaluate } from '../src/compiler/core/reference.ts';

const TVERSKY = `use "parts.loss"
loss tversky_typed(p: prob, g: target; alpha = 0.3, beta = 0.7)
  = mean(1 - (tp(p, g) + 1) / (tp(p, g) + alpha * sum[region](p * (1 - g)) + beta * sum[region]((1 - p) * g) + 1))
`;
const PARTS = 'def tp(p, g) = sum[region](p * g)\n';

describe('browser bundle of the compiler', () => {
  test('esbuild --bundle --platform=browser of src/compiler/index.ts: no Node built-in; the bundle compiles and evaluates a formula', async () => {
    const out = await build({ entryPoints: ['src/compiler/index.ts'], bundle: true, platform: 'browser', format: 'esm', write: false, metafile: true, logLevel: 'silent' });
    expect(out.errors).toEqual([]);
    const inputs = Object.keys(out.metafile.inputs);
    expect(inputs.filter((p) => p.startsWith('node:') || builtinModules.includes(p))).toEqual([]);
    expect(inputs.some((p) => p.includes('chevrotain'))).toBe(true);
    const code = out.outputFiles[0]!.text;
    expect(code).not.toMatch(/require\(["'](node:)?(fs|path|url|os|worker_threads)["']\)/);

    const core = await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
    const files = new Map([['parts.loss', PARTS]]);
    const host = {
      locate: (path: string) => ({ file: path, key: path }),
      read: (file: string) => (files.has(file) ? { text: files.get(file)! } : { why: 'no such file' }),
      show: (key: string) => key,
    };
    const r = core.compileIR(TVERSKY, 'tversky_typed.loss', { host });
    expect(r.diagnostics).toEqual([]);
    const sizes = { batch: 2, class: 1, z: 1, y: 3, x: 4 };
    const n = 24;
    const p = Float64Array.from({ length: n }, (_, i) => (i * 7 % 11) / 11 + 0.02);
    const g = Float64Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const [v, grad] = core.evaluate([r.ir.value, r.ir.grad], { p, g }, sizes);

    // The same formula through this tree's Node pipeline and reference interpreter.
    const want = frontend(TVERSKY, 'tversky_typed.loss', { readFile: (f) => (f.endsWith('parts.loss') ? PARTS : undefined) });
    expect(want.diagnostics).toEqual([]);
    const [v0, g0] = evaluate([want.ir!.value, want.ir!.grad], { p, g }, sizes);
    expect(v.data[0]).toBeCloseTo(v0!.data[0]!, 12);
    expect(Array.from(grad.data)).toEqual(Array.from(g0!.data));
    // And a `use` the host does not have is a located E210, not a crash.
    const missing = core.compileIR('use "nope.loss"\n' + TVERSKY.split('\n').slice(1).join('\n'), 'x.loss', { host });
    expect(missing.diagnostics.map((d: { code: string }) => d.code)).toContain('E210');
  }, 60_000);
});
