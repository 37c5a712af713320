// The IR verifier: re-derives every node's axes from its sources and checks
// arity against the op records. Every pass runs it on its output.

import { type Axes, type Node, hasAxes, isSpatial, minusAxes, sameAxes, sortAxes, toposort } from './ir.ts';
import { record } from './ops/index.ts';

export class VerifyError extends Error {}

function expectAxes(n: Node, want: Axes, pass: string): void {
  if (!sameAxes(n.axes, want)) throw new VerifyError(`after ${pass}: node ${n.id} (${n.op}) has axes (${n.axes}) but its sources give (${want})`);
}

export function verify(roots: readonly Node[], pass: string): void {
  for (const n of toposort(roots)) {
    const r = record(n.op);
    if (n.src.length !== r.arity) throw new VerifyError(`after ${pass}: ${n.op} node ${n.id} has ${n.src.length} sources, wants ${r.arity}`);
    if (!sameAxes(n.axes, sortAxes(n.axes))) throw new VerifyError(`after ${pass}: node ${n.id} axes (${n.axes}) are not in canonical order`);
    switch (r.kind) {
      case 'leaf':
        if (r.leafAxes !== 'any') expectAxes(n, r.leafAxes, pass);
        break;
      case 'expand':
        if (!hasAxes(n.axes, n.src[0]!.axes) || sameAxes(n.axes, n.src[0]!.axes))
          throw new VerifyError(`after ${pass}: expand node ${n.id} from (${n.src[0]!.axes}) to (${n.axes}) is not a strict broadcast`);
        break;
      case 'reduce': {
        const over = n.arg as Axes;
        if (!hasAxes(n.src[0]!.axes, over)) throw new VerifyError(`after ${pass}: ${n.op} node ${n.id} reduces (${over}) absent from (${n.src[0]!.axes})`);
        expectAxes(n, minusAxes(n.src[0]!.axes, over), pass);
        break;
      }
      case 'elementwise':
        for (const s of n.src) expectAxes(s, n.axes, pass);
        break;
      case 'stencil':
      case 'host':
        for (const s of n.src) expectAxes(s, n.axes, pass);
        if (!n.axes.some(isSpatial)) throw new VerifyError(`after ${pass}: spatial op ${n.op} node ${n.id} has no spatial axes`);
        break;
    }
  }
}
