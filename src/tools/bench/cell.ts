// One cell of the benchmark (a loss at a shape): its contenders timed round by
// round, interleaved (round r calls every contender once, starting at the r-th,
// so none always runs first or after the same neighbour), while the machine's
// other work is measured: the CPU time of every process but this one and the
// contenders' own child processes (PyTorch), from /proc/stat and /proc/PID/stat,
// and the time a hypervisor gave the machine's cores to other machines (steal).
// A cell in which other work (both together) took more than OTHER_LOAD_LIMIT of
// the machine is unreliable: the harness warns and measures it again (bounded).

import { readFileSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';

/** Other processes' share of the machine (all cores) above which a cell is unreliable. */
export const OTHER_LOAD_LIMIT = 0.1;

/** A contender after its first call and warm-up: one timed call at a time. */
export interface Started {
  /** One value + gradient call; its time in ms (the harness's clock, or the child's own for a child process). */
  call(): number | Promise<number>;
  /** Child processes whose CPU time is this contender's, not other work. */
  pids: readonly number[];
}

export interface Rounds {
  /** Per contender, its call times in ms, in round order. */
  times: number[][];
  rounds: number;
  wallS: number;
  /** Other processes' CPU time over the rounds, as a share of the machine (cores × wall time); NaN where /proc is missing. */
  otherLoad: number;
  /** The share of the machine's cores the hypervisor gave to other machines meanwhile (steal). */
  stolen: number;
}

/**
 * Seconds of busy CPU time of the whole machine (every core), and of time the
 * hypervisor gave this machine's cores to others (steal), or undefined without /proc/stat.
 */
function machineCpuS(): { busy: number; steal: number } | undefined {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (USER_HZ = 100)
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu;
    return { busy: (user + nice + system + irq + softirq) / 100, steal: steal / 100 };
  } catch {
    return undefined;
  }
}

/** Seconds of CPU time (user + system) of a process, or 0 once it is gone. */
function processCpuS(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime (fields 14 and 15)
  } catch {
    return 0;
  }
}

/** This process's CPU seconds (every thread: the js backend's workers included). */
function ownCpuS(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** The CPU accounting at one instant: wall clock (ms), the machine's busy seconds, this process's, the contenders' children's. */
export interface CpuSnapshot { t: number; busy: number | undefined; steal: number | undefined; own: number; kids: number }

/**
 * This process's descendants (PyTorch's Python, a transpiler's service process under
 * tsx, ...), from every process's parent in /proc; empty without /proc.
 */
function descendants(): number[] {
  const parent = new Map<number, number>();
  try {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try { parent.set(Number(name), Number(readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]!.split(' ')[1])); } catch { /* gone */ }
    }
  } catch {
    return [];
  }
  const out: number[] = [];
  const mine = new Set([process.pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of parent) if (!mine.has(pid) && mine.has(ppid)) { mine.add(pid); out.push(pid); grew = true; }
  }
  return out;
}

/**
 * The CPU accounting now: `pids` (the contenders' child processes) and every other
 * descendant of this process count as this run's own work, not as other work.
 */
export function cpuSnapshot(pids: readonly number[]): CpuSnapshot {
  const kids = [...new Set([...pids, ...descendants()])];
  const m = machineCpuS();
  return { t: performance.now(), busy: m?.busy, steal: m?.steal, own: ownCpuS(), kids: kids.reduce((s, p) => s + processCpuS(p), 0) };
}

/** Time the hypervisor gave this machine's cores to other machines between two snapshots, as a share of cores × wall time. */
export function stolenShare(before: CpuSnapshot, after: CpuSnapshot): number {
  if (before.steal === undefined || after.steal === undefined) return NaN;
  return Math.max(0, after.steal - before.steal) / (((after.t - before.t) / 1000) * cpus().length);
}

/** Other processes' CPU time between two snapshots, as a share of the machine (cores × wall time); NaN without /proc/stat. */
export function otherShare(before: CpuSnapshot, after: CpuSnapshot): number {
  if (before.busy === undefined || after.busy === undefined) return NaN;
  const wallS = (after.t - before.t) / 1000;
  return Math.max(0, (after.busy - before.busy) - (after.own - before.own) - (after.kids - before.kids)) / (wallS * cpus().length);
}

/**
 * Rounds of one call per contender, rotating the order, until `runs` rounds, or
 * (after at least 3) once the rounds pass `budgetS` seconds per contender.
 */
export async function timeRounds(started: readonly Started[], runs: number, budgetS: number): Promise<Rounds> {
  const pids = started.flatMap((s) => s.pids);
  const times: number[][] = started.map(() => []);
  const before = cpuSnapshot(pids);
  const budgetMs = budgetS * 1000 * Math.max(1, started.length);
  let rounds = 0;
  while (rounds < runs) {
    for (let k = 0; k < started.length; k++) {
      const i = (rounds + k) % started.length;
      const r = started[i]!.call();
      times[i]!.push(typeof r === 'number' ? r : await r);
    }
    rounds++;
    if (rounds >= 3 && performance.now() - before.t > budgetMs) break;
  }
  const after = cpuSnapshot(pids);
  return { times, rounds, wallS: (after.t - before.t) / 1000, otherLoad: otherShare(before, after), stolen: stolenShare(before, after) };
}

/** Median, and the 25th and 75th percentiles (linear interpolation). */
export function quartiles(xs: readonly number[]): { p25: number; median: number; p75: number } {
  if (xs.length === 0) return { p25: NaN, median: NaN, p75: NaN };
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => {
    const x = q * (s.length - 1);
    const lo = Math.floor(x);
    return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (x - lo);
  };
  return { p25: at(0.25), median: at(0.5), p75: at(0.75) };
}

/** A call timed by this process's clock. Synchronous calls are not awaited. */
export function timed(call: () => unknown): () => number | Promise<number> {
  return () => {
    const a = performance.now();
    const r = call();
    return r instanceof Promise ? r.then(() => performance.now() - a) : performance.now() - a;
  };
}
