// The wasm backend: each pass's kernel statements printed as WebAssembly text
// (codegen/wat.ts), assembled by wabt, and run over the threads on the calling
// thread. A runner copies its argument arrays into the module's linear memory,
// runs the thread range, and hands back the output (a view of that memory,
// reused from call to call, or copied into the caller's target).
// Nothing here is Node-specific: it runs in a browser as it is.

import { type KernelSpec, inputVar } from '../../compiler/codegen/spec.ts';
import { printWat } from '../../compiler/codegen/wat.ts';
import { MEMORY } from '../../compiler/plan/plan.ts';
import type { Program, Runner } from '../executor.ts';

interface Wabt {
  parseWat(file: string, text: string, features?: Record<string, boolean>): { toBinary(o: object): { buffer: Uint8Array }; validate(): void; destroy(): void };
}

let wabt: Wabt | undefined;
let loading: Promise<Wabt> | undefined;

/** Load the assembler (once per process): the backend's kernels are built synchronously afterwards. */
export async function loadWasm(): Promise<void> {
  if (wabt) return;
  loading ??= import('wabt').then(async (m) => {
    const init = ((m as { default?: unknown }).default ?? m) as () => Promise<Wabt>;
    return init();
  });
  wabt = await loading;
}

/** WAT text to a compiled module. */
export function assemble(wat: string, name = 'kernel.wat'): WebAssembly.Module {
  if (!wabt) throw new Error('internal: the wasm backend was not loaded (loadWasm)');
  const m = wabt.parseWat(name, wat, { simd: true, threads: true, mutable_globals: true, sat_float_to_int: true, sign_extension: true, bulk_memory: true });
  try {
    // No m.validate(): wabt's validator refuses shared memories whatever the features; the engine validates.
    const bytes = m.toBinary({}).buffer;
    return new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  } finally {
    m.destroy();
  }
}

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
  run(k: WasmKernel, params: readonly number[], output: number): Promise<void>;
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

/** The kernel assembled and instantiated; on a shared memory when worker threads will run it too. */
export function wasmKernel(spec: KernelSpec, shared = false, simd = runsSimd(spec)): WasmKernel {
  const wat = printWat(spec.args, spec.body, spec.width, simd, shared);
  const module = assemble(wat);
  const memory = new WebAssembly.Memory(shared ? { initial: 1, maximum: 65536, shared: true } : { initial: 1 });
  const inst = new WebAssembly.Instance(module, { env: { mem: memory }, math: MATH });
  return { wat, module, memory, run: inst.exports.run as (...a: number[]) => void };
}

const PAGE = 65536;
/** Below this many elements in its largest argument a kernel runs on the calling thread: messages would cost more. */
export const MIN_THREADED_ELEMENTS = 1 << 16;

/**
 * A runner of the kernel (of `program`, which says whether it may run f32x4): arguments copied into its memory, all threads run (across `threads` when given and
 * the arrays are big), the output returned: the target filled, or else a view of the kernel's memory valid
 * until its next call (on the calling thread), or a copy (threaded: concurrent calls queue on the memory).
 */
export function wasmRunner(spec: KernelSpec, threads?: WasmThreads, program?: Program): Runner {
  const k = wasmKernel(spec, threads !== undefined, runsSimd(spec, program));
  const size = spec.output * spec.width;
  const place = (args: Float32Array[]) => {
    // Layout: each argument, then the output, 16-byte aligned, 16 bytes apart (a vector read past an
    // array's end, in a lane a select then drops, stays inside memory).
    const offsets: number[] = [];
    let at = 0;
    for (const a of args) { offsets.push(at); at += (a.length * 4 + 31) & ~15; }
    const outAt = at;
    at += size * 4 + 64;
    const need = Math.ceil(Math.max(at, 1) / PAGE);
    const have = k.memory.buffer.byteLength / PAGE;
    if (need > have) k.memory.grow(need - have);
    const buf = k.memory.buffer;
    args.forEach((a, i) => new Float32Array(buf, offsets[i]!, a.length).set(a));
    return [...offsets, outAt];
  };
  const finish = (outAt: number, target: Float32Array | undefined) => {
    const out = new Float32Array(k.memory.buffer, outAt, size);
    if (!target) return out;
    target.set(out);
    return target;
  };
  // Threaded calls one after the other (a call's arguments stay in memory until its workers are done), each
  // handing back an array of its own: another call may run on this memory before the caller reads it.
  let queue: Promise<unknown> = Promise.resolve();
  return (args, target) => {
    if (threads && args.some((a) => a.length >= MIN_THREADED_ELEMENTS)) {
      const done = queue.then(async () => {
        const params = place(args);
        await threads.run(k, params, spec.output);
        const out = new Float32Array(k.memory.buffer, params.at(-1)!, size);
        if (!target) return out.slice();
        target.set(out);
        return target;
      });
      queue = done.catch(() => undefined);
      return done;
    }
    const params = place(args);
    k.run(...params, 0, spec.output);
    return finish(params.at(-1)!, target);
  };
}
