// The plan runner: one evaluation of a plan for one shape. It runs the passes
// in order (host steps on the host, kernels through the caller's runners),
// gathers each kernel's partial sums and per-element terms into the small
// values, finishes the small values level by level through the float64
// reference interpreter (core/reference.ts), and returns the loss, its gradient
// and, under reduction 'none', its unreduced values.
//
// Written once: CompiledLoss (runtime/loss.ts) runs it, and every standalone
// module (tools/module.ts) embeds it, bundled from this file with what it
// imports. So it imports only the compiler's pure core: nothing Node-specific,
// nothing gpu.js-specific. What it runs is a `Program`, plain data built per
// shape by runtime/program.ts (a module carries it as a literal: `encodeProgram`).

import { type Arg, type Axes, type Node, type Op, isSpatial, toposort } from '../compiler/core/ir.ts';
import { type Dims, type Layout, type Sizes, canonicalAxes, count, fromCanonical, indexMap, layoutAxes, toCanonical } from '../compiler/core/layout.ts';
import { evaluate, evaluator } from '../compiler/core/reference.ts';
import { record } from '../compiler/core/ops/index.ts';

/** Kernel arguments besides input names: the buffers' memory, and the small values. */
export const MEMORY_ARG = '#mem';
export const SMALL_ARG = '#small';

/** A reduction whose partials (reduce threads) or per-element terms (map threads) a kernel writes. */
export interface Gathered { id: number; op: 'sum' | 'max'; axes: Axes }

export interface KernelStep {
  kind: 'kernel';
  /** Which runner runs it. */
  kernel: number;
  /** Input names, MEMORY_ARG, SMALL_ARG. */
  args: readonly string[];
  /** Threads, and values per thread. */
  output: number;
  width: number;
  /** Threads [0, mapThreads) write the gradient. */
  mapThreads: number;
  /** Memory slots of the buffers it writes, in output order (buffer j at output elements [jN, (j+1)N)). */
  buffers: readonly number[];
  /** Reduce threads: blocks of up to 4 accumulators, per (batch, class) group and chunk. */
  reduce: { reductions: readonly Gathered[]; groups: number; chunks: number } | undefined;
  /** The reduction whose terms threads [mapThreads, 2·mapThreads) write. */
  terms: Gathered | undefined;
  /** The epilogue levels complete once it has run: up to this one. */
  finish: number;
}

/** Host ops (distance transforms, sorts, prefix sums) over whole arrays: each reads inputs (by name) or slots. */
export interface HostStep { kind: 'host'; ops: readonly { node: Node; from: readonly (string | number)[]; slot: number }[] }

export type Step = KernelStep | HostStep;

export interface Program {
  sizes: Sizes;
  dims: Dims;
  layout: Layout;
  /** Buffers in memory (each a full-size array). */
  slots: number;
  /** The small values kernels read: node id, offset in the small-values buffer. */
  small: readonly (readonly [number, number])[];
  smallSize: number;
  /** Small values fixed by the shape alone: node id, value, elements. */
  statics: readonly (readonly [number, number, number])[];
  steps: readonly Step[];
  /** The small nodes the host computes after each level (index = level). */
  epilogue: readonly (readonly Node[])[];
  /** The node whose (only) element is the loss. */
  value: number;
  /** Under reduction 'none': the unreduced values, small (from the epilogue) or full-size (in a buffer or an input). */
  values: { node: Node; from: string | number | undefined } | undefined;
}

/** What a kernel returns: a flat array, or (gpu.js, width > 1) one small array per thread. */
export type KernelOutput = Float32Array | ArrayLike<number | ArrayLike<number>>;
/** A kernel: its arguments, and where to write when the caller owns the output (else it may reuse scratch). */
export type Runner = (args: Float32Array[], target: Float32Array | undefined) => KernelOutput | PromiseLike<KernelOutput>;

