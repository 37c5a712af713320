// One pass of a plan, for one shape and layout, as a kernel: the scaffolding
// around the emitter's values (which thread computes what, how coordinates are
// decoded from the thread index, how reduce threads split the spatial range),
// built as statements (kernel-ir.ts) and printed for gpu.js and for the plain-JS
// thread loop.

import type { Axis, Node } from '../core/ir.ts';
import { F32_MAX } from '../core/numbers.ts';
import { type Sizes, canonicalAxes, count, layoutAxes } from '../core/layout.ts';
import type { MapPass, MaterializePass, Pass, Plan, ReducePass } from '../plan/plan.ts';
import { Emitter, type Scope } from './emitter.ts';
import { type Expr, type Stmt, THREAD, assign, constant, letVar, lit, loop, printGpuJs, printPlainJs, result, when } from './kernel-ir.ts';
import { type KernelSpec, type ReduceLayout, SMALL, type ShapeContext, inputVar } from './spec.ts';

/** Threads per reduce kernel to aim for: enough for a GPU and for webasm's worker pool (≥ 4096 cells). */
const TARGET_THREADS = 4096;

const SPATIAL: readonly Axis[] = ['z', 'y', 'x'];

/** `v * k`, without the `* 1`. */
const term = (v: string, k: number) => (k === 1 ? v : `${v} * ${k}`);

/**
 * CPU reduce layout (ShapeContext.cpu): each thread is a call with its own index
 * arithmetic and its partials are added on the host, so threads sum chunks of at
 * least CPU_MIN_CHUNK elements where the spatial extent allows, about CPU_THREADS
 * threads in all (never fewer than the groups; more elements per chunk past
 * that), in blocks of CPU_BLOCK: a chunk is a whole number of blocks, or the
 * whole spatial extent when it is one chunk.
 */
export const CPU_BLOCK = 256;
const CPU_MIN_CHUNK = 2048;
const CPU_THREADS = 256;

export interface ReduceShape { groups: number; chunks: number; chunkLen: number; spatial: number }

/** Choose chunks so that groups × chunks is about TARGET_THREADS (a GPU), or per the CPU layout above. */
export function reduceShape(sizes: Sizes, cpu = false): ReduceShape {
  const groups = sizes.batch * sizes.class;
  const spatial = count(SPATIAL, sizes);
  if (cpu) {
    const want = Math.max(1, Math.min(Math.floor(spatial / CPU_MIN_CHUNK), Math.ceil(CPU_THREADS / groups)));
    const chunkLen = want === 1 ? spatial : Math.ceil(spatial / want / CPU_BLOCK) * CPU_BLOCK;
    return { groups, chunks: Math.ceil(spatial / chunkLen), chunkLen, spatial };
  }
  const want = Math.max(1, Math.min(spatial, Math.ceil(TARGET_THREADS / groups)));
  const chunkLen = Math.ceil(spatial / want);
  return { groups, chunks: Math.ceil(spatial / chunkLen), chunkLen, spatial };
}

/** A coordinate's declaration, emitted only if a value reads the coordinate. */
interface Decl { axis: Axis; stmt: Stmt }

/**
 * The coordinates of element `i` of a full tensor in the user's layout. The
 * outermost one, of the thread index, is marked as constant over runs of threads.
 */
function decode(em: Emitter, i: Expr, prefix: string): { decls: Decl[]; coords: Map<Axis, Expr> } {
  const { ctx } = em;
  const axes = layoutAxes(ctx.layout, ctx.dims);
  const coords = new Map<Axis, Expr>();
  const decls: Decl[] = [];
  let stride = 1;
  for (let k = axes.length - 1; k >= 0; k--) {
    const a = axes[k]!;
    const size = ctx.sizes[a];
    if (size > 1) {
      const v = em.declare(`${prefix}${a}`);
      const q = stride === 1 ? i : `Math.floor(${i} / ${stride})`;
      decls.push({ axis: a, stmt: constant(v, k === 0 ? q : `${q} % ${size}`, k === 0 && stride > 1 && i === THREAD ? stride : undefined) });
      coords.set(a, v);
    }
    stride *= size;
  }
  return { decls, coords };
}

/**
 * One element per thread, in the user's layout: `i` is the element's index; the
 * statements end by returning node's value there. `guard`: the value of a term
 * at an element it does not cover (0 for a sum, −max for a max); undefined: no guard.
 */
