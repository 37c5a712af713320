// `segloss grad NAME|FILE`: the loss and its simplified gradient as math.

import type { Command } from 'commander';
import { frontendFile } from '../../runtime/sources.ts';
import { SeglossError } from '../../compiler/front/diagnostics.ts';
import { printRoots } from '../../compiler/passes/print.ts';
import { LOSS_ARG_HELP, dims, formulaOptions, parseParams, region, resolveLoss } from '../options.ts';

export function register(program: Command): void {
  formulaOptions(program
    .command('grad')
    .description('print a loss and its simplified gradient as math')
    .argument('<loss>', LOSS_ARG_HELP))
    .option('--latex', 'print LaTeX instead of text')
    .option('--dims <n>', 'spatial dimensions: 2 or 3', '2')
    .option('--json', 'print {loss, wrt, file, format, value, gradient} (value and gradient as text, or LaTeX with --latex)')
    .addHelpText('after', '\nExamples:\n  segloss grad dice\n  segloss grad losses/tversky.loss --param alpha=0.7 --latex\n  segloss grad dice --json')
    .action((arg: string, o: { latex?: boolean; json?: boolean; region: string; dims: string; param: string[] }) => {
      const { file } = resolveLoss(arg);
      const r = frontendFile(file, { region: region(o.region), dims: dims(o.dims), params: parseParams(o.param) });
      if (!r.ir) throw new SeglossError(r.diagnostics, r.sources);
      const { loss } = r.ir;
      const mode = o.latex ? 'latex' : 'text';
      const value = { name: loss.name, node: r.ir.value };
      const gradient = { name: `d${loss.name}/d${loss.wrt.name}`, node: r.ir.grad };
      if (o.json) {
        const out = { loss: loss.name, wrt: loss.wrt.name, file, format: mode, value: printRoots([value], mode), gradient: printRoots([gradient], mode) };
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      process.stdout.write(`${printRoots([value, gradient], mode)}\n`);
    });
}
