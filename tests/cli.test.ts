// The segloss command, started the way a user starts it (bin/segloss.js).
// Oracles: the check's own comparisons (TensorFlow.js and finite differences),
// the documented exit codes, and the text a person reads.

import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, expect, test } from 'vitest';

function segloss(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/segloss.js', ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const LOSSES = readdirSync('losses').filter((f) => f.endsWith('.loss')).map((f) => `losses/${f}`);

describe('segloss', () => {
  test('check --json: every library loss agrees with TensorFlow.js and finite differences', () => {
    const r = segloss('check', ...LOSSES, '--json');
    expect(r.code, r.err).toBe(0);
    const rows = JSON.parse(r.out) as { loss: string; case: string; oracle: string; maxRelErr: number; ok: boolean }[];
    expect(rows).toHaveLength(LOSSES.length * 3 * 2);
    expect(rows.filter((x) => !x.ok)).toEqual([]);
    expect(new Set(rows.map((x) => x.case))).toEqual(new Set(['binary-2d', 'multiclass-2d', 'binary-3d']));
  }, 120_000);

  test('grad prints the loss and its gradient as math', () => {
    const r = segloss('grad', 'losses/dice.loss');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('sum[y, x](p * g)');
    expect(r.out).toMatch(/^ddice\/dp = .*g/m);
  });

  test('a formula with three mistakes: three located errors, exit 2, no stack trace', () => {
    const r = segloss('check', 'tests/fixtures/three-mistakes.loss');
    expect(r.code).toBe(2);
    expect(r.err.match(/^tests\/fixtures\/three-mistakes\.loss:\d+:\d+: error\[E\d+\]/gm)).toHaveLength(3);
    expect(r.err).not.toMatch(/^\s+at /m);
  });

  test('a missing file is a usage error (exit 2)', () => {
    const r = segloss('check', 'losses/nope.loss');
    expect(r.code).toBe(2);
    expect(r.err).toContain("cannot read 'losses/nope.loss'");
  });

  test('--help lists the commands', () => {
    const r = segloss('--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/check/);
    expect(r.out).toMatch(/grad/);
  });
});
