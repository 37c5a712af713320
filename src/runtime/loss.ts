// The runtime: a compiled loss with value() and valueAndGrad() over Float32Arrays
// in the user's layout. Per dimensionality it keeps the IR and the plan; per
// shape, the generated gpu.js kernels (built once, cached); per call it checks
// the inputs and hands the plan to the executor (executor.ts), which runs the
// passes, sums the partials, and finishes the small values on the host.
// Kernels are cached per shape, the least recently used dropped past a bound,
// and released (gpu.js kernels destroyed, worker copies forgotten) on dispose.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KernelSpec } from '../compiler/codegen/kernel.ts';
import type { LossIR } from '../compiler/pipeline.ts';
import { type FileOptions, LIBRARY_DIR, frontend, suggestLoss } from './sources.ts';
import { SeglossError } from '../compiler/front/diagnostics.ts';
import type { Params } from '../compiler/lower/knobs.ts';
import type { Dims } from '../compiler/core/layout.ts';
import type { Activation, Region } from '../compiler/lower/knobs.ts';
import { type GpuBackend, type GpuHandle, type GpuJsKernel, GPU_BACKENDS, kernelBackend, openGpu } from './backends/gpujs.ts';
import { type Layout, canonicalAxes, count, sizesOf } from '../compiler/core/layout.ts';
import { availableParallelism } from 'node:os';
import { type JsKernel, MIN_THREADED_ELEMENTS, jsRunner, releaseJsKernels } from './backends/js.ts';
import { type WasmRunner, loadWasm, wasmRunner } from './backends/wasm.ts';
import { WasmArena } from './backends/wasm-arena.ts';
import { wasmPool } from './backends/wasm-pool.ts';
import type { KernelOutput as ExecutorOutput, Memory, Runner } from './executor.ts';
import type { ShapeProgram } from './program.ts';
import { type GradOptions, type GradResult as BaseGradResult, type ShapeKernels, type ValueResult as BaseValueResult, LossBase } from './loss-base.ts';
import { type Inputs, checkOut, gpuKernelOptions, probabilityError, toF32 } from './checks.ts';

let nextKernelId = 0;
import { InputError } from '../compiler/core/errors.ts';

/**
 * gpu.js's four, `js` (the same generated kernels as plain JavaScript loops,
 * split across worker threads, one per core), `wasm` (the kernels as WebAssembly,
 * backends/wasm.ts), and the float64 `reference`.
 */
export type Backend = GpuBackend | 'js' | 'wasm' | 'reference';
export const BACKENDS: readonly Backend[] = ['js', 'wasm', ...GPU_BACKENDS, 'reference'];

export interface CompileOptions {
  /** For diagnostics and `use` paths. */
  file?: string;
  /** `auto` picks the fastest backend that starts here (see `pickBackend`). */
  backend?: Backend | 'auto';
  layout?: Layout;
  region?: Region;
  /** Parameter overrides and knobs (the names: KNOB_NAMES, src/compiler/front/knob-names.ts; README "Knobs"). */
  params?: Params;
  /** The prediction holds logits; the loss applies this activation first. */
  activation?: Activation;
  /** Worker threads for the js and wasm backends (default: the machine's cores; 1 runs on the calling thread). */
  threads?: number;
  readFile?: FileOptions['readFile'];
}

export type { Inputs } from './checks.ts';

export type ValueResult = BaseValueResult<Backend>;
export type GradResult = BaseGradResult<Backend>;
export { type GradOptions, MAX_SHAPE_KERNELS } from './loss-base.ts';

/**
 * The backends `auto` measures (those that need no device: they start wherever Node runs), fastest first
 * as measured on the machine this was written on. gpu.js's and the GPU backends run only when named.
 */
export const AUTO_ORDER: readonly Backend[] = ['wasm', 'js'];

interface NodeKernels extends ShapeKernels {
  specs: (KernelSpec | undefined)[];
  /** The gpu.js kernels built (for backend checks and release). */
  built: GpuJsKernel[];
  /** The js backend's kernels (their workers' copies are released with them). */
  js: JsKernel[];
  /** The wasm backend's runners (their regions of the arena are given back with them). */
  wasm: WasmRunner[];
}

export class CompiledLoss extends LossBase<Backend, NodeKernels> {
  private gpu: GpuHandle | undefined;
  /** The wasm backend's memory, which every kernel of every shape runs on (backends/wasm-arena.ts). */
  private arena: WasmArena | undefined;

  private constructor(
    source: string,
    protected override readonly opts: CompileOptions & { file: string; layout: Layout },
    backend: Backend,
    first: LossIR,
  ) {
    super(source, opts, backend, first);
  }

