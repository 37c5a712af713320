// `segloss grad FILE`: the loss and its simplified gradient as math.

import type { Command } from 'commander';
import { frontendFile } from '../../runtime/sources.ts';
import { SeglossError } from '../../compiler/front/diagnostics.ts';
import { printRoots } from '../../compiler/passes/print.ts';
import { dims, formulaOptions, parseParams, region } from '../options.ts';

export function register(program: Command): void {
  formulaOptions(program
    .command('grad')
    .description('print a loss and its simplified gradient as math')
    .argument('<file>', 'a .loss file'))
    .option('--latex', 'print LaTeX instead of text')
    .option('--dims <n>', 'spatial dimensions: 2 or 3', '2')
    .addHelpText('after', '\nExamples:\n  segloss grad losses/dice.loss\n  segloss grad losses/tversky.loss --param alpha=0.7 --latex')
    .action((file: string, o: { latex?: boolean; region: string; dims: string; param: string[] }) => {
      const r = frontendFile(file, { region: region(o.region), dims: dims(o.dims), params: parseParams(o.param) });
      if (!r.ir) throw new SeglossError(r.diagnostics, r.sources);
      const { loss } = r.ir;
      const roots = [{ name: loss.name, node: r.ir.value }, { name: `d${loss.name}/d${loss.wrt.name}`, node: r.ir.grad }];
      process.stdout.write(`${printRoots(roots, o.latex ? 'latex' : 'text')}\n`);
    });
}
