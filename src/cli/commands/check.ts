// `segloss check FILE...`: value and gradient against TensorFlow.js autodiff and
// finite differences on random inputs; a table, or JSON; exit 1 on a mismatch.

import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { SeglossError } from '../../compiler/diagnostics.ts';
import { type CheckResult, checkSource } from '../../runtime/check.ts';
import { UsageError, colorErr, region } from '../options.ts';

export function register(program: Command): void {
  program
    .command('check')
    .description('compare value and gradient with TensorFlow.js autodiff and finite differences on random inputs')
    .argument('<files...>', '.loss files')
    .option('--json', 'print [{loss, case, oracle, maxAbsErr, maxRelErr, ok}]')
    .option('--region <region>', 'what `region` binds to: sample | batch | global', 'sample')
    .addHelpText('after', '\nExit code 1 when any row is not ok, 2 when a file does not compile.\n\nExamples:\n  segloss check losses/*.loss\n  segloss check losses/dice.loss --json')
    .action(async (files: string[], o: { json?: boolean; region: string }) => {
      const results: CheckResult[] = [];
      for (const file of files) {
        let source: string;
        try { source = readFileSync(file, 'utf8'); } catch { throw new UsageError(`cannot read '${file}'`); }
        const res = await checkSource(source, file, { region: region(o.region) });
        if (res.diagnostics.length) throw new SeglossError(res.diagnostics, res.sources);
        results.push(res);
        if (!o.json && colorErr) process.stderr.write(`\r\x1b[2K checked ${results.length}/${files.length} ${file}`);
      }
      if (!o.json && colorErr) process.stderr.write('\r\x1b[2K');
      const rows = results.flatMap((r) => r.rows);
      process.stdout.write(o.json ? `${JSON.stringify(rows, null, 2)}\n` : checkTable(rows));
      if (rows.some((r) => !r.ok)) process.exitCode = 1;
    });
}

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
