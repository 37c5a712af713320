// `repeat n { … }` blocks, checked and unrolled by lower.ts. Oracle: the same
// formula unrolled by hand, which must lower to the very same IR node (nodes are
// hash-consed: equal formulas are one node); and hand-placed diagnostics.

import { describe, expect, test } from 'vitest';
import { frontendFile } from '../src/runtime/sources.ts';
import type { Node } from '../src/compiler/core/ir.ts';
import type { Params } from '../src/compiler/lower/knobs.ts';

function lower(src: string, params: Params = {}): { value: Node | undefined; diagnostics: string[] } {
  const r = frontendFile('r.loss', { readFile: () => src, params });
  return { value: r.ir?.loss.value, diagnostics: r.diagnostics.map((d) => `${d.code} ${d.span?.line}:${d.span?.col}${d.hint ? ` (${d.hint})` : ''}`) };
}

/** The value of a loss that must compile cleanly. */
function value(src: string, params: Params = {}): Node {
  const r = lower(src, params);
  expect(r.diagnostics).toEqual([]);
  return r.value!;
}

const SKEL_LOOP = `def soft_open(x) = maxpool(minpool(x, 3), 3)
def soft_skel(x, iterations = 3)
  s = relu(x - soft_open(x))
  repeat iterations {
    x = minpool(x, 3)
    d = relu(x - soft_open(x))
    s = s + relu(d - s * d)
  }
  = s
loss t(p: prob, g: target; n = 3)
  = mean(soft_skel(p, n) * g)`;

/** clDice's soft skeleton as it was written before loops: n iterations by hand. */
function skelByHand(n: number): string {
  const lines = ['  x0 = p', '  s0 = relu(x0 - soft_open(x0))'];
  for (let i = 1; i <= n; i++) {
    lines.push(`  x${i} = minpool(x${i - 1}, 3)`, `  d${i} = relu(x${i} - soft_open(x${i}))`, `  s${i} = s${i - 1} + relu(d${i} - s${i - 1} * d${i})`);
  }
  return `def soft_open(x) = maxpool(minpool(x, 3), 3)\nloss t(p: prob, g: target)\n${lines.join('\n')}\n  = mean(s${n} * g)`;
}

describe('repeat unrolls', () => {
  test.each([0, 1, 3, 5])('the soft skeleton, %i iterations, is the hand-unrolled one', (n) => {
    expect(value(SKEL_LOOP, { n })).toBe(value(skelByHand(n)));
  });

  test('nested blocks multiply; a block reads the names of the blocks around it', () => {
    const loop = 'loss t(p: prob)\n  s = p\n  repeat 2 {\n    k = s\n    repeat 3 { s = s * p + k }\n  }\n  = mean(s)';
    let s = 'p';
    for (let i = 0; i < 2; i++) { const k = s; for (let j = 0; j < 3; j++) s = `(${s}) * p + (${k})`; }
    expect(value(loop)).toBe(value(`loss t(p: prob) = mean(${s})`));
  });

  test('zero iterations do nothing; a count may be a folded constant expression or a def argument', () => {
    expect(value('loss t(p: prob)\n  s = p\n  repeat 0 { s = s * 2 }\n  = mean(s)')).toBe(value('loss t(p: prob) = mean(p)'));
    expect(value('loss t(p: prob; n = 3)\n  s = p\n  repeat 2 * n - 4 { s = s * 2 }\n  = mean(s)')).toBe(value('loss t(p: prob) = mean(p * 2 * 2)'));
    expect(value('def f(x, k) \n  repeat k { x = x * 2 }\n  = x\nloss t(p: prob) = mean(f(p, 1))')).toBe(value('loss t(p: prob) = mean(p * 2)'));
  });

  test('a name first bound in a block is read later in the same iteration, and ends with the block', () => {
    expect(value('loss t(p: prob)\n  s = p\n  repeat 2 { d = s * s\n s = s + d }\n  = mean(s)')).toBe(value('loss t(p: prob)\n  s1 = p + p * p\n  = mean(s1 + s1 * s1)'));
    expect(lower('loss t(p: prob)\n  s = p\n  repeat 2 { d = s * s }\n  = mean(d)').diagnostics)
      .toEqual(["E201 4:10 ('d' is bound in a repeat block and ends with it; bind it before the block to keep its last value)"]);
  });

  test('rebinding is for blocks only: outside one it stays E205', () => {
    expect(lower('loss t(p: prob)\n  s = p\n  s = s * 2\n  = mean(s)').diagnostics).toEqual(['E205 3:3 (pick another name)']);
    expect(lower('loss t(p: prob)\n  s = p\n  repeat 2 { s = s * 2 }\n  d = s\n  = mean(d)').diagnostics).toEqual([]);
  });
});

describe('repeat counts and errors', () => {
  const loop = (count: string, body = 's = s * p') => `loss t(p: prob; n = 3)\n  s = p\n  repeat ${count} { ${body} }\n  = mean(s)`;
  test.each([
    ['sum(p)', {}, 'E227 3:10 (write a number or a parameter: the loop is unrolled when the loss is compiled)'],
    ['p', {}, 'E227 3:10 (write a number or a parameter: the loop is unrolled when the loss is compiled)'],
    ['-1', {}, 'E228 3:10'],
    ['n', { n: 2.5 }, 'E228 3:10'],
    ['1001', {}, 'E228 3:10 (each iteration is unrolled into the compiled formula)'],
    ['40 { repeat 26', {}, 'E228 3:22 (nested repeats multiply: at most 1000 iterations in all)'],
  ])('repeat %s (params %j): %s', (count, params, want) => {
    const src = count.includes('{') ? loop(count, 's = s * p }') : loop(count);
    expect(lower(src, params as Params).diagnostics).toEqual([want]);
  });

  test('1000 iterations compile', () => {
    expect(lower(loop('1000', 's = s * p + 0.5')).diagnostics).toEqual([]);
  });

  test('a block that runs zero times, or has a wrong count, is still checked', () => {
    expect(lower(loop('0', 's = s * sigmod(p)')).diagnostics).toEqual(["E202 3:22 (did you mean 'sigmoid'?)"]);
    expect(lower(loop('-1', 's = s * sigmod(p)')).diagnostics).toEqual(['E228 3:10', "E202 3:23 (did you mean 'sigmoid'?)"]);
  });

  test('under reduction=sum a name a loop rebinds is not traced to its first binding as a final mean', () => {
    // Traced, `l` would be the plain mean and the loop's halvings would be lost; untraced, it is not a final reduction.
    const src = 'loss t(p: prob, g: target)\n  l = mean((p - g)^2)\n  repeat 2 { l = l * 0.5 }\n  = l';
    expect(lower(src, { reduction: 'sum' }).diagnostics.map((d) => d.slice(0, 4))).toEqual(['E226']);
    expect(lower(src).diagnostics).toEqual([]);
  });
});
