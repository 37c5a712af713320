// The standalone module `segloss compile --out` writes: one ES module with no
// dependencies that runs a loss for one shape and layout: the kernels (plain JS
// loops, or gpu.js kernels with the GLSL/WGSL they translate to), the epilogue
// as JavaScript, the host steps of spatial.ts, and a loader that runs the
// passes as src/runtime/loss.ts does. It is text: nothing here runs a loss.

import { evaluate } from '../compiler/core/reference.ts';
import type { CompiledLoss } from '../runtime/loss.ts';
import { InputError } from '../compiler/core/errors.ts';
import { type Sizes, canonicalAxes, count, indexMap, sizesOf } from '../compiler/core/layout.ts';
import { type Node, type Op, isSpatial, sameAxes, toposort } from '../compiler/core/ir.ts';
import type { Dims } from '../compiler/core/layout.ts';
import { MEMORY, type Plan, isLarge } from '../compiler/plan/plan.ts';
import { record } from '../compiler/core/registry.ts';
import * as spatial from '../compiler/core/ops/f64-loops.ts';
import { type KernelSpec, emitPass, staticValues } from '../compiler/codegen/kernel.ts';

export type ModuleTarget = 'js' | 'glsl' | 'wgsl';

export interface ModuleText {
  source: string;
  /** Distinct kernels in the module (the value and gradient plans share equal ones). */
  kernels: number;
}

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/**
 * Each host op as a call of spatial.ts on canonical-order arrays (`outer`
 * slices of the spatial `dims`, `batch` of them along the batch axis). The registry's `ref` closures cannot be copied
 * (their text names imports as the loader that ran them rewrote it), so each
 * host op has its call here; a test checks that every host op of the registry does.
 */
export const HOST_CALLS: Partial<Record<Op, (xs: string[], n: Node, outer: number, dims: readonly number[], batch: number) => string>> = {
  edt: ([m], _n, outer, dims) => `edtRef(${m}, ${outer}, [${dims.join(', ')}])`,
  sorted: ([x, k], n, outer, dims, batch) => `sortedRef(${x}, ${k}, ${slices(n, outer, dims, batch)})`,
  unsort: ([x, k], n, outer, dims, batch) => `unsortRef(${x}, ${k}, ${slices(n, outer, dims, batch)})`,
  cumsum: ([x], n, outer, dims, batch) => `cumsumRef(${x}, ${slices(n, outer, dims, batch)})`,
};

/** The slices a sort or prefix sum runs along: per (batch, class), or per class across the batch (arg names batch). */
function slices(n: Node, outer: number, dims: readonly number[], batch: number): string {
  return `sortSlices(${outer}, ${prod(dims)}, ${(n.arg as readonly string[]).includes('batch') ? batch : 1})`;
}

/** A float64 as a JavaScript literal that reads back exactly (unlike kernel literals, ±∞ stay). */
function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '(-Infinity)';
  if (Object.is(v, -0)) return '(-0)';
  return v < 0 ? `(${v})` : String(v);
}

const list = (xs: ArrayLike<number>) => `[${Array.from(xs, num).join(', ')}]`;

/**
 * The functions of spatial.ts that the calls need, with those they call, as
 * source text (spatial.ts exports every function and imports nothing, so the
 * text of each is complete).
 */
function spatialFunctions(calls: readonly string[]): string[] {
  const all = new Map(Object.entries(spatial).filter(([, f]) => typeof f === 'function').map(([k, f]) => [k, String(f)]));
  const want = new Set<string>();
  const visit = (text: string) => {
    for (const name of all.keys()) {
      if (!want.has(name) && new RegExp(`\\b${name}\\b`).test(text)) { want.add(name); visit(all.get(name)!); }
    }
  };
  calls.forEach(visit);
  return [...want].sort().map((name) => all.get(name)!);
}

