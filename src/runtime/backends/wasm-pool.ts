// Threads for the wasm backend in Node: worker threads that each instantiate a
// kernel's module on the same shared WebAssembly.Memory and run their ranges of
// its threads. The runner (backends/wasm.ts) has copied the arguments into that
// memory; the results are there when every worker has answered. One pool per
// process, started on first use; idle workers never keep the process alive.
// The worker is a script in a string (`eval`), so no file travels with the build.

import { Worker } from 'node:worker_threads';
import { sizedPool, workerExecArgv } from './pool.ts';

/** A kernel as the workers instantiate it: its module and the shared memory it runs on. */
export interface SharedKernel { module: WebAssembly.Module; memory: WebAssembly.Memory }


/**
 * What a worker does: per message, an instance of the kernel's module on its memory (a few microseconds: the
 * compiled code is the module's, shared), its ranges run; nothing kept, so a worker holds no memory of a kernel
 * its loss dropped.
 */
const WORKER = `
const { parentPort } = require('node:worker_threads');
const MATH = { exp: Math.exp, log: Math.log, pow: Math.pow };
parentPort.on('message', (m) => {
  try {
    const run = new WebAssembly.Instance(m.module, { env: { mem: m.memory }, math: MATH }).exports.run;
    for (const [s, e] of m.ranges) run(...m.params, s, e);
    parentPort.postMessage({ seq: m.seq });
  } catch (e) {
    parentPort.postMessage({ seq: m.seq, error: e instanceof Error ? e.message : String(e) });
  }
});
`;

interface Pending { resolve: () => void; reject: (e: Error) => void }

export class WasmPool {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private inFlight = 0;

  constructor(size: number) {
    this.workers = Array.from({ length: size }, () => {
      const w = new Worker(WORKER, { eval: true, execArgv: workerExecArgv() });
      w.on('message', (m: { seq: number; error?: string }) => {
        const p = this.pending.get(m.seq);
        if (!p) return;
        this.pending.delete(m.seq);
        if (m.error !== undefined) p.reject(new Error(`wasm worker: ${m.error}`));
        else p.resolve();
      });
      w.on('error', (e) => { for (const p of this.pending.values()) p.reject(e); this.pending.clear(); });
      // After the listeners (adding one refs the worker's port again): idle, it must not keep the process alive.
      w.unref();
      return w;
    });
  }

  get size(): number { return this.workers.length; }

  /**
   * Threads [0, output) of the kernel, in interleaved chunks across the workers; `params` precede (start, end).
   * `perThread`: about how many elements a thread reads (1 for a map pass, a chunk's length for a reduce pass).
   */
  async run(k: SharedKernel, params: readonly number[], output: number, perThread = 1): Promise<void> {
    const W = this.workers.length;
    // Chunks a multiple of 4 threads (whole vectors), of at least 4096 elements' work, about 8 per worker.
    const least = Math.ceil(4096 / Math.max(1, perThread) / 4) * 4;
    const chunk = Math.max(least, Math.ceil(output / (W * 8) / 4) * 4);
    const ranges: [number, number][][] = Array.from({ length: W }, () => []);
    for (let s = 0, c = 0; s < output; s += chunk, c++) ranges[c % W]!.push([s, Math.min(output, s + chunk)]);
    if (this.inFlight++ === 0) this.workers.forEach((w) => w.ref());
    try {
      await Promise.all(ranges.flatMap((r, i) => {
        if (r.length === 0) return [];
        const seq = this.seq++;
        const done = new Promise<void>((resolve, reject) => this.pending.set(seq, { resolve, reject }));
        this.workers[i]!.postMessage({ seq, module: k.module, memory: k.memory, params, ranges: r });
        return [done];
      }));
    } finally {
      if (--this.inFlight === 0) this.workers.forEach((w) => w.unref());
    }
  }

  close(): void { for (const w of this.workers) void w.terminate(); }
}

/** The process's pool of `threads` workers (default: the machine's cores); undefined for one thread. */
export const wasmPool = sizedPool((threads) => new WasmPool(threads));