  /** Compile a loss for a backend; formula errors throw a SeglossError with every diagnostic. */
  static async create(source: string, options: CompileOptions = {}): Promise<CompiledLoss> {
    const opts = { ...options, file: options.file ?? '<formula>', layout: options.layout ?? 'nhwc' };
    const first = compileFor(source, opts, 2);
    const backend = options.backend && options.backend !== 'auto' ? options.backend : await pickBackend();
    const loss = new CompiledLoss(source, opts, backend, first);
    if (backend === 'wasm') { await loadWasm(); loss.arena = new WasmArena(); }
    else if (backend !== 'reference' && backend !== 'js') loss.gpu = await openGpu(backend);
    return loss;
  }

  protected override compileDims(dims: Dims): LossIR { return compileFor(this.source, this.opts, dims); }

  /**
   * The kernels for a shape, built on this loss's backend by one run on zeros,
   * with what gpu.js translated them to (GLSL on headlessgl, WGSL on webgpu).
   */
  async builtKernels(shape: readonly number[], which: 'grad' | 'value' = 'grad'): Promise<{ spec: KernelSpec; native: { glsl?: string; wgsl?: string } }[]> {
    const n = shape.reduce((a, b) => a * b, 1);
    const zeros = Object.fromEntries(this.inputs.map((i) => [i.name, new Float32Array(n).fill(i.role === 'prob' ? 0.5 : 0)]));
    if (which === 'grad') await this.valueAndGrad(zeros, shape);
    else await this.value(zeros, shape);
    const { sizes, dims } = sizesOf(shape, this.opts.layout);
    const k = this.kernelsFor(this.plan(dims, which), sizes, dims, which, false);
    // `built` holds the gpu.js kernels in pass order, host steps skipped (the runners wrap them).
    let b = 0;
    return k.specs.flatMap((spec) => {
      if (!spec) return [];
      const inner = (k.built[b++] as unknown as { kernel?: { compiledFragmentShader?: string; compiledSource?: string } } | undefined)?.kernel;
      return [{ spec, native: { glsl: inner?.compiledFragmentShader ?? undefined, wgsl: this.backend === 'webgpu' ? inner?.compiledSource ?? undefined : undefined } }];
    });
  }

  /** Release kernels (the js backend's workers' copies too), textures and buffers. The loss cannot be called afterwards. */
  dispose(): void {
    this.releaseAll();
    this.gpu?.close();
    this.gpu = undefined;
  }

  protected override release(k: NodeKernels): void {
    releaseJsKernels(k.js);
    for (const r of k.wasm) r.release();
    for (const shortcut of k.built) {
      // gpu.js's cpu kernels do not take themselves out of their GPU's list when destroyed.
      const inner = (shortcut as unknown as { kernel?: unknown }).kernel;
      (shortcut as unknown as { destroy?: () => void }).destroy?.();
      const list = (this.gpu?.gpu as unknown as { kernels?: unknown[] } | undefined)?.kernels;
      const at = list?.indexOf(inner) ?? -1;
      if (at >= 0) list!.splice(at, 1);
    }
  }

  protected override get checksProbabilities(): boolean { return this.backend === 'wasm'; }
  protected override dropScratch(arrays: Float32Array[]): void { for (const a of arrays) this.arena?.release(a); }

  protected override memory(_k: NodeKernels, inputs: Inputs, N: number, sync: boolean): Memory {
    if (this.arena) return this.wasmMemory(this.arena, inputs);
    // The js backend's worker threads read shared memory: big inputs are copied there once per call
    // (not once per pass), into arrays of the shape's pool; the buffers live there from the start.
    const threaded = this.backend === 'js' && !sync && N >= MIN_THREADED_ELEMENTS && (this.opts.threads ?? availableParallelism()) > 1;
    const perCall = new Map<string, Float32Array>();
    // On threads, a copy into shared memory (unless the input is there already: `alloc`) in an array the
    // call holds till it ends (the loss's per-shape pool: calls in flight together never share one).
    const toShared = (v: ArrayLike<number>): Float32Array => {
      if (v instanceof Float32Array && v.buffer instanceof SharedArrayBuffer) return v;
      const a = m.scratch ? m.scratch(v.length) : new Float32Array(new SharedArrayBuffer(v.length * 4));
      a.set(v);
      return a;
    };
    const m: Memory = {
      // Each input converted once per call (not once per pass that reads it).
      input: (name) => {
        let a = perCall.get(name);
        if (!a) { a = threaded ? toShared(inputs[name]!) : toF32(inputs[name]!); perCall.set(name, a); }
        return a;
      },
      alloc: (n) => (threaded ? new Float32Array(new SharedArrayBuffer(n * 4)) : new Float32Array(n)),
      // Kernels' outputs in the call's own shared arrays (a runner's scratch would be shared by calls in flight).
      ...(threaded ? { output: (n: number) => (m.scratch ? m.scratch(n) : new Float32Array(new SharedArrayBuffer(n * 4))) } : {}),
    };
    return m;
  }

