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
  for (const n of toposort(roots, (x) => vals.has(x.id))) if (!vals.has(n.id)) vals.set(n.id, evalNode(n, n.src.map((s) => vals.get(s.id)!), inputs, sizes));
  return roots.map((r) => ({ axes: r.axes, data: vals.get(r.id)! }));
}

function evalNode(n: Node, xs: Float64Array[], inputs: Readonly<Record<string, Float64Array>>, sizes: Sizes): Float64Array {
  const len = count(n.axes, sizes);
  switch (n.op) {
    case 'const': return Float64Array.of(n.arg as number);
    case 'size': return Float64Array.of(count(n.arg as Axis[], sizes));
    case 'input': {
      // Own properties only: an input may be called toString or constructor.
      const v = Object.hasOwn(inputs, n.arg as string) ? inputs[n.arg as string] : undefined;
      if (!v) throw new Error(`missing input '${n.arg as string}'`);
      if (v.length !== len) throw new RangeError(`input '${n.arg as string}' has ${v.length} elements, the shape needs ${len}`);
      return v;
    }
    case 'expand': {
      const map = indexMap(n.axes, n.src[0]!.axes, sizes);
      const x = xs[0]!;
      const out = new Float64Array(len);
      for (let i = 0; i < len; i++) out[i] = x[map[i]!]!;
      return out;
    }
    case 'sum':
    case 'max': {
      const src = n.src[0]!;
      const map = indexMap(src.axes, n.axes, sizes);
      const x = xs[0]!;
      const out = new Float64Array(len).fill(n.op === 'sum' ? 0 : -Infinity);
      if (n.op === 'sum') for (let i = 0; i < x.length; i++) out[map[i]!]! += x[i]!;
      else for (let i = 0; i < x.length; i++) { const j = map[i]!; if (x[i]! > out[j]! || Number.isNaN(x[i]!)) out[j] = x[i]!; }
      return out;
    }
    default: {
      const r = record(n.op);
      if (r.ref) {
        // Spatial axes are innermost in canonical order: `outer` slices of `dims`.
        const dims = n.axes.filter(isSpatial).map((a) => sizes[a]);
        return r.ref(xs, n, len / dims.reduce((a, b) => a * b, 1), dims, n.axes.includes('batch') ? sizes.batch : 1);
      }
      const f = r.f64;
      if (!f) throw new Error(`internal: op '${n.op}' has no float64 semantics`);
      const out = new Float64Array(len);
      if (xs.length === 1) { const a = xs[0]!; for (let i = 0; i < len; i++) out[i] = f(a[i]!); }
      else if (xs.length === 2) { const a = xs[0]!, b = xs[1]!; for (let i = 0; i < len; i++) out[i] = f(a[i]!, b[i]!); }
      else { for (let i = 0; i < len; i++) out[i] = f(...xs.map((x) => x[i]!)); }
      return out;
    }
  }
}
