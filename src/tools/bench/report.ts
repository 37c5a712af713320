// The benchmark's report: its rows and summary as data, the targets the issue set
// at 4x512x512x1 (measured, not asserted), and the two ways to print it (a table
// for people, JSON for scripts). src/tools/bench/bench.ts fills it.

import type { Backend } from '../../runtime/loss.ts';
import type { TorchInfo } from './peers.ts';

export const PEERS = ['tfjs-cpu', 'tfjs-wasm', 'js-loop', 'torch'] as const;
export type Peer = (typeof PEERS)[number];

export const TARGET_SHAPE = '4x512x512x1';
/** A row agrees with tfjs-cpu when the value's relative error and the gradient's largest error relative to its largest element are below these. */
export const VALUE_TOL = 1e-4;
export const GRAD_TOL = 1e-3;

export interface BenchRow {
  loss: string;
  shape: string;
  /** `segloss:webasm`, or a peer's name. */
  name: string;
  kind: 'segloss' | 'peer';
  /** Its thread count (segloss's js and wasm backends and torch: the same for each); undefined: its own pool (gpu.js, tfjs-wasm). */
  threads?: number;
  status: 'ok' | 'error' | 'unavailable';
  note?: string;
  /** Timed calls: one per round of the cell. */
  runs: number;
  medianMs: number;
  /** The 25th and 75th percentiles of the timed calls: the spread. */
  p25Ms: number;
  p75Ms: number;
  minMs: number;
  timesMs: number[];
  firstCallMs: number;
  /** Sampled growth of rss / arrayBuffers over the row, MB (torch: the Python process's peak RSS growth). */
  rssDeltaMB: number;
  arrayBuffersDeltaMB: number;
  /** Other processes' CPU time during the cell's rounds, as a share of the machine (all cores). */
  otherLoad: number;
  /** The share of the machine's cores a hypervisor gave to other machines during the rounds (steal). */
  stolen: number;
  /** Other work took more than the limit of the machine in every attempt at this cell. */
  unreliable: boolean;
  value: number;
  valueRelErr: number;
  gradRelErr: number;
  /** Value and gradient agree with tfjs-cpu (see the tolerances above). */
  ok: boolean;
  /** The peer's median divided by this row's: > 1 means this row is that many times faster. */
  speedup: Partial<Record<Peer, number>>;
}

export interface CompileRow {
  loss: string;
  shape: string;
  /** Frontend + plan + codegen for the shape, no gpu.js build: median after one warm-up, and the cold first run. */
  parseToKernelsMs: number;
  parseToKernelsColdMs: number;
  passes: number;
  /** First call per segloss backend (load + first valueAndGrad, gpu.js build included). */
  firstCallMs: Partial<Record<Backend, number>>;
}

export interface SummaryLine {
  loss: string;
  shape: string;
  fastest: string | undefined;
  checks: { target: string; measured: string; pass: boolean | undefined }[];
}

export interface BenchReport {
  meta: {
    date: string;
    node: string;
    cpus: number;
    cpu: string;
    loadavgStart: number[];
    loadavgEnd: number[];
    runs: number;
    warmup: number;
    /** Warm-up calls went on while the warm-up had taken under this many seconds (at most 200). */
    warmupS: number;
    budgetS: number;
    retries: number;
    /** The thread counts segloss's js backend and torch ran at, each. */
    threads: number[];
    otherLoadLimit: number;
    seed: number;
    gcBeforeRows: boolean;
    torch: TorchInfo;
  };
  backends: Backend[];
  skipped: { name: string; why: string }[];
  rows: BenchRow[];
  compile: CompileRow[];
  summary: SummaryLine[];
}

// ------------------------------------------------------------------ targets

interface Target { peer: Peer; atLeast: number; text: string }

