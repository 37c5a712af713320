// Each stage of compileIR as text, for `segloss show --dump` and `segloss plan
// --dump` (as Halide prints the IR after each lowering pass): parse (the
// modules as canonical source), lower (the loss as IR), diff (the objective and
// its raw gradient), simplify (both after rewriting), plan (the fused passes).

import { printModule } from './front/print-ast.ts';
import { type PrintMode, printRoots } from './passes/print.ts';
import { printPlan } from './plan/print-plan.ts';
import type { Node } from './core/ir.ts';
import { type LossIR, PASSES, STAGES, type Stage } from './pipeline.ts';

/** A loss's value and gradient as two named roots. */
export function valueAndGradRoots(ir: LossIR, value: Node, grad: Node): { name: string; node: Node }[] {
  return [{ name: ir.loss.name, node: value }, { name: `d${ir.loss.name}/d${ir.loss.wrt.name}`, node: grad }];
}

/** The plan that runs (LossIR.plan: value, gradient and, under reduction=none, the per-element values), as text. */
export function planText(ir: LossIR): string {
  return printPlan(ir.plan, { loss: ir.loss.name, wrt: ir.loss.wrt.name });
}

/** The result of one stage as text; the plan is text in either mode, and so is the parsed source. */
export function printStage(ir: LossIR, stage: Stage, mode: PrintMode = 'text'): string {
  switch (stage) {
    case 'parse': return ir.ast.modules.map((m, i) => `${i ? `# ${m.file}\n` : ''}${printModule(m).trimEnd()}`).join('\n\n');
    case 'plan': return planText(ir);
    default: {
      const nodes = ir.passes[stage];
      const roots = nodes.length === 1 ? [{ name: ir.loss.name, node: nodes[0]! }] : valueAndGradRoots(ir, nodes[0]!, nodes[1]!);
      return printRoots(roots, mode);
    }
  }
}

/** The stages named in `--dump a,b` (or every one for `all`), in pipeline order; a string saying what is wrong otherwise. */
export function parseStages(s: string): Stage[] | string {
  const asked = s.split(',').map((x) => x.trim()).filter(Boolean);
  if (asked.length === 1 && asked[0] === 'all') return [...STAGES];
  const bad = asked.filter((x) => !(STAGES as readonly string[]).includes(x));
  if (bad.length || asked.length === 0) return `--dump takes passes among ${PASSES.join(', ')}, or parse (the source as parsed), comma-separated; or all; got '${s}'`;
  return STAGES.filter((p) => asked.includes(p));
}
