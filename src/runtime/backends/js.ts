// The js backend: generated kernels compiled as plain JavaScript loops over
// thread ranges, run on the calling thread or split across a pool of worker
// threads (one per core) that read inputs and write results in shared memory.
// One pool per process, started on first use; idle workers never keep the
// process alive. Workers cache each kernel they compile until the loss that
// owns it evicts or disposes it (`releaseJsKernels`).

import { Worker } from 'node:worker_threads';
import { sizedPool, workerExecArgv } from './pool.ts';

interface Reply { seq: number; error?: string; kernels?: number }
interface Pending { resolve: (m: Reply) => void; reject: (e: Error) => void }

export interface JsKernel {
  /** Identifies the source across calls (workers cache compiled kernels by it). */
  id: number;
  source: string;
  /** Threads, and values written per thread. */
  output: number;
  width: number;
  /**
   * The work: elements of the shape the kernel reads (a reduce kernel's few threads each loop over
   * a chunk of them). Threading and the threads' chunks follow it, not the output's size.
   */
  elements?: number;
  /** Set once a worker ran it (so holds a compiled copy). */
  sent?: boolean;
  /** Set once its owner dropped it: a worker then runs it without caching it (a call already in flight). */
  released?: boolean;
}

export type KernelFn = (...args: unknown[]) => void;

/**
 * Below this many elements a kernel runs on the calling thread: dispatch to the workers (messages,
 * the copies into shared memory) would cost more than it saves. Counted in elements of the shape
 * the kernel reads (`JsKernel.elements`), not in its output: a reduce kernel writes a few thousand
 * partial sums from a million elements, and BCE's kernel writes two values per element.
 * Measured (2 cores, load about 6.5, 1 thread against 2, medians of paired calls): at 4×91×91×1
 * (33,124 elements) threads lost for dice (0.59×), bce (0.85×) and ssim (0.88×); at 4×128×128×1
 * (65,536) bce gained (1.28×) while dice lost (0.65×). 2^16 elements is the crossover taken.
 */
export const MIN_THREADED_ELEMENTS = 1 << 16;

/** A kernel's work: the elements it reads (its threads when not given). */
export const kernelWork = (k: Pick<JsKernel, 'output' | 'elements'>): number => k.elements ?? k.output;

class Pool {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private inFlight = 0;

  constructor(size: number) {
    this.workers = Array.from({ length: size }, () => {
      const w = new Worker(new URL('./js-worker.mjs', import.meta.url), { execArgv: workerExecArgv() });
      w.on('message', (m: Reply) => {
        const p = this.pending.get(m.seq);
        if (!p) return;
        this.pending.delete(m.seq);
        if (m.error !== undefined) p.reject(new Error(`js worker: ${m.error}`));
        else p.resolve(m);
      });
      w.on('error', (e) => { for (const p of this.pending.values()) p.reject(e); this.pending.clear(); });
      // After the listeners (adding one refs the worker's port again): idle, it must not keep the process alive.
      w.unref();
      return w;
    });
  }

  get size(): number {
    return this.workers.length;
  }

  /**
   * Run all of `k`'s threads into `out` (shared memory). Threads go to workers
   * in interleaved chunks, not halves: a kernel's threads differ in cost (BCE's
   * launch is cheap gradient threads, then log-heavy value terms).
   */
  async run(k: JsKernel, args: unknown[], out: Float32Array): Promise<void> {
    const W = this.workers.length;
    // Chunks of at least 4,096 threads' worth of elements, about 16 per worker, counted in threads: a reduce
    // kernel's thread loops over many elements, so its 4,096 threads split as a map kernel's million would.
    const work = Math.max(k.output, kernelWork(k));
    const chunk = Math.max(1, Math.ceil(Math.max(4096, work / (W * 16)) * (k.output / work)));
    const ranges: [number, number][][] = Array.from({ length: W }, () => []);
    for (let start = 0, c = 0; start < k.output; start += chunk, c++) ranges[c % W]!.push([start, Math.min(k.output, start + chunk)]);
    const parts: Promise<Reply>[] = [];
    k.sent = true;
    if (this.inFlight++ === 0) this.workers.forEach((w) => w.ref());
    try {
      for (let i = 0; i < W; i++) {
        if (ranges[i]!.length === 0) continue;
        const seq = this.seq++;
        parts.push(new Promise((resolve, reject) => this.pending.set(seq, { resolve, reject })));
        this.workers[i]!.postMessage({ seq, id: k.id, source: k.source, keep: !k.released, args, out, ranges: ranges[i] });
      }
      await Promise.all(parts);
    } finally {
      if (--this.inFlight === 0) this.workers.forEach((w) => w.unref());
    }
  }

