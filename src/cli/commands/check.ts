// `segloss check FILE...`: value and gradient against TensorFlow.js autodiff,
// finite differences and the compiled kernels on random inputs; a table, or
// JSON; exit 1 on a mismatch; warnings (on stderr) for a loss that cannot train.

import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { readSource } from '../../runtime/sources.ts';

import { SeglossError } from '../../compiler/front/diagnostics.ts';
import type { Params } from '../../compiler/lower/knobs.ts';
import type { Region } from '../../compiler/lower/knobs.ts';
import { type CheckResult, checkSource, randomInputs } from '../../tools/check.ts';
import { sizesOf } from '../../compiler/core/layout.ts';
import { compile } from '../../runtime/loss.ts';
import { tfValueAndGrad } from '../../tools/tfjs-eval.ts';
import { UsageError, colorErr, collect, paramHelp, parseParams, region, resolveLoss } from '../options.ts';

export function register(program: Command): void {
  program
    .command('check')
    .description('compare value and gradient with TensorFlow.js autodiff, finite differences and the compiled kernels on random inputs')
    .argument('<losses...>', 'loss names (dice, bce, ...; see segloss list) or .loss files')
    .option('--json', 'print [{loss, case, oracle, value, oracleValue, maxAbsErr, maxRelErr, ok, backend?, warnings?}]')
    .option('--region <region>', 'what `region` binds to: sample | batch | global', 'sample')
    .option('--param <name=value>', paramHelp('a parameter for every file', 'reduction=sum, include_background=false, class_weights=1,2, mask=true'), collect, [])
    .option('--summary', 'one row per loss: passes, values, largest errors, and the speed-up over tfjs-cpu')
    .addHelpText('after', `
Each case (binary 2-D, multi-class 2-D, binary 3-D; bigger images for windowed
losses) draws seeded random inputs; the float64 reference interpreter gives our
value and symbolic gradient, which three oracles must match:
  tfjs         TensorFlow.js autodiff (cpu, float32), relative error <= 2e-4
  finite-diff  central differences of the reference value, <= 1e-6
  kernels      the compiled kernels on the js backend (float32):
               value and gradient each <= 5e-5 of their largest entry
The value column is the loss on that case (the reference's).
A warning (stderr, and "warnings" in --json) says when the value or the whole
gradient is zero in every case, or the loss does not read its prediction: such a
loss matches every oracle but cannot train. Warnings leave the exit code alone.

Exit code 1 when any row is not ok, 2 when a file does not compile.
--summary times value+gradient at 2x64x64x1 on the js backend against
TensorFlow.js (cpu backend) autodiff of the same formula, median of a few runs.

Examples:\n  segloss check losses/*.loss\n  segloss check dice tversky\n  segloss check losses/*.loss --summary\n  segloss check losses/dice.loss --json\n  segloss check losses/dice.loss --param include_background=false --param reduction=sum`)
    .action(async (args: string[], o: { json?: boolean; region: string; summary?: boolean; param: string[] }) => {
      const params = parseParams(o.param);
      const files = args.map((a) => resolveLoss(a).file);
      const results: CheckResult[] = [];
      const summaries: Summary[] = [];
      const bar = !o.json && colorErr ? new cliProgress.SingleBar({ format: ' {bar} {value}/{total} {file}', hideCursor: true, clearOnComplete: true, stream: process.stderr }, cliProgress.Presets.shades_classic) : undefined;
      bar?.start(files.length, 0, { file: '' });
      try {
        for (const file of files) {
          bar?.update({ file });
          let source: string;
          { const got = readSource(file); if ('why' in got) throw new UsageError(`cannot read '${file}': ${got.why}`); source = got.text; }
          const res = await checkSource(source, file, { region: region(o.region), params });
          if (res.diagnostics.length) throw new SeglossError(res.diagnostics, res.sources);
          results.push(res);
          if (o.summary) summaries.push(await summarize(source, file, res, region(o.region), params));
          bar?.increment();
        }
      } finally {
        bar?.stop();
      }
      const rows = results.flatMap((r) => r.rows);
      const warnings = results.flatMap((r) => r.warnings.map((w) => `${r.file}: warning: ${w}`));
      if (o.json) {
        // Each row carries its file's warnings, so a consumer filtering rows still sees them.
        const json = o.summary ? summaries : results.flatMap((r) => r.rows.map((row) => (r.warnings.length ? { ...row, warnings: r.warnings } : row)));
        process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
      } else {
        process.stdout.write(o.summary ? summaryTable(summaries, warnings.length) : checkTable(rows, warnings.length));
      }
      // Loud, but not a failure: the loss is what its formula says.
      for (const w of warnings) process.stderr.write(colorErr ? `\x1b[1;33m${w}\x1b[0m\n` : `${w}\n`);
      if (rows.some((r) => !r.ok)) process.exitCode = 1;
    });
}

