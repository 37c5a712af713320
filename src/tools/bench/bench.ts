// The benchmark harness behind `segloss bench` and `npm run bench`: value + gradient
// per segloss backend, side by side in one process with the peers of
// src/tools/bench/peers.ts (tfjs-cpu, tfjs-wasm, a hand-written fused JS loop,
// PyTorch eager in a child process per thread count); ratios, compile time,
// memory, the machine's other load; a table or JSON.
//
// Per cell (a loss at a shape):
// - the oracle (tfjs-cpu's formula, or segloss's float64 reference), untimed;
// - parse-to-kernels: frontend + plan + codegen of every pass for the shape, as
//   CompiledLoss.kernelsFor does it, without gpu.js's build; median of 5 after a cold run;
// - each contender started in turn: its first call (segloss: load() + the first
//   valueAndGrad, gpu.js's build included), `warmup` more calls; memory sampled
//   over these (process.memoryUsage() deltas after a GC under --expose-gc; torch:
//   the Python process's ru_maxrss growth); its value and gradient checked
//   against the oracle (value relative error < 1e-4, gradient < 1e-3 of its
//   largest element);
// - then the contenders timed together, round by round (cell.ts): `runs` rounds,
//   or fewer (at least 3) once they pass `budgetS` seconds per contender; the
//   median and the quartiles of each one's calls. The CPU time other processes
//   took meanwhile is measured, and the hypervisor's steal; above OTHER_LOAD_LIMIT of the machine the cell is
//   measured again (up to `retries` times) and, if it stays busy, marked unreliable.
// - Threads: segloss's js and wasm backends and PyTorch run at each count of `threads`
//   (default: the machine's cores, and 1), the same count for both; tfjs-cpu
//   and the JS loop are single-threaded; gpu.js and tfjs-wasm use their own pools.
// A timed call is value + gradient with both on the host: segloss
// `valueAndGrad(inputs, shape, { out })` into a preallocated gradient; tfjs
// `tf.valueAndGrad` + `dataSync()`; the JS loop into a preallocated array; torch
// `backward()` + `item()`, timed inside Python.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
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
import { OTHER_LOAD_LIMIT, type Rounds, type Started, quartiles, timeRounds, timed } from './cell.ts';