/** Where full-size arrays come from. */
export interface Memory {
  /** An input as kernels read it. */
  input(name: string): Float32Array;
  /** A new full-size array a kernel or the host writes (shared memory when worker threads do). */
  alloc(length: number): Float32Array;
  /**
   * Optional: an array for the call's buffers, which the call may overwrite and does not hand out (not
   * zeroed: every slot is written before it is read). A caller that reuses them from call to call gives it.
   */
  scratch?(length: number): Float32Array;
  /** Optional: called once before the plan runs, after `scratch` is set (the wasm backend takes its inputs in and checks them). */
  prepare?(): void;
  /** Optional: a new working array (for `scratch`) where the kernels read and write in place (the wasm backend's memory). */
  work?(length: number): Float32Array;
  /**
   * Optional: where a kernel writes an output the call reads back (partial sums, a gradient with terms),
   * when the runners would otherwise share one scratch array between calls in flight (worker threads).
   */
  output?(length: number): Float32Array;
}

export interface RunResult { value: number; grad?: Float32Array; values?: Float64Array }

interface KernelCall { kernel: number; args: Float32Array[]; target: Float32Array | undefined }

/**
 * One evaluation. Synchronous while every kernel returns its output; once one
 * returns a Promise (WebGPU, worker threads) the rest is awaited and a Promise
 * of the result returned: one path for both.
 */
export function run(p: Program, kernels: readonly (Runner | undefined)[], memory: Memory, wantGrad: boolean, into?: Float32Array): RunResult | Promise<RunResult> {
  const gen = steps(p, memory, wantGrad, into);
  let handedOff = false;
  try {
    let s = gen.next();
    while (!s.done) {
      const out = call(kernels, s.value);
      if (isThenable(out)) { handedOff = true; return runAsync(gen, kernels, out); }
      s = gen.next(out);
    }
    return s.value;
  } finally {
    if (!handedOff) gen.return(undefined as never);
  }
}

async function runAsync(gen: Generator<KernelCall, RunResult, KernelOutput>, kernels: readonly (Runner | undefined)[], pending: PromiseLike<KernelOutput>): Promise<RunResult> {
  try {
    let s = gen.next(await pending);
    while (!s.done) s = gen.next(await call(kernels, s.value));
    return s.value;
  } finally {
    gen.return(undefined as never);
  }
}

function call(kernels: readonly (Runner | undefined)[], c: KernelCall): KernelOutput | PromiseLike<KernelOutput> {
  const k = kernels[c.kernel];
  if (!k) throw new Error(`internal: no kernel ${c.kernel}`);
  return k(c.args, c.target);
}

const isThenable = (x: unknown): x is PromiseLike<KernelOutput> => typeof (x as { then?: unknown } | null)?.then === 'function';

/** Per program, each epilogue level's evaluation, prepared on first use (core/reference.ts's `evaluator`). */
const epilogues = new WeakMap<Program, ((vals: Map<number, Float64Array>) => void)[]>();
const epilogueOf = (p: Program) => {
  let e = epilogues.get(p);
  if (!e) epilogues.set(p, (e = []));
  return e;
};

