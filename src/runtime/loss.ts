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
import type { Axis } from '../compiler/core/ir.ts';
import type { Dims } from '../compiler/core/layout.ts';
import type { Activation, Region } from '../compiler/lower/knobs.ts';
import type { Plan } from '../compiler/plan/plan.ts';
import { type GpuBackend, type GpuHandle, type GpuJsKernel, GPU_BACKENDS, kernelBackend, openGpu } from './backends/gpujs.ts';
import { type Layout, type Sizes, canonicalAxes, count, sizesOf } from '../compiler/core/layout.ts';
import { availableParallelism } from 'node:os';
import { type JsKernel, MIN_THREADED_OUTPUT, jsRunner, releaseJsKernels, shared } from './backends/js.ts';
import { type KernelOutput as ExecutorOutput, type Memory, type Program, type Runner, run } from './executor.ts';
import { shapeProgram } from './program.ts';
import { type Inputs, checkInputs, checkOut, gpuKernelOptions, runReference, toF32 } from './checks.ts';

let nextKernelId = 0;
import { InputError } from '../compiler/core/errors.ts';

/**
 * gpu.js's four, `js` (the same generated kernels as plain JavaScript loops,
 * split across worker threads, one per core), and the float64 `reference`.
 */
export type Backend = GpuBackend | 'js' | 'reference';
export const BACKENDS: readonly Backend[] = ['js', ...GPU_BACKENDS, 'reference'];

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
  /** Worker threads for the js backend (default: the machine's cores; 1 runs on the calling thread). */
  threads?: number;
  readFile?: FileOptions['readFile'];
}

export type { Inputs } from './checks.ts';

export interface ValueResult {
  /** The loss; under reduction 'none', the sum of `values` (what the gradient is of). */
  value: number;
  backend: Backend;
  /** Under reduction 'none': one value per sample and class, batch-major ([B][C]; [B] or [C] when the loss keeps one of them). */
  values?: Float64Array;
}
export interface GradOptions { out?: Float32Array }
export interface GradResult extends ValueResult {
  /** d loss / d prediction, same shape and layout as the prediction: float32, or float64 from `reference`. */
  grad: Float32Array | Float64Array;
}

/** On this machine: webasm (f32 SIMD, threads) is the fastest CPU path; a GL or WebGPU device when present is not, on a software renderer. */
export const AUTO_ORDER: readonly Backend[] = ['js', 'cpu', 'reference'];

interface ShapeKernels {
  /** The plan for this shape, as the executor runs it. */
  program: Program;
  specs: (KernelSpec | undefined)[];
  /** What each pass calls: a gpu.js kernel, or the cpu pool over a kernel's threads. */
  kernels: (Runner | undefined)[];
  /** The gpu.js kernels built (for backend checks and release). */
  built: GpuJsKernel[];
  /** The js backend's kernels (their workers' copies are released with them). */
  js: JsKernel[];
  /** Calls running on these kernels now, and whether the cache has dropped them (released when the last call ends). */
  busy: number;
  evicted: boolean;
}

/**
 * Per-shape kernel sets kept per dimensionality; past it the least recently
 * used is released. A training loop meets a few shapes (its batch and the
 * smaller last batch, for training and for validation), each under up to four
 * keys (value or gradient, called synchronously or not): 8 keeps a loop's
 * working set with room to spare, while a process that feeds ever-new shapes
 * (varying crops, sliding windows) holds at most 8 sets of kernels and their
 * scratch buffers, each of a few output-sized arrays.
 */
export const MAX_SHAPE_KERNELS = 8;

/** The executor's result, or the reference backend's (a float64 gradient). */
interface RunResult { value: number; grad?: Float32Array | Float64Array; values?: Float64Array }

interface DimsState { ir: LossIR; plan: Plan; valuePlan: Plan; shapes: Map<string, ShapeKernels> }

const SPATIAL: readonly Axis[] = ['z', 'y', 'x'];

export class CompiledLoss {
  private readonly byDims = new Map<Dims, DimsState>();
  private gpu: GpuHandle | undefined;
  private disposed = false;
  /** Shared-memory copies of the inputs for the js backend's threads, reused from call to call. */
  private readonly sharedInputs = new Map<string, Float32Array>();

  private constructor(
    private readonly source: string,
    private readonly opts: CompileOptions & { file: string; layout: Layout },
    readonly backend: Backend,
    first: DimsState,
    dims: Dims,
  ) {
    this.byDims.set(dims, first);
  }

  /** Compile a loss for a backend; formula errors throw a SeglossError with every diagnostic. */
  static async create(source: string, options: CompileOptions = {}): Promise<CompiledLoss> {
    const opts = { ...options, file: options.file ?? '<formula>', layout: options.layout ?? 'nhwc' };
    const first = stateFor(source, opts, 2);
    const backend = options.backend && options.backend !== 'auto' ? options.backend : await pickBackend();
    const loss = new CompiledLoss(source, opts, backend, first, 2);
    if (backend !== 'reference' && backend !== 'js') loss.gpu = await openGpu(backend);
    return loss;
  }

