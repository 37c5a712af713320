// The segloss command line. Each command lives in commands/ and registers
// itself; exit codes: 0 ok, 1 a check failed, 2 bad input (formula, file, flag).

import { Command, CommanderError } from 'commander';
import { SeglossError, formatDiagnostics } from '../compiler/front/diagnostics.ts';
import * as bench from './commands/bench.ts';
import * as check from './commands/check.ts';
import * as compileCmd from './commands/compile.ts';
import * as docs from './commands/docs.ts';
import * as evalCmd from './commands/eval.ts';
import * as fmt from './commands/fmt.ts';
import * as grad from './commands/grad.ts';
import * as list from './commands/list.ts';
import * as newCmd from './commands/new.ts';
import * as plan from './commands/plan.ts';
import * as show from './commands/show.ts';
import { UsageError, colorErr } from './options.ts';
import { InputError } from '../compiler/core/errors.ts';

const program = new Command('segloss')
  .description('A compiler for segmentation losses: formulas in, exact gradients and fused kernels out, checked against TensorFlow.js.')
  .showHelpAfterError()
  .exitOverride()
  .addHelpText('after', '\nExit codes: 0 ok, 1 a check failed, 2 bad input (a formula, a file, a flag).');

for (const command of [grad, check, plan, compileCmd, evalCmd, docs, bench]) command.register(program);
list.register(program);
show.register(program);
newCmd.register(program);
fmt.register(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof SeglossError) {
    process.stderr.write(`${formatDiagnostics(e.diagnostics, e.sources, { color: colorErr })}\n`);
    const n = e.diagnostics.length;
    process.stderr.write(`\n${n} error${n === 1 ? '' : 's'}\n`);
    process.exitCode = 2;
  } else if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else if (e instanceof UsageError || e instanceof InputError) {
    process.stderr.write(`segloss: ${e.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`segloss: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    if (process.env.SEGLOSS_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    else process.stderr.write('(set SEGLOSS_DEBUG=1 for the stack trace, and please report it)\n');
    process.exitCode = 70;
  }
}