/** The evaluation as a generator: it yields each kernel call and receives its output. */
function* steps(p: Program, memory: Memory, wantGrad: boolean, into: Float32Array | undefined): Generator<KernelCall, RunResult, KernelOutput> {
  const { sizes, dims, layout } = p;
  const N = count(canonicalAxes(dims), sizes);
  const given = new Map<number, Float64Array>();
  for (const [id, v, len] of p.statics) given.set(id, new Float64Array(len).fill(v));
  const small = new Float32Array(Math.max(1, p.smallSize));
  let ranUpTo = -1;
  const levels = epilogueOf(p);
  const finish = (upTo: number) => {
    for (let l = ranUpTo + 1; l <= upTo; l++) {
      const nodes = p.epilogue[l]!;
      if (!nodes.length) continue;
      // Prepared on the first call, from what is known at this level then (the same on every call).
      levels[l] ??= evaluator(nodes, sizes, (n) => given.has(n.id));
      levels[l]!(given);
    }
    ranUpTo = Math.max(ranUpTo, upTo);
    for (const [id, off] of p.small) {
      const v = given.get(id);
      if (v) small.set(v, off);
    }
  };
  finish(0);
  // Every buffer in one array (one kernel binding), slot k at elements [kN, (k+1)N).
  const mem = p.slots ? (memory.scratch ? memory.scratch(p.slots * N) : memory.alloc(p.slots * N)) : undefined;
  const slot = (k: number) => mem!.subarray(k * N, (k + 1) * N);
  const arg = (a: string) => (a === SMALL_ARG ? small : a === MEMORY_ARG ? mem! : memory.input(a));
  let grad: Float32Array | undefined;
  for (const step of p.steps) {
    if (step.kind === 'host') {
      // On canonical-order arrays, per (batch, class) slice of the spatial axes.
      const space = canonicalAxes(dims).filter(isSpatial).map((a) => sizes[a]);
      for (const { node, from, slot: to } of step.ops) {
        const xs = from.map((s) => toCanonical(typeof s === 'string' ? memory.input(s) : slot(s), layout, sizes, dims));
        const d = record(node.op).ref!(xs, node, N / space.reduce((a, b) => a * b, 1), space, sizes.batch);
        mem!.set(fromCanonical(d, layout, sizes, dims, (m) => new Float32Array(m)), to * N);
      }
      continue;
    }
    // The gradient goes straight to its destination when it is the kernel's whole output.
    const ownsOutput = step.mapThreads === step.output && step.width === 1;
    // A pass that writes buffers only, to consecutive slots (plan.ts assigns them so), writes them in place:
    // no scratch output and no copy. It never reads those slots (they hold nothing live).
    const first = step.buffers[0] ?? 0;
    const inPlace = mem !== undefined && step.buffers.length > 0 && step.mapThreads === 0 && !step.reduce && !step.terms && step.width === 1 &&
      step.output === step.buffers.length * N && step.buffers.every((k, j) => k === first + j);
    const target = ownsOutput ? (into ?? memory.alloc(N)) : inPlace ? mem.subarray(first * N, (first + step.buffers.length) * N) : memory.output?.(step.output * step.width);
    const out = yield { kernel: step.kernel, args: step.args.map(arg), target };
    if (!inPlace || out !== target) step.buffers.forEach((k, j) => mem!.set((out as Float32Array).subarray(j * N, (j + 1) * N), k * N));
    if (step.mapThreads) {
      // Otherwise the kernel's array may be reused scratch or hold terms too: copy the gradient out.
      // (A gradient written in place is the target itself: no copy of it onto itself.)
      const g = ownsOutput && out === target ? target : (out as Float32Array).subarray(0, step.mapThreads);
      grad = g === target ? g : (into ?? new Float32Array(N));
      if (grad !== g) grad.set(g);
    }
    if (step.reduce) gatherPartials(out, step, sizes, given);
    if (step.terms) gatherTerms(out as Float32Array, step.mapThreads, step.terms, p, given);
    finish(step.finish);
  }
  finish(p.epilogue.length - 1);
  const value = given.get(p.value)?.[0];
  if (value === undefined) throw new Error('internal: the plan did not compute the loss value');
  const r: RunResult = { value };
  if (wantGrad) r.grad = grad ?? into?.fill(0) ?? new Float32Array(N);
  const vs = p.values;
  if (vs) {
    if (vs.from === undefined) r.values = evaluate([vs.node], {}, sizes, given)[0]!.data;
    else {
      const data = typeof vs.from === 'string' ? memory.input(vs.from) : slot(vs.from);
      r.values = valuesOut(toCanonical(data, layout, sizes, dims), canonicalAxes(dims), vs.node.axes, sizes, dims, layout);
    }
  }
  return r;
}

