// Fuzzing the whole pipeline (issue 10): random bytes, token soups, grammar-generated programs,
// mutations of every library file and a targeted list (nesting, long chains, exponential defs,
// hostile names, edge numbers, BOM/CR/NUL/Unicode). Property: every input either compiles and its
// js kernels equal the float64 reference interpreter (value, gradient, per-item values; float32
// tolerance, the same non-finite values), or gives located diagnostics (a SeglossError: exit 2);
// never an `internal:` error, another exception, a stack overflow, or a run over TIME_BOUND_MS.
// Each input runs in a worker thread with a 1.2 MB stack (the depth node's main thread reaches) and a heap limit,
// so a hang or a crash is that input's failure. The seed is fixed (tests/setup.ts; FC_SEED
// overrides) and printed, with the inputs and the outcomes of each category.

import fc from 'fast-check';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, test } from 'vitest';
import { LIBRARY_DIR } from '../src/runtime/sources.ts';
import { type FuzzInput, type Outcome, bytesInput, choicesArb, grammarInput, mutate, targetedInputs, tokenSoupInput } from './fuzz-arbitraries.ts';

/** The wall-clock bound of one input (compile on two backends and run): generous, for a slow shared machine. */
const TIME_BOUND_MS = 10_000;
/** FUZZ_SCALE=10 runs ten times the inputs of each random category (locally; CI runs 1). */
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const RUNS = { bytes: 400, tokens: 400, grammar: 400, mutationsPerFile: 6 };
const SEED = fc.readConfigureGlobal().seed ?? 0;
/** FUZZ_REPORT=file.json writes every failure (and every input slower than a second) with its whole input. */
const REPORT = process.env.FUZZ_REPORT;
const report: { category: string; outcome: Outcome & { ms: number }; input: FuzzInput }[] = [];

/** One worker thread that judges inputs one at a time; replaced after a timeout or a crash. */
class Sandbox {
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;

  private start(): Promise<void> {
    const url = new URL('./fuzz-arbitraries.ts', import.meta.url).href;
    // tsx's loader in the worker: the judge imports the TypeScript sources, as bin/segloss.js does.
    const code = `import('tsx/esm/api').then((t) => { t.register(); return import(${JSON.stringify(url)}); }).then((m) => m.serve())
      .catch((e) => require('node:worker_threads').parentPort.postMessage({ startError: String(e && e.stack || e) }));`;
    const w = new Worker(code, { eval: true, stdout: true, stderr: true, resourceLimits: { stackSizeMb: 1.2, maxOldGenerationSizeMb: 1536 } });
    this.worker = w;
    // What the sources print is not the property's business; a crash between inputs only retires the worker.
    w.stdout.resume();
    w.stderr.resume();
    w.on('error', () => {});
    w.on('exit', () => { if (this.worker === w) this.worker = undefined; });
    this.ready = new Promise((resolve, reject) => {
      w.once('message', (m: unknown) => (m === 'ready' ? resolve() : reject(new Error(`fuzz worker did not start: ${JSON.stringify(m)}`))));
      w.once('error', reject);
    });
    return this.ready;
  }

