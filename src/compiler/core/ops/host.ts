// The host ops: the exact Euclidean distance transform, sorting (and its
// inverse, which gradients use) and prefix sums. They run on the host over
// whole arrays between passes, so their sources must be in memory. Per op: the
// float64 loop (the definition), the gradient in IR ops and the TensorFlow.js
// rule (the oracle). Its standalone-module call is still in tools/module.ts.

import * as B from '../build.ts';
import type { Axes, Node, Op } from '../ir.ts';
import { cumsumRef, edtRef, sortSlices, sortedRef, unsortRef } from './f64-loops.ts';
import { asRows } from './tf-helpers.ts';
import type { HostRecord } from './types.ts';

declare module '../ir.ts' {
  /** The ops this file defines (core/ir.ts's Op is the union of every file's). */
  interface OpNames {
    edt: true;
    sorted: true;
    unsort: true;
    cumsum: true;
  }
}

function host(op: Op, arity: number, r: Omit<HostRecord, 'op' | 'arity' | 'kind'>): HostRecord {
  return { op, arity, kind: 'host', ...r };
}

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** How many batch slices one sort, unsort or cumsum joins: the batch when it runs across it, else 1. */
const joined = (n: Node, batch: number) => ((n.arg as Axes).includes('batch') ? batch : 1);

export const HOST = {
  edt: host('edt', 1, {
    fullResolution: true, argText: () => [],
    ref: ([m], _n, outer, dims) => edtRef(m!, outer, dims),
    // A distance map is a constant of the loss: no gradient flows through it.
    vjp: () => [undefined],
    tf: (t, xs, _n, ctx) => ctx.noGrad((x) => {
      const dims = ctx.space.map((a) => x!.shape[ctx.axis(a)]!);
      const outer = x!.size / dims.reduce((a, b) => a * b, 1);
      return t.reshape(t.tensor(Float32Array.from(edtRef(Float64Array.from(x!.dataSync()), outer, dims))), x!.shape);
    }, xs),
    print: { fn: 'edt' },
    latex: ([x]) => `\\operatorname{edt}(${x})`,
  }),
  sorted: host('sorted', 2, {
    fullResolution: true, argText: () => [],
    // arg: the axes sorted over (space, or batch and space), flattened in canonical order.
    ref: ([x, k], n, outer, dims, batch) => sortedRef(x!, k!, sortSlices(outer, prod(dims), joined(n, batch))),
    // The permutation is a constant of the loss: the adjoint goes back through its inverse.
    vjp: (g, out) => [B.unsort(g, out.src[1]!, out.arg as Axes), undefined],
    tf: (t, [x, k], n, ctx) => {
      const [xs, back] = asRows(t, x!, ctx, n.arg as Axes);
      // The order is a constant: indices rebuilt from data, off tfjs's tape (its gather
      // gradient rejects int32 indices that lie on a path to the differentiated input).
      const [ks] = asRows(t, k!, ctx, n.arg as Axes);
      const { indices } = t.topk(ks, ks.shape[1]!, true);
      const order = t.tensor(Int32Array.from(indices.dataSync()), indices.shape, 'int32');
      return back(t.gather(xs, order, 1, 1));
    },
    permutes: true,
    print: { fn: 'sorted' },
    latex: ([x, k]) => `\\operatorname{sort}_{${k}\\downarrow}(${x})`,
  }),
  unsort: host('unsort', 2, {
    fullResolution: true, argText: () => [],
    ref: ([x, k], n, outer, dims, batch) => unsortRef(x!, k!, sortSlices(outer, prod(dims), joined(n, batch))),
    vjp: (g, out) => [B.sorted(g, out.src[1]!, out.arg as Axes), undefined],
    tf: () => { throw new Error('internal: unsort appears only in gradients, which tfjs computes itself'); },
    permutes: true,
    print: { fn: 'unsort' },
  }),
  cumsum: host('cumsum', 1, {
    fullResolution: true, argText: () => [],
    ref: ([x], n, outer, dims, batch) => cumsumRef(x!, sortSlices(outer, prod(dims), joined(n, batch))),
    // The adjoint of an inclusive prefix sum is the suffix sum: Σ_{j≥i} g_j = Σ g − cumsum(g) + g (Σ, cumsum over the same axes).
    vjp: (g, out) => {
      const over = out.arg as Axes;
      return [B.add(B.sub(B.expand(B.sum(g, over), g.axes), B.cumsum(g, over)), g)];
    },
    tf: (t, [x], n, ctx) => { const [xs, back] = asRows(t, x!, ctx, n.arg as Axes); return back(t.cumsum(xs, 1)); },
    print: { fn: 'cumsum' },
    latex: ([x]) => `\\operatorname{cumsum}(${x})`,
  }),
} satisfies Partial<Record<Op, HostRecord>>;
