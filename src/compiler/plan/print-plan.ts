// A plan as text: each pass with the sums it accumulates or the gradient it
// writes, and the host epilogue between passes, all in one naming of t1, t2, ...

import { printGraph } from '../passes/print.ts';
import { type Node, toposort } from '../core/ir.ts';
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

/**
 * The plan as text. Every root the plan computes is shown where it is computed: the loss's value (in the host
 * epilogue, or as its pass's line when it is itself a pass reduction), the gradient (the map pass), and the extra
 * roots (`values`: the per-element values under reduction=none, a line `values = ...` in the pass that writes them or
 * the host step that computes them).
 */
export function printPlan(p: Plan, names: { loss: string; wrt: string }): string {
  const main = p.grad ? [p.value, p.grad] : [p.value];
  const reached = new Set(toposort(main).map((n) => n.id));
  // An extra root the value and gradient do not reach prints as a root of its own; one they reach is named (a let).
  const extraRoots = p.extras.filter((e) => !reached.has(e.id));
  const named = p.extras.filter((e) => reached.has(e.id) && e.op !== 'input').map((n) => n.id);
  const printed = printGraph([...main, ...extraRoots], 'text', new Set([...p.smallInputs.map((n) => n.id), ...p.buffers, ...named]));
  const letOf = new Map(printed.lets.map((l) => [l.node.id, l]));
  const nameOf = (id: number) => letOf.get(id)?.name ?? '?';
  const extraText = new Map(extraRoots.map((e, i) => [e.id, printed.roots[main.length + i]!]));
  const out: string[] = [`${names.loss}: ${p.passes.length} pass${p.passes.length === 1 ? '' : 'es'} over the full tensor`];
  const line = (name: string, expr: string) => `    ${name} = ${expr}`;
  // The lines that compute node n: its let (or the loss's root), then `values = ...` when n is the extra root.
  const shown = new Set<number>();
  const rows = (n: Node): string[] => {
    const own = n === p.value ? [line(names.loss, printed.roots[0]!)] : letOf.has(n.id) ? [line(nameOf(n.id), letOf.get(n.id)!.expr)] : [];
    if (!p.extras.includes(n)) return own;
    shown.add(n.id);
    return [...own, line('values', extraText.get(n.id) ?? nameOf(n.id))];
  };
  // The values as they come, an input itself: no pass computes them.
  for (const e of p.extras) if (e.op === 'input') { shown.add(e.id); out.push(`  values = ${e.arg as string} (the input, as it is)`); }
  const epilogue = (level: number) => {
    // The loss's value last, as its line.
    const nodes = p.epilogue[level] ?? [];
    const r = [...nodes.filter((n) => n !== p.value), ...nodes.filter((n) => n === p.value)].flatMap(rows);
    if (r.length) out.push(`  host: small values after level ${level}`, ...r);
  };
  // A level's epilogue runs once every pass reduction of that level is computed.
  const levels = p.epilogue.length - 1;
  const pending = (l: number) => [...p.level].some(([id, rl]) => rl <= l && !done.has(id));
  const statics = printed.lets.filter((l) => p.static.has(l.node.id));
  if (statics.length) out.push('  constants, once the shape is known', ...statics.flatMap((l) => rows(l.node)));
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
      const got = rows(r);
      out.push(...(got.length ? got : [line(nameOf(r.id), '?')]));
    }
    if (pass.kind === 'materialize' || pass.kind === 'host') {
      for (const b of pass.nodes) {
        const got = rows(b);
        out.push(...(got.length ? got : [line(nameOf(b.id), '?')]));
      }
    }
    if (pass.kind === 'map') {
      // Large shared subexpressions are temporaries of the map kernel.
      for (const l of printed.lets) if (isLarge(l.node) && !isPassReduction(l.node) && !p.buffers.has(l.node.id)) out.push(line(l.name, l.expr));
      out.push(line(`d${names.loss}/d${names.wrt}`, printed.roots[1]!));
    }
    flush();
  });
  // Never silently: an extra root no pass or host step computes (a constant) still shows.
  for (const e of p.extras) if (!shown.has(e.id)) out.push(`  values, once the shape is known`, line('values', extraText.get(e.id) ?? nameOf(e.id)));
  return out.join('\n');
}
