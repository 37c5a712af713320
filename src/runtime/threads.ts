// The js backend: generated kernels compiled as plain JavaScript loops over
// thread ranges, run on the calling thread or split across a pool of worker
// threads (one per core) that read inputs and write results in shared memory.
// One pool per process, started on first use; idle workers never keep the
// process alive.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

interface Pending { resolve: () => void; reject: (e: Error) => void }

export interface JsKernel {
  /** Identifies the source across calls (workers cache compiled kernels by it). */
  id: number;
  source: string;
  /** Threads, and values written per thread. */
  output: number;
  width: number;
}

export type KernelFn = (...args: unknown[]) => void;

/** Below this many threads a kernel runs on the calling thread: messaging would cost more. */
export const MIN_THREADED_OUTPUT = 1 << 15;

class Pool {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private inFlight = 0;

  constructor(size: number) {
    this.workers = Array.from({ length: size }, () => {
      const w = new Worker(new URL('./js-worker.mjs', import.meta.url));
      w.unref();
      w.on('message', (m: { seq: number; error?: string }) => {
        const p = this.pending.get(m.seq);
        if (!p) return;
        this.pending.delete(m.seq);
        if (m.error !== undefined) p.reject(new Error(`js worker: ${m.error}`));
        else p.resolve();
      });
      w.on('error', (e) => { for (const p of this.pending.values()) p.reject(e); this.pending.clear(); });
      return w;
    });
  }

  get size(): number {
    return this.workers.length;
  }

  /** Run all of `k`'s threads, split evenly across the workers, into `out` (shared memory). */
  async run(k: JsKernel, args: unknown[], out: Float32Array): Promise<void> {
    const slice = Math.ceil(k.output / this.workers.length);
    const parts: Promise<void>[] = [];
    if (this.inFlight++ === 0) this.workers.forEach((w) => w.ref());
    try {
      for (let i = 0, start = 0; start < k.output; i++, start += slice) {
        const seq = this.seq++;
        parts.push(new Promise((resolve, reject) => this.pending.set(seq, { resolve, reject })));
        this.workers[i]!.postMessage({ seq, id: k.id, source: k.source, args, out, start, end: Math.min(k.output, start + slice) });
      }
      await Promise.all(parts);
    } finally {
      if (--this.inFlight === 0) this.workers.forEach((w) => w.unref());
    }
  }

  close(): void {
    for (const w of this.workers) void w.terminate();
  }
}

let pool: Pool | undefined;

/** The process's pool of `threads` workers (default: the machine's cores); undefined for one. */
export function jsPool(threads = availableParallelism()): Pool | undefined {
  if (threads < 2) return undefined;
  if (!pool || pool.size !== threads) {
    pool?.close();
    pool = new Pool(threads);
  }
  return pool;
}

/** A Float32Array over shared memory holding `data`, reusing `cache[key]` when it fits. */
export function shared(cache: Map<string, Float32Array>, key: string, data: ArrayLike<number>): Float32Array {
  if (data instanceof Float32Array && data.buffer instanceof SharedArrayBuffer) return data;
  let s = cache.get(key);
  if (!s || s.length !== data.length) {
    s = new Float32Array(new SharedArrayBuffer(data.length * 4));
    cache.set(key, s);
  }
  s.set(data);
  return s;
}

/** A kernel as a function that runs on the calling thread or the pool, returning its output. */
export function jsRunner(k: JsKernel, threads: number | undefined, sync: boolean): (...args: unknown[]) => Float32Array | Promise<Float32Array> {
  const fn = new Function(`return ${k.source}`)() as KernelFn;
  const p = sync || k.output < MIN_THREADED_OUTPUT ? undefined : jsPool(threads);
  if (!p) {
    return (...args) => {
      const out = new Float32Array(k.output * k.width);
      fn(...args, out, 0, k.output);
      return out;
    };
  }
  const cache = new Map<string, Float32Array>();
  return async (...args) => {
    // Big inputs go to shared memory once per call; small ones are copied with the message.
    const sharedArgs = args.map((a, i) => ((a as Float32Array).length >= MIN_THREADED_OUTPUT ? shared(cache, String(i), a as Float32Array) : a));
    const out = new Float32Array(new SharedArrayBuffer(k.output * k.width * 4));
    await p.run(k, sharedArgs, out);
    return out;
  };
}
