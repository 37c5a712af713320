// `segloss plan NAME|FILE`: the passes over the full tensor, the host epilogue, and
// what each pass reads and accumulates.

import type { Command } from 'commander';
import { frontendFile } from '../../runtime/sources.ts';
import { SeglossError } from '../../compiler/front/diagnostics.ts';
import { planText } from '../../compiler/dump.ts';
import { LOSS_ARG_HELP, dims, formulaOptions, parseParams, region, resolveLoss } from '../options.ts';

export function register(program: Command): void {
  formulaOptions(program
    .command('plan')
    .description('print the kernel plan: passes over the full tensor and the small values between them')
    .argument('<loss>', LOSS_ARG_HELP))
    .option('--dims <n>', 'spatial dimensions: 2 or 3', '2')
    .option('--json', 'print {loss, passes: [{kind, reads, accumulators}]}')
    .addHelpText('after', '\nExamples:\n  segloss plan dice\n  segloss plan losses/bce.loss --json')
    .action((arg: string, o: { region: string; dims: string; param: string[]; json?: boolean }) => {
      const { file } = resolveLoss(arg);
      const r = frontendFile(file, { region: region(o.region), dims: dims(o.dims), params: parseParams(o.param) });
      if (!r.ir) throw new SeglossError(r.diagnostics, r.sources);
      const p = r.ir.plan;
      if (o.json) {
        const passes = p.passes.map((ps) => ({ kind: ps.kind === 'map' && ps.reductions.length ? 'map+reduce' : ps.kind, reads: p.reads.get(ps), accumulators: ps.reductions.length }));
        process.stdout.write(`${JSON.stringify({ loss: r.ir.loss.name, passes }, null, 2)}\n`);
      } else {
        process.stdout.write(`${planText(r.ir)}\n`);
      }
    });
}
