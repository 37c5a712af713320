// The segloss command line. Each command lives in commands/ and registers
// itself; exit codes: 0 ok, 1 a check failed, 2 bad input (formula, file, flag).
//
// Commands load lazily: the table below holds what the top-level help shows
// (name, arguments, description), and only the command being run (or asked
// for help) is imported, so `segloss --help` and `segloss --version` never load
// the compiler, TensorFlow.js or gpu.js. tests/package.test.ts checks the table
// against each command's own registration.

import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';

type CommandModule = { register(program: Command): void };

/** Every command, in help order: what the top-level help prints, and how to load it. */
const COMMANDS: readonly { name: string; args: string; description: string; load: () => Promise<CommandModule> }[] = [
  { name: 'list', args: '', description: 'the loss library: name, title, citation, parameters with defaults, input roles', load: () => import('./commands/list.ts') },
  { name: 'show', args: '<loss>', description: 'show a loss: its formula, simplified gradient and kernel plan, or the result after chosen pipeline stages', load: () => import('./commands/show.ts') },
  { name: 'grad', args: '<loss>', description: 'print a loss and its simplified gradient as math', load: () => import('./commands/grad.ts') },
  { name: 'plan', args: '<loss>', description: 'print the kernel plan: passes over the full tensor and the small values between them', load: () => import('./commands/plan.ts') },
  { name: 'check', args: '<losses...>', description: 'compare value and gradient with TensorFlow.js autodiff, finite differences and the compiled kernels on random inputs', load: () => import('./commands/check.ts') },
  { name: 'compile', args: '<loss>', description: 'print the kernels a backend runs for one shape, or write them as a standalone module (--out)', load: () => import('./commands/compile.ts') },
  { name: 'eval', args: '<loss>', description: 'run a loss on arrays (.npy, .png, .nii, .nii.gz): print its value, write its gradient', load: () => import('./commands/eval.ts') },
  { name: 'docs', args: '[losses...]', description: 'write the loss library as a static site: an index and one page per loss', load: () => import('./commands/docs.ts') },
  { name: 'bench', args: '', description: 'time value + gradient per backend against tfjs, a hand-written JS loop and PyTorch', load: () => import('./commands/bench.ts') },
  { name: 'new', args: '<name>', description: 'start a new loss: a formula skeleton and its test against TensorFlow.js', load: () => import('./commands/new.ts') },
  { name: 'fmt', args: '[paths...]', description: 'format .loss files canonically; --check lists the files that would change', load: () => import('./commands/fmt.ts') },
];

/** The package's version, from the package.json above this file (src/cli/ in the repository, dist/src/cli/ built). */
function version(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'segloss' && pkg.version) return pkg.version;
    } catch { /* not this one */ }
  }
  return 'unknown';
}

/**
 * The program with every command: the ones named in `load` registered by their
 * own module (all their options and help), the others as stand-ins that carry
 * what the top-level help prints.
 */
async function buildProgram(load: ReadonlySet<string> | 'all' = new Set()): Promise<Command> {
  const program = new Command('segloss')
    .description('A compiler for segmentation losses: formulas in, exact gradients and fused kernels out, checked against TensorFlow.js.')
    .version(version(), '-V, --version', 'print the version of segloss')
    .showHelpAfterError()
    .exitOverride()
    .addHelpText('after', '\nExit codes: 0 ok, 1 a check failed, 2 bad input (a formula, a file, a flag).');
  const modules = await Promise.all(COMMANDS.map((c) => (load === 'all' || load.has(c.name) ? c.load() : undefined)));
  COMMANDS.forEach((c, i) => {
    const mod = modules[i];
    if (mod) { mod.register(program); return; }
    const stub = program.command(c.name).description(c.description)
      // Every command has options; the help's `[options]` comes from there.
      .addOption(new Option('--stand-in').hideHelp())
      .allowUnknownOption()
      .action(() => { throw new Error(`command ${c.name} was not loaded`); });
    if (c.args) stub.arguments(c.args);
  });
  return program;
}

/** The commands a command line runs or asks help for: `segloss <cmd> ...` or `segloss help <cmd>`. */
function named(argv: readonly string[]): Set<string> {
  const names = new Set(COMMANDS.map((c) => c.name));
  const [first, second] = argv;
  if (first && names.has(first)) return new Set([first]);
  if (first === 'help' && second && names.has(second)) return new Set([second]);
  return new Set();
}

/**
 * A reader that stops early (`segloss list | head`) closes the pipe: the rest of
 * the output has nowhere to go, which is not an error of the command.
 */
function quietOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
}

async function main(): Promise<void> {
  quietOnClosedPipe();
  try {
    const program = await buildProgram(named(process.argv.slice(2)));
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    // Loaded only on an error: the command that threw has loaded them already.
    const [{ SeglossError, formatDiagnostics }, { UsageError, colorErr }, { InputError }] = await Promise.all([
      import('../compiler/front/diagnostics.ts'), import('./options.ts'), import('../compiler/core/errors.ts'),
    ]);
    if (e instanceof SeglossError) {
      process.stderr.write(`${formatDiagnostics(e.diagnostics, e.sources, { color: colorErr })}\n`);
      const n = e.diagnostics.length;
      process.stderr.write(`\n${n} error${n === 1 ? '' : 's'}\n`);
      process.exitCode = 2;
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
}

await main();
