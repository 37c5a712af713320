// `segloss bench` (also `npm run bench`): median time of value + gradient per
// backend, side by side with tfjs-cpu, tfjs-wasm, a hand-written JS loop and
// PyTorch; ratios, compile time, memory; a table, or JSON. The harness is
// src/tools/bench/bench.ts; this file parses the flags and draws the progress bar.

import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { DEFAULT_LOSSES, DEFAULT_SHAPES, parseLossSpec, runBench, shapeName } from '../../tools/bench/bench.ts';
import { libraryNames, suggestLoss } from '../../runtime/sources.ts';
import { PEERS, type Peer, formatJson, formatReport } from '../../tools/bench/report.ts';
import { BACKENDS, type Backend } from '../../runtime/loss.ts';
import { UsageError, colorErr } from '../options.ts';

interface BenchFlags {
  losses: string;
  shapes: string;
  backends?: string;
  peers: string;
  runs: string;
  warmup: string;
  warmupTime: string;
  alloc: boolean;
  budget: string;
  threads?: string;
  retries: string;
  json?: boolean;
}

const EXAMPLES = `
Shapes are nhwc: batch x y x x x class, or batch x z x y x x x class for volumes.
By default the js backend and every gpu.js backend that starts here run
(headlessgl needs an X display: run under \`xvfb-run -a\`); the skipped ones are
listed with the reason. The float64 reference interpreter runs only when named.
A cell's contenders are timed together, one call each per round, the order
rotating; the rounds stop after --budget seconds per contender (at least 3
rounds), so with the software renderers (headlessgl on llvmpipe, webgpu on
SwiftShader) the big shapes get fewer runs: the runs column says how many.
The CPU time of other processes during the rounds is measured: above 10 % of
the machine the cell is measured again (--retries), then marked unreliable.
A loss takes parameters or knobs after a colon: generalized_dice:activation=softmax
(several joined by &).
PyTorch runs through python3 (or Debian's /usr/bin/python3; SEGLOSS_PYTHON
overrides) when \`import torch\` works there, and shows "not installed" otherwise.

Examples:
  segloss bench
  segloss bench --losses dice --shapes 4x256x256x1 --runs 3
  segloss bench --losses dice,bce --threads 2,1 --peers torch,js-loop
  segloss bench --backends webasm,cpu --peers tfjs-cpu,js-loop --json > bench.json
  xvfb-run -a segloss bench --backends headlessgl`;

