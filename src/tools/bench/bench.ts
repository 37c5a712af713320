// The benchmark harness behind `segloss bench` and `npm run bench`: median time of
// value + gradient per segloss backend, side by side in one process with the peers
// of src/tools/bench/peers.ts (tfjs-cpu, tfjs-wasm, a hand-written fused JS loop, PyTorch
// eager in a child process); ratios, compile time, memory; a table or JSON.
//
// What is measured, per (loss, shape):
// - parse-to-kernels: frontend (parse, lower, diff, simplify) + plan + codegen of
//   every pass for the shape, as CompiledLoss.kernelsFor does it, WITHOUT gpu.js's
//   own kernel build; median of 5 runs after one warm-up (the cold first run too).
// - per contestant: the first call (for segloss: load() + the first valueAndGrad,
//   so gpu.js's build is in it; for tfjs: tensors + the first valueAndGrad, the
//   backend already initialised), `warmup` more calls (just one once they pass
//   half the budget), then up to `runs` timed calls
//   (stopping early, after at least 3, once the timed calls pass `budgetS` seconds:
//   slow software renderers get fewer runs, and the runs column says how many).
//   A timed call is value + gradient with both read back to the host: segloss
//   `valueAndGrad(inputs, shape, { out })` into a preallocated gradient (as the JS loop); tfjs `tf.valueAndGrad` + `dataSync()` of both;
//   the JS loop into a preallocated Float32Array; torch `backward()` + `item()`.
// - memory: process.memoryUsage() sampled before the contestant starts (after a GC
//   when node runs with --expose-gc, as `npm run bench` does) and after its first
//   call and each later call; reported: the largest rss and arrayBuffers minus the
//   before values. It is a sampled delta, not a high-water mark (a GC in between
//   can even make it negative). For torch: growth of the Python process's ru_maxrss.
// - a check per row: the loss value against tfjs-cpu's (the numeric oracle: it
//   agrees with float64 to about 1e-7), relative error < 1e-4; the gradient's
//   largest error relative to the largest gradient element < 1e-3.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type ShapeContext, emitPass } from '../../compiler/codegen/kernel.ts';
import { staticValues } from '../../runtime/program.ts';
import { frontend } from '../../runtime/sources.ts';
import { rng } from '../check.ts';
import { type GpuBackend, GPU_BACKENDS, probeBackends } from '../../runtime/backends/gpujs.ts';
import { count, sizesOf } from '../../compiler/core/layout.ts';
import { BACKENDS, type Backend, type CompiledLoss, load } from '../../runtime/loss.ts';
import { LIBRARY_DIR } from '../../runtime/sources.ts';
import { tfjs } from '../tfjs.ts';
import { type BenchReport, type BenchRow, type CompileRow, GRAD_TOL, PEERS, type Peer, VALUE_TOL, summarize } from './report.ts';
import { JS_LOOPS, PEER_LOSSES, type PeerLoss, type Problem, TORCH_LOSSES, TorchPeer, type TorchInfo, tfRunner } from './peers.ts';

export const DEFAULT_LOSSES: readonly string[] = ['dice', 'bce', 'focal', 'tversky'];
export const DEFAULT_SHAPES: readonly (readonly number[])[] = [[4, 256, 256, 1], [4, 512, 512, 1], [2, 128, 128, 4], [1, 64, 64, 64, 1]];
export interface BenchOptions {
  losses?: readonly string[];
  /** nhwc shapes: [batch, y, x, class] or [batch, z, y, x, class]. */
  shapes?: readonly (readonly number[])[];
  /** segloss backends; undefined: `js` and every gpu.js backend that starts here (probeBackends), not `reference`. */
  backends?: readonly Backend[];
  peers?: readonly Peer[];
  /** Timed calls per row, after the first call and the warm-up. */
  runs?: number;
  warmup?: number;
  /** Stop a row's timed calls (after at least 3) once they pass this many seconds. */
  budgetS?: number;
  seed?: number;
  /** Called once, before the first step, with what will not run and why. */
  onSkipped?: (skipped: readonly { name: string; why: string }[]) => void;
  /** Called before each step and once at the end (done === total). */
  onProgress?: (done: number, total: number, label: string) => void;
}