/**
 * One level of the epilogue as a function of V (node id → Float64Array):
 * elementwise ops through the registry's kernel emits, which are JavaScript
 * (here in float64); sums, maxes and broadcasts over the small axes through
 * index maps. Nodes that depend on no input are computed now, as literals.
 */
function emitEpilogue(nodes: readonly Node[], sizes: Sizes, statics: ReadonlyMap<number, number>, fixed: ReadonlySet<number>): string {
  if (nodes.length === 0) return 'function () {}';
  const lines: string[] = [];
  for (const n of nodes) {
    const len = count(n.axes, sizes);
    if (fixed.has(n.id)) {
      lines.push(`V[${n.id}] = Float64Array.of(${Array.from(evaluate([n], {}, sizes)[0]!.data, num).join(', ')});`);
      continue;
    }
    const src = (s: Node) => (statics.has(s.id) ? undefined : `V[${s.id}]`);
    if (n.op === 'expand' || n.op === 'sum' || n.op === 'max') {
      const s = n.src[0]!;
      const st = statics.get(s.id);
      if (n.op === 'expand' && st !== undefined) { lines.push(`V[${n.id}] = new Float64Array(${len}).fill(${num(st)});`); continue; }
      if (st !== undefined) throw new Error(`internal: a non-static ${n.op} of a static node`);
      if (n.op === 'expand') {
        const map = indexMap(n.axes, s.axes, sizes);
        lines.push(`{ const x = ${src(s)}, m = ${list(map)}, o = new Float64Array(${len}); for (let i = 0; i < ${len}; i++) o[i] = x[m[i]]; V[${n.id}] = o; }`);
      } else {
        const map = indexMap(s.axes, n.axes, sizes);
        const update = n.op === 'sum' ? 'o[m[i]] += x[i];' : '{ const j = m[i]; if (x[i] > o[j] || x[i] !== x[i]) o[j] = x[i]; }';
        lines.push(`{ const x = ${src(s)}, m = ${list(map)}, o = new Float64Array(${len}).fill(${n.op === 'sum' ? '0' : '-Infinity'}); for (let i = 0; i < x.length; i++) ${update} V[${n.id}] = o; }`);
      }
      continue;
    }
    const r = record(n.op);
    if (r.kind !== 'elementwise' || !r.emit) throw new Error(`internal: op '${n.op}' in the epilogue has no standalone form`);
    const body: string[] = [];
    const args = n.src.map((s, j) => {
      const st = statics.get(s.id);
      if (st !== undefined) return num(st);
      // Elementwise sources have the node's axes (broadcasts are explicit).
      if (!sameAxes(s.axes, n.axes)) throw new Error(`internal: elementwise ${n.op} over different axes`);
      body.push(`const x${j} = s${j}[i];`);
      return `x${j}`;
    });
    let k = 0;
    const expr = r.emit(args, { consts: n.src.map((s) => statics.get(s.id)), lit: num, bind: (e) => { const v = `t${k++}`; body.push(`const ${v} = ${e};`); return v; } });
    const arrays = n.src.flatMap((s, j) => (statics.has(s.id) ? [] : [`s${j} = ${src(s)}`]));
    lines.push(`{ const ${[...arrays, `o = new Float64Array(${len})`].join(', ')}; for (let i = 0; i < ${len}; i++) { ${[...body, `o[i] = ${expr};`].join(' ')} } V[${n.id}] = o; }`);
  }
  return `function (V) {\n${lines.map((l) => `        ${l}`).join('\n')}\n      }`;
}

interface KernelEntry { spec: KernelSpec; native: string | undefined }
/** A kernel built on the loss's backend: its gpu.js source and what gpu.js translated it to. */
interface Native { source: string; text: string }

