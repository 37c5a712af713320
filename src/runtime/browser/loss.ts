// A compiled loss in a browser: the Node runtime's contract (runtime/loss.ts's
// CompiledLoss: compile, load, value, valueAndGrad over Float32Arrays in the
// user's layout, every result naming the backend that ran) on the browser's
// backends. The same pieces run it: the compiler's compileIR (with `use`d files
// from the bundled library, browser/library.ts) and LossBase (runtime/loss-base.ts:
// the per-shape Programs and their cache, the input checks, the reference backend,
// the one plan runner, runtime/executor.ts); only the runners and memory differ:
// the generated JavaScript loops on the page's thread or Web Workers
// (browser/workers.ts), gpu.js's browser build (browser/gpu.ts).

import type { KernelSpec } from '../../compiler/codegen/kernel.ts';
import type { Dims, Layout } from '../../compiler/core/layout.ts';
import { InputError } from '../../compiler/core/errors.ts';
import { SeglossError, suggest } from '../../compiler/front/diagnostics.ts';
import type { Activation, Params, Region } from '../../compiler/lower/knobs.ts';
import { type LossIR, compileIR } from '../../compiler/pipeline.ts';
import { type Inputs, toF32 } from '../checks.ts';
import type { Memory } from '../executor.ts';
import { type GradResult, LossBase, type ShapeKernels, type ValueResult } from '../loss-base.ts';
import type { ShapeProgram } from '../program.ts';
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

export type BrowserValueResult = ValueResult<BrowserBackend>;
export type BrowserGradResult = GradResult<BrowserBackend>;

interface BrowserKernels extends ShapeKernels {
  release: (() => void)[];
  /** The mode each kernel ran on (`js`, or what gpu.js built it on), for kernelBackends(). */
  ran: (() => string | undefined)[];
  /** Some kernel runs on the Web Workers. */
  threaded: boolean;
}

export class BrowserLoss extends LossBase<BrowserBackend, BrowserKernels> {
  private constructor(
    source: string,
    protected override readonly opts: BrowserCompileOptions & { file: string; layout: Layout },
    backend: BrowserBackend,
    /** What runs underneath: the WebGL renderer, the WebGPU adapter, the js threads. */
    readonly detail: string,
    private readonly gpu: BrowserGpuHandle | undefined,
    first: LossIR,
  ) {
    super(source, opts, backend, first);
  }

  /** Compile a loss for a backend; formula errors throw a SeglossError, a backend that cannot start a BackendUnavailable. */
  static async create(source: string, options: BrowserCompileOptions = {}): Promise<BrowserLoss> {
    const opts = { ...options, file: options.file ?? '<formula>', layout: options.layout ?? 'nhwc' };
    const first = compileFor(source, opts, 2);
    const backend: BrowserBackend = !options.backend || options.backend === 'auto' ? 'js' : options.backend;
    if (!BROWSER_BACKENDS.includes(backend)) throw new BackendUnavailable(backend, `not a browser backend; use one of ${BROWSER_BACKENDS.join(', ')}`);
    const threads = options.threads ?? defaultThreads();
    let gpu: BrowserGpuHandle | undefined;
    let detail = backend === 'reference' ? 'float64 reference interpreter' : `plain JavaScript, ${threads > 1 ? `${threads} Web Workers${canShare() ? ' (shared memory)' : ' (copies: the page is not cross-origin isolated)'}` : "the page's thread"}`;
    if (backend !== 'js' && backend !== 'reference') {
      gpu = await openBrowserGpu(backend);
      detail = gpu.detail;
    }
    return new BrowserLoss(source, opts, backend, detail, gpu, first);
  }

  protected override compileDims(dims: Dims): LossIR { return compileFor(this.source, this.opts, dims); }

  /** The mode each built kernel ran on (after a call): what gpu.js really used, or `js`. */
  kernelBackends(): string[] {
    return [...this.byDims.values()].flatMap((s) => [...s.shapes.values()].flatMap((k) => k.ran.map((f) => f() ?? 'not run')));
  }

  /** Release kernels, textures and the GPU. The loss cannot be called afterwards. */
  dispose(): void {
    this.releaseAll();
    this.gpu?.close();
  }

  protected override release(k: BrowserKernels): void { k.release.forEach((f) => f()); }

  protected override memory(k: BrowserKernels, inputs: Inputs): Memory {
    // Web Workers on a cross-origin-isolated page read shared memory: inputs are copied there once per call.
    const share = k.threaded && canShare();
    const perCall = new Map<string, Float32Array>();
    return {
      input: (name) => {
        let a = perCall.get(name);
        if (!a) {
          const v = inputs[name]!;
          if (share && !(v instanceof Float32Array && v.buffer instanceof SharedArrayBuffer)) { a = new Float32Array(new SharedArrayBuffer(v.length * 4)); a.set(v); } else a = toF32(v);
          perCall.set(name, a);
        }
        return a;
      },
      alloc: (n) => (share ? new Float32Array(new SharedArrayBuffer(n * 4)) : new Float32Array(n)),
    };
  }

  protected override buildKernels({ program, specs }: ShapeProgram): BrowserKernels {
    const threads = this.opts.threads ?? defaultThreads();
    const built = specs.map((spec: KernelSpec | undefined) => {
      if (!spec) return undefined;
      if (this.gpu) return { ...this.gpu.runner(spec), threaded: false };
      return { ...jsKernel(spec, threads), ran: () => 'js' };
    });
    return {
      program,
      runners: built.map((b) => b?.run),
      release: built.flatMap((b) => (b ? [b.release] : [])),
      ran: built.flatMap((b) => (b ? [b.ran] : [])),
      threaded: built.some((b) => b?.threaded),
      busy: 0,
      evicted: false,
    };
  }
}

function compileFor(source: string, opts: BrowserCompileOptions & { file: string }, dims: Dims): LossIR {
  const r = compileIR(source, opts.file, { dims, region: opts.region ?? 'sample', params: opts.params ?? {}, activation: opts.activation ?? 'none', host: browserHost(opts.files) });
  if (!r.ir) throw new SeglossError(r.diagnostics, r.sources);
  return r.ir;
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