const GC = (globalThis as { gc?: () => void }).gc;

export function shapeName(shape: readonly number[]): string {
  return shape.join('x');
}

/** The fixed-seed problem for a shape: p uniform in [0.02, 0.98], g Bernoulli(0.4), one-hot along class when C > 1. */
export function makeProblem(shape: readonly number[], seed: number): Problem {
  const n = shape.reduce((a, b) => a * b, 1);
  const C = shape[shape.length - 1]!;
  const r = rng(seed);
  const p = new Float32Array(n);
  for (let i = 0; i < n; i++) p[i] = 0.02 + 0.96 * r();
  const g = new Float32Array(n);
  if (C === 1) for (let i = 0; i < n; i++) g[i] = r() < 0.4 ? 1 : 0;
  else for (let i = 0; i < n; i += C) g[i + Math.floor(r() * C)] = 1;
  return { shape, p, g };
}

/**
 * Frontend + plan + codegen for one shape, as CompiledLoss.kernelsFor does (keep the two in step),
 * without building gpu.js kernels. Returns the number of kernels.
 */
export function parseToKernels(source: string, file: string, shape: readonly number[]): number {
  const { sizes, dims } = sizesOf(shape, 'nhwc');
  const fe = frontend(source, file, { dims, region: 'sample', params: {}, activation: 'none' });
  if (!fe.ir) throw new Error(`${file} does not compile: ${fe.diagnostics.map((d) => d.code).join(', ')}`);
  // The plan compileIR built (the runtime runs the same one).
  const plan = fe.ir.plan;
  const statics = staticValues(plan, sizes);
  const smallOffset = new Map<number, number>();
  let smallSize = 0;
  for (const n of plan.smallInputs) { smallOffset.set(n.id, smallSize); smallSize += count(n.axes, sizes); }
  const ctx: ShapeContext = { sizes, dims, layout: 'nhwc', smallOffset, statics, slots: plan.slots };
  // Host steps (distance transforms) have no kernel.
  const specs = plan.passes.map((p) => (p.kind === 'host' ? undefined : emitPass(plan, p, ctx)));
  return specs.filter(Boolean).length;
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
}

function gradErr(ours: ArrayLike<number> | undefined, ref: ArrayLike<number>): number {
  if (!ours || ours.length !== ref.length) return NaN;
  let abs = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ours[i]! - ref[i]!);
    if (!(d <= abs)) abs = d; // NaN-sticky
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return abs / Math.max(scale, 1e-30);
}

class MemSampler {
  private readonly rss0: number;
  private readonly ab0: number;
  private rss = 0;
  private ab = 0;
  constructor() {
    GC?.();
    const m = process.memoryUsage();
    this.rss0 = m.rss;
    this.ab0 = m.arrayBuffers;
    this.rss = m.rss;
    this.ab = m.arrayBuffers;
  }
  sample(): void {
    const m = process.memoryUsage();
    if (m.rss > this.rss) this.rss = m.rss;
    if (m.arrayBuffers > this.ab) this.ab = m.arrayBuffers;
  }
  get rssMB(): number { return (this.rss - this.rss0) / 2 ** 20; }
  get abMB(): number { return (this.ab - this.ab0) / 2 ** 20; }
}

interface Outcome { value: number; grad: ArrayLike<number> | undefined }

/**
 * The first call, `warmup` calls (only one once they pass budgetS / 2), then timed
 * calls: `runs` of them, or fewer (at least 3) once they pass `budgetS`.
 * Synchronous calls are not awaited.
 */
