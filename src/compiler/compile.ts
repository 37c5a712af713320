// The front end as one call: parse a .loss file and what it `use`s, lower it,
// differentiate it, simplify both roots. Returns every pass's result for dumps,
// or the diagnostics; it never throws on a formula mistake.

import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type * as A from './ast.ts';
import { type Diagnostic, SeglossError, diag } from './diagnostics.ts';
import { grad } from './diff.ts';
import type { Node } from './ir.ts';
import { type Activation, type Dims, type LoweredLoss, Lowerer, type Region } from './lower.ts';
import { parse } from './parse.ts';
import { simplify } from './simplify.ts';
import { sum } from './build.ts';
import type { Params } from './knobs.ts';

export interface FrontendOptions {
  dims?: Dims;
  region?: Region;
  /** Parameter overrides and knobs (knobs.ts). */
  params?: Params;
  activation?: Activation;
  /** Reads a `use`d file; defaults to the file system. Returns undefined when absent. */
  readFile?: (path: string) => string | undefined;
}

export interface LossIR {
  loss: LoweredLoss;
  /** The loss value and its gradient with respect to `loss.wrt`, simplified. */
  value: Node;
  grad: Node;
  /**
   * Under reduction 'none': the per-sample, per-class values; `value` is then
   * their sum, the quantity `grad` differentiates.
   */
  values?: Node;
  /** The lowered, unsimplified scalar that `grad` differentiates (the oracles' input). */
  objective: Node;
  /** Each pass's roots, for `show --dump`. */
  passes: { lower: Node[]; diff: Node[]; simplify: Node[] };
}

export interface FrontendResult {
  ir: LossIR | undefined;
  diagnostics: Diagnostic[];
  /** Every source read, by file name, for formatting diagnostics. */
  sources: Map<string, string>;
}

function defaultRead(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Parse `source` and, transitively, every file it uses. */
function load(source: string, file: string, read: (p: string) => string | undefined) {
  const sources = new Map<string, string>([[file, source]]);
  const diagnostics: Diagnostic[] = [];
  const first = parse(source, file);
  diagnostics.push(...first.diagnostics);
  const modules: A.Module[] = [first.module];
  const seen = new Map<string, A.Module>([[resolve(file), first.module]]);
  const visit = (m: A.Module, chain: string[]) => {
    for (const item of m.items) {
      if (item.kind !== 'use') continue;
      // An unterminated string (E104) ate the rest of its line: that path is not a path.
      if (diagnostics.some((d) => d.code === 'E104' && d.span?.file === m.file && d.span.start === item.span.start + 4)) continue;
      const path = join(dirname(m.file), item.path);
      const key = resolve(path);
      if (chain.includes(key)) {
        diagnostics.push(diag('E211', item.span, { path: item.path, chain: [...chain.slice(chain.indexOf(key)), key].map((p) => relative(process.cwd(), p)).join(' -> ') }));
        continue;
      }
      if (seen.has(key)) continue;
      const text = read(path);
      if (text === undefined) {
        diagnostics.push(diag('E210', item.span, { path: item.path }));
        continue;
      }
      sources.set(path, text);
      const parsed = parse(text, path);
      diagnostics.push(...parsed.diagnostics);
      seen.set(key, parsed.module);
      modules.push(parsed.module);
      visit(parsed.module, [...chain, key]);
    }
  };
  visit(first.module, [resolve(file)]);
  return { program: { main: first.module, modules }, diagnostics, sources };
}

export function frontend(source: string, file: string, opts: FrontendOptions = {}): FrontendResult {
  const { program, diagnostics, sources } = load(source, file, opts.readFile ?? defaultRead);
  const lowerer = new Lowerer(program, { dims: opts.dims ?? 2, region: opts.region ?? 'sample', params: opts.params ?? {}, activation: opts.activation ?? 'none' }, diagnostics.length > 0);
  const loss = lowerer.lowerLoss();
  diagnostics.push(...lowerer.diagnostics);
  if (!loss || diagnostics.length) return { ir: undefined, diagnostics, sources };
  const unreduced = loss.value.axes.length > 0 ? loss.value : undefined;
  const objective = unreduced ? sum(unreduced) : loss.value;
  const g = grad(objective, loss.wrt.node);
  const [value, gradient, values] = simplify(unreduced ? [objective, g, unreduced] : [objective, g]) as [Node, Node, Node | undefined];
  return {
    ir: { loss, value, grad: gradient, ...(values ? { values } : {}), objective, passes: { lower: [loss.value], diff: [objective, g], simplify: [value, gradient] } },
    diagnostics,
    sources,
  };
}

/** `frontend`, throwing a SeglossError (which the CLI formats) on any diagnostic. */
export function frontendOrThrow(source: string, file: string, opts: FrontendOptions = {}): LossIR {
  const r = frontend(source, file, opts);
  if (!r.ir) throw new SeglossError(r.diagnostics, r.sources);
  return r.ir;
}

export function frontendFile(path: string, opts: FrontendOptions = {}): FrontendResult {
  const read = opts.readFile ?? defaultRead;
  const text = read(path);
  if (text === undefined) return { ir: undefined, diagnostics: [diag('E210', undefined, { path })], sources: new Map() };
  return frontend(text, path, opts);
}