  /** Every worker drops these kernels (after any call already queued to it: messages keep their order). */
  forget(ids: readonly number[]): void {
    for (const w of this.workers) w.postMessage({ forget: ids });
  }

  /** How many compiled kernels each worker holds. */
  async kernelCounts(): Promise<number[]> {
    if (this.inFlight++ === 0) this.workers.forEach((w) => w.ref());
    try {
      return await Promise.all(this.workers.map((w) => {
        const seq = this.seq++;
        const reply = new Promise<Reply>((resolve, reject) => this.pending.set(seq, { resolve, reject }));
        w.postMessage({ seq, count: true });
        return reply.then((m) => m.kernels!);
      }));
    } finally {
      if (--this.inFlight === 0) this.workers.forEach((w) => w.unref());
    }
  }

  close(): void {
    for (const w of this.workers) void w.terminate();
  }
}

/** The process's pool of `threads` workers (default: the machine's cores); undefined for one. */
export const jsPool = sizedPool((threads) => new Pool(threads));

/** Drop kernels whose owner evicted or disposed them: the workers forget them too. */
export function releaseJsKernels(kernels: readonly JsKernel[]): void {
  for (const k of kernels) k.released = true;
  const ids = kernels.filter((k) => k.sent).map((k) => k.id);
  if (ids.length) jsPool.current?.forget(ids);
}

/** How many compiled kernels each worker of the pool holds ([] before the pool starts): for memory tests. */
export async function workerKernelCounts(): Promise<number[]> {
  return jsPool.current ? jsPool.current.kernelCounts() : [];
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

/**
 * A kernel as a function of its arguments that writes into `target`, or else
 * into a scratch array it reuses from call to call (so a caller copies what it
 * keeps): a fresh multi-megabyte array per call costs more in garbage
 * collection than the kernel itself.
 */
export function jsRunner(k: JsKernel, threads: number | undefined, sync: boolean): (args: unknown[], target?: Float32Array) => Float32Array | Promise<Float32Array> {
  const fn = new Function(`return ${k.source}`)() as KernelFn;
  const size = k.output * k.width;
  const p = sync || kernelWork(k) < MIN_THREADED_ELEMENTS ? undefined : jsPool(threads);
  if (!p) {
    let scratch: Float32Array | undefined;
    return (args, target) => {
      const out = target ?? (scratch ??= new Float32Array(size));
      fn(...args, out, 0, k.output);
      return out;
    };
  }
  const cache = new Map<string, Float32Array>();
  // Made on first need: a kernel that always writes in place (the gradient, buffers) never needs it.
  let scratchArray: Float32Array | undefined;
  return async (args, target) => {
    // Big inputs go to shared memory once per call; small ones are copied with the message.
    const sharedArgs = args.map((a, i) => ((a as Float32Array).length >= MIN_THREADED_ELEMENTS ? shared(cache, String(i), a as Float32Array) : a));
    // A destination in shared memory is written in place; any other gets a copy of the scratch.
    const direct = target !== undefined && target.buffer instanceof SharedArrayBuffer && target.length === size;
    const scratch = direct ? target : (scratchArray ??= new Float32Array(new SharedArrayBuffer(size * 4)));
    await p.run(k, sharedArgs, scratch);
    if (!target || direct) return direct ? target : scratch;
    target.set(scratch);
    return target;
  };
}
