// The js backend in a browser: the generated kernels as plain JavaScript loops
// (KernelSpec.jsSource, the same text Node's js backend runs), on the page's
// thread or split across Web Workers. Workers start from a Blob URL of the small
// server below (a page's Content-Security-Policy must allow `worker-src blob:`).
// On a cross-origin-isolated page (COOP same-origin + COEP require-corp) inputs
// and outputs live in SharedArrayBuffers, as Node's worker threads share them;
// elsewhere each worker gets a copy of the arguments and sends back its ranges.

import type { KernelSpec } from '../../compiler/codegen/kernel.ts';
import type { Runner } from '../executor.ts';
import { BackendUnavailable } from '../backends/unavailable.ts';

/** Below this many threads a kernel runs on the page's thread: messaging would cost more (as Node's js backend). */
export const MIN_WORKER_OUTPUT = 1 << 15;

type KernelFn = (...args: unknown[]) => void;

interface WorkerLike {
  postMessage(m: unknown): void;
  terminate(): void;
  onmessage: ((e: { data: Reply }) => void) | null;
  onerror: ((e: { message?: string }) => void) | null;
}
interface WebGlobals {
  Worker?: new (url: string) => WorkerLike;
  Blob?: new (parts: string[], o: { type: string }) => unknown;
  URL: { createObjectURL(b: unknown): string; revokeObjectURL(u: string): void };
  crossOriginIsolated?: boolean;
  navigator?: { hardwareConcurrency?: number };
}
const w = globalThis as unknown as WebGlobals;

interface Reply { seq: number; error?: string; parts?: Float32Array[] }
interface Task { seq: number; id: number; source: string; keep: boolean; args: unknown[]; out?: Float32Array; size: number; width: number; ranges: [number, number][] }

/** The worker's whole program: compile each kernel once (by id), run its ranges, reply. Stringified: it must use nothing outside itself. */
function serve(scope: { onmessage: unknown; postMessage(m: unknown, transfer?: unknown[]): void }): void {
  const kernels = new Map<number, KernelFn>();
  let scratch: Float32Array | undefined;
  scope.onmessage = (e: { data: Task | { forget: number[] } }) => {
    const m = e.data;
    if ('forget' in m) { for (const id of m.forget) kernels.delete(id); return; }
    try {
      let fn = kernels.get(m.id);
      if (!fn) {
        fn = new Function(`return ${m.source}`)() as KernelFn;
        if (m.keep) kernels.set(m.id, fn);
      }
      const out = m.out ?? (scratch && scratch.length >= m.size ? scratch : (scratch = new Float32Array(m.size)));
      for (const [start, end] of m.ranges) fn(...m.args, out, start, end);
      if (m.out) { scope.postMessage({ seq: m.seq }); return; }
      const parts = m.ranges.map(([start, end]) => out.slice(start * m.width, end * m.width));
      scope.postMessage({ seq: m.seq, parts }, parts.map((p) => p.buffer));
    } catch (err) {
      scope.postMessage({ seq: m.seq, error: err instanceof Error ? err.message : String(err) });
    }
  };
}

class WebPool {
  private readonly workers: WorkerLike[];
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private seq = 0;
  private nextId = 0;

  constructor(readonly size: number) {
    if (!w.Worker || !w.Blob) throw new BackendUnavailable('js', `threads: ${size} asks for Web Workers, which this page does not have; use threads: 1 (the page's thread)`);
    const url = w.URL.createObjectURL(new w.Blob([`(${serve.toString()})(self);`], { type: 'text/javascript' }));
    try {
      this.workers = Array.from({ length: size }, () => {
        const worker = new w.Worker!(url);
        worker.onmessage = (e) => {
          const p = this.pending.get(e.data.seq);
          if (!p) return;
          this.pending.delete(e.data.seq);
          if (e.data.error !== undefined) p.reject(new Error(`js worker: ${e.data.error}`));
          else p.resolve(e.data);
        };
        worker.onerror = (e) => { for (const p of this.pending.values()) p.reject(new Error(`js worker: ${e.message ?? 'failed'} (a Content-Security-Policy without worker-src blob: stops it)`)); this.pending.clear(); };
        return worker;
      });
    } finally {
      w.URL.revokeObjectURL(url);
    }
  }

