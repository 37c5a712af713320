// Formula sizes the parser must take (issue 10, point 2). Oracle: the AST's left spine, walked without
// recursion, which must hold every term in order. No wall-clock assertion (speed is the benchmark's business): the quadratic fold took 10.5 s for this
// chain and the linear one 0.6 s here, well inside vitest's 60 s test timeout either way on a quiet machine,
// so this test guards correctness of the fold on a long chain.

import { describe, expect, it } from 'vitest';
import { parse } from '../src/compiler/parse.ts';

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
});
