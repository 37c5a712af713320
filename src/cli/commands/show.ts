// `segloss show NAME|FILE`: everything the compiler makes of one loss, for a
// person: the formula (canonical source), its simplified gradient, the kernel
// plan; --dump shows the result of chosen stages of the pipeline
// (src/compiler/dump.ts), --latex the math as LaTeX.

import type { Command } from 'commander';
import { readSource } from '../../runtime/sources.ts';
import { STAGES } from '../../compiler/pipeline.ts';
import { frontend } from '../../runtime/sources.ts';
import { SeglossError } from '../../compiler/front/diagnostics.ts';
import { parseStages, planText, printStage, valueAndGradRoots } from '../../compiler/dump.ts';
import { printModule } from '../../compiler/front/print-ast.ts';
import { type PrintMode, printRoots } from '../../compiler/passes/print.ts';
import { LOSS_ARG_HELP, UsageError, collect, colorOut, dims, paramHelp, parseParams, region, resolveLoss } from '../options.ts';

const EXAMPLES = `
NAME is a loss by name (NAME.loss in your project's losses/, a SEGLOSS_PATH
directory or the library); anything with a / or ending in .loss is a file. Without --dump: the formula, the gradient, the plan. With --dump:
the result after each pass named, in pipeline order, as "== after <pass>"
(lower: the loss as IR; diff: the loss and its raw gradient; simplify: both
after rewriting; plan: the fused passes; parse: the source as parsed, the used
files too); --dump all prints every one. --latex prints the math as LaTeX: the
formula as the compiler lowered it, the gradient, the dumps (the source and the
plan stay text).

Examples:
  segloss show dice
  segloss show losses/tversky.loss --param alpha=0.7 --region batch
  segloss show focal --dump=lower,simplify
  segloss show dice --dump all
  segloss show dice --latex
  segloss show dice --json`;

interface ShowOptions { dump?: string; latex?: boolean; json?: boolean; region: string; dims: string; param: string[] }

export function register(program: Command): void {
  program
    .command('show')
    .description('show a loss: its formula, simplified gradient and kernel plan, or the result after chosen pipeline stages')
    .argument('<loss>', LOSS_ARG_HELP)
    .option('--dump <passes>', `print the result after these passes, comma-separated: ${STAGES.join(', ')}; or all`)
    .option('--latex', 'print the math as LaTeX')
    .option('--json', 'print {name, file, format, formula, formulaLatex?, gradient, plan, dump?} as JSON')
    .option('--region <region>', 'what `region` binds to: sample | batch | global', 'sample')
    .option('--dims <n>', 'spatial dimensions: 2 or 3', '2')
    .option('--param <name=value>', paramHelp('override a parameter default', 'reduction=sum, include_background=false'), collect, [])
    .addHelpText('after', EXAMPLES)
    .action((arg: string, o: ShowOptions) => {
      const mode: PrintMode = o.latex ? 'latex' : 'text';
      const dumps = o.dump === undefined ? undefined : parseStages(o.dump);
      if (typeof dumps === 'string') throw new UsageError(dumps);
      const opts = { region: region(o.region), dims: dims(o.dims), params: parseParams(o.param) };
      const { file } = resolveLoss(arg);
      let source: string;
      { const got = readSource(file); if ('why' in got) throw new UsageError(`cannot read '${file}': ${got.why}`); source = got.text; }
      const r = frontend(source, file, opts);
      if (!r.ir) throw new SeglossError(r.diagnostics, r.sources);
      const ir = r.ir;
      const formula = printModule(ir.ast.main).trimEnd();
      // In LaTeX, the formula is the loss as the compiler lowered it (the source is not math).
      const formulaLatex = o.latex ? printStage(ir, 'lower', 'latex') : undefined;
      const gradient = printRoots(valueAndGradRoots(ir, ir.value, ir.grad), mode);
      const plan = planText(ir);
      const dumped = dumps && Object.fromEntries(dumps.map((p) => [p, printStage(ir, p, mode)]));

      if (o.json) {
        const out = { name: ir.loss.name, file, format: mode, formula, ...(formulaLatex ? { formulaLatex } : {}), gradient, plan, ...(dumped ? { dump: dumped } : {}) };
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      const sections: [string, string][] = dumped
        ? Object.entries(dumped).map(([p, text]) => [`after ${p}`, text])
        : [[`formula (${formulaLatex ? 'LaTeX, as lowered' : file})`, formulaLatex ?? formula], [`gradient with respect to ${ir.loss.wrt.name}`, gradient], ['plan', plan]];
      process.stdout.write(`${sections.map(([title, text]) => `${heading(title)}\n${text}\n`).join('\n')}`);
    });
}

const heading = (s: string) => (colorOut ? `\x1b[1m== ${s}\x1b[0m` : `== ${s}`);