async function timeCalls(setup: () => Promise<() => Outcome | Promise<Outcome>>, o: Required<Pick<BenchOptions, 'runs' | 'warmup' | 'budgetS'>>) {
  const mem = new MemSampler();
  const t0 = performance.now();
  const call = await setup();
  let r = call();
  const first = r instanceof Promise ? await r : r;
  const firstCallMs = performance.now() - t0;
  mem.sample();
  // Warm-up: `warmup` calls, but no more than one once they pass half the budget (slow peers on big shapes).
  const w0 = performance.now();
  for (let i = 0; i < o.warmup && (i === 0 || performance.now() - w0 < (o.budgetS * 1000) / 2); i++) { r = call(); if (r instanceof Promise) await r; mem.sample(); }
  const times: number[] = [];
  const start = performance.now();
  while (times.length < o.runs) {
    const a = performance.now();
    r = call();
    if (r instanceof Promise) await r;
    times.push(performance.now() - a);
    mem.sample();
    if (times.length >= 3 && performance.now() - start > o.budgetS * 1000) break;
  }
  return { first, firstCallMs, times, mem };
}

function emptyRow(loss: string, shape: string, name: string, kind: BenchRow['kind']): BenchRow {
  return { loss, shape, name, kind, status: 'ok', runs: 0, medianMs: NaN, minMs: NaN, timesMs: [], firstCallMs: NaN, rssDeltaMB: NaN, arrayBuffersDeltaMB: NaN, value: NaN, valueRelErr: NaN, gradRelErr: NaN, ok: false, speedup: {} };
}

function finishRow(row: BenchRow, times: number[], first: Outcome, oracle: Outcome): BenchRow {
  row.timesMs = times.map((t) => Math.round(t * 1000) / 1000);
  row.runs = times.length;
  row.medianMs = median(times);
  row.minMs = Math.min(...times);
  row.value = first.value;
  row.valueRelErr = relErr(first.value, oracle.value);
  row.gradRelErr = oracle.grad ? gradErr(first.grad, oracle.grad) : NaN;
  row.ok = row.valueRelErr < VALUE_TOL && (Number.isNaN(row.gradRelErr) ? first.grad === undefined : row.gradRelErr < GRAD_TOL);
  return row;
}

function errorRow(loss: string, shape: string, name: string, kind: BenchRow['kind'], e: unknown, status: BenchRow['status'] = 'error'): BenchRow {
  const row = emptyRow(loss, shape, name, kind);
  row.status = status;
  row.note = e instanceof Error ? e.message.split('\n')[0]! : String(e);
  return row;
}

/** Which segloss backends to run, and which were skipped and why. */
export async function resolveBackends(wanted: readonly Backend[] | undefined): Promise<{ backends: Backend[]; skipped: { name: string; why: string }[] }> {
  const probes = await probeBackends();
  const skipped: { name: string; why: string }[] = [];
  const backends: Backend[] = [];
  // Default: every backend but the float64 interpreter; the gpu.js ones only where they start.
  for (const b of wanted ?? BACKENDS.filter((x) => x !== 'reference')) {
    if (!(GPU_BACKENDS as readonly string[]).includes(b)) { backends.push(b); continue; }
    const p = probes[b as GpuBackend];
    if (p.ok) backends.push(b);
    else skipped.push({ name: `segloss:${b}`, why: p.why });
  }
  return { backends, skipped };
}

