// The planner: splits the value+gradient graph into passes over the full-size
// tensors. Reductions that remove spatial axes ("pass reductions") end a pass;
// all those at one dependency level share one reduce kernel (one read of the
// inputs, many accumulators). Small per-sample/per-class values are finished on
// the host between passes (the epilogue), and one map kernel writes the gradient.
// Full-size values that a stencil reads at shifted positions (a window of a
// window) or that the host needs (a distance transform's mask) are buffers:
// a materialize pass writes them, later passes read them like inputs.
// The plan depends on axes only, not on sizes: codegen specializes it per shape.

import { type Axis, type Node, toposort } from '../core/ir.ts';
import { record } from '../core/ops/index.ts';
import { BUFFER_ABOVE, recomputeOps } from '../core/cost.ts';

const SPATIAL: readonly Axis[] = ['z', 'y', 'x'];

/** Has a spatial axis: lives only inside kernels (or is the gradient they write). */
export const isLarge = (n: Node) => n.axes.some((a) => SPATIAL.includes(a));

/** A reduction whose source is full-size and whose result is small: it needs a pass. */
export const isPassReduction = (n: Node) => (n.op === 'sum' || n.op === 'max') && isLarge(n.src[0]!) && !isLarge(n);

/**
 * Static: depends on constants and sizes only, so codegen folds it to a literal
 * for the shape at hand (1 / size[y, x] is a number once the shape is known).
 */
export function staticNodes(roots: readonly Node[]): Set<number> {
  const out = new Set<number>();
  // Depends on the shape alone (no input): a scalar of these is a number once the shape is known,
  // however it is computed (SSIM's count of valid window positions, sum[space](interior(11))).
  const shapeOnly = new Set<number>();
  for (const n of toposort(roots)) {
    const r = record(n.op);
    if (n.op !== 'input' && r.kind !== 'host' && n.src.every((s) => shapeOnly.has(s.id))) shapeOnly.add(n.id);
    // Spatial ops are never static: a window of a constant is not constant near the border.
    const spatialOp = r.kind === 'stencil' || r.kind === 'host';
    if (n.op === 'const' || n.op === 'size' || (!spatialOp && n.op !== 'input' && n.src.length > 0 && n.src.every((s) => out.has(s.id)))) out.add(n.id);
    else if (n.axes.length === 0 && shapeOnly.has(n.id)) out.add(n.id);
  }
  return out;
}

export interface ReducePass {
  kind: 'reduce';
  level: number;
  /** The pass reductions this pass computes, each one accumulator. */
  reductions: Node[];
}

export interface MapPass {
  kind: 'map';
  level: number;
  /** The full-size root this pass writes (the gradient). */
  root: Node;
  /** Pass reductions computed in the same launch, by extra threads (value sums the map does not need). */
  reductions: Node[];
}

/** Writes full-size buffers (all those of one level, one launch). */
export interface MaterializePass {
  kind: 'materialize';
  level: number;
  nodes: Node[];
  reductions: Node[];
}

/** Host steps on buffers: exact distance transforms. */
export interface HostPass {
  kind: 'host';
  level: number;
  nodes: Node[];
  reductions: Node[];
}

export type Pass = ReducePass | MapPass | MaterializePass | HostPass;

/** The sources (by index) a stencil reads at shifted positions (its record's `shifted`). */
const shiftedSources = (n: Node): readonly number[] => record(n.op).shifted ?? [];
/**
 * Reads its sources at other positions (a stencil) or whole (a host op): never recomputed per tap of another
 * stencil. The interior mask reads none: a formula of the coordinates, recomputed wherever it is needed.
 */
const isSpatialOp = (n: Node) => { const r = record(n.op); return r.kind === 'host' || (r.kind === 'stencil' && r.shifted.length > 0); };
/** Runs on the host over whole arrays (distance transforms, sorts, prefix sums). */
export const isHostOp = (n: Node) => record(n.op).kind === 'host';

/**
 * Where a buffer lives: every buffer has a slot in one memory array, elements
 * [slot·N, (slot+1)·N), read through one binding `#mem` (input names are
 * identifiers, so no clash): a kernel's bindings stay few however many
 * buffers it reads (WebGPU allows 8 storage buffers per stage).
 */
export interface BufferSlot { region: string; slot: number }
export const MEMORY = '#mem';