  newId(): number { return this.nextId++; }

  /** All of a kernel's threads into `out`: interleaved chunks per worker, as Node's pool splits them. */
  async run(id: number, k: Pick<KernelSpec, 'jsSource' | 'output' | 'width'>, args: unknown[], out: Float32Array, keep: boolean): Promise<void> {
    const W = this.workers.length;
    const chunk = Math.max(4096, Math.ceil(k.output / (W * 16)));
    const ranges: [number, number][][] = Array.from({ length: W }, () => []);
    for (let start = 0, c = 0; start < k.output; start += chunk, c++) ranges[c % W]!.push([start, Math.min(k.output, start + chunk)]);
    const shared = isShared(out) && args.every((a) => !(a instanceof Float32Array) || isShared(a) || a.length < MIN_WORKER_OUTPUT);
    const replies = ranges.map((r, i) => {
      if (r.length === 0) return undefined;
      const seq = this.seq++;
      const reply = new Promise<Reply>((resolve, reject) => this.pending.set(seq, { resolve, reject }));
      const task: Task = { seq, id, source: k.jsSource, keep, args, size: out.length, width: k.width, ranges: r, ...(shared ? { out } : {}) };
      this.workers[i]!.postMessage(task);
      return reply.then((m) => ({ m, r }));
    });
    for (const got of await Promise.all(replies)) {
      if (!got || !got.m.parts) continue;
      got.r.forEach(([start], j) => out.set(got.m.parts![j]!, start * k.width));
    }
  }

  forget(ids: number[]): void { for (const worker of this.workers) worker.postMessage({ forget: ids }); }

  close(): void { for (const worker of this.workers) worker.terminate(); }
}

const isShared = (a: Float32Array): boolean => typeof SharedArrayBuffer !== 'undefined' && a.buffer instanceof SharedArrayBuffer;

/** Whether arrays may live in shared memory here (a cross-origin-isolated page). */
export const canShare = (): boolean => typeof SharedArrayBuffer !== 'undefined' && w.crossOriginIsolated === true;

/** The default thread count: the browser's cores. */
export const defaultThreads = (): number => Math.max(1, w.navigator?.hardwareConcurrency ?? 1);

let pool: WebPool | undefined;

/** The page's pool of `threads` Web Workers; undefined for one thread. */
export function webPool(threads: number): WebPool | undefined {
  if (threads < 2) return undefined;
  if (!pool || pool.size !== threads) {
    pool?.close();
    pool = new WebPool(threads);
  }
  return pool;
}

/**
 * A kernel as a runner: on the page's thread (writing into the caller's target, or a scratch
 * array it reuses), or, for `threads` > 1 and a kernel of at least MIN_WORKER_OUTPUT threads,
 * on the pool (into the target, or a scratch array, shared when the page allows).
 */
export function jsKernel(spec: KernelSpec, threads: number): { run: Runner; release(): void; threaded: boolean } {
  const size = spec.output * spec.width;
  const p = spec.output >= MIN_WORKER_OUTPUT ? webPool(threads) : undefined;
  if (!p) {
    const fn = new Function(`return ${spec.jsSource}`)() as KernelFn;
    let scratch: Float32Array | undefined;
    return {
      run: (args, target) => {
        const out = target ?? (scratch ??= new Float32Array(size));
        fn(...args, out, 0, spec.output);
        return out;
      },
      release: () => { scratch = undefined; },
      threaded: false,
    };
  }
  const id = p.newId();
  let released = false;
  let sent = false;
  const scratch = canShare() ? new Float32Array(new SharedArrayBuffer(size * 4)) : new Float32Array(size);
  return {
    run: async (args, target) => {
      sent = true;
      const direct = target !== undefined && target.length === size && (isShared(target) || !canShare());
      await p.run(id, spec, args, direct ? target : scratch, !released);
      if (!target || direct) return direct ? target : scratch;
      target.set(scratch);
      return target;
    },
    release: () => { released = true; if (sent) p.forget([id]); },
    threaded: true,
  };
}