function element(em: Emitter, i: Expr, prefix: string, node: Node, guard: Expr | undefined, compute = false): Stmt[] {
  const { decls, coords } = decode(em, i, prefix);
  const scope: Scope = { parent: undefined, body: [], memo: new Map(), coords, index: i, read: new Set() };
  let x = em.value(scope, node, compute);
  // A term without an axis the elements run over counts once, at coordinate 0.
  const missing = guard !== undefined ? [...coords.keys()].filter((a) => !node.axes.includes(a)) : [];
  if (missing.length) x = `(${missing.map((a) => `${em.coord(scope, a)} == 0`).join(' && ')} ? ${x} : ${guard})`;
  // Coordinates are decoded only where a value reads them (per-class sums do, BCE does not).
  return [...decls.filter((d) => scope.read!.has(d.axis)).map((d) => d.stmt), ...scope.body, result([x])];
}

/** Threads [0, N) write the gradient; with a term, threads [N, 2N) each element's term of the value's sum, for the host to add. */
function mapBody(em: Emitter, pass: MapPass, N: number): Stmt[] {
  const rs = pass.reductions;
  if (rs.length > 1) throw new Error('internal: a map pass carries at most one accumulator');
  const grad = element(em, THREAD, 'c_', pass.root, undefined);
  if (!rs.length) return grad;
  // No loop in the kernel: webasm's SIMD lanes run both sides of a divergent branch.
  const u = constant('u', `${THREAD} - ${N}`);
  return [when(`${THREAD} < ${N}`, grad), u, ...element(em, 'u', 'e_', rs[0]!.src[0]!, rs[0]!.op === 'max' ? lit(-F32_MAX) : '0.0')];
}

/** Buffer k of this pass is written by threads [kN, (k+1)N): one launch, one output. */
function materializeBody(em: Emitter, pass: MaterializePass, N: number): Stmt[] {
  const out: Stmt[] = [];
  pass.nodes.forEach((b, k) => {
    const body = element(em, k === 0 ? THREAD : `u${k}`, `c${k}_`, b, undefined, true);
    if (k > 0) body.unshift(constant(`u${k}`, `${THREAD} - ${k * N}`));
    if (k < pass.nodes.length - 1) out.push(when(`${THREAD} < ${(k + 1) * N}`, body));
    else out.push(...body);
  });
  return out;
}

/**
 * Reduce threads: (part, group, chunk), a group a (batch, class) pair, a chunk
 * a run of `chunkLen` spatial indices, a part up to 4 of the pass's reductions,
 * each thread returning its partial sums (or maxima).
 */