export interface Plan {
  value: Node;
  /** Absent in a value-only plan. */
  grad: Node | undefined;
  /** More roots the plan computes for the caller (a loss's unreduced values under reduction 'none'). */
  extras: readonly Node[];
  passes: Pass[];
  /** Small nodes the host computes after each level (index = level), in dependency order. */
  epilogue: Node[][];
  /** Small nodes the kernels read, computed by the epilogue or a reduce pass. */
  smallInputs: Node[];
  /** The full-size inputs each pass reads. */
  reads: Map<Pass, string[]>;
  /** Nodes that depend on constants and sizes only (literals once the shape is known). */
  static: Set<number>;
  /** The dependency level of each pass reduction. */
  level: Map<number, number>;
  /** Full-size nodes materialized in memory. */
  buffers: Set<number>;
  slots: Map<number, BufferSlot>;
}

/** `extras`: more small values the epilogue computes (a loss's unreduced values). */
export function plan(value: Node, grad: Node | undefined, extras: readonly Node[] = []): Plan {
  const roots = grad ? [value, grad, ...extras] : [value, ...extras];
  const order = toposort(roots);
  const stat = staticNodes(roots);
  const isInlineSmall = (n: Node) => stat.has(n.id);
  const buffers = findBuffers(order);
  // Unreduced values per pixel (reduction none) are written to memory, where the runtime reads them.
  for (const e of extras) if (isLarge(e) && e.op !== 'input') buffers.add(e.id);
  // level(n): how many passes must finish before n can be computed.
  const level = new Map<number, number>();
  for (const n of order) {
    const l = Math.max(0, ...n.src.map((s) => level.get(s.id)!));
    level.set(n.id, (isPassReduction(n) && !stat.has(n.id)) || buffers.has(n.id) ? l + 1 : l);
  }
  const lv = (n: Node) => level.get(n.id)!;
  // A static reduction is folded per shape (runtime/program.ts's staticValues), not run as a pass.
  const reductions = order.filter((n) => isPassReduction(n) && !stat.has(n.id));
  const bufferNodes = order.filter((n) => buffers.has(n.id));
  const maxLevel = [...reductions, ...bufferNodes].reduce((m, n) => Math.max(m, lv(n)), 0);

  const passes: Pass[] = [];
  const gradLevel = grad && isLarge(grad) ? lv(grad) : -1;
  const mapPass: MapPass | undefined = grad && isLarge(grad) ? { kind: 'map', level: gradLevel, root: grad, reductions: [] } : undefined;
  for (let l = 1; l <= maxLevel; l++) {
    const made = bufferNodes.filter((b) => lv(b) === l);
    const kernelMade = made.filter((b) => !isHostOp(b));
    if (kernelMade.length) passes.push({ kind: 'materialize', level: l, nodes: kernelMade, reductions: [] });
    if (made.length > kernelMade.length) passes.push({ kind: 'host', level: l, nodes: made.filter(isHostOp), reductions: [] });
    const rs = reductions.filter((r) => lv(r) === l);
    if (rs.length === 0) continue;
    // The map pass needs passes up to its own level; a reduce pass after it can
    // ride in the same launch when it has a single accumulator (BCE's mean).
    if (mapPass && l === gradLevel + 1 && rs.length === 1) {
      mapPass.reductions = rs;
      continue;
    }
    passes.push({ kind: 'reduce', level: l, reductions: rs });
  }
  if (mapPass && mapPass.reductions.length) {
    // Before the passes that need the reductions it computes.
    const idx = passes.findIndex((p) => p.level > gradLevel + 1 || (p.level === gradLevel + 1 && p.kind === 'reduce'));
    passes.splice(idx === -1 ? passes.length : idx, 0, mapPass);
  } else if (mapPass) {
    passes.push(mapPass);
  }

  // Small nodes read by kernels: reached from a pass's roots through large nodes.
  const smallInputs = new Set<Node>();
  const reads = new Map<Pass, string[]>();
  // The last pass that reads each buffer: its slot is free for the passes after it.
  const lastRead = new Map<number, number>();
  for (const [i, p] of passes.entries()) {
    const roots =
      p.kind === 'map' ? [p.root, ...p.reductions.map((r) => r.src[0]!)]
      : p.kind === 'reduce' ? p.reductions.map((r) => r.src[0]!)
      : p.kind === 'materialize' ? p.nodes.flatMap((b) => b.src)
      : p.nodes.flatMap((b) => b.src);
    const inputs = new Set<string>();
    const seen = new Set<number>();
    // With a stack, not recursion: a chain of 100,000 elementwise ops is one kernel's body.
    const stack = [...roots];
    while (stack.length) {
      const n = stack.pop()!;
      if (seen.has(n.id)) continue;
      seen.add(n.id);
      if (n.op === 'input') { inputs.add(n.arg as string); continue; }
      if (buffers.has(n.id)) { inputs.add(MEMORY); lastRead.set(n.id, i); continue; }
      if (p.kind === 'host') throw new Error('internal: a host step reads a value that is not in memory');
      if (!isLarge(n) && !isInlineSmall(n) && n.op !== 'expand') { smallInputs.add(n); continue; }
      if (n.op === 'expand' && !isLarge(n.src[0]!) && !isInlineSmall(n.src[0]!)) { smallInputs.add(n.src[0]!); continue; }
      stack.push(...n.src);
    }
    reads.set(p, [...inputs].sort());
  }
  const slots = assignSlots(passes, lastRead, new Set(extras.map((e) => e.id)));

  // The epilogue: small nodes that the value or a kernel needs, by level, not
  // counting the pass reductions themselves (their passes produce them).
  const needed = new Set<number>();
  const stack = [value, ...extras, ...smallInputs];
  while (stack.length) {
    const n = stack.pop()!;
    if (needed.has(n.id) || isLarge(n) || isInlineSmall(n)) continue;
    needed.add(n.id);
    if (!isPassReduction(n)) stack.push(...n.src);
  }
  const epilogue: Node[][] = Array.from({ length: maxLevel + 1 }, () => []);
  for (const n of order) if (needed.has(n.id) && !isPassReduction(n)) epilogue[lv(n)]!.push(n);

  const levels = new Map(reductions.map((r) => [r.id, lv(r)]));
  return { value, grad, extras: [...extras], passes, epilogue, smallInputs: order.filter((n) => smallInputs.has(n)), reads, static: stat, level: levels, buffers, slots };
}

