// Formula sizes and shapes the compiler must take, and the limits it keeps (issue 10, point 2; grammar/README.md,
// "Limits"). Oracles: closed forms computed here in float64, the AST walked without recursion, the reference
// interpreter. No wall-clock assertion (speed is the benchmark's business): each of these overflowed the stack,
// ran for minutes or ended in an internal error before its fix.

import { describe, expect, it, test } from 'vitest';
import { frontend } from '../src/runtime/sources.ts';
import { formatDiagnostics } from '../src/compiler/front/diagnostics.ts';
import { parse } from '../src/compiler/front/parse.ts';
import { printModule } from '../src/compiler/front/print-ast.ts';
import { compile } from '../src/index.ts';

const SHAPE = [2, 5, 6, 2];
const N = SHAPE.reduce((a, b) => a * b);
const P = Float32Array.from({ length: N }, (_, i) => 0.05 + 0.9 * (((i * 37) % 101) / 101));
const G = Float32Array.from({ length: N }, (_, i) => ((i * 13) % 7 < 3 ? 1 : 0));
const meanPG = () => P.reduce((a, p, i) => a + p * G[i]!, 0) / N;

/** Value and gradient on reference (float64) and js (float32 kernels). */
async function both(src: string, params = {}) {
  const out = [];
  for (const backend of ['reference', 'js'] as const) {
    const loss = await compile(src, { backend, threads: 1, params });
    out.push(await loss.valueAndGrad({ p: P, g: G }, SHAPE));
    loss.dispose();
  }
  return out as [Awaited<ReturnType<Awaited<ReturnType<typeof compile>>['valueAndGrad']>>, Awaited<ReturnType<Awaited<ReturnType<typeof compile>>['valueAndGrad']>>];
}