/** The issue's targets at 4x512x512x1 (speedup = peer time / fastest segloss time). */
const TARGETS: Record<string, Target[]> = {
  dice: [
    { peer: 'tfjs-cpu', atLeast: 40, text: '≥ 40x faster than tfjs-cpu' },
    { peer: 'tfjs-wasm', atLeast: 4, text: '≥ 4x faster than tfjs-wasm' },
    { peer: 'js-loop', atLeast: 1 / 1.15, text: 'within 1.15x of the JS loop' },
  ],
  bce: [
    { peer: 'tfjs-cpu', atLeast: 10, text: '≥ 10x faster than tfjs-cpu' },
    { peer: 'tfjs-wasm', atLeast: 1, text: 'faster than tfjs-wasm' },
  ],
};
const PARSE_TO_KERNELS_TARGET_MS = 20;

export function summarize(losses: readonly string[], rows: readonly BenchRow[], compile: readonly CompileRow[]): SummaryLine[] {
  const out: SummaryLine[] = [];
  for (const loss of losses) {
    const group = rows.filter((r) => r.loss === loss && r.shape === TARGET_SHAPE);
    const c = compile.find((r) => r.loss === loss && r.shape === TARGET_SHAPE);
    if (!c) continue;
    const ours = group.filter((r) => r.kind === 'segloss' && r.status === 'ok').sort((a, b) => a.medianMs - b.medianMs);
    const best = ours[0];
    const checks: SummaryLine['checks'] = [];
    for (const t of TARGETS[loss] ?? []) {
      const s = best?.speedup[t.peer];
      const measured = s === undefined ? 'not measured' : t.peer === 'js-loop' ? `${fmtRatio(1 / s)} the JS loop's time` : `${fmtRatio(s)} faster`;
      checks.push({ target: t.text, measured, pass: s === undefined ? undefined : s >= t.atLeast });
    }
    checks.push({ target: `parse-to-kernels < ${PARSE_TO_KERNELS_TARGET_MS} ms`, measured: `${fmtMs(c.parseToKernelsMs)} ms`, pass: c.parseToKernelsMs < PARSE_TO_KERNELS_TARGET_MS });
    out.push({ loss, shape: TARGET_SHAPE, fastest: best?.name, checks });
  }
  return out;
}

/** Per cell and thread count with a torch row: segloss's fastest row at that thread count against torch's. */
export function versusTorch(rows: readonly BenchRow[]): { loss: string; shape: string; threads: number; ours: string; ratio: number; unreliable: boolean }[] {
  const out: ReturnType<typeof versusTorch> = [];
  for (const t of rows.filter((r) => r.name === 'torch' && r.status === 'ok' && r.threads !== undefined)) {
    const ours = rows.filter((r) => r.loss === t.loss && r.shape === t.shape && r.kind === 'segloss' && r.status === 'ok' && r.threads === t.threads).sort((a, b) => a.medianMs - b.medianMs)[0];
    if (ours) out.push({ loss: t.loss, shape: t.shape, threads: t.threads!, ours: ours.name, ratio: t.medianMs / ours.medianMs, unreliable: t.unreliable });
  }
  return out;
}

/**
 * Per loss and contender, time = fixed + per-element · N by least squares over the loss's shapes of one
 * family (B×N×N×1, 2-D single-class: the growth of one image size), where at least 3 sizes ran: the fixed
 * cost of a call (µs) and the cost of an element (ns).
 */
