// The wasm backend: each pass's kernel statements printed as WebAssembly text
// (codegen/wat.ts), assembled by wabt, instantiated on the loss's one memory
// (backends/wasm-arena.ts), and run over the threads on the calling thread or
// across worker threads (backends/wasm-pool.ts). A runner reads its arguments
// where they lie in that memory, and writes its output into the target there.
// Nothing here is Node-specific; a browser runs it on a cross-origin isolated page (the memory is shared).

import { type KernelSpec, inputVar } from '../../compiler/codegen/spec.ts';
import { printWat } from '../../compiler/codegen/wat.ts';
import { MEMORY } from '../../compiler/plan/plan.ts';
import type { Program, Runner } from '../executor.ts';
import type { WasmArena } from './wasm-arena.ts';
import { assemble } from './wasm-assemble.ts';

export { assemble, loadWasm } from './wasm-assemble.ts';

const MATH = { exp: Math.exp, log: Math.log, pow: Math.pow };

/** A kernel's module with its own memory. */
export interface WasmKernel {
  wat: string;
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  run: (...a: number[]) => void;
}

/** Worker threads that run ranges of a kernel's threads on its shared memory (backends/wasm-pool.ts in Node). */
export interface WasmThreads {
  /** `perThread`: about how many elements a thread reads (the ranges are sized by it). */
  run(k: WasmKernel, params: readonly number[], output: number, perThread?: number): Promise<void>;
}

/**
 * Whether a kernel runs f32x4: not one that reads the buffers (plan.ts's MEMORY) of a plan with a sort or a
 * cumulative sum on the host. Lovász's gradient there is the difference of two Jaccard indices of cumulative
 * sums, which cancels to about n·2^-24 in float32 (3e-4 relative at 8633 pixels); in f64, as the js backend
 * computes, it keeps its digits. Without the program (a kernel alone), every kernel reading buffers is scalar.
 */
export function runsSimd(spec: KernelSpec, program?: Program): boolean {
  if (!spec.args.includes(inputVar(MEMORY))) return true;
  if (!program) return false;
  return !program.steps.some((s) => s.kind === 'host' && s.ops.some((o) => o.node.op === 'cumsum' || o.node.op === 'sorted'));
}

/** The kernel assembled and instantiated on the loss's memory (backends/wasm-arena.ts; shared, for worker threads too). */
export function wasmKernel(spec: KernelSpec, memory: WebAssembly.Memory, simd = runsSimd(spec)): WasmKernel {
  const wat = printWat(spec.args, spec.body, spec.width, simd, true);
  const module = assemble(wat);
  const inst = new WebAssembly.Instance(module, { env: { mem: memory }, math: MATH });
  return { wat, module, memory, run: inst.exports.run as (...a: number[]) => void };
}

/** Below this many elements in its largest argument a kernel runs on the calling thread: messages would cost more. */
export const MIN_THREADED_ELEMENTS = 1 << 16;

/** A runner and what it holds in the arena (given back when its kernel set is released). */
export interface WasmRunner { run: Runner; release(): void }

/**
 * A runner of the kernel (of `program`, which says whether it may run f32x4) on the arena's memory: an argument
 * that lies there already (the call's inputs, buffers and outputs: runtime/loss.ts puts them there) is read in
 * place, another (the small values) copied into a region of the runner's; all threads run (across `threads`
 * when given and the arrays are big); the output is written into the target when it lies in the arena, else
 * into the runner's region and from there into the target, or handed back (a view valid until the runner's
 * next call on the calling thread; a copy when threaded, since concurrent calls queue on the runner's regions).
 */
export function wasmRunner(spec: KernelSpec, arena: WasmArena, threads?: WasmThreads, program?: Program): WasmRunner {
  const k = wasmKernel(spec, arena.memory, runsSimd(spec, program));
  const size = spec.output * spec.width;
  // The runner's own regions: copies of arguments from outside the arena (by position), and its output.
  const own: (Float32Array | undefined)[] = [];
  let outRegion: Float32Array | undefined;
  const region = (i: number, n: number) => {
    let r = own[i];
    if (!r || r.length !== n) { if (r) arena.release(r); r = own[i] = arena.take(n); }
    return r;
  };
  const place = (args: Float32Array[], target: Float32Array | undefined): [number[], Float32Array] => {
    const params = args.map((a, i) => {
      if (arena.holds(a)) return a.byteOffset;
      const r = region(i, a.length);
      r.set(a);
      return r.byteOffset;
    });
    const out = target && arena.holds(target) ? target : (outRegion ??= arena.take(size));
    params.push(out.byteOffset);
    return [params, out];
  };
  const finish = (out: Float32Array, target: Float32Array | undefined, copy: boolean) => {
    if (out === target) return target;
    if (target) { target.set(out); return target; }
    return copy ? out.slice() : out;
  };
  // Threaded calls one after the other (a call's arguments stay in the runner's regions until its workers are done).
  let queue: Promise<unknown> = Promise.resolve();
  const run: Runner = (args, target) => {
    if (threads && args.some((a) => a.length >= MIN_THREADED_ELEMENTS)) {
      const done = queue.then(async () => {
        const [params, out] = place(args, target);
        await threads.run(k, params, spec.output, Math.max(...args.map((a) => a.length)) / spec.output);
        return finish(out, target, true);
      });
      queue = done.catch(() => undefined);
      return done;
    }
    const [params, out] = place(args, target);
    k.run(...params, 0, spec.output);
    return finish(out, target, false);
  };
  return {
    run,
    release: () => {
      for (const r of own) if (r) arena.release(r);
      if (outRegion) arena.release(outRegion);
      own.length = 0;
      outRegion = undefined;
    },
  };
}
