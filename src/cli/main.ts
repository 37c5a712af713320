// The segloss command line. Each command is a thin shell over the compiler and
// runtime; exit codes: 0 ok, 1 a check failed, 2 bad input (formula, file, flag).

import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { frontendFile } from '../compiler/compile.ts';
import { SeglossError, formatDiagnostics } from '../compiler/diagnostics.ts';
import type { Region } from '../compiler/lower.ts';
import { printRoots } from '../compiler/print.ts';
import { type CheckResult, checkSource } from '../runtime/check.ts';

const color = process.stdout.isTTY && !process.env.NO_COLOR;

function fail(r: { diagnostics: SeglossError['diagnostics']; sources: ReadonlyMap<string, string> }): never {
  throw new SeglossError(r.diagnostics, r.sources);
}

function parseParams(list: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const kv of list) {
    const m = /^([A-Za-z_]\w*)=(.+)$/.exec(kv);
    if (!m || !Number.isFinite(Number(m[2]))) throw new UsageError(`--param takes name=number, got '${kv}'`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

class UsageError extends Error {}

const collect = (v: string, prev: string[]) => [...prev, v];

const program = new Command('segloss')
  .description('A compiler for segmentation losses: formulas in, exact gradients and fused kernels out, checked against TensorFlow.js.')
  .showHelpAfterError()
  .exitOverride();

program
  .command('grad')
  .description('print a loss and its simplified gradient as math')
  .argument('<file>', 'a .loss file')
  .option('--latex', 'print LaTeX instead of text')
  .option('--region <region>', 'what `region` binds to: sample | batch | global', 'sample')
  .option('--dims <n>', 'spatial dimensions: 2 or 3', '2')
  .option('--param <name=value>', 'override a parameter default (repeatable)', collect, [])
  .addHelpText('after', '\nExample:\n  segloss grad losses/dice.loss\n  segloss grad losses/tversky.loss --param alpha=0.7 --latex')
  .action((file: string, o: { latex?: boolean; region: string; dims: string; param: string[] }) => {
    const r = frontendFile(file, { region: region(o.region), dims: dims(o.dims), params: parseParams(o.param) });
    if (!r.ir) fail(r);
    const { loss } = r.ir;
    const roots = [{ name: loss.name, node: r.ir.value }, { name: `d${loss.name}/d${loss.wrt.name}`, node: r.ir.grad }];
    process.stdout.write(`${printRoots(roots, o.latex ? 'latex' : 'text')}\n`);
  });

program
  .command('check')
  .description('compare value and gradient with TensorFlow.js autodiff and finite differences on random inputs')
  .argument('<files...>', '.loss files')
  .option('--json', 'print [{loss, case, oracle, maxAbsErr, maxRelErr, ok}]')
  .option('--region <region>', 'what `region` binds to: sample | batch | global', 'sample')
  .addHelpText('after', '\nExit code 1 when any row is not ok, 2 when a file does not compile.\n\nExample:\n  segloss check losses/*.loss\n  segloss check losses/dice.loss --json')
  .action(async (files: string[], o: { json?: boolean; region: string }) => {
    const results: CheckResult[] = [];
    for (const file of files) {
      let source: string;
      try { source = readFileSync(file, 'utf8'); } catch { throw new UsageError(`cannot read '${file}'`); }
      const res = await checkSource(source, file, { region: region(o.region) });
      if (res.diagnostics.length) fail(res);
      results.push(res);
      if (!o.json) process.stderr.write(color ? `\r\x1b[2K checked ${results.length}/${files.length} ${file}` : '');
    }
    if (!o.json && color) process.stderr.write('\r\x1b[2K');
    const rows = results.flatMap((r) => r.rows);
    if (o.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    else process.stdout.write(checkTable(rows));
    if (rows.some((r) => !r.ok)) process.exitCode = 1;
  });

function checkTable(rows: CheckResult['rows']): string {
  const head = ['loss', 'case', 'oracle', 'max abs err', 'max rel err', 'ok'];
  const body = rows.map((r) => [r.loss, r.case, r.oracle, r.maxAbsErr.toExponential(2), r.maxRelErr.toExponential(2), r.ok ? 'ok' : 'MISMATCH']);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const bad = rows.filter((r) => !r.ok).length;
  const losses = new Set(rows.map((r) => r.loss)).size;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line), '',
    `${losses} losses, ${rows.length} comparisons: ${rows.length - bad} ok, ${bad} mismatched`, ''].join('\n');
}

function region(s: string): Region {
  if (s === 'sample' || s === 'batch' || s === 'global') return s;
  throw new UsageError(`--region is sample, batch or global, got '${s}'`);
}
function dims(s: string): 2 | 3 {
  if (s === '2' || s === '3') return Number(s) as 2 | 3;
  throw new UsageError(`--dims is 2 or 3, got '${s}'`);
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof SeglossError) {
    process.stderr.write(`${formatDiagnostics(e.diagnostics, e.sources, { color: process.stderr.isTTY })}\n`);
    const n = e.diagnostics.length;
    process.stderr.write(`\n${n} error${n === 1 ? '' : 's'}\n`);
    process.exitCode = 2;
  } else if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else if (e instanceof UsageError) {
    process.stderr.write(`segloss: ${e.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`segloss: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    if (process.env.SEGLOSS_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    else process.stderr.write('(set SEGLOSS_DEBUG=1 for the stack trace, and please report it)\n');
    process.exitCode = 70;
  }
}
