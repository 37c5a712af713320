// The standalone module `segloss compile --out` writes: one ES module with no
// dependencies that runs a loss for one shape and layout: the kernels (plain JS
// loops, or gpu.js kernels with the GLSL/WGSL they translate to), the plans as
// data, and the runtime's own plan runner (src/runtime/executor.ts, with the
// float64 semantics it finishes the small values in) bundled by esbuild from
// src/runtime/standalone.ts. It is text: nothing here runs a loss.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { CompiledLoss } from '../runtime/loss.ts';
import { canonicalAxes, count, sizesOf } from '../compiler/core/layout.ts';
import type { Dims, Layout, Sizes } from '../compiler/core/layout.ts';
import type { Node } from '../compiler/core/ir.ts';
import type { Plan } from '../compiler/plan/plan.ts';
import type { KernelSpec } from '../compiler/codegen/kernel.ts';
import { type ProgramData, encodeProgram } from '../runtime/executor.ts';
import { shapeProgram } from '../runtime/program.ts';

export type ModuleTarget = 'js' | 'glsl' | 'wgsl';

export interface ModuleText {
  source: string;
  /** Distinct kernels in the module (the value and gradient plans share equal ones). */
  kernels: number;
}

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** A float64 as a JavaScript literal that reads back exactly (unlike kernel literals, ±∞ stay). */
function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  if (Object.is(v, -0)) return '-0';
  return String(v);
}

/** Plain data (numbers, strings, arrays, records) as a JavaScript expression: JSON, but every float64 exact. */
function literal(x: unknown): string {
  if (x === undefined) return 'undefined';
  if (typeof x === 'number') return num(x);
  if (typeof x === 'string' || typeof x === 'boolean' || x === null) return JSON.stringify(x);
  if (Array.isArray(x)) return `[${x.map(literal).join(', ')}]`;
  if (typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) {
    return `{ ${Object.entries(x as Record<string, unknown>).map(([k, v]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${literal(v)}`).join(', ')} }`;
  }
  throw new Error(`internal: ${Object.prototype.toString.call(x)} in a module's data`);
}

let bundled: string | undefined;

/** Where `npm run build` writes the bundle below, next to the built runtime. */
export const PREBUILT_BUNDLE = 'src/runtime/standalone.bundle.txt';

/**
 * How esbuild bundles src/runtime/standalone.ts: one IIFE defining `segloss`,
 * paths in its comments from `root` (the package root). `npm run build` runs
 * the same options once and ships the text; a source checkout bundles on demand.
 */
export function standaloneBuildOptions(root: string): {
  absWorkingDir: string; entryPoints: string[]; bundle: true; format: 'iife'; globalName: string;
  platform: 'neutral'; target: string; write: false; logLevel: 'silent'; charset: 'utf8';
} {
  return {
    absWorkingDir: root,
    entryPoints: ['src/runtime/standalone.ts'],
    bundle: true,
    format: 'iife',
    globalName: 'segloss',
    platform: 'neutral',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    charset: 'utf8',
  };
}

/**
 * src/runtime/standalone.ts with the executor and what it imports (the
 * reference interpreter, the op records' float64 semantics and host loops,
 * layouts), as one script that defines `segloss` and imports nothing. The
 * built package reads the text `npm run build` bundled; a source checkout
 * bundles it here with esbuild (a development dependency).
 */
export function executorBundle(): string {
  if (bundled === undefined) {
    const root = new URL('../..', import.meta.url);
    const prebuilt = new URL(PREBUILT_BUNDLE, root);
    if (existsSync(prebuilt)) {
      bundled = readFileSync(prebuilt, 'utf8').trim();
    } else {
      const { buildSync } = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
      bundled = buildSync(standaloneBuildOptions(fileURLToPath(root))).outputFiles![0]!.text.trim();
    }
  }
  return bundled;
}

interface KernelEntry { spec: KernelSpec; native: string | undefined }
/** A kernel built on the loss's backend: its gpu.js source and what gpu.js translated it to. */
interface Native { source: string; text: string }