  get name(): string { return this.state(2).ir.loss.name; }
  get inputs(): { name: string; role: string }[] { return this.state(2).ir.loss.inputs.map((i) => ({ name: i.name, role: i.role })); }
  get params(): { name: string; value: number; default: number }[] { return this.state(2).ir.loss.params; }
  /** The name of the input the gradient is taken with respect to. */
  get wrt(): string { return this.state(2).ir.loss.wrt.name; }
  get layout(): Layout { return this.opts.layout; }

  private state(dims: Dims): DimsState {
    let s = this.byDims.get(dims);
    if (!s) { s = stateFor(this.source, this.opts, dims); this.byDims.set(dims, s); }
    return s;
  }

  /** The plan (per dimensionality; of the value and gradient, or of the value alone), for printing, tests and modules. */
  plan(dims: Dims = 2, which: 'grad' | 'value' = 'grad'): Plan { const s = this.state(dims); return which === 'grad' ? s.plan : s.valuePlan; }
  ir(dims: Dims = 2): LossIR { return this.state(dims).ir; }

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
    const st = this.state(dims);
    const k = this.kernelsFor(which === 'grad' ? st.plan : st.valuePlan, sizes, dims, which, false);
    // `built` holds the gpu.js kernels in pass order, host steps skipped (the runners wrap them).
    let b = 0;
    return k.specs.flatMap((spec) => {
      if (!spec) return [];
      const inner = (k.built[b++] as unknown as { kernel?: { compiledFragmentShader?: string; compiledSource?: string } } | undefined)?.kernel;
      return [{ spec, native: { glsl: inner?.compiledFragmentShader ?? undefined, wgsl: this.backend === 'webgpu' ? inner?.compiledSource ?? undefined : undefined } }];
    });
  }

  async value(inputs: Inputs, shape: readonly number[]): Promise<ValueResult> {
    const r = await this.run(inputs, shape, false);
    return { value: r.value, backend: this.backend, ...(r.values ? { values: r.values } : {}) };
  }

  /**
   * The value and d value / d prediction. `out` (a Float32Array of the
   * prediction's size) receives the gradient instead of a new array, as a
   * training loop reusing its buffers wants.
   */
  async valueAndGrad(inputs: Inputs, shape: readonly number[], options: GradOptions = {}): Promise<GradResult> {
    const r = await this.run(inputs, shape, true, checkOut(options.out, shape));
    return { value: r.value, grad: r.grad!, backend: this.backend, ...(r.values ? { values: r.values } : {}) };
  }

  /** Release kernels (the js backend's workers' copies too), textures and buffers. The loss cannot be called afterwards. */
  dispose(): void {
    this.disposed = true;
    for (const s of this.byDims.values()) for (const k of s.shapes.values()) this.release(k);
    this.byDims.clear();
    this.sharedInputs.clear();
    this.gpu?.close();
    this.gpu = undefined;
  }

  /** How many per-shape kernel sets this loss holds (each dimensionality's at most MAX_SHAPE_KERNELS). */
  get cachedShapes(): number {
    let n = 0;
    for (const s of this.byDims.values()) n += s.shapes.size;
    return n;
  }

  private release(k: ShapeKernels): void {
    releaseJsKernels(k.js);
    for (const shortcut of k.built) {
      // gpu.js's cpu kernels do not take themselves out of their GPU's list when destroyed.
      const inner = (shortcut as unknown as { kernel?: unknown }).kernel;
      (shortcut as unknown as { destroy?: () => void }).destroy?.();
      const list = (this.gpu?.gpu as unknown as { kernels?: unknown[] } | undefined)?.kernels;
      const at = list?.indexOf(inner) ?? -1;
      if (at >= 0) list!.splice(at, 1);
    }
  }

  /**
   * One evaluation: the inputs checked, then the plan run by the executor on this shape's kernels.
   * Synchronous when every kernel is (`sync` builds them so); else a Promise (webgpu, threads).
   */
  private call(inputs: Inputs, shape: readonly number[], wantGrad: boolean, sync: boolean, into?: Float32Array): RunResult | Promise<RunResult> {
    if (this.disposed) throw new Error(`loss '${this.name}' was disposed`);
    const { sizes, dims } = sizesOf(shape, this.opts.layout);
    const st = this.state(dims);
    inputs = checkInputs(inputs, shape, st.ir, sizes, dims, this.opts.layout);
    if (this.backend === 'reference') {
      const r = runReference(st.ir, inputs, sizes, dims, this.opts.layout, wantGrad);
      if (into && r.grad) into.set(r.grad);
      return into && r.grad ? { value: r.value, grad: into } : r;
    }
    const plan = wantGrad ? st.plan : st.valuePlan;
    const k = this.kernelsFor(plan, sizes, dims, `${wantGrad ? 'grad' : 'value'}${sync ? ':sync' : ''}`, sync);
    const N = count(canonicalAxes(dims), sizes);
    // The js backend's worker threads read shared memory: big inputs are copied there once per call
    // (not once per pass), into arrays this loss keeps; the buffers live there from the start.
    const threaded = this.backend === 'js' && !sync && N >= MIN_THREADED_OUTPUT && (this.opts.threads ?? availableParallelism()) > 1;
    const perCall = new Map<string, Float32Array>();
    const memory: Memory = {
      // Each input converted once per call (not once per pass that reads it).
      input: (name) => {
        let a = perCall.get(name);
        if (!a) { a = threaded ? shared(this.sharedInputs, name, inputs[name]!) : toF32(inputs[name]!); perCall.set(name, a); }
        return a;
      },
      alloc: (n) => (threaded ? new Float32Array(new SharedArrayBuffer(n * 4)) : new Float32Array(n)),
    };
    // An entry evicted while a call runs on it is released when the last such call ends.
    k.busy++;
    const done = () => { if (--k.busy === 0 && k.evicted) this.release(k); };
    let r: RunResult | Promise<RunResult>;
    try { r = run(k.program, k.kernels, memory, wantGrad, into); } catch (e) { done(); throw e; }
    if (r instanceof Promise) return r.finally(done);
    done();
    return r;
  }

  private async run(inputs: Inputs, shape: readonly number[], wantGrad: boolean, into?: Float32Array): Promise<RunResult> {
    return this.call(inputs, shape, wantGrad, false, into);
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

  private kernelsFor(plan: Plan, sizes: Sizes, dims: Dims, which: string, sync = false): ShapeKernels {
    const st = this.state(dims);
    const key = `${which}:${(['batch', 'class', ...SPATIAL] as Axis[]).map((a) => sizes[a]).join('x')}`;
    const hit = st.shapes.get(key);
    if (hit) {
      // Most recently used last: Map keeps insertion order.
      st.shapes.delete(key);
      st.shapes.set(key, hit);
      return hit;
    }
    const { program, specs, statics } = shapeProgram(plan, st.ir.values, sizes, dims, this.opts.layout);
    // WGSL has no infinity or NaN, not even as a constant expression (the shader fails to build): a value fixed by
    // the shape (log(classes() - 1) with one class) that is not finite is refused here, where other backends compute it.
    if (this.backend === 'webgpu') {
      const bad = [...statics.values()].find((v) => !Number.isFinite(v));
      if (bad !== undefined) {
        const shape = (['batch', 'class', ...SPATIAL] as Axis[]).filter((a) => a !== 'z' || dims === 3).map((a) => `${a} ${sizes[a]}`).join(', ');
        throw new InputError(`the loss has a value that is ${bad} for these sizes alone (${shape}), before any data; WebGPU (WGSL) holds no infinity or NaN: use another backend, or a formula that is finite for these sizes`);
      }
    }
    const built: GpuJsKernel[] = [];
    const js: JsKernel[] = [];
    const kernels = specs.map((spec): Runner | undefined => {
      if (!spec) return undefined;
      if (this.backend === 'js') {
        const jk: JsKernel = { id: nextKernelId++, source: spec.jsSource, output: spec.output, width: spec.width };
        js.push(jk);
        return jsRunner(jk, this.opts.threads, sync) as Runner;
      }
      if (!this.gpu) return undefined;
      const kernel = this.build(spec, sync);
      built.push(kernel);
      // gpu.js allocates each result itself.
      return (args) => kernel(...args) as ExecutorOutput;
    });
    const entry: ShapeKernels = { program, specs, kernels, built, js, busy: 0, evicted: false };
    st.shapes.set(key, entry);
    if (st.shapes.size > MAX_SHAPE_KERNELS) {
      const [oldest, k] = st.shapes.entries().next().value!;
      st.shapes.delete(oldest);
      k.evicted = true;
      if (k.busy === 0) this.release(k);
    }
    return entry;
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
      this.backend === 'js' ? k.kernels.filter((x) => x).map(() => 'js') : k.built.map((x) => kernelBackend(x))));
  }
}

function stateFor(source: string, opts: CompileOptions & { file: string }, dims: Dims): DimsState {
  const fe = frontend(source, opts.file, { dims, region: opts.region ?? 'sample', params: opts.params ?? {}, activation: opts.activation ?? 'none', readFile: opts.readFile });
  if (!fe.ir) throw new SeglossError(fe.diagnostics, fe.sources);
  return { ir: fe.ir, plan: fe.ir.plan, valuePlan: fe.ir.valuePlan, shapes: new Map() };
}

/** The first backend of AUTO_ORDER that starts here. */
export async function pickBackend(): Promise<Backend> {
  for (const b of AUTO_ORDER) {
    if (b === 'reference' || b === 'js') return b;
    try { (await openGpu(b)).close(); return b; } catch { /* try the next */ }
  }
  return 'reference';
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
