// A compiled loss on any platform: per dimensionality the compiled IR and its
// plans; per shape a kernel set (its Program and one runner per pass), cached;
// per call the inputs checked and the plan run by the executor. What differs
// between Node's CompiledLoss (runtime/loss.ts) and the browser's BrowserLoss
// (runtime/browser/loss.ts) is how a formula's `use`s are read, how a kernel
// becomes a runner and where the arrays live: the abstract members below.
// Nothing here is Node-specific.

import type { Axis } from '../compiler/core/ir.ts';
import { type Dims, type Layout, type Sizes, canonicalAxes, count, sizesOf } from '../compiler/core/layout.ts';
import { InputError } from '../compiler/core/errors.ts';
import type { LossIR } from '../compiler/pipeline.ts';
import type { Plan } from '../compiler/plan/plan.ts';
import { type Inputs, checkInputs, checkOut, runReference } from './checks.ts';
import { type Memory, type Program, type Runner, run } from './executor.ts';
import { type ShapeProgram, shapeProgram } from './program.ts';

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

export interface ValueResult<B extends string = string> {
  /** The loss; under reduction 'none', the sum of `values` (what the gradient is of). */
  value: number;
  backend: B;
  /** Under reduction 'none': one value per sample and class, batch-major ([B][C]; [B] or [C] when the loss keeps one of them). */
  values?: Float64Array;
}
export interface GradOptions { out?: Float32Array }
export interface GradResult<B extends string = string> extends ValueResult<B> {
  /** d loss / d prediction, same shape and layout as the prediction: float32, or float64 from `reference`. */
  grad: Float32Array | Float64Array;
}

/** The executor's result, or the reference backend's (a float64 gradient). */
export interface RunResult { value: number; grad?: Float32Array | Float64Array; values?: Float64Array }

/** A shape's kernels as the executor runs them. */
export interface ShapeKernels {
  /** The plan for this shape, as the executor runs it. */
  program: Program;
  /** What each pass calls (undefined for a host step). */
  runners: (Runner | undefined)[];
  /** Calls running on these kernels now, and whether the cache has dropped them (released when the last call ends). */
  busy: number;
  evicted: boolean;
  /** Buffer arrays of calls that ended, for the next call on this shape (one per call in flight at most). */
  scratch?: Float32Array[];
}

interface DimsState<K> { ir: LossIR; shapes: Map<string, K> }

const SIZES: readonly Axis[] = ['batch', 'class', 'z', 'y', 'x'];

export abstract class LossBase<B extends string, K extends ShapeKernels> {
  protected readonly byDims = new Map<Dims, DimsState<K>>();
  protected disposed = false;

  protected constructor(
    protected readonly source: string,
    protected readonly opts: { file: string; layout: Layout },
    readonly backend: B,
    first: LossIR,
  ) {
    this.byDims.set(2, { ir: first, shapes: new Map() });
  }

  /** The formula compiled for a dimensionality (2-D or 3-D); throws a SeglossError on a formula mistake. */
  protected abstract compileDims(dims: Dims): LossIR;
  /** A shape's kernels: a runner per kernel spec of `sp` (`sync`: runners that never return a Promise). */
  protected abstract buildKernels(sp: ShapeProgram, sync: boolean): K;
  /** Release a kernel set (kernels destroyed, worker copies forgotten). */
  protected abstract release(k: K): void;
  /**
   * Where one call's arrays live (its inputs as kernels read them, new full-size arrays). A backend that
   * checks probability inputs itself (`checksProbabilities`) does it in the memory's `prepare`.
   */
  protected abstract memory(k: K, inputs: Inputs, elements: number, sync: boolean): Memory;
  /** Whether `memory` checks probability inputs (in [0, 1]) itself, so checkInputs need not. */
  protected get checksProbabilities(): boolean { return false; }
  /** Working arrays of a kernel set that will not be used again (a backend that pools them takes them back). */
  protected dropScratch(_arrays: Float32Array[]): void {}

  /** Whether this backend runs kernels on the CPU (the plain-JS loop, WebAssembly): reduce passes then take the CPU layout (codegen/pass.ts). */
  protected get cpuKernels(): boolean { return this.backend === 'js' || this.backend === 'wasm'; }

  get name(): string { return this.state(2).ir.loss.name; }
  get inputs(): { name: string; role: string }[] { return this.state(2).ir.loss.inputs.map((i) => ({ name: i.name, role: i.role })); }
  get params(): { name: string; value: number; default: number }[] { return this.state(2).ir.loss.params; }
  /** The name of the input the gradient is taken with respect to. */
  get wrt(): string { return this.state(2).ir.loss.wrt.name; }
  get layout(): Layout { return this.opts.layout; }

  /** The plan (per dimensionality; of the value and gradient, or of the value alone), for printing, tests and modules. */
  plan(dims: Dims = 2, which: 'grad' | 'value' = 'grad'): Plan { const s = this.state(dims); return which === 'grad' ? s.ir.plan : s.ir.valuePlan; }
  ir(dims: Dims = 2): LossIR { return this.state(dims).ir; }

  async value(inputs: Inputs, shape: readonly number[]): Promise<ValueResult<B>> {
    const r = await this.call(inputs, shape, false, false);
    return { value: r.value, backend: this.backend, ...(r.values ? { values: r.values } : {}) };
  }