/**
 * Slots by liveness: a buffer's slot returns to the free list after the last pass that reads it, and a
 * later pass's buffers take free slots (lowest first) before the array grows. A pass's own buffers take
 * consecutive slots, none freed by the pass itself (a kernel may write them while it reads; so may a
 * runner that writes its output in place). `kept` (the unreduced values) are read after the last pass.
 */
function assignSlots(passes: readonly Pass[], lastRead: ReadonlyMap<number, number>, kept: ReadonlySet<number>): Map<number, BufferSlot> {
  const slots = new Map<number, BufferSlot>();
  /** Per slot, the last pass that reads what it holds. */
  const busyUntil: number[] = [];
  for (const [i, p] of passes.entries()) {
    if (p.kind !== 'materialize' && p.kind !== 'host') continue;
    const k = p.nodes.length;
    const free = (s: number) => s >= busyUntil.length || busyUntil[s]! < i;
    let start = 0;
    for (;;) {
      let run = 0;
      while (run < k && free(start + run)) run++;
      if (run === k) break;
      start += run + 1;
    }
    p.nodes.forEach((n, j) => {
      busyUntil[start + j] = kept.has(n.id) ? Infinity : Math.max(i, lastRead.get(n.id) ?? i);
      slots.set(n.id, { region: MEMORY, slot: start + j });
    });
  }
  return slots;
}

/**
 * Buffers: every distance transform and its mask (the host reads it), and every
 * stencil result that another stencil reads at shifted positions (recomputing
 * it per tap would multiply the work by the window's size), and the source of
 * a window when it costs more than BUFFER_ABOVE ops per tap (core/cost.ts) and the window reads it
 * more than once per element (k taps at 1 in q^d lattice points: k > q^d).
 */
function findBuffers(order: readonly Node[]): Set<number> {
  const buffers = new Set<number>();
  for (const n of order) {
    if (isHostOp(n)) {
      buffers.add(n.id);
      for (const s of n.src) if (s.op !== 'input') buffers.add(s.id);
    }
  }
  for (const n of order) {
    for (const i of shiftedSources(n)) {
      const seen = new Set<number>();
      const walk = (m: Node) => {
        if (seen.has(m.id) || m.op === 'input' || buffers.has(m.id) || !isLarge(m) || isPassReduction(m)) return;
        seen.add(m.id);
        if (isSpatialOp(m)) { buffers.add(m.id); return; }
        m.src.forEach(walk);
      };
      const src = n.src[i]!;
      if ((record(n.op).tapsPerElement?.(n) ?? 1) > 1 && recomputeOps(src, (m) => buffers.has(m.id) || !isLarge(m) || isSpatialOp(m)) > BUFFER_ABOVE) {
        // Its spatial sources too: the buffer's pass reads them, and would recompute them per buffer it writes.
        buffers.add(src.id);
        src.src.forEach(walk);
      } else {
        walk(src);
      }
    }
  }
  return buffers;
}

/** Passes over the full-size tensors (each reads the inputs once, one launch each). */
export function passCount(p: Plan): number {
  return p.passes.length;
}