export function growthFits(rows: readonly BenchRow[]): { loss: string; name: string; threads?: number; fixedUs: number; perElementNs: number; sizes: number }[] {
  const out: ReturnType<typeof growthFits> = [];
  const family = (shape: string) => { const d = shape.split('x').map(Number); return d.length === 4 && d[3] === 1 && d[1] === d[2] ? d[0]! * d[1]! * d[2]! : undefined; };
  const keys = new Map<string, BenchRow[]>();
  for (const r of rows) {
    if (r.status !== 'ok' || family(r.shape) === undefined || !Number.isFinite(r.medianMs)) continue;
    const k = `${r.loss}\u0000${r.name}\u0000${r.threads ?? ''}`;
    keys.set(k, [...(keys.get(k) ?? []), r]);
  }
  for (const rs of keys.values()) {
    if (rs.length < 3) continue;
    const xs = rs.map((r) => family(r.shape)!), ys = rs.map((r) => r.medianMs);
    const mx = xs.reduce((a, b) => a + b, 0) / xs.length, my = ys.reduce((a, b) => a + b, 0) / ys.length;
    const sxy = xs.reduce((a, x, i) => a + (x - mx) * (ys[i]! - my), 0), sxx = xs.reduce((a, x) => a + (x - mx) ** 2, 0);
    const slope = sxy / sxx;
    out.push({ loss: rs[0]!.loss, name: rs[0]!.name, ...(rs[0]!.threads === undefined ? {} : { threads: rs[0]!.threads }), fixedUs: 1e3 * (my - slope * mx), perElementNs: 1e6 * slope, sizes: rs.length });
  }
  return out;
}

// --------------------------------------------------------------- formatting

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

function fmtRatio(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  return `${x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)}x`;
}

function fmtMB(x: number): string {
  return Number.isFinite(x) ? x.toFixed(1) : '–';
}

function table(head: string[], body: string[][], right: Set<number>): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)];
}

