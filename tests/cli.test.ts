// The segloss command, started the way a user starts it (bin/segloss.js).
// Oracles: the check's own comparisons (TensorFlow.js, finite differences and
// the compiled kernels), the documented exit codes, and the text a person reads.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

function segloss(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/segloss.js', ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const LOSSES = readdirSync('losses').filter((f) => f.endsWith('.loss')).map((f) => `losses/${f}`);

describe('segloss', () => {
  test('check --json: every library loss agrees with TensorFlow.js, finite differences and its js kernels, with no warning', () => {
    const r = segloss('check', ...LOSSES, '--json');
    expect(r.code, r.err).toBe(0);
    const rows = JSON.parse(r.out) as { loss: string; case: string; oracle: string; value: number; maxRelErr: number; ok: boolean; backend?: string; warnings?: string[] }[];
    expect(rows).toHaveLength(LOSSES.length * 3 * 3);
    expect(rows.filter((x) => !x.ok)).toEqual([]);
    expect(new Set(rows.map((x) => x.case))).toEqual(new Set(['binary-2d', 'multiclass-2d', 'binary-3d']));
    expect(rows.filter((x) => x.oracle === 'kernels').map((x) => x.backend)).toEqual(Array(LOSSES.length * 3).fill('js'));
    expect(rows.filter((x) => x.warnings)).toEqual([]);
    expect(rows.every((x) => Number.isFinite(x.value))).toBe(true);
    expect(r.err).not.toMatch(/warning/);
  }, 180_000);

  test('check prints the value per case and a kernels row (dice, binary-2d: 0.5741, as the float64 reference)', () => {
    const r = segloss('check', 'losses/dice.loss');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^dice +binary-2d +0\.5741 +kernels \(js\) +\S+ +\S+ +ok$/m);
    expect(r.out).toContain('1 losses, 9 comparisons: 9 ok, 0 mismatched\n');
    expect(r.err).toBe('');
  });

  test('a loss that is identically zero passes, but says so loudly (stderr, footer, --json); exit 0', () => {
    const dir = mkdtempSync(join(tmpdir(), 'segloss-check-'));
    const z = join(dir, 'z.loss'), zg = join(dir, 'zg.loss');
    writeFileSync(z, 'loss z(p: prob, g: target) = mean(p * 0)\n');
    writeFileSync(zg, 'loss zg(p: prob, g: target) = mean(g)\n');
    const r = segloss('check', z, zg);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`${z}: warning: loss 'z' is zero in every case`);
    expect(r.err).toContain(`${z}: warning: the gradient of loss 'z' is zero in every case`);
    // Not TensorFlow.js's "Cannot compute gradient of y=f(x)" as an internal error (exit 70).
    expect(r.err).toContain(`${zg}: warning: loss 'zg' does not read its prediction 'p'`);
    expect(r.out).toContain('2 losses, 18 comparisons: 18 ok, 0 mismatched; 3 warnings (on stderr)');
    const j = segloss('check', z, '--json');
    expect(j.code).toBe(0);
    const rows = JSON.parse(j.out) as { value: number; warnings?: string[] }[];
    expect(rows.every((x) => x.value === 0 && x.warnings?.length === 2)).toBe(true);
  });

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

describe('the CLI and a reader that stops early', () => {
  // Oracle: the exit status and stderr of `segloss <cmd> | head -0`: the reader closes the pipe before
  // the command writes, so every write meets EPIPE.
  test.each(['--help', 'check --help', 'list'])('segloss %s | head -0: exit 0, nothing on stderr (no EPIPE trace)', async (line) => {
    const child = spawn(process.execPath, ['bin/segloss.js', ...line.split(' ')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += String(d); });
    child.stdout.destroy();
    const code = await new Promise<number | null>((done) => child.on('close', done));
    expect(err).toBe('');
    expect(code).toBe(0);
  });
});