  /**
   * The wasm backend's arrays, all in its memory: each input copied in once per call (into a region of the
   * shape's pool), unless it is an array of `alloc`, read where it is; probability inputs checked there
   * (a SIMD scan) before the plan runs; buffers and kernels' outputs in regions of the pool. Only the
   * gradient, when no `out` is given, is a plain array (the caller keeps it).
   */
  private wasmMemory(arena: WasmArena, inputs: Inputs): Memory {
    const perCall = new Map<string, Float32Array>();
    const m: Memory = {
      input: (name) => {
        let a = perCall.get(name);
        if (!a) {
          const v = inputs[name]!;
          if (arena.isOwned(v)) a = v;
          else { a = m.scratch!(v.length); a.set(v); }
          perCall.set(name, a);
        }
        return a;
      },
      alloc: (n) => new Float32Array(n),
      work: (n) => arena.take(n),
      output: (n) => m.scratch!(n),
      prepare: () => {
        for (const i of this.inputs) {
          if (i.role !== 'prob') continue;
          const a = m.input(i.name);
          const bad = arena.outsideUnit(a);
          if (bad >= 0) throw probabilityError(i.name, this.name, bad, inputs[i.name]![bad]!);
        }
      },
    };
    return m;
  }

  /**
   * An array of a shape's size in the memory the kernels read, for zero-copy calls: a training loop
   * writes its predictions (and targets) there and passes the arrays as inputs, which are then read in
   * place, and passes another as `out`, which receives the gradient in place. On the js backend with
   * worker threads (a shape of MIN_THREADED_ELEMENTS or more) it is shared memory; other arrays are
   * copied into shared memory once per call. On the wasm backend it is a region of the kernels' memory
   * (any size), given back when the array is garbage: keep the array itself (a subarray of it is copied
   * like any other array). Elsewhere it is a plain Float32Array, which the js backend's calling thread
   * reads in place anyway (other backends copy inputs as they need).
   */
  alloc(shape: readonly number[]): Float32Array {
    const n = shape.reduce((a, b) => a * b, 1);
    if (this.arena) return this.arena.own(n);
    const threaded = this.backend === 'js' && n >= MIN_THREADED_ELEMENTS && (this.opts.threads ?? availableParallelism()) > 1;
    return threaded ? new Float32Array(new SharedArrayBuffer(n * 4)) : new Float32Array(n);
  }

  /** Whether valueAndGradSync works here: every backend whose kernels return synchronously (not webgpu). */
  get runsSync(): boolean {
    return this.backend !== 'webgpu';
  }

  /**
   * valueAndGrad without a Promise, for TensorFlow.js's synchronous customGrad.
   * Every backend but webgpu (asynchronous by nature) can do it; webasm then runs single-threaded.
   */
  valueAndGradSync(inputs: Inputs, shape: readonly number[], options: GradOptions = {}): GradResult {
    if (this.backend === 'webgpu') throw new Error('webgpu is asynchronous: use valueAndGrad, or a synchronous backend (cpu, webasm, headlessgl, reference)');
    const r = this.call(inputs, shape, true, true, checkOut(options.out, shape));
    if (r instanceof Promise) throw new Error('internal: a synchronous run returned a Promise');
    return { value: r.value, grad: r.grad!, backend: this.backend, ...(r.values ? { values: r.values } : {}) };
  }

  protected override buildKernels({ program, specs }: ShapeProgram, sync: boolean): NodeKernels {
    const built: GpuJsKernel[] = [];
    const js: JsKernel[] = [];
    const wasm: WasmRunner[] = [];
    const runners = specs.map((spec): Runner | undefined => {
      if (!spec) return undefined;
      if (this.arena) {
        const r = wasmRunner(spec, this.arena, sync ? undefined : wasmPool(this.opts.threads), program);
        wasm.push(r);
        return r.run;
      }
      if (this.backend === 'js') {
        const jk: JsKernel = { id: nextKernelId++, source: spec.jsSource, output: spec.output, width: spec.width, elements: count(canonicalAxes(program.dims), program.sizes) };
        js.push(jk);
        return jsRunner(jk, this.opts.threads, sync) as Runner;
      }
      if (!this.gpu) return undefined;
      const kernel = this.build(spec, sync);
      built.push(kernel);
      // gpu.js allocates each result itself.
      return (args) => kernel(...args) as ExecutorOutput;
    });
    return { program, specs, runners, built, js, wasm, busy: 0, evicted: false };
  }

