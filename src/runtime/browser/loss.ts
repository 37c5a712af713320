// A compiled loss in a browser: the Node runtime's contract (runtime/loss.ts's
// CompiledLoss: compile, load, value, valueAndGrad over Float32Arrays in the
// user's layout, every result naming the backend that ran) on the browser's
// backends. The same pieces run it: the compiler's compileIR (with `use`d files
// from the bundled library, browser/library.ts), the per-shape Program
// (runtime/program.ts), the one plan runner (runtime/executor.ts), the input
// checks and the reference backend (runtime/checks.ts); only the runners differ:
// the generated JavaScript loops on the page's thread or Web Workers
// (browser/workers.ts), gpu.js's browser build (browser/gpu.ts).

import type { KernelSpec } from '../../compiler/codegen/kernel.ts';
import type { Axis } from '../../compiler/core/ir.ts';
import { type Dims, type Layout, type Sizes, sizesOf } from '../../compiler/core/layout.ts';
import { InputError } from '../../compiler/core/errors.ts';
import { SeglossError, suggest } from '../../compiler/front/diagnostics.ts';
import type { Activation, Params, Region } from '../../compiler/lower/knobs.ts';
import { type LossIR, compileIR } from '../../compiler/pipeline.ts';
import type { Plan } from '../../compiler/plan/plan.ts';
import { type Inputs, checkInputs, checkOut, runReference, toF32 } from '../checks.ts';
import { type Memory, type Program, type Runner, run } from '../executor.ts';
import { shapeProgram } from '../program.ts';
import { BackendUnavailable } from '../backends/unavailable.ts';
import { type BrowserGpuHandle, type BrowserGpuMode, BROWSER_GPU_MODES, openBrowserGpu } from './gpu.ts';
import { browserHost, libraryFile, libraryNames, librarySource } from './library.ts';
import { canShare, defaultThreads, jsKernel } from './workers.ts';

/** `js` (the generated loops, on the page's thread or Web Workers), gpu.js's browser modes, and the float64 `reference`. */
export type BrowserBackend = 'js' | BrowserGpuMode | 'reference';
export const BROWSER_BACKENDS: readonly BrowserBackend[] = ['js', ...BROWSER_GPU_MODES, 'reference'];

export interface BrowserCompileOptions {
  /** For diagnostics. */
  file?: string;
  /** `auto` is `js`, which always starts; a GPU mode is never picked for you. */
  backend?: BrowserBackend | 'auto';
  layout?: Layout;
  region?: Region;
  params?: Params;
  activation?: Activation;
  /** Web Workers for the js backend (default: navigator.hardwareConcurrency; 1 runs on the page's thread). */
  threads?: number;
  /** Files a formula may `use`, by the path it writes (`use "parts.loss"`); the library is always there. */
  files?: Readonly<Record<string, string>>;
}

export interface BrowserValueResult { value: number; backend: BrowserBackend; values?: Float64Array }
export interface BrowserGradResult extends BrowserValueResult { grad: Float32Array | Float64Array }

/** Per-shape kernel sets kept per dimensionality, as Node's MAX_SHAPE_KERNELS (runtime/loss.ts). */
const MAX_SHAPES = 8;

interface ShapeKernels { program: Program; runners: (Runner | undefined)[]; release: (() => void)[]; threaded: boolean; ran: (() => string | undefined)[]; busy: number; evicted: boolean }
interface DimsState { ir: LossIR; shapes: Map<string, ShapeKernels> }

const SPATIAL: readonly Axis[] = ['z', 'y', 'x'];

export class BrowserLoss {
  private readonly byDims = new Map<Dims, DimsState>();
  private disposed = false;

  private constructor(
    private readonly source: string,
    private readonly opts: BrowserCompileOptions & { file: string; layout: Layout },
    readonly backend: BrowserBackend,
    /** What runs underneath: the WebGL renderer, the WebGPU adapter, the js threads. */
    readonly detail: string,
    private readonly gpu: BrowserGpuHandle | undefined,
  ) {}