/** The plan as a JavaScript object literal for the loader, its kernels added to `kernels`. */
function emitPlan(plan: Plan, values: Node | undefined, sizes: Sizes, dims: Dims, layout: CompiledLoss['layout'], target: ModuleTarget, kernels: KernelEntry[], natives: Native[] | undefined, hostCalls: string[]): string {
  const statics = staticValues(plan, sizes);
  const smallOffset = new Map<number, number>();
  let smallSize = 0;
  for (const n of plan.smallInputs) { smallOffset.set(n.id, smallSize); smallSize += count(n.axes, sizes); }
  const ctx = { sizes, dims, layout, smallOffset, statics, slots: plan.slots };
  const N = count(canonicalAxes(dims), sizes);
  const space = canonicalAxes(dims).filter(isSpatial).map((a) => sizes[a]);
  const order = toposort([plan.value, ...(plan.grad ? [plan.grad] : []), ...(values ? [values] : [])]);
  const usesInput = new Set<number>();
  for (const n of order) if (n.op === 'input' || n.src.some((s) => usesInput.has(s.id))) usesInput.add(n.id);
  const fixed = new Set(order.filter((n) => !usesInput.has(n.id)).map((n) => n.id));
  // The static reductions are known from the start; the rest once their pass has run.
  const have = new Set(statics.keys());
  const passes: string[] = [];
  let built = 0;
  const reduction = (r: Node) => `[${r.id}, ${r.op === 'max' ? 1 : 0}, ${r.axes.includes('batch') ? 1 : 0}, ${r.axes.includes('class') ? 1 : 0}, ${count(r.axes, sizes)}]`;
  for (const pass of plan.passes) {
    if (pass.kind === 'host') {
      const steps = pass.nodes.map((n) => {
        const call = HOST_CALLS[n.op];
        if (!call) throw new Error(`internal: host op '${n.op}' has no standalone call (add it to HOST_CALLS in src/tools/module.ts)`);
        const text = call(n.src.map((_, j) => `xs[${j}]`), n, N / prod(space), space, sizes.batch);
        hostCalls.push(text);
        const srcs = n.src.map((s) => (s.op === 'input' ? JSON.stringify(s.arg) : String(plan.slots.get(s.id)!.slot)));
        return `{ run: (xs) => ${text}, src: [${srcs.join(', ')}], slot: ${plan.slots.get(n.id)!.slot} }`;
      });
      passes.push(`{ host: [${steps.join(', ')}] }`);
      continue;
    }
    const spec = emitPass(plan, pass, ctx);
    const native = natives?.[built++];
    // The kernels built on the backend are the ones emitted here (same plan, same shape): check it.
    if (natives && native?.source !== spec.source) throw new Error(`internal: kernel ${built} built on the backend differs from the one emitted`);
    const code = target === 'js' ? spec.jsSource : spec.source;
    let k = kernels.findIndex((e) => (target === 'js' ? e.spec.jsSource : e.spec.source) === code && e.spec.output === spec.output && e.spec.width === spec.width && e.spec.loopMaxIterations === spec.loopMaxIterations);
    if (k === -1) k = kernels.push({ spec, native: native?.text }) - 1;
    // Arguments: the inputs the pass reads, then the small-values buffer when the kernel uses it.
    const reads = plan.reads.get(pass)!;
    const args = [...reads.map((x) => (x === MEMORY ? '#mem' : x)), ...(spec.inputs.length > reads.length ? ['#small'] : [])];
    for (const r of [...(spec.reduce?.reductions ?? []), ...spec.terms]) have.add(r.id);
    const pending = [...plan.level].filter(([id]) => !have.has(id)).map(([, l]) => l);
    const fields = [
      `kernel: ${k}`,
      `args: ${JSON.stringify(args)}`,
      `mapThreads: ${spec.mapThreads}`,
      `buffers: [${spec.buffers.map((b) => plan.slots.get(b.id)!.slot).join(', ')}]`,
      `reduce: ${spec.reduce ? `{ groups: ${spec.reduce.groups}, chunks: ${spec.reduce.chunks}, rs: [${spec.reduce.reductions.map(reduction).join(', ')}] }` : 'null'}`,
      `terms: ${spec.terms.length ? reduction(spec.terms[0]!) : 'null'}`,
      `finish: ${Math.min(plan.epilogue.length, ...pending) - 1}`,
    ];
    passes.push(`{ ${fields.join(', ')} }`);
  }
  const v = plan.value;
  const value = statics.has(v.id) ? `() => ${num(statics.get(v.id)!)}` : `(V) => V[${v.id}][0]`;
  // Under reduction 'none', the unreduced values (small: computed by the epilogue or a pass).
  const vs = !values ? 'null' : statics.has(values.id) ? `() => new Float64Array(${count(values.axes, sizes)}).fill(${num(statics.get(values.id)!)})` : `(V) => V[${values.id}]`;
  return `{
    slots: ${plan.slots.size},
    smallSize: ${smallSize},
    small: [${[...smallOffset].map(([id, off]) => `[${id}, ${off}]`).join(', ')}],
    passes: [
      ${passes.join(',\n      ')},
    ],
    epilogue: [
      ${plan.epilogue.map((nodes) => emitEpilogue(nodes, sizes, statics, fixed)).join(',\n      ')},
    ],
    value: ${value},
    values: ${vs},
  }`;
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
  // Per-pixel values live in the runtime's memory; the module's loader returns small ones only.
  if (ir.values && isLarge(ir.values)) throw new InputError(`reduction 'none' with per-pixel values (${ir.values.axes.join(', ')}) is not supported in standalone modules yet; use reduction mean or sum, or the runtime`);
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
  const hostCalls: string[] = [];
  const planText = {
    grad: emitPlan(plans.grad, ir.values, sizes, dims, loss.layout, target, kernels, natives.grad, hostCalls),
    value: emitPlan(plans.value, ir.values, sizes, dims, loss.layout, target, kernels, natives.value, hostCalls),
  };
  const N = count(canonicalAxes(dims), sizes);
  const SP = count(canonicalAxes(dims).filter(isSpatial), sizes);
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
      ? '// value(inputs) -> number; valueAndGrad(inputs, out?) -> { value, grad } with grad a Float32Array (in `out` when given),\n// and values (per sample and class) under reduction none.'
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
    `const N = ${N}, B = ${sizes.batch}, C = ${sizes.class}, SP = ${SP}, LAYOUT = ${JSON.stringify(loss.layout)}, PIXEL_MASK = ${pixelMask};`,
    '',
    `// The kernels: ${what}.`,
    'const KERNELS = [',
    ...kernelText,
    '];',
    'export const kernels = KERNELS.map((k) => k.fn);',
    ...(target === 'js' ? [] : [`export const ${target} = [\n${kernels.map((e) => `  ${template(e.native!.trimEnd())},`).join('\n')}\n];`]),
    '',
    '// The plans, value and gradient: per pass its kernel and what the host does with its output;',
    '// per level the epilogue, which computes the small values (node id -> Float64Array) between passes.',
    'const PLANS = {',
    `  grad: ${planText.grad},`,
    `  value: ${planText.value},`,
    '};',
    '',
    ...(hostCalls.length ? ['// Host steps, from src/compiler/core/ops/f64-loops.ts.', ...spatialFunctions(hostCalls), ''] : []),
    LOADER.trim(),
    '',
    target === 'js'
      ? 'const loss = createLoss();\nexport const value = loss.value;\nexport const valueAndGrad = loss.valueAndGrad;'
      : '',
  ];
  return { source: `${out.join('\n').trimEnd()}\n`, kernels: kernels.length };
}

