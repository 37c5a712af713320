// The cpu backend over all cores: a pool of worker threads, each running the
// same gpu.js cpu kernel on a slice of its threads (the kernel takes the
// slice's offset). Inputs travel as shared memory; results come back as
// transferables and are stitched in order. One pool per process, started on
// first use; idle workers do not keep the process alive.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

interface Pending { resolve: (out: Float32Array) => void; reject: (e: Error) => void }

export interface ThreadedKernel {
  /** Identifies the kernel source across calls (workers cache built kernels by it). */
  id: number;
  source: string;
  output: number;
  width: number;
  loopMaxIterations: number;
}

/** Below this many output cells a kernel runs on the calling thread: messaging would cost more. */
export const MIN_THREADED_OUTPUT = 1 << 16;

class CpuPool {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private inFlight = 0;

  constructor(size: number) {
    this.workers = Array.from({ length: size }, () => {
      const w = new Worker(new URL('./cpu-worker.mjs', import.meta.url));
      w.unref();
      w.on('message', (m: { seq: number; out?: Float32Array; error?: string }) => {
        const p = this.pending.get(m.seq);
        if (!p) return;
        this.pending.delete(m.seq);
        if (m.error !== undefined) p.reject(new Error(`cpu worker: ${m.error}`));
        else p.resolve(m.out!);
      });
      w.on('error', (e) => { for (const p of this.pending.values()) p.reject(e); this.pending.clear(); });
      return w;
    });
  }

  get size(): number {
    return this.workers.length;
  }

  /** Run `k` over all its threads, split evenly; returns the flat output (`width` values per cell). */
  async run(k: ThreadedKernel, args: unknown[]): Promise<Float32Array> {
    const slice = Math.ceil(k.output / this.workers.length);
    const parts: Promise<Float32Array>[] = [];
    if (this.inFlight++ === 0) this.workers.forEach((w) => w.ref());
    try {
      for (let i = 0, offset = 0; offset < k.output; i++, offset += slice) {
        const count = Math.min(slice, k.output - offset);
        const seq = this.seq++;
        parts.push(new Promise((resolve, reject) => this.pending.set(seq, { resolve, reject })));
        this.workers[i]!.postMessage({ seq, id: k.id, source: k.source, count, offset, args, width: k.width, loopMaxIterations: k.loopMaxIterations });
      }
      const outs = await Promise.all(parts);
      const flat = new Float32Array(k.output * k.width);
      let at = 0;
      for (const o of outs) { flat.set(o, at); at += o.length; }
      return flat;
    } finally {
      if (--this.inFlight === 0) this.workers.forEach((w) => w.unref());
    }
  }

  close(): void {
    for (const w of this.workers) void w.terminate();
  }
}

let pool: CpuPool | undefined;

/** The process's pool (`threads` workers, default: the machine's cores); undefined for one core. */
export function cpuPool(threads = availableParallelism()): CpuPool | undefined {
  if (threads < 2) return undefined;
  if (!pool || pool.size !== threads) {
    pool?.close();
    pool = new CpuPool(threads);
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