  /** Compile a loss for a backend; formula errors throw a SeglossError, a backend that cannot start a BackendUnavailable. */
  static async create(source: string, options: BrowserCompileOptions = {}): Promise<BrowserLoss> {
    const opts = { ...options, file: options.file ?? '<formula>', layout: options.layout ?? 'nhwc' };
    const first = stateFor(source, opts, 2);
    const backend: BrowserBackend = !options.backend || options.backend === 'auto' ? 'js' : options.backend;
    if (!BROWSER_BACKENDS.includes(backend)) throw new BackendUnavailable(backend, `not a browser backend; use one of ${BROWSER_BACKENDS.join(', ')}`);
    const threads = options.threads ?? defaultThreads();
    let gpu: BrowserGpuHandle | undefined;
    let detail = backend === 'reference' ? 'float64 reference interpreter' : `plain JavaScript, ${threads > 1 ? `${threads} Web Workers${canShare() ? ' (shared memory)' : ' (copies: the page is not cross-origin isolated)'}` : "the page's thread"}`;
    if (backend !== 'js' && backend !== 'reference') {
      gpu = await openBrowserGpu(backend);
      detail = gpu.detail;
    }
    const loss = new BrowserLoss(source, opts, backend, detail, gpu);
    loss.byDims.set(2, first);
    return loss;
  }

  get name(): string { return this.state(2).ir.loss.name; }
  get inputs(): { name: string; role: string }[] { return this.state(2).ir.loss.inputs.map((i) => ({ name: i.name, role: i.role })); }
  get params(): { name: string; value: number; default: number }[] { return this.state(2).ir.loss.params; }
  /** The name of the input the gradient is taken with respect to. */
  get wrt(): string { return this.state(2).ir.loss.wrt.name; }
  get layout(): Layout { return this.opts.layout; }

  plan(dims: Dims = 2, which: 'grad' | 'value' = 'grad'): Plan { const s = this.state(dims); return which === 'grad' ? s.ir.plan : s.ir.valuePlan; }

  async value(inputs: Inputs, shape: readonly number[]): Promise<BrowserValueResult> {
    const r = await this.call(inputs, shape, false);
    return { value: r.value, backend: this.backend, ...(r.values ? { values: r.values } : {}) };
  }

  /** The value and d value / d prediction; `out` (a Float32Array of the prediction's size) receives the gradient. */
  async valueAndGrad(inputs: Inputs, shape: readonly number[], options: { out?: Float32Array } = {}): Promise<BrowserGradResult> {
    const r = await this.call(inputs, shape, true, checkOut(options.out, shape));
    return { value: r.value, grad: r.grad!, backend: this.backend, ...(r.values ? { values: r.values } : {}) };
  }

  /** The mode each built kernel ran on (after a call): what gpu.js really used, or `js`. */
  kernelBackends(): string[] {
    return [...this.byDims.values()].flatMap((s) => [...s.shapes.values()].flatMap((k) => k.ran.map((f) => f() ?? 'not run')));
  }

  /** Release kernels, textures and the GPU. The loss cannot be called afterwards. */
  dispose(): void {
    this.disposed = true;
    for (const s of this.byDims.values()) for (const k of s.shapes.values()) k.release.forEach((f) => f());
    this.byDims.clear();
    this.gpu?.close();
  }

  private state(dims: Dims): DimsState {
    let s = this.byDims.get(dims);
    if (!s) { s = stateFor(this.source, this.opts, dims); this.byDims.set(dims, s); }
    return s;
  }

  private async call(inputs: Inputs, shape: readonly number[], wantGrad: boolean, into?: Float32Array): Promise<{ value: number; grad?: Float32Array | Float64Array; values?: Float64Array }> {
    if (this.disposed) throw new Error(`loss '${this.name}' was disposed`);
    const { sizes, dims } = sizesOf(shape, this.opts.layout);
    const st = this.state(dims);
    inputs = checkInputs(inputs, shape, st.ir, sizes, dims, this.opts.layout);
    if (this.backend === 'reference') {
      const r = runReference(st.ir, inputs, sizes, dims, this.opts.layout, wantGrad);
      if (into && r.grad) into.set(r.grad);
      return into && r.grad ? { ...r, grad: into } : r;
    }
    const k = this.kernelsFor(st, wantGrad ? st.ir.plan : st.ir.valuePlan, sizes, dims, wantGrad ? 'grad' : 'value');
    const share = k.threaded && canShare();
    const perCall = new Map<string, Float32Array>();
    const memory: Memory = {
      input: (name) => {
        let a = perCall.get(name);
        if (!a) {
          const v = inputs[name]!;
          a = share && !(v instanceof Float32Array && v.buffer instanceof SharedArrayBuffer) ? new Float32Array(new SharedArrayBuffer(v.length * 4)) : toF32(v);
          if (a !== v && share) a.set(v);
          perCall.set(name, a);
        }
        return a;
      },
      alloc: (n) => (share ? new Float32Array(new SharedArrayBuffer(n * 4)) : new Float32Array(n)),
    };
    k.busy++;
    try {
      return await run(k.program, k.runners, memory, wantGrad, into);
    } finally {
      if (--k.busy === 0 && k.evicted) k.release.forEach((f) => f());
    }
  }

