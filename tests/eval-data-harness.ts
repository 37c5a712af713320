// A child process for tests/eval-data.test.ts: runs `segloss eval` in process on
// many files in a row (a spawn per file costs seconds) and records each outcome,
// as one JSON line appended to a results file as soon as it is known, so that a
// hang or an out-of-memory kill still tells the parent which file did it.
// Usage: node --import tsx tests/eval-data-harness.ts JOBS.json RESULTS.jsonl
// Exit codes follow src/cli/main.ts: 2 for the errors a person caused, 70 for
// anything else (an internal error).

import { appendFileSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Command, CommanderError } from 'commander';
import { register } from '../src/cli/commands/eval.ts';
import { UsageError } from '../src/cli/options.ts';
import { SeglossError } from '../src/compiler/front/diagnostics.ts';
import { InputError } from '../src/compiler/core/errors.ts';

interface Job { id: number; args: string[] }

const [jobsFile, resultsFile] = process.argv.slice(2) as [string, string];
const jobs = JSON.parse(readFileSync(jobsFile, 'utf8')) as Job[];
const realOut = process.stdout.write.bind(process.stdout);
const realErr = process.stderr.write.bind(process.stderr);

for (const job of jobs) {
  let out = '', err = '';
  process.stdout.write = ((s: string | Uint8Array) => { out += String(s); return true; }) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => { err += String(s); return true; }) as typeof process.stderr.write;
  const t0 = performance.now();
  let code = 0;
  try {
    const program = new Command('segloss').exitOverride();
    register(program);
    await program.parseAsync(['node', 'segloss', ...job.args]);
  } catch (e) {
    if (e instanceof SeglossError) code = 2;
    else if (e instanceof CommanderError) code = e.exitCode === 0 ? 0 : 2;
    else if (e instanceof UsageError || e instanceof InputError) { code = 2; err += `segloss: ${e.message}\n`; }
    else { code = 70; err += `segloss: internal error: ${e instanceof Error ? e.stack : String(e)}\n`; }
  } finally {
    process.stdout.write = realOut;
    process.stderr.write = realErr;
  }
  const ms = performance.now() - t0;
  appendFileSync(resultsFile, `${JSON.stringify({ id: job.id, code, out: out.slice(0, 2000), err: err.slice(0, 4000), ms })}\n`);
}
// the peak resident memory of the whole run, in KiB
appendFileSync(resultsFile, `${JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS })}\n`);
