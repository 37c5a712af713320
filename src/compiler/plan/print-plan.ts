// A plan as text: each pass with the sums it accumulates or the gradient it
// writes, and the host epilogue between passes, all in one naming of t1, t2, ...

import { printGraph } from '../passes/print.ts';
import type { Node } from '../core/ir.ts';
import { MEMORY, type Pass, type Plan, isLarge, isPassReduction } from './plan.ts';

/** The buffers a pass reads (walking its roots down to buffers and inputs), in first-read order. */
function buffersRead(p: Plan, pass: Pass): Node[] {
  const roots = pass.kind === 'map' ? [pass.root, ...pass.reductions.map((r) => r.src[0]!)]
    : pass.kind === 'reduce' ? pass.reductions.map((r) => r.src[0]!)
    : pass.nodes.flatMap((b) => b.src);
  const out: Node[] = [];
  const seen = new Set<number>();
  // Depth first, sources in order, with a stack (a chain of 100,000 ops is no deeper than one).
  const stack = [...roots].reverse();
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n.id)) continue;
    seen.add(n.id);
    if (p.buffers.has(n.id)) { out.push(n); continue; }
    if (!isLarge(n)) continue;
    for (let i = n.src.length - 1; i >= 0; i--) stack.push(n.src[i]!);
  }
  return out;
}

export function printPlan(p: Plan, names: { loss: string; wrt: string }): string {
  const printed = printGraph(p.grad ? [p.value, p.grad] : [p.value], 'text', new Set([...p.smallInputs.map((n) => n.id), ...p.buffers]));
  const letOf = new Map(printed.lets.map((l) => [l.node.id, l]));
  const nameOf = (id: number) => letOf.get(id)?.name ?? '?';
  const out: string[] = [`${names.loss}: ${p.passes.length} pass${p.passes.length === 1 ? '' : 'es'} over the full tensor`];
  const line = (name: string, expr: string) => `    ${name} = ${expr}`;
  const epilogue = (level: number) => {
    const nodes = p.epilogue[level] ?? [];
    const rows = nodes.filter((n) => letOf.has(n.id)).map((n) => line(nameOf(n.id), letOf.get(n.id)!.expr));
    if (nodes.includes(p.value)) rows.push(line(names.loss, printed.roots[0]!));
    if (rows.length) out.push(`  host: small values after level ${level}`, ...rows);
  };
  // A level's epilogue runs once every pass reduction of that level is computed.
  const levels = p.epilogue.length - 1;
  const pending = (l: number) => [...p.level].some(([id, rl]) => rl <= l && !done.has(id));
  const statics = printed.lets.filter((l) => p.static.has(l.node.id));
  if (statics.length) out.push('  constants, once the shape is known', ...statics.map((l) => line(l.name, l.expr)));
  const done = new Set<number>();
  let next = 0;
  const flush = () => { while (next <= levels && !pending(next)) epilogue(next++); };
  flush();
  p.passes.forEach((pass, i) => {
    // Inputs by name; buffers (all in the one memory array) by the names they print with.
    const reads = [...p.reads.get(pass)!.filter((r) => r !== MEMORY), ...buffersRead(p, pass).map((b) => nameOf(b.id))].join(', ') || 'nothing';
    const kind = pass.kind === 'map' && pass.reductions.length ? 'map + reduce' : pass.kind === 'host' ? `host (${[...new Set(pass.nodes.map((n) => n.op))].join(', ')})` : pass.kind;
    const uses = pass.kind === 'map' && p.smallInputs.length ? `; uses ${p.smallInputs.map((n) => nameOf(n.id)).join(', ')}` : '';
    out.push(`  pass ${i + 1}: ${kind}, reads ${reads}${uses}`);
    for (const r of pass.reductions) {
      done.add(r.id);
      // The loss's value may itself be a pass reduction (reduction=none: the sum of the per-pixel values): it prints as the root.
      out.push(r === p.value ? line(names.loss, printed.roots[0]!) : line(nameOf(r.id), letOf.get(r.id)?.expr ?? '?'));
    }
    if (pass.kind === 'materialize' || pass.kind === 'host') for (const b of pass.nodes) out.push(line(nameOf(b.id), letOf.get(b.id)?.expr ?? '?'));
    if (pass.kind === 'map') {
      // Large shared subexpressions are temporaries of the map kernel.
      for (const l of printed.lets) if (isLarge(l.node) && !isPassReduction(l.node) && !p.buffers.has(l.node.id)) out.push(line(l.name, l.expr));
      out.push(line(`d${names.loss}/d${names.wrt}`, printed.roots[1]!));
    }
    flush();
  });
  return out.join('\n');
}