export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const losses = [...(options.losses ?? DEFAULT_LOSSES)];
  const shapes = (options.shapes ?? DEFAULT_SHAPES).map((s) => [...s]);
  const peers = [...(options.peers ?? PEERS)];
  const o = { runs: options.runs ?? 15, warmup: options.warmup ?? 2, budgetS: options.budgetS ?? 3 };
  const seed = options.seed ?? 20240611;
  const loadavgStart = loadavg();
  const progress = options.onProgress ?? (() => {});

  const { backends, skipped } = await resolveBackends(options.backends);
  let torch: TorchPeer | undefined;
  let torchInfo: TorchInfo = { ok: false, why: 'not requested' };
  if (peers.includes('torch')) {
    const t = await TorchPeer.start();
    if (t instanceof TorchPeer) { torch = t; torchInfo = t.info; } else { torchInfo = t; skipped.push({ name: 'torch', why: `not installed (${t.why})` }); }
  }
  for (const l of losses) {
    if (!(PEER_LOSSES as readonly string[]).includes(l)) skipped.push({ name: `peers for ${l}`, why: `src/tools/bench/peers.ts has no tfjs/torch formula for '${l}'` });
  }
  options.onSkipped?.(skipped);
  const tf = await tfjs('cpu'); // tfjs-cpu is the oracle, whatever the peers

  const rows: BenchRow[] = [];
  const compile: CompileRow[] = [];
  const stepsPerGroup = 2 + backends.length + peers.length; // oracle + compile + contestants
  const total = shapes.length * losses.length * stepsPerGroup;
  let done = 0;
  const step = (label: string) => progress(done++, total, label);
  const tmp = mkdtempSync(join(tmpdir(), 'segloss-bench-'));

  try {
    for (const [si, shape] of shapes.entries()) {
      const sname = shapeName(shape);
      const prob = makeProblem(shape, seed + si);
      const inputsFile = { p: join(tmp, `p-${si}.f32`), g: join(tmp, `g-${si}.f32`) };
      if (torch) {
        writeFileSync(inputsFile.p, new Uint8Array(prob.p.buffer, prob.p.byteOffset, prob.p.byteLength));
        writeFileSync(inputsFile.g, new Uint8Array(prob.g.buffer, prob.g.byteOffset, prob.g.byteLength));
      }
      for (const loss of losses) {
        const label = `${loss} ${sname}`;
        const peerLoss = (PEER_LOSSES as readonly string[]).includes(loss) ? (loss as PeerLoss) : undefined;
        const file = join(LIBRARY_DIR, `${loss}.loss`);
        const source = readFileSync(file, 'utf8');

        // The oracle: tfjs-cpu, once, untimed. Without a tfjs formula, the reference backend.
        step(`${label}: oracle`);
        let oracle: Outcome;
        if (peerLoss) {
          await tfjs('cpu');
          const r = tfRunner(tf, peerLoss, prob);
          try { const x = r.run(); oracle = { value: x.value, grad: Float32Array.from(x.grad) }; } finally { r.dispose(); }
        } else {
          const ref = await load(loss, {}, { backend: 'reference', layout: 'nhwc' });
          try { const x = await ref.valueAndGrad(inputsFor(ref, prob), shape); oracle = { value: x.value, grad: x.grad }; } finally { ref.dispose(); }
        }

        step(`${label}: parse-to-kernels`);
        const cold0 = performance.now();
        const passes = parseToKernels(source, file, shape);
        const coldMs = performance.now() - cold0;
        const ptk: number[] = [];
        for (let i = 0; i < 5; i++) { const a = performance.now(); parseToKernels(source, file, shape); ptk.push(performance.now() - a); }
        const crow: CompileRow = { loss, shape: sname, parseToKernelsMs: median(ptk), parseToKernelsColdMs: coldMs, passes, firstCallMs: {} };
        compile.push(crow);

        const group: BenchRow[] = [];
        for (const backend of backends) {
          const name = `segloss:${backend}`;
          step(`${label}: ${name}`);
          let compiled: CompiledLoss | undefined;
          try {
            const res = await timeCalls(async () => {
              compiled = await load(loss, {}, { backend, layout: 'nhwc' });
              const c = compiled;
              const byRole = inputsFor(c, prob);
              // Into a preallocated gradient, as the hand-written loop writes into one.
              const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
              return async () => { const r = await c.valueAndGrad(byRole, shape, { out }); return { value: r.value, grad: r.grad }; };
            }, o);
            const row = finishRow(emptyRow(loss, sname, name, 'segloss'), res.times, res.first, oracle);
            row.firstCallMs = res.firstCallMs;
            row.rssDeltaMB = res.mem.rssMB;
            row.arrayBuffersDeltaMB = res.mem.abMB;
            const real = compiled!.kernelBackends().filter((k) => k !== backend);
            if (real.length) row.note = `gpu.js fell back to ${[...new Set(real)].join(', ')}`;
            crow.firstCallMs[backend] = res.firstCallMs;
            group.push(row);
          } catch (e) {
            group.push(errorRow(loss, sname, name, 'segloss', e));
          } finally {
            compiled?.dispose();
          }
        }

        for (const peer of peers) {
          step(`${label}: ${peer}`);
          if (peer === 'js-loop') {
            const make = JS_LOOPS[loss];
            if (!make) continue;
            const res = await timeCalls(async () => {
              const fn = make(shape);
              const grad = new Float32Array(prob.p.length);
              return () => ({ value: fn(prob.p, prob.g, grad), grad });
            }, o);
            group.push(peerRow(loss, sname, peer, res, oracle));
            continue;
          }
          if (!peerLoss) continue;
          if (peer === 'tfjs-cpu' || peer === 'tfjs-wasm') {
            try {
              const t = await tfjs(peer === 'tfjs-cpu' ? 'cpu' : 'wasm');
              let runner: ReturnType<typeof tfRunner> | undefined;
              try {
                const res = await timeCalls(async () => { runner = tfRunner(t, peerLoss, prob); const r = runner; return () => r.run(); }, o);
                group.push(peerRow(loss, sname, peer, res, oracle));
              } finally {
                runner?.dispose();
              }
            } catch (e) {
              group.push(errorRow(loss, sname, peer, 'peer', e));
            }
            continue;
          }
          // torch
          if (!torch) { group.push(errorRow(loss, sname, 'torch', 'peer', 'not installed', 'unavailable')); continue; }
          if (!TORCH_LOSSES.includes(peerLoss)) { group.push(errorRow(loss, sname, 'torch', 'peer', 'no torch formula', 'unavailable')); continue; }
          const gradOut = join(tmp, 'torch-grad.f32');
          const r = await torch.run({ loss: peerLoss, shape, p: inputsFile.p, g: inputsFile.g, gradOut, runs: o.runs, warmup: o.warmup, budgetS: o.budgetS });
          if (!r.ok || !r.timesMs) { group.push(errorRow(loss, sname, 'torch', 'peer', r.why ?? 'failed')); continue; }
          let grad: Float32Array | undefined;
          if (r.grad) { const b = readFileSync(gradOut); grad = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)); }
          const row = finishRow(emptyRow(loss, sname, 'torch', 'peer'), r.timesMs, { value: r.value!, grad }, oracle);
          row.firstCallMs = r.firstMs ?? NaN;
          row.rssDeltaMB = r.maxRssDeltaMB ?? NaN;
          row.note = 'separate Python process';
          group.push(row);
        }
        await tfjs('cpu');

        // Speedups inside the group: the peer's median over each row's.
        for (const row of group) {
          for (const peer of PEERS) {
            const pr = group.find((r) => r.name === peer && r.status === 'ok');
            if (pr && row.status === 'ok') row.speedup[peer] = pr.medianMs / row.medianMs;
          }
        }
        rows.push(...group);
      }
    }
  } finally {
    torch?.close();
    rmSync(tmp, { recursive: true, force: true });
  }
  progress(total, total, 'done');

  return {
    meta: {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      cpu: cpus()[0]?.model ?? 'unknown',
      loadavgStart,
      loadavgEnd: loadavg(),
      ...o,
      seed,
      gcBeforeRows: GC !== undefined,
      torch: torchInfo,
    },
    backends,
    skipped,
    rows,
    compile,
    summary: summarize(losses, rows, compile),
  };
}

/** The problem's arrays under the loss's input names: its target input gets g, its prediction p (logits take p's values as they are, as the tfjs peer does). */
function inputsFor(c: CompiledLoss, prob: Problem): Record<string, Float32Array> {
  return Object.fromEntries(c.inputs.map((i) => {
    if (i.role === 'target') return [i.name, prob.g];
    if (i.role === 'prob' || i.role === 'logits') return [i.name, prob.p];
    throw new Error(`bench inputs cover the prediction and the target only; '${i.name}' is a ${i.role} input`);
  }));
}

function peerRow(loss: string, shape: string, peer: Peer, res: Awaited<ReturnType<typeof timeCalls>>, oracle: Outcome): BenchRow {
  const row = finishRow(emptyRow(loss, shape, peer, 'peer'), res.times, res.first, oracle);
  row.firstCallMs = res.firstCallMs;
  row.rssDeltaMB = res.mem.rssMB;
  row.arrayBuffersDeltaMB = res.mem.abMB;
  return row;
}