/** The matrix: a loss is a library name, with parameters or knobs after a colon (`generalized_dice:activation=softmax`). */
export const DEFAULT_LOSSES: readonly string[] = ['dice', 'bce', 'focal', 'tversky', 'ssim', 'lovasz_hinge', 'hausdorff_dt', 'generalized_dice:activation=softmax'];
export const DEFAULT_SHAPES: readonly (readonly number[])[] = [[4, 64, 64, 1], [4, 256, 256, 1], [4, 512, 512, 1], [2, 128, 128, 4], [1, 64, 64, 64, 1]];
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
  /** Warm-up calls go on, past `warmup`, while the warm-up has taken under this many seconds (default 0.25; at most MAX_WARMUP_CALLS). */
  warmupS?: number;
  /** A wasm row with its inputs and gradient in arrays of loss.alloc too (`segloss:wasm+alloc`); default true. */
  alloc?: boolean;
  /** Stop a cell's rounds (after at least 3) once they pass this many seconds per contender. */
  budgetS?: number;
  /** Thread counts for segloss's js backend and PyTorch, the same for both (default: the cores, and 1). */
  threads?: readonly number[];
  /** How many times a cell is measured again when other work took more than OTHER_LOAD_LIMIT of the machine. */
  retries?: number;
  /** Called with a warning (a busy cell being measured again). */
  onWarn?: (message: string) => void;
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
export function parseToKernels(source: string, file: string, shape: readonly number[], params: Record<string, string | number> = {}): number {
  const { sizes, dims } = sizesOf(shape, 'nhwc');
  const fe = frontend(source, file, { dims, region: 'sample', params, activation: 'none' });
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

/** A loss of the matrix: `name` or `name:key=value&key=value` (parameters and knobs, as --param takes them). */
export interface LossSpec { label: string; name: string; params: Record<string, string | number> }

export function parseLossSpec(label: string): LossSpec {
  const [name, rest] = label.split(':', 2) as [string, string | undefined];
  const params: Record<string, string | number> = {};
  for (const kv of rest ? rest.split('&') : []) {
    const m = /^([A-Za-z_]\w*)=(.+)$/.exec(kv);
    if (!m) throw new Error(`a loss's parameter is name=value, got '${kv}' in '${label}'`);
    params[m[1]!] = Number.isFinite(Number(m[2])) ? Number(m[2]) : m[2]!;
  }
  return { label, name, params };
}

/** A contender before it runs: its row's identity, and how to start it (first call and warm-up). */
interface Contender {
  name: string;
  kind: BenchRow['kind'];
  /** Its thread count; undefined: its own pool (gpu.js, tfjs-wasm). */
  threads: number | undefined;
  start(): Promise<Begun>;
}
interface Begun {
  first: Outcome;
  firstCallMs: number;
  mem: { rssMB: number; abMB: number };
  started: Started;
  /** The gradient after the rounds, for contenders that hand it over only then (torch). */
  gradAfter?: () => Promise<ArrayLike<number> | undefined>;
  note?: string;
  dispose(): void | Promise<void>;
}

/** Warm-up calls at most, past `warmup`, while the warm-up lasts under its time (`warmupS`). */
export const MAX_WARMUP_CALLS = 200;

/**
 * The first call, then `warmup` more and further ones while the warm-up has taken under `warmupS` seconds (at
 * most MAX_WARMUP_CALLS): a JIT's code (V8's optimizing tier, PyTorch's dispatch caches) is measured in the
 * state a training loop's thousands of calls reach, not its first few. Memory sampled around them.
 */
async function begin(setup: () => Promise<() => Outcome | Promise<Outcome>>, warmup: number, warmupS: number) {
  const mem = new MemSampler();
  const t0 = performance.now();
  const call = await setup();
  const r = call();
  const first = r instanceof Promise ? await r : r;
  const firstCallMs = performance.now() - t0;
  mem.sample();
  const w0 = performance.now();
  for (let i = 0; i < warmup || (i < MAX_WARMUP_CALLS && performance.now() - w0 < warmupS * 1e3); i++) { const w = call(); if (w instanceof Promise) await w; mem.sample(); }
  return { call, first, firstCallMs, mem: { rssMB: mem.rssMB, abMB: mem.abMB } };
}

function emptyRow(loss: string, shape: string, name: string, kind: BenchRow['kind'], threads?: number): BenchRow {
  return { loss, shape, name, kind, threads, status: 'ok', runs: 0, medianMs: NaN, p25Ms: NaN, p75Ms: NaN, minMs: NaN, timesMs: [], firstCallMs: NaN, rssDeltaMB: NaN, arrayBuffersDeltaMB: NaN, otherLoad: NaN, stolen: NaN, unreliable: false, value: NaN, valueRelErr: NaN, gradRelErr: NaN, ok: false, speedup: {} };
}

function errorRow(loss: string, shape: string, name: string, kind: BenchRow['kind'], e: unknown, status: BenchRow['status'] = 'error', threads?: number): BenchRow {
  const row = emptyRow(loss, shape, name, kind, threads);
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
  const losses = (options.losses ?? DEFAULT_LOSSES).map(parseLossSpec);
  const shapes = (options.shapes ?? DEFAULT_SHAPES).map((s) => [...s]);
  const peers = [...(options.peers ?? PEERS)];
  const threads = [...new Set(options.threads ?? [availableParallelism(), 1])];
  const o = { alloc: options.alloc ?? true, runs: options.runs ?? 15, warmup: options.warmup ?? 2, warmupS: options.warmupS ?? 0.25, budgetS: options.budgetS ?? 3, retries: options.retries ?? 2 };
  const seed = options.seed ?? 20240611;
  const loadavgStart = loadavg();
  const progress = options.onProgress ?? (() => {});
  const warn = options.onWarn ?? (() => {});

  const { backends, skipped } = await resolveBackends(options.backends);
  const torches = new Map<number, TorchPeer>();
  let torchInfo: TorchInfo = { ok: false, why: 'not requested' };
  if (peers.includes('torch')) {
    for (const t of threads) {
      const peer = await TorchPeer.start(t);
      if (peer instanceof TorchPeer) { torches.set(t, peer); torchInfo = peer.info; } else { torchInfo = peer; skipped.push({ name: 'torch', why: `not installed (${peer.why})` }); break; }
    }
  }
  for (const l of losses) {
    const tfjsPeer = (PEER_LOSSES as readonly string[]).includes(l.name) && !Object.keys(l.params).length;
    const torchPeer = Object.hasOwn(TORCH_LOSSES, l.label);
    if (!tfjsPeer || !torchPeer) skipped.push({ name: `peers for ${l.label}`, why: `src/tools/bench/peers.ts has no ${[!tfjsPeer && 'tfjs', !torchPeer && 'torch'].filter(Boolean).join(' or ')} formula for '${l.label}'` });
  }
  options.onSkipped?.(skipped);
  const tf = await tfjs('cpu'); // tfjs-cpu is the oracle, whatever the peers

  const rows: BenchRow[] = [];
  const compile: CompileRow[] = [];
  const contendersPerCell = backends.length + backends.filter((b) => b === 'js' || b === 'wasm').length * (threads.length - 1) + peers.length + (peers.includes('torch') ? threads.length - 1 : 0);
  const total = shapes.length * losses.length * (3 + contendersPerCell);
  let done = 0;
  const step = (label: string) => progress(done++, total, label);
  const tmp = mkdtempSync(join(tmpdir(), 'segloss-bench-'));

  try {
    for (const [si, shape] of shapes.entries()) {
      const sname = shapeName(shape);
      const N = shape.reduce((a, b) => a * b, 1);
      const prob = makeProblem(shape, seed + si);
      const inputsFile = { p: join(tmp, `p-${si}.f32`), g: join(tmp, `g-${si}.f32`) };
      if (torches.size) {
        writeFileSync(inputsFile.p, new Uint8Array(prob.p.buffer, prob.p.byteOffset, prob.p.byteLength));
        writeFileSync(inputsFile.g, new Uint8Array(prob.g.buffer, prob.g.byteOffset, prob.g.byteLength));
      }
      for (const spec of losses) {
        const loss = spec.label;
        const label = `${loss} ${sname}`;
        const peerLoss = (PEER_LOSSES as readonly string[]).includes(spec.name) && !Object.keys(spec.params).length ? (spec.name as PeerLoss) : undefined;
        const file = join(LIBRARY_DIR, `${spec.name}.loss`);
        const source = readFileSync(file, 'utf8');

        // The oracle: tfjs-cpu, once, untimed. Without a tfjs formula, the reference backend; for Lovász on
        // images over 4,096 pixels too (tfjs-cpu's gradient of its gather over sorted rows took 18 GB at 4x256x256).
        step(`${label}: oracle`);
        let oracle: Outcome;
        // SSIM's peers are 2-D (tf.image.ssim): on a volume they say so in their rows, and the reference is the oracle.
        const tooBig = spec.name === 'lovasz_hinge' && shape.slice(1, -1).reduce((a, b) => a * b, 1) > 4096;
        if (peerLoss && !tooBig && !(peerLoss === 'ssim' && shape.length !== 4)) {
          await tfjs('cpu');
          const r = tfRunner(tf, peerLoss, prob);
          try { const x = r.run(); oracle = { value: x.value, grad: Float32Array.from(x.grad) }; } finally { r.dispose(); }
        } else {
          const ref = await load(spec.name, spec.params, { backend: 'reference', layout: 'nhwc' });
          try { const x = await ref.valueAndGrad(inputsFor(ref, prob), shape); oracle = { value: x.value, grad: x.grad }; } finally { ref.dispose(); }
        }

        step(`${label}: parse-to-kernels`);
        const cold0 = performance.now();
        const passes = parseToKernels(source, file, shape, spec.params);
        const coldMs = performance.now() - cold0;
        const ptk: number[] = [];
        for (let i = 0; i < 5; i++) { const a = performance.now(); parseToKernels(source, file, shape, spec.params); ptk.push(performance.now() - a); }
        const crow: CompileRow = { loss, shape: sname, parseToKernelsMs: median(ptk), parseToKernelsColdMs: coldMs, passes, firstCallMs: {} };
        compile.push(crow);

        const contenders: Contender[] = [];
        // wasm also zero-copy (`+alloc`): inputs and gradient in arrays of loss.alloc, as a training loop that
        // writes its predictions there runs it (PyTorch's tensors, too, are where its kernels read them).
        const variants = backends.flatMap((backend) => (backend === 'wasm' && o.alloc ? [{ backend, alloc: false }, { backend, alloc: true }] : [{ backend, alloc: false }]));
        for (const { backend, alloc } of variants) {
          for (const t of backend === 'js' || backend === 'wasm' ? threads : [undefined]) {
            contenders.push({ name: `segloss:${backend}${alloc ? '+alloc' : ''}`, kind: 'segloss', threads: t, async start() {
              let compiled: CompiledLoss | undefined;
              const b = await begin(async () => {
                compiled = await load(spec.name, spec.params, { backend, layout: 'nhwc', ...(t === undefined ? {} : { threads: t }) });
                const c = compiled;
                const plain = inputsFor(c, prob);
                const inArena = (v: ArrayLike<number>) => { const a = c.alloc(shape); a.set(v); return a; };
                const byRole = alloc ? Object.fromEntries(Object.entries(plain).map(([k, v]) => [k, inArena(v)])) : plain;
                // Into a preallocated gradient, as the hand-written loop writes into one.
                const out = alloc ? c.alloc(shape) : new Float32Array(N);
                return async () => { const r = await c.valueAndGrad(byRole, shape, { out }); return { value: r.value, grad: r.grad }; };
              }, o.warmup, o.warmupS).catch((e: unknown) => { compiled?.dispose(); throw e; });
              if (t === threads[0] || t === undefined) crow.firstCallMs[backend] = b.firstCallMs;
              const real = compiled!.kernelBackends().filter((k) => k !== backend);
              return { ...b, started: { call: timed(b.call), pids: [] }, note: real.length ? `gpu.js fell back to ${[...new Set(real)].join(', ')}` : undefined, dispose: () => compiled!.dispose() };
            } });
          }
        }
        for (const peer of peers) {
          if (peer === 'js-loop') {
            const make = JS_LOOPS[loss];
            if (!make) continue;
            contenders.push({ name: peer, kind: 'peer', threads: 1, async start() {
              const b = await begin(async () => { const fn = make(shape); const grad = new Float32Array(N); return () => ({ value: fn(prob.p, prob.g, grad), grad }); }, o.warmup, o.warmupS);
              return { ...b, started: { call: timed(b.call), pids: [] }, dispose() {} };
            } });
          } else if (peer === 'tfjs-cpu' || peer === 'tfjs-wasm') {
            if (!peerLoss) continue;
            if (tooBig) {
              contenders.push({ name: peer, kind: 'peer', threads: peer === 'tfjs-cpu' ? 1 : undefined, async start() {
                throw Object.assign(new Error('Lovász past 4,096 pixels an image: the gradient of its gather took 18 GB on tfjs-cpu'), { unavailable: true });
              } });
              continue;
            }
            const backend = peer === 'tfjs-cpu' ? 'cpu' : 'wasm';
            contenders.push({ name: peer, kind: 'peer', threads: peer === 'tfjs-cpu' ? 1 : undefined, async start() {
              const t = await tfjs(backend);
              let runner: ReturnType<typeof tfRunner> | undefined;
              const b = await begin(async () => { runner = tfRunner(t, peerLoss, prob); const r = runner; return () => r.run(); }, o.warmup, o.warmupS).catch((e: unknown) => { runner?.dispose(); throw e; });
              // The rounds interleave tfjs-cpu and tfjs-wasm: each call switches to its backend first, untimed.
              const call = timed(b.call);
              return { ...b, started: { call: async () => { if (t.getBackend() !== backend) await t.setBackend(backend); return call(); }, pids: [] }, dispose: () => runner?.dispose() };
            } });
          } else {
            for (const t of threads) {
              contenders.push({ name: 'torch', kind: 'peer', threads: t, async start() {
                const torch = torches.get(t);
                if (!torch) throw Object.assign(new Error('not installed'), { unavailable: true });
                const formula = Object.hasOwn(TORCH_LOSSES, loss) ? TORCH_LOSSES[loss] : undefined;
                if (!formula) throw Object.assign(new Error('no torch formula'), { unavailable: true });
                const mem = { rssMB: NaN, abMB: NaN };
                const s = await torch.setup(formula, shape, inputsFile.p, inputsFile.g, o.warmup, o.warmupS);
                if (!s.ok || s.id === undefined) throw new Error(`torch: ${s.why ?? 'setup failed'}`);
                const id = s.id;
                const gradOut = join(tmp, `torch-grad-${t}.f32`);
                return {
                  first: { value: s.value!, grad: undefined }, firstCallMs: s.firstMs ?? NaN, mem, note: 'separate Python process',
                  started: { call: () => torch.call(id), pids: torch.info.pid ? [torch.info.pid] : [] },
                  async gradAfter() {
                    const g = await torch.grad(id, gradOut);
                    mem.rssMB = g.maxRssDeltaMB;
                    if (!g.wrote) return undefined;
                    const buf = readFileSync(gradOut);
                    return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
                  },
                  dispose: () => torch.drop(id),
                };
              } });
            }
          }
        }

        const group: BenchRow[] = [];
        const begun: { c: Contender; b: Begun; row: BenchRow }[] = [];
        try {
          for (const c of contenders) {
            step(`${label}: ${c.name}${c.threads === undefined ? '' : ` x${c.threads}`}`);
            try {
              const b = await c.start();
              const row = emptyRow(loss, sname, c.name, c.kind, c.threads);
              begun.push({ c, b, row });
              group.push(row);
            } catch (e) {
              group.push(errorRow(loss, sname, c.name, c.kind, e, (e as { unavailable?: boolean }).unavailable ? 'unavailable' : 'error', c.threads));
            }
          }
          step(`${label}: rounds`);
          let best: Rounds | undefined;
          for (let attempt = 0; attempt <= o.retries; attempt++) {
            const r = await timeRounds(begun.map((x) => x.b.started), o.runs, o.budgetS);
            const busy = (x: Rounds) => x.otherLoad + (Number.isNaN(x.stolen) ? 0 : x.stolen);
            if (!best || !(busy(r) >= busy(best))) best = r;
            if (!(busy(r) > OTHER_LOAD_LIMIT)) break;
            warn(`${label}: other processes took ${(100 * r.otherLoad).toFixed(0)} % of the machine during the rounds, the hypervisor ${(100 * r.stolen).toFixed(0)} % (steal)${attempt < o.retries ? `; measuring again (${attempt + 2} of ${o.retries + 1})` : '; marked unreliable'}`);
          }
          for (const [i, { b, row }] of begun.entries()) {
            const times = best!.times[i]!;
            const q = quartiles(times);
            row.timesMs = times.map((t) => Math.round(t * 1000) / 1000);
            Object.assign(row, { runs: times.length, medianMs: q.median, p25Ms: q.p25, p75Ms: q.p75, minMs: Math.min(...times), otherLoad: best!.otherLoad, stolen: best!.stolen, unreliable: best!.otherLoad + (Number.isNaN(best!.stolen) ? 0 : best!.stolen) > OTHER_LOAD_LIMIT });
            const grad = b.gradAfter ? await b.gradAfter() : b.first.grad;
            row.value = b.first.value;
            row.valueRelErr = relErr(b.first.value, oracle.value);
            row.gradRelErr = oracle.grad ? gradErr(grad, oracle.grad) : NaN;
            row.ok = row.valueRelErr < VALUE_TOL && (Number.isNaN(row.gradRelErr) ? grad === undefined : row.gradRelErr < GRAD_TOL);
            row.firstCallMs = b.firstCallMs;
            row.rssDeltaMB = b.mem.rssMB;
            row.arrayBuffersDeltaMB = b.mem.abMB;
            if (b.note) row.note = b.note;
          }
        } finally {
          for (const { b } of begun) await b.dispose();
          await tfjs('cpu');
        }

        // Speedups inside the group: the peer's median over each row's; torch at the same thread count.
        for (const row of group) {
          if (row.status !== 'ok') continue;
          for (const peer of PEERS) {
            const pr = group.find((r) => r.name === peer && r.status === 'ok' && (peer !== 'torch' || r.threads === (row.threads ?? threads[0])));
            if (pr) row.speedup[peer] = pr.medianMs / row.medianMs;
          }
        }
        rows.push(...group);
      }
    }
  } finally {
    for (const t of torches.values()) t.close();
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
      runs: o.runs, warmup: o.warmup, warmupS: o.warmupS, budgetS: o.budgetS, retries: o.retries,
      threads, otherLoadLimit: OTHER_LOAD_LIMIT,
      seed,
      gcBeforeRows: GC !== undefined,
      torch: torchInfo,
    },
    backends,
    skipped,
    rows,
    compile,
    summary: summarize(losses.map((l) => l.label), rows, compile),
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