describe('limits (issue 10, point 2)', () => {
  it('parses a flat 50,000-term + chain and keeps every term, left-associated', () => {
    const n = 50_000;
    const terms = Array.from({ length: n }, (_, i) => `p${i % 7}`).join(' + ');
    const src = `loss f(p: prob)\n  = mean(${terms})\n`;
    const { module, diagnostics } = parse(src, 'chain.loss');
    expect(diagnostics).toEqual([]);
    // mean(chain): walk the left spine of the + nodes; the rightmost term is the last one written.
    const loss = module.items.find((i) => i.kind === 'loss') as unknown as { result: { kind: string; args: unknown[] } };
    let e = loss.result.args[0] as { kind: string; op?: string; lhs?: unknown; rhs?: { name: string }; name?: string };
    let count = 1;
    const last: string[] = [];
    while (e.kind === 'binary' && e.op === '+') { last.push(e.rhs!.name); e = e.lhs as typeof e; count++; }
    expect(count).toBe(n);
    expect(e.name).toBe('p0');
    expect(last[0]).toBe(`p${(n - 1) % 7}`);
  });

  it('a 20,000-term chain prints back as it was written and computes its closed form on reference and js', async () => {
    const n = 20_000;
    const terms = Array.from({ length: n }, (_, i) => `p * ${(i % 5) + 1}`);
    const src = `loss f(p: prob, g: target) = mean((${terms.join(' + ')}) * g)\n`;
    const { module } = parse(src, 'chain.loss');
    // fmt prints it on one line, the same terms in the same order.
    expect(printModule(module)).toContain(terms.join(' + '));
    // Σ_i (i mod 5 + 1) = 3n for n a multiple of 5.
    const [ref, js] = await both(src);
    expect(ref.value).toBeCloseTo(3 * n * meanPG(), 6);
    expect(js.value / ref.value).toBeCloseTo(1, 5);
  });

  it('repeat 1000 { x = x * 0.5 + p } compiles on reference and js: x = p (2 − 2^−999)', async () => {
    const src = 'loss f(p: prob, g: target)\n  x = p\n  repeat 1000 {\n    x = x * 0.5 + p\n  }\n  = mean(x * g)\n';
    const [ref, js] = await both(src);
    // x_n = p (2 − 0.5^n) after n iterations from x_0 = p: 2 p to float64 precision.
    expect(ref.value).toBeCloseTo(2 * meanPG(), 12);
    expect(js.value).toBeCloseTo(2 * meanPG(), 5);
    for (let i = 0; i < N; i++) expect(js.grad[i]).toBeCloseTo((2 * G[i]!) / N, 6);
  });

  it('two loop states over 1000 iterations (a deep graph of both) compile and agree', async () => {
    const src = 'loss f(p: prob, g: target)\n  x = p\n  y = g\n  repeat 1000 {\n    x = 0.5 * x + 0.5 * y\n    y = 0.5 * y + 0.25 * x\n  }\n  = mean(x * y)\n';
    const [ref, js] = await both(src);
    // The oracle: the same recurrence per element in float64. Its larger eigenvalue is 0.82, so after 1000 steps
    // x·y is about 1e-172: the reference keeps it, float32 kernels flush it to 0.
    let expected = 0;
    for (let i = 0; i < N; i++) {
      let x = P[i]!;
      let y = G[i]!;
      for (let k = 0; k < 1000; k++) { x = 0.5 * x + 0.5 * y; y = 0.5 * y + 0.25 * x; }
      expected += x * y;
    }
    expected /= N;
    expect(expected).toBeGreaterThan(1e-200);
    expect(ref.value / expected).toBeCloseTo(1, 9);
    expect(Math.abs(js.value)).toBeLessThan(1e-30);
  });

  it('a def that calls the one before twice with the same argument is lowered once per def: 2^40 p', async () => {
    const defs = ['def f0(x) = x', ...Array.from({ length: 40 }, (_, i) => `def f${i + 1}(x) = f${i}(x) + f${i}(x)`)];
    const src = `${defs.join('\n')}\nloss f(p: prob, g: target) = mean(f40(p) * g)\n`;
    const [ref] = await both(src);
    expect(ref.value / (2 ** 40 * meanPG())).toBeCloseTo(1, 12);
  });

  it('under reduction sum, a chain of 40 bindings that each use the previous twice is lowered once each: 2^40 Σ pg', async () => {
    const binds = ['  a0 = sum(p * g)', ...Array.from({ length: 40 }, (_, i) => `  a${i + 1} = a${i} + a${i}`)];
    const src = `loss f(p: prob, g: target)\n${binds.join('\n')}\n  = a40\n`;
    const [ref] = await both(src, { reduction: 'sum' });
    expect(ref.value / (2 ** 40 * meanPG() * N)).toBeCloseTo(1, 12);
  });

  it('a pool 255 wide on a 5x6 image reads the whole image: the max per sample and class', async () => {
    const [ref, js] = await both('loss f(p: prob, g: target) = mean(maxpool(p, 255) * g)\n');
    // nhwc [2, 5, 6, 2]: every pixel's window covers its whole image, so maxpool is the image's max.
    let expected = 0;
    for (let i = 0; i < N; i++) {
      const b = Math.floor(i / 60);
      const c = i % 2;
      let m = -Infinity;
      for (let j = b * 60 + c; j < (b + 1) * 60; j += 2) m = Math.max(m, P[j]!);
      expected += m * G[i]!;
    }
    expect(ref.value).toBeCloseTo(expected / N, 12);
    expect(js.value).toBeCloseTo(expected / N, 6);
  });

  test('a NaN on either side of max or min is NaN on the reference, as on the kernels and tf.maximum', async () => {
    const [ref, js] = await both('loss f(p: prob, g: target) = mean(max(log(p - 1), p) + min(p, sqrt(p - 1)) + sign(log(p - 1)))\n');
    expect(ref.value).toBeNaN();
    expect(js.value).toBeNaN();
  });

  test('20,000 mistakes: 50 printed, then a count; a long line is cut around the caret', () => {
    const src = `loss f(p: prob) = mean(p)\n${'$ '.repeat(20_000)}\n`;
    const r = frontend(src, 'many.loss');
    expect(r.diagnostics).toHaveLength(20_000);
    const text = formatDiagnostics(r.diagnostics, r.sources);
    expect(text.match(/error\[E101\]/g)).toHaveLength(50);
    expect(text).toContain('... and 19950 more errors');
    // Each excerpt: at most 100 characters of the 40,000-character line, plus the two '…'.
    for (const line of text.split('\n').filter((l) => l.startsWith('2 | '))) expect(line.length).toBeLessThanOrEqual(4 + 102);
  });

  test('control characters never reach the terminal: excerpts show ?, messages \\u{…}; a lone CR ends a line', () => {
    const src = 'loss f(p: prob) = mean(p)\r\x1b[31m\n';
    const r = frontend(src, 'esc.loss');
    const text = formatDiagnostics(r.diagnostics, r.sources);
    expect(text).not.toContain('\x1b');
    expect(text).toContain("unexpected character '\\u{1b}'");
    // The lexer counts the lone \r as a line end: the caret is on line 2, under the escape's '?'.
    expect(text).toContain('esc.loss:2:1: error[E101]');
    expect(text).toMatch(/2 \| \?\[31m\n\s+\| \^/);
  });
});