export function register(program: Command): void {
  program
    .command('bench')
    .description('time value + gradient per backend against tfjs, a hand-written JS loop and PyTorch')
    .option('--losses <list>', 'library losses, comma-separated', DEFAULT_LOSSES.join(','))
    .option('--shapes <list>', 'nhwc shapes, comma-separated', DEFAULT_SHAPES.map(shapeName).join(','))
    .option('--backends <list>', `segloss backends, comma-separated (${BACKENDS.join(', ')}); default: js and every gpu.js backend that starts here`)
    .option('--peers <list>', `peers, comma-separated (${PEERS.join(', ')}); 'none' for none`, PEERS.join(','))
    .option('--runs <n>', 'timed calls per row, after the first call and the warm-up', '15')
    .option('--warmup <n>', 'untimed calls after the first call, at least', '2')
    .option('--warmup-time <seconds>', 'untimed calls go on while the warm-up has taken under this (at most 200 calls): code a JIT optimizes after many calls is timed as a training loop runs it', '0.25')
    .option('--no-alloc', 'no segloss:wasm+alloc rows (wasm with its inputs and gradient in arrays of loss.alloc, read and written in place)')
    .option('--budget <seconds>', "stop a cell's rounds after this many seconds per contender (at least 3 rounds)", '3')
    .option('--threads <list>', 'thread counts for the js backend and PyTorch, the same for both, comma-separated (default: the cores, and 1)')
    .option('--retries <n>', 'measure a cell again this many times when other processes took more than 10 % of the machine', '2')
    .option('--json', 'print the whole report as JSON (rows, compile times, targets, skipped)')
    .addHelpText('after', EXAMPLES)
    .action(async (o: BenchFlags) => {
      const losses = list(o.losses);
      if (losses.length === 0) throw new UsageError('--losses names no loss');
      for (const l of losses) {
        let name: string;
        try { name = parseLossSpec(l).name; } catch (e) { throw new UsageError(`--losses: ${(e as Error).message}`); }
        if (!libraryNames().includes(name)) throw new UsageError(`--losses: no library loss named '${name}'${suggestLoss(name) ? `; ${suggestLoss(name)}` : ''}`);
      }
      const shapes = list(o.shapes).map(parseShape);
      const backends = o.backends === undefined ? undefined : list(o.backends).map(parseBackend);
      const peers = o.peers === 'none' ? [] : list(o.peers).map(parsePeer);
      const runs = int(o.runs, '--runs', 1);
      const warmup = int(o.warmup, '--warmup', 0);
      const warmupS = Number(o.warmupTime);
      if (!(warmupS >= 0)) throw new UsageError(`--warmup-time takes a number of seconds (0 or more), got '${o.warmupTime}'`);
      const budgetS = Number(o.budget);
      if (!(budgetS > 0)) throw new UsageError(`--budget takes a positive number of seconds, got '${o.budget}'`);
      const threads = o.threads === undefined ? undefined : list(o.threads).map((t) => int(t, '--threads', 1));
      const retries = int(o.retries, '--retries', 0);

      const bar = process.stderr.isTTY
        ? new cliProgress.SingleBar({ format: ' {bar} {value}/{total} {task}', hideCursor: true, clearOnComplete: true, stream: process.stderr }, cliProgress.Presets.shades_classic)
        : undefined;
      let lastGroup = '';
      const report = await runBench({
        losses, shapes, backends, peers, runs, warmup, warmupS, budgetS, threads, retries, alloc: o.alloc,
        onWarn(message) {
          bar?.stop();
          process.stderr.write(`bench: ${message}\n`);
        },
        onSkipped(skipped) {
          for (const s of skipped) process.stderr.write(`bench: skipped ${s.name}: ${s.why}\n`);
        },
        onProgress(done, total, label) {
          if (bar) {
            if (done === 0) bar.start(total, 0, { task: label });
            bar.update(done, { task: label });
            return;
          }
          // Not a terminal: one line per (loss, shape), so a log shows where a long run is.
          const group = label.slice(0, Math.max(0, label.lastIndexOf(': ')) || label.length);
          if (group !== lastGroup && done < total) { lastGroup = group; process.stderr.write(`bench: ${group}\n`); }
        },
      }).finally(() => bar?.stop());

      process.stdout.write(o.json ? formatJson(report) : formatReport(report));
      if (colorErr && report.rows.some((r) => r.status === 'ok' && !r.ok)) process.stderr.write('bench: some rows disagree with tfjs-cpu (see the check column)\n');
    });
}

function list(s: string): string[] {
  return s.split(',').map((x) => x.trim()).filter(Boolean);
}

function parseShape(s: string): number[] {
  const dims = s.split('x').map(Number);
  if ((dims.length !== 4 && dims.length !== 5) || !dims.every((d) => Number.isInteger(d) && d > 0)) {
    throw new UsageError(`a shape is 4 or 5 positive integers joined by 'x' (nhwc: 4x256x256x1, 1x64x64x64x1), got '${s}'`);
  }
  return dims;
}

function parseBackend(s: string): Backend {
  if ((BACKENDS as readonly string[]).includes(s)) return s as Backend;
  throw new UsageError(`--backends takes ${BACKENDS.join(', ')}; got '${s}'`);
}

function parsePeer(s: string): Peer {
  if ((PEERS as readonly string[]).includes(s)) return s as Peer;
  throw new UsageError(`--peers takes ${PEERS.join(', ')} or none; got '${s}'`);
}

function int(s: string, flag: string, min: number): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} takes an integer ≥ ${min}, got '${s}'`);
  return n;
}