/**
 * Sum (or max) each reduction's partials over chunks, then over the (batch,
 * class) groups the reduction does not keep; store canonical-order results.
 */
function gatherPartials(out: KernelOutput, step: KernelStep, sizes: Sizes, given: Map<number, Float64Array>): void {
  const { reductions, groups, chunks } = step.reduce!;
  const { width, mapThreads } = step;
  // gpu.js returns Array(k) cells as small arrays (or numbers); the plain JS kernels write them flattened.
  const flat = out instanceof Float32Array;
  const at = (t: number, j: number): number => {
    const cell = out[mapThreads + t]!;
    return typeof cell === 'number' ? cell : cell[j]!;
  };
  const C = sizes.class;
  for (let k = 0; k < reductions.length; k++) {
    const r = reductions[k]!;
    const part = Math.floor(k / 4);
    const j = k % 4;
    const isMax = r.op === 'max';
    const keepB = r.axes.includes('batch');
    const keepC = r.axes.includes('class');
    const res = new Float64Array(count(r.axes, sizes)).fill(isMax ? -Infinity : 0);
    for (let g = 0; g < groups; g++) {
      let acc = isMax ? -Infinity : 0;
      const base = part * groups * chunks + g * chunks;
      if (flat) {
        // A tight loop over the flat array (no closure per partial): the same values in the same order.
        const o = out as Float32Array;
        let i = (mapThreads + base) * width + j;
        if (isMax) for (let s = 0; s < chunks; s++, i += width) acc = Math.max(acc, o[i]!);
        else for (let s = 0; s < chunks; s++, i += width) acc += o[i]!;
      } else if (isMax) for (let s = 0; s < chunks; s++) acc = Math.max(acc, at(base + s, j));
      else for (let s = 0; s < chunks; s++) acc += at(base + s, j);
      const b = Math.floor(g / C);
      const c = g % C;
      const idx = (keepB ? b * (keepC ? C : 1) : 0) + (keepC ? c : 0);
      res[idx] = isMax ? Math.max(res[idx]!, acc) : res[idx]! + acc;
    }
    given.set(r.id, res);
  }
}

/** Add (or max) the per-element terms a map kernel wrote after the gradient, by the (batch, class) axes kept. */
function gatherTerms(out: Float32Array, N: number, r: Gathered, p: Program, given: Map<number, Float64Array>): void {
  const isMax = r.op === 'max';
  const res = new Float64Array(count(r.axes, p.sizes)).fill(isMax ? -Infinity : 0);
  if (r.axes.length === 0) {
    let acc = isMax ? -Infinity : 0;
    if (isMax) for (let i = N; i < 2 * N; i++) acc = Math.max(acc, out[i]!);
    else for (let i = N; i < 2 * N; i++) acc += out[i]!;
    res[0] = acc;
  } else {
    // Index of each element's (batch, class) slot in the result, through the layout.
    const map = indexMap(layoutAxes(p.layout, p.dims), r.axes, p.sizes);
    for (let i = 0; i < N; i++) { const j = map[i]!; res[j] = isMax ? Math.max(res[j]!, out[N + i]!) : res[j]! + out[N + i]!; }
  }
  given.set(r.id, res);
}

/**
 * Per-pixel values (reduction none) from canonical data with axes `from`: with every axis, in the
 * layout (the prediction's shape); with fewer (no class), batch-major over the axes they keep.
 */
export function valuesOut(data: ArrayLike<number>, from: Axes, axes: Axes, sizes: Sizes, dims: Dims, layout: Layout): Float64Array {
  const own = new Float64Array(count(axes, sizes));
  const map = indexMap(from, axes, sizes);
  for (let i = 0; i < data.length; i++) own[map[i]!] = data[i]!;
  if (axes.length !== canonicalAxes(dims).length) return own;
  return fromCanonical(own, layout, sizes, dims, (n) => new Float64Array(n));
}