function reduceBody(em: Emitter, pass: ReducePass, width: number, mapThreads: number): { body: Stmt[]; reduce: ReduceLayout; loopMax: number } {
  const { ctx } = em;
  const rs = pass.reductions;
  const { groups, chunks, chunkLen, spatial } = reduceShape(ctx.sizes, ctx.cpu);
  // On a CPU a chunk runs in blocks: `for jb { for j < B }`, the inner loop the one wat-simd.ts vectorizes,
  // so its float32 lanes fold into the float64 sums every B elements however long the chunk.
  const B = Math.min(CPU_BLOCK, chunkLen);
  const blocks = Math.ceil(chunkLen / B);
  const parts = Math.ceil(rs.length / 4);
  const C = ctx.sizes.class;
  const lay = layoutAxes(ctx.layout, ctx.dims);
  // The spatial index r runs over (z, y, x) row-major; in either layout an
  // element's index is base(b, c) + r · strideR.
  const strideR = ctx.layout === 'nhwc' ? C : 1;
  const stride = (a: Axis) => count(lay.slice(lay.indexOf(a) + 1), ctx.sizes);
  const out: Stmt[] = [
    constant('u', `${THREAD} - ${mapThreads}`),
    constant('part', `Math.floor(u / ${groups * chunks})`),
    constant('w', `u - part * ${groups * chunks}`),
    constant('grp', `Math.floor(w / ${chunks})`),
    constant('chunk', `w - grp * ${chunks}`),
    constant('c_batch', C === 1 ? 'grp' : `Math.floor(grp / ${C})`),
    constant('c_class', C === 1 ? '0' : `grp - c_batch * ${C}`),
    constant('base', `${term('c_batch', stride('batch'))} + ${term('c_class', stride('class'))}`),
  ];
  for (let k = 0; k < parts; k++) {
    const mine = rs.slice(4 * k, 4 * k + 4);
    const body: Stmt[] = [];
    const acc = mine.map((r, j) => { body.push(letVar(`a${j}`, r.op === 'sum' ? '0.0' : lit(-F32_MAX))); return `a${j}`; });
    const coords = new Map<Axis, Expr>([['batch', 'c_batch'], ['class', 'c_class']]);
    const scope: Scope = { parent: undefined, body: [], memo: new Map(), coords, index: `base + ${term('r', strideR)}`, read: new Set() };
    // Spatial coordinates from r, declared only when a value reads them.
    const sp = SPATIAL.filter((a) => ctx.sizes[a] > 1);
    const decls: Decl[] = [];
    let sstride = 1;
    for (let q = sp.length - 1; q >= 0; q--) {
      const a = sp[q]!;
      decls.unshift({ axis: a, stmt: constant(`c_${a}`, `${sstride === 1 ? 'r' : `Math.floor(r / ${sstride})`}${q === 0 ? '' : ` % ${ctx.sizes[a]}`}`) });
      coords.set(a, `c_${a}`);
      sstride *= ctx.sizes[a];
    }
    mine.forEach((r, j) => {
      const x = em.value(scope, r.src[0]!);
      // A source without an axis the threads run over counts once, at coordinate 0.
      const missing = (['batch', 'class', ...SPATIAL] as Axis[]).filter((a) => ctx.sizes[a] > 1 && !r.src[0]!.axes.includes(a));
      const guard = missing.map((a) => `${em.coord(scope, a)} == 0`).join(' && ');
      const update = assign(`a${j}`, r.op === 'sum' ? `a${j} + ${x}` : `Math.max(a${j}, ${x})`);
      scope.body.push(guard ? when(guard, [update], true) : update);
    });
    const needed = decls.filter((d) => scope.read!.has(d.axis)).map((d) => d.stmt);
    const step = (r: Expr) => [constant('r', r), when(`r < ${spatial}`, [...needed, ...scope.body])];
    if (!ctx.cpu) body.push(loop('j', chunkLen, step(`chunk * ${chunkLen} + j`)));
    else body.push(loop('jb', blocks, [constant('rb', `chunk * ${chunkLen} + jb * ${B}`), loop('j', B, step('rb + j'))], true));
    body.push(result(width === 1 ? [acc[0]!] : Array.from({ length: width }, (_, j) => acc[j] ?? '0.0')));
    if (parts === 1) out.push(...body);
    else out.push(when(`part == ${k}`, body));
  }
  if (parts > 1) out.push(result(new Array(width).fill('0.0')));
  return { body: out, reduce: { reductions: rs, groups, chunks, parts }, loopMax: (ctx.cpu ? Math.max(B, blocks) : chunkLen) + 1 };
}

export function emitPass(plan: Plan, pass: Pass, ctx: ShapeContext): KernelSpec {
  if (pass.kind === 'host') throw new Error('internal: host steps have no kernel');
  const inputs = plan.reads.get(pass)!;
  const em = new Emitter(ctx);
  const N = count(canonicalAxes(ctx.dims), ctx.sizes);
  const mapThreads = pass.kind === 'map' ? N : 0;
  const width = pass.kind === 'map' || pass.reductions.length === 0 ? 1 : Math.min(4, pass.reductions.length);
  let body: Stmt[];
  let reduce: ReduceLayout | undefined;
  let loopMax = 0;
  if (pass.kind === 'map') body = mapBody(em, pass, N);
  else if (pass.kind === 'materialize') body = materializeBody(em, pass, N);
  else {
    const r = reduceBody(em, pass, width, mapThreads);
    body = r.body;
    reduce = r.reduce;
    loopMax = r.loopMax;
  }
  const args = [...inputs.map(inputVar), ...(em.usesSmall ? ['small'] : [])];
  const terms = pass.kind === 'map' ? pass.reductions : [];
  const made = pass.kind === 'materialize' ? pass.nodes.length * N : 0;
  const output = made + mapThreads + (reduce ? reduce.groups * reduce.chunks * reduce.parts : 0) + (terms.length ? N : 0);
  return {
    source: printGpuJs(args, body),
    jsSource: printPlainJs(args, body),
    args,
    body,
    inputs: [...inputs, ...(em.usesSmall ? [SMALL] : [])],
    output,
    width,
    loopMaxIterations: Math.max(1000, loopMax, ...[ctx.sizes.class, ctx.sizes.x, ctx.sizes.y, ctx.sizes.z].map((n) => n + 1)),
    mapThreads,
    reduce,
    terms,
    buffers: pass.kind === 'materialize' ? pass.nodes : [],
  };
}