/** The plan as the executor's data, its kernels added to `kernels` (equal ones shared). */
function planData(plan: Plan, values: Node | undefined, sizes: Sizes, dims: Dims, layout: Layout, target: ModuleTarget, kernels: KernelEntry[], natives: Native[] | undefined): ProgramData {
  // A js module runs the plain-JS loops: the CPU layout (as the js backend); glsl and wgsl the GPU's.
  const { program, specs } = shapeProgram(plan, values, sizes, dims, layout, { cpu: target === 'js' });
  const index = new Map<number, number>();
  let built = 0;
  specs.forEach((spec, i) => {
    if (!spec) return;
    const native = natives?.[built++];
    // The kernels built on the backend are the ones emitted here (same plan, same shape): check it.
    if (natives && native?.source !== spec.source) throw new Error(`internal: kernel ${built} built on the backend differs from the one emitted`);
    const code = target === 'js' ? spec.jsSource : spec.source;
    let k = kernels.findIndex((e) => (target === 'js' ? e.spec.jsSource : e.spec.source) === code && e.spec.output === spec.output && e.spec.width === spec.width && e.spec.loopMaxIterations === spec.loopMaxIterations);
    if (k === -1) k = kernels.push({ spec, native: native?.text }) - 1;
    index.set(i, k);
  });
  return encodeProgram({ ...program, steps: program.steps.map((s) => (s.kind === 'kernel' ? { ...s, kernel: index.get(s.kernel)! } : s)) });
}

/** Text inside a template literal, as itself. */
const template = (s: string) => `\`${s.replace(/\\/g, '\\\\').replace(/`/g, '\\`').replace(/\$\{/g, '\\${')}\``;

const indent = (s: string, by: string) => s.split('\n').map((l, i) => (i === 0 ? l : `${by}${l}`)).join('\n');

/**
 * The module for `loss` at `shape` (in the loss's layout). glsl and wgsl read
 * what gpu.js translated each kernel to from kernels built on the loss's own
 * backend (headlessgl, webgpu), so the loss must have been compiled for it.
 */
