// The front end as one call: parse a .loss file and what it `use`s, lower it,
// differentiate it, simplify both roots. Returns every pass's result for dumps,
// or the diagnostics; it never throws on a formula mistake.

import { closeSync, constants, fstatSync, openSync, readSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as A from './front/ast.ts';
import { type Diagnostic, SeglossError, diag } from './front/diagnostics.ts';
import { grad } from './passes/diff.ts';
import type { Node } from './core/ir.ts';
import { type LoweredLoss, Lowerer } from './lower/lower.ts';
import type { Dims } from './core/layout.ts';
import type { Activation, Region } from './lower/knobs.ts';
import { parse } from './front/parse.ts';
import { simplify } from './passes/simplify.ts';
import { sum } from './core/build.ts';
import { type Plan, plan } from './plan/plan.ts';
import type { Params } from './lower/knobs.ts';

export interface FrontendOptions {
  dims?: Dims;
  region?: Region;
  /** Parameter overrides and knobs (knobs.ts). */
  params?: Params;
  activation?: Activation;
  /**
   * Reads a `use`d file; defaults to the file system. Returns undefined when absent.
   * A given reader is trusted with the file's checks; the path checks (inside the
   * allowed folders, ending in `.loss`) apply to it too.
   */
  readFile?: (path: string) => string | undefined;
}

/** The shared library's folder (`losses/` at the package root): a `use` may always reach it. */
export const LIBRARY_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'losses');
/**
 * The most passes over the data a loss may take: the library takes at most 19 (ms_ssim in 3-D), clDice 2 per
 * iteration (iterations = 125 fits). A pass that is not a buffer recomputes its values from the inputs, so a chain
 * of n dependent reductions (a repeat over a mean) costs n² work: 256 such passes compile in about a second here.
 */
export const MAX_PASSES = 256;
/** The largest file a `use` reads: formulas are small; /dev/zero is not. */
export const USE_MAX_BYTES = 1 << 20;

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
  /** The plan of value and gradient (with `values` as an extra root), which the runtime runs. */
  plan: Plan;
  /** Each pass's roots, for `show --dump`. */
  passes: { lower: Node[]; diff: Node[]; simplify: Node[] };
}

export interface FrontendResult {
  ir: LossIR | undefined;
  diagnostics: Diagnostic[];
  /** Every source read, by file name, for formatting diagnostics. */
  sources: Map<string, string>;
}

/** A file to compile (the root, a CLI argument), read as a `use`d file is (a regular file under USE_MAX_BYTES), from any folder. */
export function readSource(path: string): { text: string } | { why: string } {
  return readConfined(path, undefined, false);
}

/** A leading byte-order mark (editors on Windows write one) is not part of the formula. */
const unBom = (s: string): string => (s.charCodeAt(0) === 0xfeff ? s.slice(1) : s);

const inside = (path: string, root: string): boolean => {
  const r = relative(root, path);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
};

function realOr(path: string): string {
  try { return realpathSync(path); } catch { return resolve(path); }
}

/**
 * Why a `use` of `path` is refused, or its text. A formula is untrusted: a `use`
 * reaches only regular `.loss` files under USE_MAX_BYTES inside `roots` (real
 * paths, symlinks followed); the text of a refused file is never read. Without
 * `roots` (the file being compiled), any folder.
 */
function readConfined(path: string, roots: readonly string[] | undefined, lossOnly = true): { text: string } | { why: string } {
  let real: string;
  try { real = realpathSync(path); } catch { return { why: 'no such file' }; }
  if (roots && !roots.some((r) => inside(real, r))) return { why: "it is outside the using file's folder and the library" };
  if (lossOnly && !real.endsWith('.loss')) return { why: 'it is not a .loss file' };
  let fd: number;
  // Non-blocking, so that a FIFO that slipped in after realpath cannot hang the open.
  try { fd = openSync(real, constants.O_RDONLY | constants.O_NONBLOCK); } catch { return { why: 'it cannot be opened' }; }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { why: 'it is not a regular file' };
    if (st.size > USE_MAX_BYTES) return { why: `it is larger than ${USE_MAX_BYTES} bytes` };
    const buf = Buffer.alloc(USE_MAX_BYTES + 1);
    let n = 0;
    for (let k; n < buf.length && (k = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += k;
    if (n > USE_MAX_BYTES) return { why: `it is larger than ${USE_MAX_BYTES} bytes` };
    return { text: buf.toString('utf8', 0, n) };
  } catch {
    return { why: 'it cannot be read' };
  } finally {
    closeSync(fd);
  }
}

/** Parse `source` and, transitively, every file it uses. */
function load(source: string, file: string, given?: (p: string) => string | undefined) {
  // The folders a `use` may reach: the root file's and the library's (and their subfolders).
  const roots = [dirname(file), LIBRARY_DIR].map((d) => (given ? resolve(d) : realOr(d)));
  const read = (path: string): { text: string } | { why: string } => {
    if (!given) return readConfined(path, roots);
    if (!roots.some((r) => inside(resolve(path), r))) return { why: "it is outside the using file's folder and the library" };
    if (!path.endsWith('.loss')) return { why: 'it is not a .loss file' };
    const text = given(path);
    return text === undefined ? { why: 'no such file' } : { text };
  };
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
        // The whole chain from the file being compiled, so that a cycle among used files still names it.
        const from = resolve(dirname(file));
        diagnostics.push(diag('E211', item.span, { path: item.path, chain: [...chain, key].map((p) => relative(from, p) || p).join(' -> ') }));
        continue;
      }
      if (seen.has(key)) continue;
      const got = read(path);
      if (!('text' in got)) {
        diagnostics.push(diag('E210', item.span, { path: item.path, why: got.why }));
        continue;
      }
      const text = unBom(got.text);
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
  const { program, diagnostics, sources } = load(unBom(source), file, opts.readFile);
  const lowerer = new Lowerer(program, { dims: opts.dims ?? 2, region: opts.region ?? 'sample', params: opts.params ?? {}, activation: opts.activation ?? 'none' }, diagnostics.length > 0);
  const loss = lowerer.lowerLoss();
  diagnostics.push(...lowerer.diagnostics);
  if (!loss || diagnostics.length) return { ir: undefined, diagnostics, sources };
  const unreduced = loss.value.axes.length > 0 ? loss.value : undefined;
  const objective = unreduced ? sum(unreduced) : loss.value;
  const g = grad(objective, loss.wrt.node);
  const [value, gradient, values] = simplify(unreduced ? [objective, g, unreduced] : [objective, g]) as [Node, Node, Node | undefined];
  // Each pass is a kernel that recomputes what it needs from the inputs: past MAX_PASSES the work grows with their square.
  const gradPlan = plan(value, gradient, values ? [values] : []);
  const passes = gradPlan.passes.length;
  if (passes > MAX_PASSES) return { ir: undefined, diagnostics: [...diagnostics, diag('E234', loss.nameSpan, { name: loss.name, passes, max: MAX_PASSES })], sources };
  return {
    ir: { loss, value, grad: gradient, ...(values ? { values } : {}), objective, plan: gradPlan, passes: { lower: [loss.value], diff: [objective, g], simplify: [value, gradient] } },
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
  // The root file too: /dev/zero, a FIFO or a 2 GB file is refused, not read.
  const got = opts.readFile ? { text: opts.readFile(path) } : readSource(path);
  if (!('text' in got) || got.text === undefined) return { ir: undefined, diagnostics: [diag('E210', undefined, { path, why: 'why' in got ? got.why : 'no such file' })], sources: new Map() };
  return frontend(got.text, path, opts);
}