  async judge(inp: FuzzInput): Promise<Outcome & { ms: number }> {
    if (!this.worker) await this.start();
    else await this.ready;
    const w = this.worker!;
    const t0 = performance.now();
    return new Promise((resolve) => {
      const done = (o: Outcome) => {
        clearTimeout(timer);
        w.off('message', onMessage);
        w.off('error', onError);
        w.off('exit', onExit);
        resolve({ ...o, ms: performance.now() - t0 });
      };
      const onMessage = (o: Outcome) => done(o);
      const onError = (e: Error & { code?: string }) => {
        this.worker = undefined;
        done({ kind: 'failure', why: e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'out of memory' : 'worker crashed', message: `${e.code ?? ''} ${e.message}` });
      };
      const onExit = (code: number) => { this.worker = undefined; done({ kind: 'failure', why: 'worker exited', message: `exit code ${code}` }); };
      const timer = setTimeout(() => {
        this.worker = undefined;
        void w.terminate();
        done({ kind: 'failure', why: 'timeout', message: `over ${TIME_BOUND_MS} ms` });
      }, TIME_BOUND_MS);
      w.on('message', onMessage);
      w.on('error', onError);
      w.on('exit', onExit);
      w.postMessage(inp);
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = undefined;
  }
}

interface Tally { inputs: number; equal: number; nonFinite: number; beyond: number; diagnostic: number; codes: Map<string, number>; inputError: number; failures: Map<string, number>; ms: number; slowest: { ms: number; what: string } }

const tallies = new Map<string, Tally>();
const sandbox = new Sandbox();

function describeInput(inp: FuzzInput): string {
  const src = inp.source.length > 300 ? `${JSON.stringify(inp.source.slice(0, 300))}… (${inp.source.length} chars)` : JSON.stringify(inp.source);
  const extra = [inp.note, inp.file && `file ${inp.file}`, inp.params && Object.keys(inp.params).length && `params ${JSON.stringify(inp.params)}`, inp.activation && `activation ${inp.activation}`,
    inp.shape && `shape [${inp.shape.join(', ')}] ${inp.layout ?? 'nhwc'}`, inp.files && Object.keys(inp.files).length && `files ${JSON.stringify(inp.files)}`].filter(Boolean);
  return `${extra.join('; ')}\n    source ${src}`;
}

/** Judge every input of a category; the failures, described. */
async function run(category: string, inputs: readonly FuzzInput[]): Promise<string[]> {
  const t: Tally = { inputs: 0, equal: 0, nonFinite: 0, beyond: 0, diagnostic: 0, codes: new Map(), inputError: 0, failures: new Map(), ms: 0, slowest: { ms: 0, what: '' } };
  tallies.set(category, t);
  const failures: string[] = [];
  for (const inp of inputs) {
    const o = await sandbox.judge(inp);
    t.inputs++;
    t.ms += o.ms;
    if (REPORT && (o.kind === 'failure' || o.ms > 1000)) report.push({ category, outcome: o, input: inp });
    if (o.ms > t.slowest.ms) t.slowest = { ms: o.ms, what: inp.note ?? JSON.stringify(inp.source.slice(0, 60)) };
    switch (o.kind) {
      case 'equal': t.equal++; if (o.nonFinite) t.nonFinite++; break;
      case 'diagnostic': t.diagnostic++; for (const c of o.codes) t.codes.set(c, (t.codes.get(c) ?? 0) + 1); break;
      case 'beyond-f32': t.beyond++; break;
      case 'input-error': t.inputError++; break;
      case 'failure':
        t.failures.set(o.why, (t.failures.get(o.why) ?? 0) + 1);
        failures.push(`${o.why}: ${o.message.slice(0, 600)}\n    ${describeInput(inp)}`);
    }
  }
  console.log(`fuzz ${category} (seed ${SEED}): ${summary(t)}`);
  return failures;
}

function summary(t: Tally): string {
  const codes = [...t.codes].sort(([a], [b]) => a.localeCompare(b)).map(([c, n]) => `${c} ${n}`).join(', ');
  const fails = [...t.failures].map(([w, n]) => `${w} ${n}`).join(', ');
  return `${t.inputs} inputs: ${t.equal} compiled and equal to the reference (${t.nonFinite} non-finite on both), ` +
    `${t.beyond} compiled but beyond float32's range (not compared), ` +
    `${t.diagnostic} located diagnostics (${codes || 'none'}), ${t.inputError} input errors, ${t.inputs - t.equal - t.beyond - t.diagnostic - t.inputError} failures${fails ? ` (${fails})` : ''}; ` +
    `${(t.ms / 1000).toFixed(1)} s, slowest ${(t.slowest.ms / 1000).toFixed(2)} s (${t.slowest.what})`;
}

/** `n` inputs from `arb`, reproducible from the seed (one stream per category). */
const sample = (arb: fc.Arbitrary<FuzzInput>, n: number, k: number): FuzzInput[] => fc.sample(arb, { seed: SEED + k, numRuns: Math.round(n * SCALE) });

const LIBRARY = readdirSync(LIBRARY_DIR).filter((f) => f.endsWith('.loss')).sort();

function libraryInputs(): FuzzInput[] {
  const out: FuzzInput[] = [];
  LIBRARY.forEach((f, i) => {
    const file = join(LIBRARY_DIR, f);
    const text = readFileSync(file, 'utf8');
    out.push({ source: text, file, shape: [2, 5, 4, 3], seed: i, note: `${f} as it is` });
    out.push({ source: text, file, shape: [1, 3, 4, 3, 2], seed: i, note: `${f} as it is, 3-D` });
    const muts = fc.sample(fc.tuple(choicesArb(32), fc.integer({ min: 1, max: 3 }), fc.nat()),
      { seed: SEED + 100 + i, numRuns: Math.round(RUNS.mutationsPerFile * SCALE) });
    for (const [choices, count, seed] of muts) {
      let at = 0;
      const source = mutate(text, () => choices[at++ % choices.length]!, count);
      out.push({ source, file, shape: [1, 4, 4, 2], seed, note: `${f} mutated ${count}x` });
    }
  });
  return out;
}

afterAll(async () => {
  await sandbox.close();
  if (REPORT) writeFileSync(REPORT, JSON.stringify(report, null, 1));
  const lines = [...tallies].map(([c, t]) => `  ${c.padEnd(9)} ${summary(t)}`);
  console.log(`fuzz figures, seed ${SEED} (FC_SEED=${SEED} reproduces; time bound ${TIME_BOUND_MS} ms per input):\n${lines.join('\n')}`);
});

describe(`fuzz (seed ${SEED})`, () => {
  test('random bytes', async () => {
    expect(await run('bytes', sample(bytesInput, RUNS.bytes, 1))).toEqual([]);
  }, 600_000);

  test('token soups', async () => {
    expect(await run('tokens', sample(tokenSoupInput, RUNS.tokens, 2))).toEqual([]);
  }, 600_000);

  test('grammar-generated programs (builtins, axes, defs, repeats, knobs, activations)', async () => {
    expect(await run('grammar', sample(grammarInput, RUNS.grammar, 3))).toEqual([]);
  }, 600_000);

  test(`every library file, as it is (2-D and 3-D) and mutated (${LIBRARY.length} files)`, async () => {
    expect(await run('library', libraryInputs())).toEqual([]);
  }, 600_000);

  test('the targeted list (nesting, chains, loops, exponential defs, hostile names, edge numbers, text oddities)', async () => {
    expect(await run('targeted', targetedInputs())).toEqual([]);
  }, 1_200_000);
});
