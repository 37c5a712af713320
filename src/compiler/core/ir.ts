// The IR: immutable, hash-consed nodes {op, src, arg, axes} over named axes.
// Structurally equal nodes are one object, so common subexpressions are shared
// for free. Broadcasting is an explicit `expand` node; `sum` is its transpose.

export type Axis = 'batch' | 'class' | 'z' | 'y' | 'x';
/** The canonical axis order: every axis list in the IR is sorted by it. */
export const AXIS_ORDER: readonly Axis[] = ['batch', 'class', 'z', 'y', 'x'];
const RANK: Record<Axis, number> = { batch: 0, class: 1, z: 2, y: 3, x: 4 };

export type Axes = readonly Axis[];

export function isAxis(s: string): s is Axis {
  return s in RANK;
}

export function sortAxes(axes: Iterable<Axis>): Axes {
  return [...new Set(axes)].sort((a, b) => RANK[a] - RANK[b]);
}
export function unionAxes(...sets: Axes[]): Axes {
  return sortAxes(sets.flat());
}
export function minusAxes(a: Axes, b: Axes): Axes {
  return a.filter((x) => !b.includes(x));
}
export function sameAxes(a: Axes, b: Axes): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
export function hasAxes(a: Axes, sub: Axes): boolean {
  return sub.every((x) => a.includes(x));
}

/** Every op of the IR. Semantics, gradients and emits live in its record (core/ops/). */
/**
 * The ops' names. Each record file of core/ops/ adds its own ops here
 * (declaration merging: `declare module '../ir.ts' { interface OpNames { … } }`),
 * so an op is named where it is defined, and core/ops/index.ts's table must
 * hold a record for every name.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by the record files.
export interface OpNames {}
export type Op = keyof OpNames & string;

/**
 * `const`: arg = the value. `input`: arg = the input's name. `size`: arg = the
 * axes whose sizes it multiplies (known only at run time). `sum`/`max`: arg =
 * the axes removed. `window`: the 1-D weights, the one spatial axis they run
 * along, and their spacing (WindowArg). `maxpool`, `poolarg`, `poolgrad`: the window
 * width. `interior`: [width, scale level]. `avgpool2`: the scale level of its
 * source; `unpool2` (its adjoint): the scale level of its result. Other ops: no arg.
 *
 * Scale levels: a value at level s lives on the full grid but means something
 * only at the points whose spatial coordinates are multiples of 2^s (image
 * index k ↔ coordinate k·2^s, k < ceil(n/2^s) per axis); the spatial ops that
 * make level-s values give 0 elsewhere.
 */
export type Arg = number | string | Axes | readonly number[] | WindowArg | undefined;

/**
 * A 1-D symmetric window along `axis`: taps at offsets (t − h)·dilation, dilation = 2^level of
 * its source. A d-dimensional window is d of these, nested (B.window): k taps per axis, not k^d.
 */
export interface WindowArg { readonly weights: readonly number[]; readonly axis: Axis; readonly dilation: number }

export const SPATIAL: Axes = ['z', 'y', 'x'];
export const isSpatial = (a: Axis) => a === 'z' || a === 'y' || a === 'x';

export interface Node {
  readonly id: number;
  readonly op: Op;
  readonly src: readonly Node[];
  readonly arg: Arg;
  readonly axes: Axes;
}

// The intern table holds its nodes weakly: a node lives as long as a graph that
// uses it (a compiled loss, a pass's result), so compile-and-dispose cycles in a
// long-lived process leave nothing behind. Identity still holds for every live
// node; a node rebuilt after its collection gets a fresh id (ids are never
// reused, so a memo keyed by a dead node's id can miss but never mismatch).
const table = new Map<string, WeakRef<Node>>();
const reaper = new FinalizationRegistry<string>((key) => {
  // The key may have been taken since by a newer node of the same structure.
  if (table.get(key)?.deref() === undefined) table.delete(key);
});
let nextId = 0;
/** Calls of intern() so far, hits included: the work a pass did building nodes (lowering's size bound). */
let calls = 0;
export const internCalls = (): number => calls;

/** How many nodes the intern table holds (live ones, plus dead ones not yet reaped): for memory tests. */
export function internedCount(): number {
  return table.size;
}

function argKey(arg: Arg): string {
  if (arg === undefined) return '';
  if (typeof arg === 'number') return Object.is(arg, -0) ? 'n-0' : `n${arg}`;
  if (typeof arg === 'string') return `s${arg}`;
  if ('weights' in arg) return `w${arg.axis}${arg.dilation}:${arg.weights.join(',')}`;
  return `a${arg.join(',')}`;
}

/** The one constructor: returns the existing node when an equal one exists. */
export function intern(op: Op, src: readonly Node[], arg: Arg, axes: Axes): Node {
  calls++;
  const key = `${op}|${argKey(arg)}|${src.map((s) => s.id).join(',')}|${axes.join(',')}`;
  let n = table.get(key)?.deref();
  if (!n) {
    n = Object.freeze({ id: nextId++, op, src: Object.freeze([...src]), arg, axes: Object.freeze([...axes]) as Axes });
    table.set(key, new WeakRef(n));
    reaper.register(n, key);
  }
  return n;
}

/** Nodes reachable from the roots, each once, every node after its sources; `stop` nodes are not descended into. */
export function toposort(roots: readonly Node[], stop?: (n: Node) => boolean): Node[] {
  const seen = new Set<number>();
  const out: Node[] = [];
  const stack: [Node, boolean][] = roots.map((r) => [r, false] as [Node, boolean]).reverse();
  while (stack.length) {
    const [n, done] = stack.pop()!;
    if (done) { out.push(n); continue; }
    if (seen.has(n.id)) continue;
    seen.add(n.id);
    stack.push([n, true]);
    if (stop?.(n)) continue;
    for (let i = n.src.length - 1; i >= 0; i--) if (!seen.has(n.src[i]!.id)) stack.push([n.src[i]!, false]);
  }
  return out;
}

/** Rebuild a graph bottom-up: `f` receives each node with its already-rebuilt sources. */
export function rewrite(roots: readonly Node[], f: (n: Node, src: readonly Node[]) => Node): Node[] {
  const memo = new Map<number, Node>();
  for (const n of toposort(roots)) memo.set(n.id, f(n, n.src.map((s) => memo.get(s.id)!)));
  return roots.map((r) => memo.get(r.id)!);
}

/** Operations in a graph: nodes that compute (not leaves, not broadcasts, which are indexing). */
export function opCount(roots: readonly Node[]): number {
  return toposort(roots).filter((n) => n.src.length > 0 && n.op !== 'expand').length;
}

/** The constant a node holds everywhere, looking through broadcasting. */
export function constOf(n: Node): number | undefined {
  if (n.op === 'const') return n.arg as number;
  if (n.op === 'expand') return constOf(n.src[0]!);
  return undefined;
}
