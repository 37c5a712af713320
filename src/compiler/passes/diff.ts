// Reverse-mode differentiation over the IR DAG: adjoints flow from the root to
// the sources through each op's vector-Jacobian rule; fan-out adjoints are summed.
// The result is plain IR, so it is simplified, planned and printed like the value.

import { add, expand, ONE, ZERO } from '../core/build.ts';
import { type Node, toposort } from '../core/ir.ts';
import { record } from '../core/ops/index.ts';
import { verify } from '../core/verify.ts';

/** d root / d wrt, with the axes of `wrt`. `root` must be a scalar. */
export function grad(root: Node, wrt: Node): Node {
  if (root.axes.length !== 0) throw new Error(`internal: grad of a non-scalar (${root.axes})`);
  const order = toposort([root]);
  // Only nodes on a path from `wrt` to the root carry adjoints.
  const live = new Set<number>();
  for (const n of order) if (n === wrt || n.src.some((s) => live.has(s.id))) live.add(n.id);
  const adjoint = new Map<number, Node>([[root.id, ONE]]);
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i]!;
    const g = adjoint.get(n.id);
    if (g === undefined || n === wrt || !live.has(n.id)) continue;
    const vjp = record(n.op).vjp;
    if (!vjp) continue;
    const gs = vjp(g, n);
    n.src.forEach((s, k) => {
      const gk = gs[k];
      if (!live.has(s.id) || gk === undefined) return;
      const prev = adjoint.get(s.id);
      adjoint.set(s.id, prev === undefined ? gk : add(prev, gk));
    });
  }
  const result = adjoint.get(wrt.id) ?? expand(ZERO, wrt.axes);
  const out = expand(result, wrt.axes);
  verify([out], 'diff');
  return out;
}
