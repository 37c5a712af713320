// Every op of the IR, one record each, in one table keyed by op: adding an op
// is adding its record to its kind's file (the type checker then asks for
// every field that kind owes, and for a record of every Op). The tests iterate
// this table.

import * as B from '../build.ts';
import type { Axes, Node, Op } from '../ir.ts';
import { ELEMENTWISE } from './elementwise.ts';
import { HOST } from './host.ts';
import { STENCIL } from './stencil.ts';
import { STRUCTURAL } from './structural.ts';
import type { OpRecord } from './types.ts';

// Each record file declares its op names (`interface OpNames` in ir.ts). A program
// that reads only the emitted .d.ts (a user's tsc) drops the value imports above,
// so these keep the record files, and with them every op name, in its program.
export type {} from './elementwise.ts';
export type {} from './host.ts';
export type {} from './stencil.ts';
export type {} from './structural.ts';

export type * from './types.ts';

export const OPS: { readonly [K in Op]: OpRecord } = { ...STRUCTURAL, ...ELEMENTWISE, ...STENCIL, ...HOST };

for (const [op, r] of Object.entries(OPS)) if (r.op !== op) throw new Error(`internal: the record under '${op}' is for '${r.op}'`);

export function record(op: Op): OpRecord {
  const r = OPS[op];
  if (!r) throw new Error(`internal: no record for op '${op}'`);
  return r;
}

/** The node `n` with new sources, by its kind: leaves are returned as they are, other nodes built again from `src`. */
export function rebuild(n: Node, src: readonly Node[]): Node {
  const r = record(n.op);
  switch (r.kind) {
    case 'leaf': return n;
    case 'expand': return B.expand(src[0]!, n.axes);
    case 'reduce': return B.reduce(r.op, src[0]!, n.arg as Axes);
    case 'elementwise': return B.apply(n.op, src);
    case 'stencil': case 'host': return B.like(n, src);
  }
}
