// The loss inside a standalone module (`segloss compile --out`): its inputs
// checked, its kernels made runnable (plain JavaScript loops, or gpu.js kernels
// built on the caller's GPU), its plans run by the executor. tools/module.ts
// bundles this file, with the executor and what the executor imports, into
// every module it writes; the module adds its kernels and plans as data.

import { type KernelOutput, type ProgramData, type Runner, decodeProgram, repeatClass, run } from './executor.ts';
import type { RunResult } from './executor.ts';

/** A kernel of the module: its function (gpu.js source, or the plain JS loop), threads and values per thread. */
export interface ModuleKernel {
  fn: (...args: unknown[]) => unknown;
  output: number;
  width: number;
  loopMaxIterations: number;
}

/** What a module holds besides this code. */
export interface ModuleData {
  target: 'js' | 'glsl' | 'wgsl';
  shape: readonly number[];
  inputs: readonly { name: string; role: string }[];
  /** Under the mask knob with classes: a per-pixel mask stands for itself repeated along class. */
  pixelMask: boolean;
  kernels: readonly ModuleKernel[];
  plans: { grad: ProgramData; value: ProgramData };
}

/** The part of a gpu.js GPU a module uses. */
interface Gpu { createKernel(fn: ModuleKernel['fn'], options: object): GpuKernel }
type GpuKernel = ((...args: unknown[]) => KernelOutput | PromiseLike<KernelOutput>) & { destroy?: () => void };

type Inputs = Readonly<Record<string, ArrayLike<number>>>;

export interface StandaloneLoss {
  value(inputs: Inputs): number | Promise<number>;
  valueAndGrad(inputs: Inputs, out?: Float32Array): RunResult | Promise<RunResult>;
  kernels?: GpuKernel[];
  destroy?: () => void;
}

/**
 * The loss on a gpu.js GPU (the glsl and wgsl targets; gpu.js options as the segloss runtime's),
 * or on the plain JavaScript kernels (the js target, where `gpu` is not used).
 */
export function createLoss(m: ModuleData, gpu?: Gpu): StandaloneLoss {
  const plans = { grad: decodeProgram(m.plans.grad), value: decodeProgram(m.plans.value) };
  const { sizes, dims, layout } = plans.grad;
  const N = m.shape.reduce((a, b) => a * b, 1);
  const toF32 = (a: ArrayLike<number> | undefined, what: string): Float32Array => {
    if (!a || a.length !== N) throw new RangeError(`${what} must have ${N} elements for shape [${m.shape.join(', ')}], got ${a ? a.length : 'none'}`);
    return a instanceof Float32Array ? a : Float32Array.from(a);
  };
  const check = (given: Inputs): Record<string, Float32Array> => {
    const x: Record<string, Float32Array> = Object.create(null);
    for (const i of m.inputs) {
      const a = given && Object.hasOwn(given, i.name) ? given[i.name] : undefined;
      x[i.name] = i.name === 'mask' && m.pixelMask && a && a.length * sizes.class === N ? repeatClass(a, layout, sizes, dims) : toF32(a, `input '${i.name}' (${i.role})`);
    }
    return x;
  };
  const memory = (x: Record<string, Float32Array>) => ({ input: (name: string) => x[name]!, alloc: (n: number) => new Float32Array(n) });
  const make = (runners: Runner[]): StandaloneLoss => ({
    value(given) {
      const r = run(plans.value, runners, memory(check(given)), false);
      return r instanceof Promise ? r.then((v) => v.value) : (r as RunResult).value;
    },
    valueAndGrad(given, out) {
      if (out !== undefined && (!(out instanceof Float32Array) || out.length !== N)) throw new RangeError(`out must be a Float32Array of ${N} elements`);
      return run(plans.grad, runners, memory(check(given)), true, out);
    },
  });
  if (m.target === 'js') {
    return make(m.kernels.map((k) => {
      let scratch: Float32Array | undefined;
      return (args, into) => {
        const out = into ?? (scratch ??= new Float32Array(k.output * k.width));
        k.fn(...args, out, 0, k.output);
        return out;
      };
    }));
  }
  if (!gpu || typeof gpu.createKernel !== 'function') throw new TypeError('createLoss needs a gpu.js GPU instance');
  const built = m.kernels.map((k) => gpu.createKernel(k.fn, { output: [k.output], loopMaxIterations: k.loopMaxIterations, precision: 'single', tactic: 'precision' }));
  const loss = make(built.map((kernel) => (args) => kernel(...args)));
  loss.kernels = built;
  loss.destroy = () => built.forEach((k) => k.destroy?.());
  return loss;
}
