// The benchmark's harness (src/tools/bench/cell.ts, bench.ts), not its figures:
// the rounds interleave the contenders, the quartiles are the textbook ones,
// other processes' CPU time is seen, and a small run's rows agree with the
// oracle. Oracles: the definition of linear-interpolation quantiles; the call
// order the contenders record; a child process that spins (its CPU time is
// other work unless it is a contender's own); tfjs-cpu's value and gradient.

import { spawn } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { cpus } from 'node:os';
import { type Started, cpuSnapshot, otherShare, quartiles, timeRounds } from '../src/tools/bench/cell.ts';
import { parseLossSpec, runBench } from '../src/tools/bench/bench.ts';
import { type BenchRow, growthFits } from '../src/tools/bench/report.ts';

describe('cell: rounds and load', () => {
  test('quartiles: linear interpolation between order statistics', () => {
    // sorted 1 2 3 4 10: p25 at index 1 → 2, median 3, p75 at index 3 → 4
    expect(quartiles([10, 3, 1, 4, 2])).toEqual({ p25: 2, median: 3, p75: 4 });
    // 1 2 3 4: p25 at 0.75 → 1.75, median at 1.5 → 2.5, p75 at 2.25 → 3.25
    expect(quartiles([4, 3, 2, 1])).toEqual({ p25: 1.75, median: 2.5, p75: 3.25 });
  });

  test('each round calls every contender once, starting one further each round', async () => {
    const order: string[] = [];
    const c = (name: string): Started => ({ call: () => { order.push(name); return 1; }, pids: [] });
    const r = await timeRounds([c('a'), c('b'), c('c')], 4, 60);
    expect(r.rounds).toBe(4);
    expect(order.join('')).toBe('abc' + 'bca' + 'cab' + 'abc');
    expect(r.times.map((t) => t.length)).toEqual([4, 4, 4]);
  });

  test("a spinning child process is other work, unless it is a contender's own", async () => {
    const spin = spawn(process.execPath, ['-e', 'const end = Date.now() + 4000; while (Date.now() < end);'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const before = cpuSnapshot([spin.pid!]);
      await new Promise((r) => setTimeout(r, 1000));
      const after = cpuSnapshot([spin.pid!]);
      const wallS = (after.t - before.t) / 1000;
      const cores = cpus().length;
      // The spinner ran the whole second, on a share of a core (other tests and processes may share the machine).
      const spun = after.kids - before.kids;
      expect(spun).toBeGreaterThan(0.1 * wallS);
      expect(spun).toBeLessThanOrEqual(1.05 * wallS);
      // As other work it is in the share; as the contender's own it is not, and only it is taken out.
      const asOther = otherShare({ ...before, kids: 0 }, { ...after, kids: 0 });
      const asOwn = otherShare(before, after);
      expect(asOther).toBeGreaterThan(0.1 / cores);
      expect(asOther - asOwn).toBeCloseTo(Math.min(spun, asOther * wallS * cores) / (wallS * cores), 6);
    } finally {
      spin.kill();
    }
  }, 30_000);

  test('growth fits: the least-squares line through a contender\'s BxNxNx1 times, other shapes left out', () => {
    // Oracle: rows made from a known line, 0.2 ms + 3 ns/element, and one multi-class shape off the line.
    const row = (shape: string, ms: number, name = 'segloss:wasm') => ({ loss: 'dice', shape, name, kind: 'segloss', threads: 1, status: 'ok', medianMs: ms }) as unknown as BenchRow;
    const n = (s: string) => s.split('x').map(Number).reduce((a, b) => a * b, 1);
    const rows = ['4x64x64x1', '4x256x256x1', '4x512x512x1'].map((s) => row(s, 0.2 + 3e-6 * n(s)));
    rows.push(row('2x128x128x4', 99), row('4x64x64x1', 1, 'torch'), row('4x256x256x1', 2, 'torch'));
    const fits = growthFits(rows);
    expect(fits).toHaveLength(1);
    expect(fits[0]!.fixedUs).toBeCloseTo(200, 6);
    expect(fits[0]!.perElementNs).toBeCloseTo(3, 9);
    expect(fits[0]!.sizes).toBe(3);
  });

  test('a loss of the matrix takes knobs after a colon', () => {
    expect(parseLossSpec('generalized_dice:activation=softmax&smooth_nr=0.5')).toEqual({ label: 'generalized_dice:activation=softmax&smooth_nr=0.5', name: 'generalized_dice', params: { activation: 'softmax', smooth_nr: 0.5 } });
    expect(() => parseLossSpec('dice:smooth')).toThrow(/name=value/);
  });
});

test('a small run: every row agrees with tfjs-cpu, each contender timed once per round, 1 and 2 threads', async () => {
  const r = await runBench({ losses: ['dice'], shapes: [[1, 16, 16, 1]], backends: ['js'], peers: ['tfjs-cpu', 'js-loop'], runs: 4, warmup: 1, budgetS: 30, threads: [2, 1], retries: 0 });
  expect(r.rows.map((x) => `${x.name} x${x.threads}`)).toEqual(['segloss:js x2', 'segloss:js x1', 'tfjs-cpu x1', 'js-loop x1']);
  for (const row of r.rows) {
    expect(row.status, row.note).toBe('ok');
    expect(row.ok, `${row.name}: value ${row.valueRelErr}, grad ${row.gradRelErr}`).toBe(true);
    expect(row.runs).toBe(4);
    expect(row.p25Ms).toBeLessThanOrEqual(row.medianMs);
    expect(row.medianMs).toBeLessThanOrEqual(row.p75Ms);
    expect(row.otherLoad).toBeGreaterThanOrEqual(0);
  }
  expect(r.meta.threads).toEqual([2, 1]);
}, 120_000);
