// The float64 reference interpreter: the definition of the IR's semantics.
// Every value is a named-axis tensor in canonical order; elementwise ops run
// its op record's f64 function, reductions and broadcasts go through index maps.

import type { Axes, Axis, Node } from './ir.ts';
import { isSpatial, toposort } from './ir.ts';
import { record } from './ops/index.ts';
import { type Sizes, count, indexMap } from './layout.ts';

export interface Tensor64 { axes: Axes; data: Float64Array }

/**
 * Evaluate `roots` on canonical-order inputs (by input name). Nodes in `given`
 * take their values from it instead (the runtime's epilogue passes reduction results).
 */
export function evaluate(roots: readonly Node[], inputs: Readonly<Record<string, Float64Array>>, sizes: Sizes, given?: ReadonlyMap<number, Float64Array>): Tensor64[] {
  const vals = new Map<number, Float64Array>(given);
  evaluator(roots, sizes, (x) => vals.has(x.id))(vals, inputs);
  return roots.map((r) => ({ axes: r.axes, data: vals.get(r.id)! }));
}

/**
 * `evaluate` prepared once for repeated use: the nodes that `roots` need, in order, each with its index map
 * or f64 function looked up already, stopping at nodes `isGiven` (whose values the caller puts in `vals`).
 * Each run stores every node's value in `vals` (fresh arrays, or the inputs themselves).
 * The runtime's epilogue runs one per level on every call: the same steps as `evaluate`, without its search.
 */
export function evaluator(roots: readonly Node[], sizes: Sizes, isGiven: (n: Node) => boolean): (vals: Map<number, Float64Array>, inputs?: Readonly<Record<string, Float64Array>>) => void {
  const steps = toposort(roots, isGiven).filter((n) => !isGiven(n)).map((n) => step(n, sizes));
  return (vals, inputs = {}) => {
    for (const s of steps) s(vals, inputs);
  };
}

type Step = (vals: Map<number, Float64Array>, inputs: Readonly<Record<string, Float64Array>>) => void;

/** One node's evaluation, what depends on the shape alone worked out beforehand. */
function step(n: Node, sizes: Sizes): Step {
  const len = count(n.axes, sizes);
  const src = n.src.map((x) => x.id);
  const set = (vals: Map<number, Float64Array>, v: Float64Array) => { vals.set(n.id, v); };
  switch (n.op) {
    case 'const': { const v = n.arg as number; return (vals) => set(vals, Float64Array.of(v)); }
    case 'size': { const v = count(n.arg as Axis[], sizes); return (vals) => set(vals, Float64Array.of(v)); }
    case 'expand': {
      const map = indexMap(n.axes, n.src[0]!.axes, sizes);
      return (vals) => {
        const x = vals.get(src[0]!)!;
        const out = new Float64Array(len);
        for (let i = 0; i < len; i++) out[i] = x[map[i]!]!;
        set(vals, out);
      };
    }
    case 'sum':
    case 'max': {
      const map = indexMap(n.src[0]!.axes, n.axes, sizes);
      const isSum = n.op === 'sum';
      return (vals) => {
        const x = vals.get(src[0]!)!;
        const out = new Float64Array(len).fill(isSum ? 0 : -Infinity);
        if (isSum) for (let i = 0; i < x.length; i++) out[map[i]!]! += x[i]!;
        else for (let i = 0; i < x.length; i++) { const j = map[i]!; if (x[i]! > out[j]! || Number.isNaN(x[i]!)) out[j] = x[i]!; }
        set(vals, out);
      };
    }
    case 'input':
      return (vals, inputs) => {
        // Own properties only: an input may be called toString or constructor.
        const v = Object.hasOwn(inputs, n.arg as string) ? inputs[n.arg as string] : undefined;
        if (!v) throw new Error(`missing input '${n.arg as string}'`);
        if (v.length !== len) throw new RangeError(`input '${n.arg as string}' has ${v.length} elements, the shape needs ${len}`);
        set(vals, v);
      };
    default: {
      const r = record(n.op);
      if (r.ref) {
        // Spatial axes are innermost in canonical order: `outer` slices of `dims`.
        const dims = n.axes.filter(isSpatial).map((a) => sizes[a]);
        const outer = len / dims.reduce((a, b) => a * b, 1);
        const batch = n.axes.includes('batch') ? sizes.batch : 1;
        return (vals) => set(vals, r.ref!(src.map((id) => vals.get(id)!), n, outer, dims, batch));
      }
      const f = r.f64;
      if (!f) throw new Error(`internal: op '${n.op}' has no float64 semantics`);
      if (src.length === 1) {
        const [a0] = src as [number];
        return (vals) => { const a = vals.get(a0)!; const out = new Float64Array(len); for (let i = 0; i < len; i++) out[i] = f(a[i]!); set(vals, out); };
      }
      if (src.length === 2) {
        const [a0, b0] = src as [number, number];
        return (vals) => { const a = vals.get(a0)!, b = vals.get(b0)!; const out = new Float64Array(len); for (let i = 0; i < len; i++) out[i] = f(a[i]!, b[i]!); set(vals, out); };
      }
      return (vals) => { const xs = src.map((id) => vals.get(id)!); const out = new Float64Array(len); for (let i = 0; i < len; i++) out[i] = f(...xs.map((x) => x[i]!)); set(vals, out); };
    }
  }
}