export async function emitModule(loss: CompiledLoss, shape: readonly number[], target: ModuleTarget): Promise<ModuleText> {
  const backend = { js: undefined, glsl: 'headlessgl', wgsl: 'webgpu' }[target];
  if (backend && loss.backend !== backend) throw new Error(`internal: a ${target} module reads its kernels from a loss compiled for ${backend}, not ${loss.backend}`);
  const { sizes, dims } = sizesOf(shape, loss.layout);
  const ir = loss.ir(dims);
  const plans = { grad: loss.plan(dims, 'grad'), value: loss.plan(dims, 'value') };
  const natives: Record<'grad' | 'value', Native[] | undefined> = { grad: undefined, value: undefined };
  if (target === 'js') {
    // The runtime's own checks of the loss against the shape (class weights per class, ...): one run on zeros.
    await loss.value(Object.fromEntries(loss.inputs.map((i) => [i.name, new Float32Array(prod(shape))])), shape);
  } else {
    for (const which of ['grad', 'value'] as const) {
      natives[which] = (await loss.builtKernels(shape, which)).map((b, i) => {
        const text = target === 'glsl' ? b.native.glsl : b.native.wgsl;
        if (!text) throw new Error(`gpu.js did not expose the ${target} of ${which} kernel ${i + 1}`);
        return { source: b.spec.source, text };
      });
    }
  }
  const kernels: KernelEntry[] = [];
  const data = {
    grad: planData(plans.grad, ir.values, sizes, dims, loss.layout, target, kernels, natives.grad),
    value: planData(plans.value, ir.values, sizes, dims, loss.layout, target, kernels, natives.value),
  };
  const N = count(canonicalAxes(dims), sizes);
  const params = Object.fromEntries(loss.params.map((p) => [p.name, p.value]));
  // As the runtime: under the mask knob, a per-pixel mask (no class axis) stands for itself repeated along class.
  const pixelMask = ir.loss.knobs.mask && sizes.class > 1 && loss.inputs.some((i) => i.name === 'mask');
  const what = target === 'js' ? 'plain JavaScript loops over threads [start, end)' : `gpu.js kernels (with the ${target.toUpperCase()} gpu.js translated them to, in \`${target}\`)`;
  const kernelText = kernels.map((e, i) => {
    const fn = target === 'js' ? e.spec.jsSource : e.spec.source;
    return `  // kernel ${i + 1}: ${e.spec.output} threads; inputs ${e.spec.inputs.join(', ')}\n  { output: ${e.spec.output}, width: ${e.spec.width}, loopMaxIterations: ${e.spec.loopMaxIterations}, fn: ${indent(fn, '  ')} },`;
  });
  const out = [
    `// ${loss.name}: a segloss loss compiled for shape [${shape.join(', ')}] (${loss.layout}), target ${target}.`,
    '// Written by `segloss compile --out`; a standalone ES module with no dependencies.',
    `// Inputs: ${loss.inputs.map((i) => `${i.name} (${i.role})`).join(', ')}, each a Float32Array (or array of numbers) of ${N} elements in ${loss.layout} order.`,
    target === 'js'
      ? '// value(inputs) -> number; valueAndGrad(inputs, out?) -> { value, grad } with grad a Float32Array (in `out` when given),\n// and under reduction none values, a Float64Array: per sample and class, or per element (in the layout), as the runtime\'s.'
      : '// createLoss(gpu) builds the kernels on a gpu.js GPU (any mode) and returns { value, valueAndGrad, destroy }\n// (Promises when the GPU\'s kernels return them, as on WebGPU). Keep the kernels unminified: gpu.js types 1.0 as a float, 1 as an integer.',
    '',
    `export const name = ${JSON.stringify(loss.name)};`,
    `export const shape = Object.freeze(${JSON.stringify(shape)});`,
    `export const layout = ${JSON.stringify(loss.layout)};`,
    `export const target = ${JSON.stringify(target)};`,
    `export const inputs = Object.freeze(${JSON.stringify(loss.inputs.map((i) => ({ name: i.name, role: i.role })))});`,
    `export const wrt = ${JSON.stringify(loss.wrt)};`,
    `export const params = Object.freeze(${JSON.stringify(params)});`,
    '',
    `// The kernels: ${what}.`,
    'const KERNELS = [',
    ...kernelText,
    '];',
    'export const kernels = KERNELS.map((k) => k.fn);',
    ...(target === 'js' ? [] : [`export const ${target} = [\n${kernels.map((e) => `  ${template(e.native!.trimEnd())},`).join('\n')}\n];`]),
    '',
    '// The plans, value and gradient, as src/runtime/executor.ts runs them: per pass its kernel (or host op)',
    '// and what the host does with its output; per level the small nodes the epilogue computes between passes.',
    'const PLANS = {',
    `  grad: ${literal(data.grad)},`,
    `  value: ${literal(data.value)},`,
    '};',
    '',
    '// The segloss runtime\'s plan runner and the float64 semantics it finishes the small values in:',
    '// src/runtime/standalone.ts with src/runtime/executor.ts and what it imports, bundled by esbuild.',
    executorBundle(),
    '',
    '/**',
    ' * The loss on a gpu.js GPU (the glsl and wgsl targets; gpu.js options as the segloss runtime\'s),',
    ' * or on the plain JavaScript kernels (the js target, where gpu is not used).',
    ' */',
    'export function createLoss(gpu) {',
    `  return segloss.createLoss({ target, shape, inputs, pixelMask: ${pixelMask}, kernels: KERNELS, plans: PLANS }, gpu);`,
    '}',
    ...(target === 'js' ? ['', 'const loss = createLoss();', 'export const value = loss.value;', 'export const valueAndGrad = loss.valueAndGrad;'] : []),
  ];
  return { source: `${out.join('\n').trimEnd()}\n`, kernels: kernels.length };
}