/**
 * The loader: src/runtime/loss.ts's `steps`, `gatherPartials` and
 * `gatherTerms` for one shape, in plain JavaScript. A run is a generator that
 * yields each kernel call, so gpu.js kernels that return Promises (WebGPU) and
 * those that do not go through one path.
 */
const LOADER = String.raw`
// The loader: runs a plan's passes, gathers their partial sums, finishes the small values on the host.
function toF32(a, what) {
  if (!a || a.length !== N) throw new RangeError(what + ' must have ' + N + ' elements for shape [' + shape.join(', ') + '], got ' + (a ? a.length : 'none'));
  return a instanceof Float32Array ? a : Float32Array.from(a);
}

function checkInputs(given) {
  const x = {};
  for (const i of inputs) {
    const a = given && given[i.name];
    x[i.name] = i.name === 'mask' && PIXEL_MASK && a && a.length * C === N ? repeatClass(a) : toF32(a, "input '" + i.name + "' (" + i.role + ')');
  }
  return x;
}

// A per-pixel array (batch, space) repeated along class, in the layout.
function repeatClass(v) {
  const a = new Float32Array(N);
  for (let b = 0; b < B; b++) for (let s = 0; s < SP; s++) for (let c = 0; c < C; c++) a[LAYOUT === 'nhwc' ? (b * SP + s) * C + c : (b * C + c) * SP + s] = v[b * SP + s];
  return a;
}

// Between the layout and canonical order (batch, class, space), for the host steps.
function toCanonical(a) {
  const d = new Float64Array(N);
  if (LAYOUT === 'nchw') { d.set(a); return d; }
  for (let b = 0; b < B; b++) for (let s = 0; s < SP; s++) for (let c = 0; c < C; c++) d[(b * C + c) * SP + s] = a[(b * SP + s) * C + c];
  return d;
}
function fromCanonical(d) {
  const a = new Float32Array(N);
  if (LAYOUT === 'nchw') { a.set(d); return a; }
  for (let b = 0; b < B; b++) for (let s = 0; s < SP; s++) for (let c = 0; c < C; c++) a[(b * SP + s) * C + c] = d[(b * C + c) * SP + s];
  return a;
}

// Sum (or max) each reduction's partials over chunks, then over the (batch, class) groups it does not keep.
function gatherPartials(out, width, mapThreads, R, V) {
  // gpu.js returns Array(k) cells as small arrays; the plain JS kernels write them flattened.
  const flat = out instanceof Float32Array && width > 1;
  const at = (t, j) => {
    if (flat) return out[(mapThreads + t) * width + j];
    const cell = out[mapThreads + t];
    return typeof cell === 'number' ? cell : cell[j];
  };
  R.rs.forEach(([id, isMax, keepB, keepC, len], k) => {
    const part = Math.floor(k / 4), j = k % 4;
    const res = new Float64Array(len).fill(isMax ? -Infinity : 0);
    for (let g = 0; g < R.groups; g++) {
      let acc = isMax ? -Infinity : 0;
      const base = part * R.groups * R.chunks + g * R.chunks;
      for (let s = 0; s < R.chunks; s++) { const v = at(base + s, j); acc = isMax ? Math.max(acc, v) : acc + v; }
      const idx = (keepB ? Math.floor(g / C) * (keepC ? C : 1) : 0) + (keepC ? g % C : 0);
      res[idx] = isMax ? Math.max(res[idx], acc) : res[idx] + acc;
    }
    V[id] = res;
  });
}

// Add (or max) the per-element terms a map pass wrote after the gradient, by the (batch, class) axes kept.
function gatherTerms(out, M, [id, isMax, keepB, keepC, len], V) {
  const res = new Float64Array(len).fill(isMax ? -Infinity : 0);
  for (let i = 0; i < M; i++) {
    const c = LAYOUT === 'nhwc' ? i % C : Math.floor(i / SP) % C;
    const j = (keepB ? Math.floor(i / (SP * C)) * (keepC ? C : 1) : 0) + (keepC ? c : 0);
    res[j] = isMax ? Math.max(res[j], out[M + i]) : res[j] + out[M + i];
  }
  V[id] = res;
}

function* steps(P, runners, x, wantGrad, into) {
  const V = {};
  const small = new Float32Array(Math.max(1, P.smallSize));
  let ranUpTo = -1;
  const finish = (upTo) => {
    for (let l = ranUpTo + 1; l <= upTo; l++) P.epilogue[l](V);
    ranUpTo = Math.max(ranUpTo, upTo);
    for (const [id, off] of P.small) if (V[id]) small.set(V[id], off);
  };
  finish(0);
  // Every buffer in one array, slot k at elements [kN, (k+1)N).
  const mem = P.slots ? new Float32Array(P.slots * N) : undefined;
  const arg = (a) => (a === '#small' ? small : a === '#mem' ? mem : x[a]);
  let grad;
  for (const pass of P.passes) {
    if (pass.host) {
      for (const h of pass.host) {
        const xs = h.src.map((s) => toCanonical(typeof s === 'string' ? x[s] : mem.subarray(s * N, (s + 1) * N)));
        mem.set(fromCanonical(h.run(xs)), h.slot * N);
      }
      continue;
    }
    const k = KERNELS[pass.kernel];
    // The gradient goes straight to its destination when it is the kernel's whole output.
    const target = pass.mapThreads === k.output && k.width === 1 ? into || new Float32Array(N) : undefined;
    const out = yield { run: runners[pass.kernel], args: pass.args.map(arg), target };
    pass.buffers.forEach((slot, j) => mem.set(out.subarray(j * N, (j + 1) * N), slot * N));
    if (pass.mapThreads) {
      if (out === target) grad = out;
      else { grad = into || new Float32Array(N); grad.set(out.subarray(0, pass.mapThreads)); }
    }
    if (pass.reduce) gatherPartials(out, k.width, pass.mapThreads, pass.reduce, V);
    if (pass.terms) gatherTerms(out, pass.mapThreads, pass.terms, V);
    finish(pass.finish);
  }
  finish(P.epilogue.length - 1);
  const r = { value: P.value(V) };
  if (wantGrad) r.grad = grad || (into ? into.fill(0) : new Float32Array(N));
  if (P.values) r.values = P.values(V);
  return r;
}

// Run the steps: synchronously while kernels return arrays, awaiting once one returns a Promise.
function drive(gen) {
  let s = gen.next();
  while (!s.done) {
    const out = s.value.run(s.value.args, s.value.target);
    if (out && typeof out.then === 'function') return driveAsync(gen, out);
    s = gen.next(out);
  }
  return s.value;
}
async function driveAsync(gen, pending) {
  let s = gen.next(await pending);
  while (!s.done) s = gen.next(await s.value.run(s.value.args, s.value.target));
  return s.value;
}

function makeLoss(runners) {
  return {
    value(given) {
      const r = drive(steps(PLANS.value, runners, checkInputs(given), false));
      return typeof r.then === 'function' ? r.then((v) => v.value) : r.value;
    },
    valueAndGrad(given, out) {
      if (out !== undefined && (!(out instanceof Float32Array) || out.length !== N)) throw new RangeError('out must be a Float32Array of ' + N + ' elements');
      return drive(steps(PLANS.grad, runners, checkInputs(given), true, out));
    },
  };
}

/**
 * The loss on a gpu.js GPU (the glsl and wgsl targets; gpu.js options as the segloss runtime's),
 * or on the plain JavaScript kernels (the js target, where gpu is not used).
 */
export function createLoss(gpu) {
  if (target === 'js') {
    return makeLoss(KERNELS.map((k) => {
      let scratch;
      return (args, into) => {
        const out = into || (scratch = scratch || new Float32Array(k.output * k.width));
        k.fn(...args, out, 0, k.output);
        return out;
      };
    }));
  }
  if (!gpu || typeof gpu.createKernel !== 'function') throw new TypeError('createLoss needs a gpu.js GPU instance');
  const built = KERNELS.map((k) => gpu.createKernel(k.fn, { output: [k.output], loopMaxIterations: k.loopMaxIterations, precision: 'single', tactic: 'precision' }));
  const loss = makeLoss(built.map((kernel) => (args) => kernel(...args)));
  loss.kernels = built;
  loss.destroy = () => built.forEach((k) => k.destroy && k.destroy());
  return loss;
}
`;