/** The report as text tables for people. */
export function formatReport(r: BenchReport): string {
  const out: string[] = [];
  const m = r.meta;
  out.push(`segloss bench: node ${m.node}, ${m.cpus} × ${m.cpu}; load average ${m.loadavgStart.map((x) => x.toFixed(2)).join(' ')} at the start, ${m.loadavgEnd.map((x) => x.toFixed(2)).join(' ')} at the end`);
  out.push(`value + gradient: the contenders of a cell timed together, round by round (one call each per round, the order rotating), up to ${m.runs} rounds (fewer, at least 3, past ${m.budgetS} s per contender), after each one's first call and its warm-up (${m.warmup} calls, then more while under ${m.warmupS} s, at most 200); median and p25–p75 of its calls`);
  out.push(`threads: segloss:js, segloss:wasm and torch at ${m.threads.join(' and ')} (the same for each: "x${m.threads[0]}" in the name); tfjs-cpu and the JS loop use 1; gpu.js and tfjs-wasm their own pools`);
  out.push(`load: other processes' CPU time during the cell's rounds, as a share of the machine ("+N st": the share a hypervisor gave to other machines, steal); above ${(100 * m.otherLoadLimit).toFixed(0)} % together a cell is measured again (up to ${m.retries} times), and marked "!" (unreliable) if it stays above`);
  out.push(`torch: ${m.torch.ok ? `${m.torch.torch} (${m.torch.python}), one Python process per thread count, each call timed inside Python` : m.torch.why === 'not requested' ? 'not requested' : 'not installed (see skipped)'}`);
  out.push('"vs X" = X\'s median / this row\'s median: above 1, this row is that many times faster (vs torch: torch at the same thread count).');
  out.push('');
  const head = ['loss', 'shape', 'backend/peer', 'runs', 'median ms', 'p25–p75 ms', 'vs tfjs-cpu', 'vs tfjs-wasm', 'vs JS loop', 'vs torch', 'first call ms', 'rss Δ MB', 'load', 'check'];
  const name = (row: BenchRow) => `${row.name}${row.threads === undefined ? '' : ` x${row.threads}`}`;
  const body = r.rows.map((row) => {
    if (row.status !== 'ok') return [row.loss, row.shape, name(row), '', row.status === 'unavailable' ? 'unavailable' : 'error', '', '', '', '', '', '', '', '', row.note ?? ''];
    const self = (p: Peer) => (row.name === p ? '·' : fmtRatio(row.speedup[p]));
    const check = row.ok ? 'ok' : `MISMATCH value ${row.valueRelErr.toExponential(1)} grad ${row.gradRelErr.toExponential(1)}`;
    const st = Number.isFinite(row.stolen) && row.stolen >= 0.005 ? ` +${(100 * row.stolen).toFixed(0)} st` : '';
    const load = Number.isFinite(row.otherLoad) ? `${(100 * row.otherLoad).toFixed(0)} %${st}${row.unreliable ? ' !' : ''}` : '–';
    return [row.loss, row.shape, name(row), String(row.runs), fmtMs(row.medianMs), `${fmtMs(row.p25Ms)}–${fmtMs(row.p75Ms)}`, self('tfjs-cpu'), self('tfjs-wasm'), self('js-loop'), self('torch'), fmtMs(row.firstCallMs), fmtMB(row.rssDeltaMB), load, check + (row.note && row.name !== 'torch' ? ` (${row.note})` : '')];
  });
  out.push(...table(head, body, new Set([3, 4, 5, 6, 7, 8, 9, 10, 11, 12])));
  out.push('');
  out.push('compile time: parse-to-kernels = frontend + plan + codegen for the shape, no gpu.js build (median of 5 after one warm-up; cold = the first);');
  out.push('first call = load() + the first valueAndGrad, gpu.js kernel build included');
  const cHead = ['loss', 'shape', 'passes', 'parse-to-kernels ms', 'cold ms', ...r.backends.map((b) => `first call ${b} ms`)];
  const cBody = r.compile.map((c) => [c.loss, c.shape, String(c.passes), fmtMs(c.parseToKernelsMs), fmtMs(c.parseToKernelsColdMs), ...r.backends.map((b) => fmtMs(c.firstCallMs[b] ?? NaN))]);
  out.push(...table(cHead, cBody, new Set(cHead.map((_, i) => i).filter((i) => i >= 2))));
  out.push('');
  if (r.summary.length) {
    out.push(`targets at ${TARGET_SHAPE} (fastest segloss backend; measured, not asserted):`);
    for (const s of r.summary) {
      const parts = s.checks.map((c) => `${c.target}: ${c.measured} ${c.pass === undefined ? 'n/a' : c.pass ? 'PASS' : 'MISS'}`);
      out.push(`  ${s.loss} (${s.fastest ?? 'no segloss backend ran'}): ${parts.join('; ')}`);
    }
  } else {
    out.push(`targets: not evaluated (${TARGET_SHAPE} was not among the shapes)`);
  }
  const vt = versusTorch(r.rows);
  if (vt.length) {
    out.push('');
    const faster = vt.filter((x) => x.ratio > 1).length;
    out.push(`against PyTorch at the same thread count (torch's median / ours; target: above 1 in every cell): ${faster} of ${vt.length} cells faster`);
    for (const x of vt) out.push(`  ${x.loss} ${x.shape} x${x.threads}: ${fmtRatio(x.ratio)} (${x.ours})${x.ratio > 1 ? '' : '  SLOWER'}${x.unreliable ? '  ! unreliable (busy machine)' : ''}`);
  }
  const fits = growthFits(r.rows);
  if (fits.length) {
    out.push('');
    out.push('growth fits over the BxNxNx1 shapes (least squares: a call = fixed + per element x elements):');
    for (const f of fits) out.push(`  ${f.loss} ${f.name}${f.threads === undefined ? '' : ` x${f.threads}`}: ${f.fixedUs.toFixed(0)} us + ${f.perElementNs.toFixed(2)} ns/element (${f.sizes} sizes)`);
  }
  if (r.skipped.length) {
    out.push('');
    out.push('skipped:');
    for (const s of r.skipped) out.push(`  ${s.name}: ${s.why}`);
  }
  const bad = r.rows.filter((x) => x.status === 'ok' && !x.ok).length;
  out.push('');
  out.push(bad ? `${bad} row(s) disagree with tfjs-cpu (value rel err ≥ ${VALUE_TOL} or gradient ≥ ${GRAD_TOL})` : `every row agrees with tfjs-cpu (value rel err < ${VALUE_TOL}, gradient < ${GRAD_TOL} of its largest element)`);
  return `${out.join('\n')}\n`;
}

export function formatJson(r: BenchReport): string {
  return `${JSON.stringify(r, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
}