  /**
   * The value and d value / d prediction. `out` (a Float32Array of the
   * prediction's size) receives the gradient instead of a new array, as a
   * training loop reusing its buffers wants.
   */
  async valueAndGrad(inputs: Inputs, shape: readonly number[], options: GradOptions = {}): Promise<GradResult<B>> {
    const r = await this.call(inputs, shape, true, false, checkOut(options.out, shape));
    return { value: r.value, grad: r.grad!, backend: this.backend, ...(r.values ? { values: r.values } : {}) };
  }

  /** How many per-shape kernel sets this loss holds (each dimensionality's at most MAX_SHAPE_KERNELS). */
  get cachedShapes(): number {
    let n = 0;
    for (const s of this.byDims.values()) n += s.shapes.size;
    return n;
  }

  protected state(dims: Dims): DimsState<K> {
    let s = this.byDims.get(dims);
    if (!s) { s = { ir: this.compileDims(dims), shapes: new Map() }; this.byDims.set(dims, s); }
    return s;
  }

  /** A kernel set released, its pooled working arrays with it. */
  private releaseKernels(k: K): void {
    this.release(k);
    if (k.scratch) this.dropScratch(k.scratch);
    k.scratch = undefined;
  }

  /** Every kernel set released; the loss cannot be called afterwards. */
  protected releaseAll(): void {
    this.disposed = true;
    for (const s of this.byDims.values()) for (const k of s.shapes.values()) this.releaseKernels(k);
    this.byDims.clear();
  }

  /**
   * One evaluation: the inputs checked, then the plan run by the executor on this shape's kernels.
   * Synchronous when every kernel is (`sync` builds them so); else a Promise (webgpu, threads).
   */
  protected call(inputs: Inputs, shape: readonly number[], wantGrad: boolean, sync: boolean, into?: Float32Array): RunResult | Promise<RunResult> {
    if (this.disposed) throw new Error(`loss '${this.name}' was disposed`);
    const { sizes, dims } = sizesOf(shape, this.opts.layout);
    const st = this.state(dims);
    inputs = checkInputs(inputs, shape, st.ir, sizes, dims, this.opts.layout, !this.checksProbabilities);
    if (this.backend === 'reference') {
      const r = runReference(st.ir, inputs, sizes, dims, this.opts.layout, wantGrad);
      if (into && r.grad) into.set(r.grad);
      return into && r.grad ? { value: r.value, grad: into } : r;
    }
    const k = this.kernelsFor(wantGrad ? st.ir.plan : st.ir.valuePlan, sizes, dims, `${wantGrad ? 'grad' : 'value'}${sync ? ':sync' : ''}`, sync);
    const memory = this.memory(k, inputs, count(canonicalAxes(dims), sizes), sync);
    // The call's working arrays (its buffers; on threads, its inputs' copies and kernels' outputs) are the
    // shape's, reused from call to call: no allocation per call after the first. A call holds what it takes
    // until it ends, so calls in flight together on one shape each have their own (kept for later too).
    const taken: Float32Array[] = [];
    memory.scratch = (n) => {
      const free = (k.scratch ??= []);
      const i = free.findIndex((a) => a.length === n);
      const a = i >= 0 ? free.splice(i, 1)[0]! : (memory.work?.(n) ?? memory.alloc(n));
      taken.push(a);
      return a;
    };
    // An entry evicted while a call runs on it is released when the last such call ends.
    k.busy++;
    const done = () => {
      if (!k.evicted && taken.length) (k.scratch ??= []).push(...taken);
      else if (taken.length) this.dropScratch(taken);
      if (--k.busy === 0 && k.evicted) this.releaseKernels(k);
    };
    let r: RunResult | Promise<RunResult>;
    try {
      memory.prepare?.();
      r = run(k.program, k.runners, memory, wantGrad, into);
    } catch (e) { done(); throw e; }
    if (r instanceof Promise) return r.finally(done);
    done();
    return r;
  }

  /** A shape's kernel set: cached (most recently used last), else built; past MAX_SHAPE_KERNELS the least recently used goes. */
  protected kernelsFor(plan: Plan, sizes: Sizes, dims: Dims, which: string, sync = false): K {
    const st = this.state(dims);
    const key = `${which}:${SIZES.map((a) => sizes[a]).join('x')}`;
    const hit = st.shapes.get(key);
    if (hit) {
      // Most recently used last: Map keeps insertion order.
      st.shapes.delete(key);
      st.shapes.set(key, hit);
      return hit;
    }
    const sp = shapeProgram(plan, st.ir.values, sizes, dims, this.opts.layout, { cpu: this.cpuKernels });
    // WGSL has no infinity or NaN, not even as a constant expression (the shader fails to build): a value fixed by
    // the shape (log(classes() - 1) with one class) that is not finite is refused here, where other backends compute it.
    if (this.backend === 'webgpu') {
      const bad = [...sp.statics.values()].find((v) => !Number.isFinite(v));
      if (bad !== undefined) {
        const shape = SIZES.filter((a) => a !== 'z' || dims === 3).map((a) => `${a} ${sizes[a]}`).join(', ');
        throw new InputError(`the loss has a value that is ${bad} for these sizes alone (${shape}), before any data; WebGPU (WGSL) holds no infinity or NaN: use another backend, or a formula that is finite for these sizes`);
      }
    }
    const entry = this.buildKernels(sp, sync);
    st.shapes.set(key, entry);
    if (st.shapes.size > MAX_SHAPE_KERNELS) {
      const [oldest, k] = st.shapes.entries().next().value!;
      st.shapes.delete(oldest);
      k.evicted = true;
      if (k.busy === 0) this.releaseKernels(k);
    }
    return entry;
  }
}
