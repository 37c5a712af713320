// One cost model for recomputing a value per read: how many ops computing a
// full-size node in a kernel takes, down to what the kernel reads rather than
// computes. Two decisions weigh a window's source with it, in the same unit:
//
// - the planner (plan/plan.ts): buffer the source of a window that reads more than
//   one tap per element when recomputing it per tap costs more than BUFFER_ABOVE
//   ops (a buffer costs a write and a read per element; recomputing, the ops
//   per tap);
// - the window's kernel code (its record, core/ops/stencil.ts): unroll the taps when the source costs at most
//   UNROLL_UP_TO ops per read, else one loop over the taps (each unrolled tap
//   copies the source's code, and V8 stops optimizing a function past about
//   60 KB of bytecode).
//
// The thresholds differ on purpose: one trades memory traffic for arithmetic,
// the other bounds code size, and a source the planner leaves inline (at most
// BUFFER_ABOVE ops, or any source of a window with at most one tap per element)
// must still be weighed for unrolling.

import type { Node } from '../core/ir.ts';

/** A window buffers its source when recomputing it per tap costs more ops than this (and it reads more than one tap per element). */
export const BUFFER_ABOVE = 3;
/** A window unrolls its taps when its source costs at most this many ops per read. */
export const UNROLL_UP_TO = 4;

/**
 * The ops that computing `x` in a kernel takes: one per op, none for a
 * broadcast (indexing), none below a node `read` says the kernel reads (an
 * input, a buffer, a small value, a literal), and more than any threshold for
 * a node `opaque` says opens loops of its own (a stencil or host op).
 */
export function recomputeOps(x: Node, read: (m: Node) => boolean, opaque: (m: Node) => boolean = () => false): number {
  const seen = new Set<number>();
  let ops = 0;
  const visit = (m: Node): void => {
    if (seen.has(m.id) || m.op === 'input' || read(m)) return;
    seen.add(m.id);
    if (opaque(m)) { ops = Infinity; return; }
    if (m.op !== 'expand') ops++;
    m.src.forEach(visit);
  };
  visit(x);
  return ops;
}
