import { describe, expect, it } from 'vitest';
import { parse } from '../src/compiler/parse.js';

describe('limits (issue 10, point 2)', () => {
  it('parses a flat 50,000-term + chain in linear time (leftFold no longer slices per term)', () => {
    const n = 50_000;
    const terms = Array.from({ length: n }, () => 'p').join(' + ');
    const src = `loss f(p: prob)\n  = mean(${terms})\n`;
    const t0 = Date.now();
    const { diagnostics } = parse(src, 'chain.loss');
    expect(diagnostics).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});