interface Summary { loss: string; passes: number; values: number[]; tfjsErr: number; fdErr: number; kernelsErr: number | null; speedup: number; ok: boolean; warnings: string[] }

const SPEED_SHAPE = [2, 64, 64, 1];

/** Median of `runs` timed calls after a warm-up; a call slower than a second and a half is timed once. */
async function median(f: () => Promise<unknown>, runs: number): Promise<number> {
  const t0 = performance.now();
  await f();
  const first = performance.now() - t0;
  if (first > 1500) return first;
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) { const t0 = performance.now(); await f(); ts.push(performance.now() - t0); }
  return ts.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}

/** Passes, the largest errors of the check, and js-backend time against tfjs-cpu autodiff of the same IR. */
async function summarize(source: string, file: string, res: CheckResult, reg: Region, params: Params): Promise<Summary> {
  const loss = await compile(source, { file, backend: 'js', region: reg, params });
  try {
    const ir = loss.ir(2);
    const { sizes, dims } = sizesOf(SPEED_SHAPE, 'nhwc');
    const canon = randomInputs(ir.loss.inputs, sizes, dims, false, 7);
    // The runtime takes the user's layout; with one class, nhwc and canonical order coincide.
    const inputs = Object.fromEntries(Object.entries(canon).map(([k, v]) => [k, Float32Array.from(v)]));
    const out = new Float32Array(canon[ir.loss.wrt.name]!.length);
    const ours = await median(() => loss.valueAndGrad(inputs, SPEED_SHAPE, { out }), 7);
    const theirs = await median(() => tfValueAndGrad(ir.objective, ir.loss.wrt.name, canon, sizes, dims), 3);
    // null when no case has the row (the kernels refused every case's inputs).
    const worst = (oracle: string) => { const e = res.rows.filter((r) => r.oracle === oracle).map((r) => r.maxRelErr); return e.length ? Math.max(...e) : null; };
    return {
      loss: ir.loss.name, passes: ir.plan.passes.length, values: res.rows.filter((r) => r.oracle === 'tfjs').map((r) => r.value),
      tfjsErr: worst('tfjs')!, fdErr: worst('finite-diff')!, kernelsErr: worst('kernels'), speedup: theirs / ours, ok: res.rows.every((r) => r.ok), warnings: res.warnings,
    };
  } finally {
    loss.dispose();
  }
}

/** A loss value, short: four significant digits. */
const short = (v: number) => (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5) ? v.toExponential(2) : String(Number(v.toPrecision(4))));
const verdict = (ok: boolean, warned: boolean) => (ok ? (warned ? 'ok (warning)' : 'ok') : 'MISMATCH');

function summaryTable(rows: Summary[], warnings: number): string {
  const head = ['loss', 'passes', 'value per case', 'max rel err vs tfjs', 'vs finite diff', 'vs kernels (js)', 'speed-up over tfjs-cpu', 'ok'];
  const body = rows.map((r) => [r.loss, String(r.passes), r.values.map(short).join(' / '), r.tfjsErr.toExponential(2), r.fdErr.toExponential(2), r.kernelsErr?.toExponential(2) ?? '-', `${r.speedup.toFixed(1)}x`, verdict(r.ok, r.warnings.length > 0)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const bad = rows.filter((r) => !r.ok).length;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line), '',
    `${rows.length} losses: ${rows.length - bad} ok, ${bad} mismatched${warned(warnings)}\n(value per case: binary-2d / multiclass-2d / binary-3d; speed at ${SPEED_SHAPE.join('x')}, js backend, value + gradient)`, ''].join('\n');
}

const warned = (n: number) => (n ? `; ${n} warning${n > 1 ? 's' : ''} (on stderr)` : '');

function checkTable(rows: CheckResult['rows'], warnings: number): string {
  const head = ['loss', 'case', 'value', 'oracle', 'max abs err', 'max rel err', 'ok'];
  const body = rows.map((r) => [r.loss, r.case, short(r.value), r.backend ? `${r.oracle} (${r.backend})` : r.oracle, r.maxAbsErr.toExponential(2), r.maxRelErr.toExponential(2), r.ok ? 'ok' : 'MISMATCH']);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const bad = rows.filter((r) => !r.ok).length;
  const losses = new Set(rows.map((r) => r.loss)).size;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line), '',
    `${losses} losses, ${rows.length} comparisons: ${rows.length - bad} ok, ${bad} mismatched${warned(warnings)}`, ''].join('\n');
}