  private build(spec: KernelSpec, sync: boolean): GpuJsKernel {
    const gpu = this.gpu!;
    const kernel = gpu.gpu.createKernel(spec.source, {
      ...gpuKernelOptions(spec),
      // webasm splits kernels of ≥ 4096 cells across its worker pool only under the async contract.
      ...(this.backend === 'webasm' && !sync ? { asyncMode: true } : {}),
    });
    return kernel;
  }

  /** Which backend ran the last kernel built (guards against gpu.js's silent fallbacks). */
  kernelBackends(): string[] {
    return [...this.byDims.values()].flatMap((s) => [...s.shapes.values()].flatMap((k) =>
      this.backend === 'js' || this.backend === 'wasm' ? k.runners.filter((x) => x).map(() => this.backend) : k.built.map((x) => kernelBackend(x))));
  }
}

function compileFor(source: string, opts: CompileOptions & { file: string }, dims: Dims): LossIR {
  const fe = frontend(source, opts.file, { dims, region: opts.region ?? 'sample', params: opts.params ?? {}, activation: opts.activation ?? 'none', readFile: opts.readFile });
  if (!fe.ir) throw new SeglossError(fe.diagnostics, fe.sources);
  return fe.ir;
}

/** What `auto` measured: per backend that started, the median ms of value + gradient on the probe; the pick. */
export interface AutoChoice { backend: Backend; probe: string; ms: Partial<Record<Backend, number>>; failed: Partial<Record<Backend, string>> }

let autoChoice: Promise<AutoChoice> | undefined;

/**
 * The fastest backend of AUTO_ORDER that starts here, measured once per process: Dice value + gradient at
 * 1x256x256x1 (65,536 elements: the threaded path where the machine has cores), 2 calls to warm up, then
 * the median of 5. `measureAuto` says what it measured.
 */
export async function pickBackend(): Promise<Backend> {
  return (await measureAuto()).backend;
}

export function measureAuto(): Promise<AutoChoice> {
  autoChoice ??= (async () => {
    const file = join(LIBRARY_DIR, 'dice.loss');
    const source = readFileSync(file, 'utf8');
    const shape = [1, 256, 256, 1];
    const n = 65536;
    const p = new Float32Array(n);
    const g = new Float32Array(n);
    for (let i = 0; i < n; i++) { p[i] = ((i * 37) % 101) / 100; g[i] = (i * 13) % 7 < 3 ? 1 : 0; }
    const ms: AutoChoice['ms'] = {};
    const failed: AutoChoice['failed'] = {};
    for (const b of AUTO_ORDER) {
      let loss: CompiledLoss | undefined;
      try {
        loss = await CompiledLoss.create(source, { file, backend: b });
        const times: number[] = [];
        for (let k = 0; k < 7; k++) {
          const t0 = performance.now();
          await loss.valueAndGrad({ p, g }, shape);
          if (k >= 2) times.push(performance.now() - t0);
        }
        ms[b] = times.sort((x, y) => x - y)[2]!;
      } catch (e) {
        failed[b] = e instanceof Error ? e.message : String(e);
      } finally {
        loss?.dispose();
      }
    }
    const ok = (Object.entries(ms) as [Backend, number][]).sort((x, y) => x[1] - y[1]);
    return { backend: ok[0]?.[0] ?? 'reference', probe: `dice value + gradient at ${shape.join('x')}`, ms, failed };
  })();
  return autoChoice;
}

export async function compile(source: string, options: CompileOptions = {}): Promise<CompiledLoss> {
  return CompiledLoss.create(source, options);
}

/** Load a library loss by name (`dice`), with parameter overrides. */
export async function load(name: string, params: Params = {}, options: Omit<CompileOptions, 'params' | 'file'> = {}): Promise<CompiledLoss> {
  const file = join(LIBRARY_DIR, `${name}.loss`);
  let source: string;
  try { source = readFileSync(file, 'utf8'); } catch {
    const dym = suggestLoss(name);
    throw new InputError(`no loss named '${name}' in ${LIBRARY_DIR}${dym ? `; ${dym}` : ''}`);
  }
  return compile(source, { ...options, file, params });
}