  private kernelsFor(st: DimsState, plan: Plan, sizes: Sizes, dims: Dims, which: string): ShapeKernels {
    const key = `${which}:${(['batch', 'class', ...SPATIAL] as Axis[]).map((a) => sizes[a]).join('x')}`;
    const hit = st.shapes.get(key);
    if (hit) { st.shapes.delete(key); st.shapes.set(key, hit); return hit; }
    const { program, specs, statics } = shapeProgram(plan, st.ir.values, sizes, dims, this.opts.layout);
    if (this.backend === 'webgpu') {
      const bad = [...statics.values()].find((v) => !Number.isFinite(v));
      if (bad !== undefined) throw new InputError(`the loss has a value that is ${bad} for these sizes alone, before any data; WebGPU (WGSL) holds no infinity or NaN: use another backend`);
    }
    const threads = this.opts.threads ?? defaultThreads();
    const built = specs.map((spec: KernelSpec | undefined) => {
      if (!spec) return undefined;
      if (this.gpu) return { ...this.gpu.runner(spec), threaded: false };
      const j = jsKernel(spec, threads);
      return { ...j, ran: () => 'js' };
    });
    const entry: ShapeKernels = {
      program,
      runners: built.map((b) => b?.run),
      release: built.flatMap((b) => (b ? [b.release] : [])),
      ran: built.flatMap((b) => (b ? [b.ran] : [])),
      threaded: built.some((b) => b?.threaded),
      busy: 0,
      evicted: false,
    };
    st.shapes.set(key, entry);
    if (st.shapes.size > MAX_SHAPES) {
      const [oldest, old] = st.shapes.entries().next().value!;
      st.shapes.delete(oldest);
      old.evicted = true;
      if (old.busy === 0) old.release.forEach((f) => f());
    }
    return entry;
  }
}

function stateFor(source: string, opts: BrowserCompileOptions & { file: string }, dims: Dims): DimsState {
  const r = compileIR(source, opts.file, { dims, region: opts.region ?? 'sample', params: opts.params ?? {}, activation: opts.activation ?? 'none', host: browserHost(opts.files) });
  if (!r.ir) throw new SeglossError(r.diagnostics, r.sources);
  return { ir: r.ir, shapes: new Map() };
}

export async function compile(source: string, options: BrowserCompileOptions = {}): Promise<BrowserLoss> {
  return BrowserLoss.create(source, options);
}

/** Load a library loss by name (`dice`), with parameter overrides. */
export async function load(name: string, params: Params = {}, options: Omit<BrowserCompileOptions, 'params' | 'file'> = {}): Promise<BrowserLoss> {
  const source = librarySource(name);
  if (source === undefined) {
    const dym = suggest(name, libraryNames());
    throw new InputError(`no loss named '${name}' in the library${dym ? `; ${dym}` : ''}`);
  }
  return compile(source, { ...options, file: libraryFile(name), params });
}

/** Which backends start in this page, and why the others do not (each opened and closed once; never throws). */
export async function probeBackends(): Promise<Record<BrowserBackend, { ok: true; detail: string } | { ok: false; why: string }>> {
  const out = {} as Record<BrowserBackend, { ok: true; detail: string } | { ok: false; why: string }>;
  for (const b of BROWSER_BACKENDS) {
    if (b === 'js' || b === 'reference') { out[b] = { ok: true, detail: b === 'js' ? 'plain JavaScript' : 'float64' }; continue; }
    try { const h = await openBrowserGpu(b); out[b] = { ok: true, detail: h.detail }; h.close(); } catch (e) {
      out[b] = { ok: false, why: e instanceof BackendUnavailable ? e.why : `unexpected error: ${(e as Error).message ?? String(e)}` };
    }
  }
  return out;
}