/** A per-pixel array (the layout without its class axis) repeated along class: a mask given once per pixel. */
export function repeatClass(v: ArrayLike<number>, layout: Layout, sizes: Sizes, dims: Dims): Float32Array {
  const axes = layoutAxes(layout, dims);
  const full = count(axes, sizes);
  const out = new Float32Array(full);
  const map = indexMap(axes, axes.filter((a) => a !== 'class'), sizes);
  for (let i = 0; i < full; i++) out[i] = v[map[i]!]!;
  return out;
}

// ------------------------------------------------------------------ as data

/**
 * A node as data: [id, op, source ids, arg, axes]; [id, axes] for a node whose
 * value is always given when the epilogue meets it (a gathered reduction, a
 * static), so its sources are not needed.
 */
export type NodeRow = readonly [number, Op, readonly number[], Arg, Axes] | readonly [number, Axes];

/** A Program with nodes as ids into a table of rows: what a standalone module holds. */
export interface ProgramData extends Omit<Program, 'steps' | 'epilogue' | 'values'> {
  nodes: readonly NodeRow[];
  values: { node: number; from: string | number | undefined } | undefined;
  steps: readonly (KernelStep | { kind: 'host'; ops: readonly { node: number; from: readonly (string | number)[]; slot: number }[] })[];
  epilogue: readonly (readonly number[])[];
}

/** The program as plain data, the graph cut where the epilogue stops (at values it is given). */
export function encodeProgram(p: Program): ProgramData {
  const given = new Set<number>(p.statics.map(([id]) => id));
  for (const s of p.steps) if (s.kind === 'kernel') for (const r of [...(s.reduce?.reductions ?? []), ...(s.terms ? [s.terms] : [])]) given.add(r.id);
  const hosts = new Set(p.steps.flatMap((s) => (s.kind === 'host' ? s.ops.map((o) => o.node.id) : [])));
  // Full-size values are read from memory, not computed here.
  if (p.values && p.values.from !== undefined) given.add(p.values.node.id);
  const roots = [...p.epilogue.flat(), ...p.steps.flatMap((s) => (s.kind === 'host' ? s.ops.map((o) => o.node) : [])), ...(p.values ? [p.values.node] : [])];
  // Host ops read their sources through `from`: their rows need no sources either.
  const nodes = toposort(roots, (n) => given.has(n.id) || hosts.has(n.id));
  return {
    ...p,
    nodes: nodes.map((n): NodeRow => (given.has(n.id) && !hosts.has(n.id) ? [n.id, n.axes] : [n.id, n.op, hosts.has(n.id) ? [] : n.src.map((s) => s.id), n.arg, n.axes])),
    steps: p.steps.map((s) => (s.kind === 'kernel' ? s : { kind: 'host', ops: s.ops.map((o) => ({ ...o, node: o.node.id })) })),
    epilogue: p.epilogue.map((level) => level.map((n) => n.id)),
    values: p.values && { node: p.values.node.id, from: p.values.from },
  };
}

/** The program back from data (its nodes objects again, sources linked). */
export function decodeProgram(d: ProgramData): Program {
  const byId = new Map<number, Node>();
  for (const row of d.nodes) {
    // A cut node evaluates to an error: the executor never asks (its value is given first).
    const n: Node = row.length === 2
      ? { id: row[0], op: 'given' as Op, src: [], arg: undefined, axes: row[1] }
      : { id: row[0], op: row[1], src: row[2].map((id) => byId.get(id)!), arg: row[3], axes: row[4] };
    byId.set(n.id, n);
  }
  const { nodes: _, ...rest } = d;
  return {
    ...rest,
    steps: d.steps.map((s): Step => (s.kind === 'kernel' ? s : { kind: 'host', ops: s.ops.map((o) => ({ ...o, node: byId.get(o.node)! })) })),
    epilogue: d.epilogue.map((level) => level.map((id) => byId.get(id)!)),
    values: d.values && { node: byId.get(d.values.node)!, from: d.values.from },
  };
}
