// The compiler's one entry, compileIR: parse a .loss file and what it `use`s,
// lower it, differentiate it, simplify both roots, plan the passes. Returns every
// stage's result (for `segloss show --dump`, the CLI, the docs site, the
// benchmark and the runtime, which all take their plan from here), or the
// diagnostics; it never throws on a formula mistake. src/runtime/sources.ts's
// `frontend` is this with the file system as the SourceHost.

import type * as A from './front/ast.ts';
import { type Diagnostic, diag } from './front/diagnostics.ts';
import { grad } from './passes/diff.ts';
import type { Node } from './core/ir.ts';
import { type LoweredLoss, Lowerer, type Program } from './lower/lower.ts';
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
  /** Where `use`d files come from (default: none; src/runtime/sources.ts gives the file system's). */
  host?: SourceHost;
}

/**
 * The most passes over the data a loss may take: the library takes at most 19 (ms_ssim in 3-D), clDice 2 per
 * iteration (iterations = 125 fits). A pass that is not a buffer recomputes its values from the inputs, so a chain
 * of n dependent reductions (a repeat over a mean) costs n² work: 256 such passes compile in about a second here.
 */
export const MAX_PASSES = 256;

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
  /**
   * The plan of value and gradient (with `values` as an extra root): the plan the runtime runs, and the one
   * `segloss plan`/`show`, `check --summary` and the docs site print and count.
   */
  plan: Plan;
  /** The plan of the value alone (with `values`): what `value()` runs. Built on first use. */
  readonly valuePlan: Plan;
  /** The parsed modules: the main one first, then what it `use`s. */
  ast: Program;
  /** Each pass's roots, for `show --dump`: lower (the loss), diff (the objective and its raw gradient), simplify (value and gradient). */
  passes: { lower: Node[]; diff: Node[]; simplify: Node[] };
}

/** The passes after parsing whose result compileIR keeps, in pipeline order. */
export const PASSES = ['lower', 'diff', 'simplify', 'plan'] as const;
/** Every stage compileIR keeps, in pipeline order (`segloss show --dump`). */
export const STAGES = ['parse', ...PASSES] as const;
export type Stage = (typeof STAGES)[number];

export interface FrontendResult {
  ir: LossIR | undefined;
  diagnostics: Diagnostic[];
  /** Every source read, by file name, for formatting diagnostics. */
  sources: Map<string, string>;
}

/** A leading byte-order mark (editors on Windows write one) is not part of the formula. */
const unBom = (s: string): string => (s.charCodeAt(0) === 0xfeff ? s.slice(1) : s);

/**
 * Where the compiler gets the files a formula `use`s: the file system in Node
 * (src/runtime/sources.ts, which confines a `use` to the using file's folder and
 * the library), a map of texts in a browser. The compiler itself reads nothing.
 */
export interface SourceHost {
  /** The file `use "path"` in `from` names (for diagnostics) and its key (equal keys: the same file); `from` undefined: the root itself. */
  locate(path: string, from: string | undefined): { file: string; key: string };
  /** The text of a located file, or why it is refused. */
  read(file: string): { text: string } | { why: string };
  /** A key as a cycle's chain shows it, relative to the root file's folder. */
  show(key: string, root: string): string;
}

/** A host with no files: every `use` is refused with the reason. */
export const NO_FILES: SourceHost = {
  locate: (path) => ({ file: path, key: path }),
  read: () => ({ why: 'no files can be read here (no SourceHost was given)' }),
  show: (key) => key,
};

/** Parse `source` and, transitively, every file it uses. */
function load(source: string, file: string, host: SourceHost) {
  const sources = new Map<string, string>([[file, source]]);
  const diagnostics: Diagnostic[] = [];
  const first = parse(source, file);
  diagnostics.push(...first.diagnostics);
  const modules: A.Module[] = [first.module];
  const rootKey = host.locate(file, undefined).key;
  const seen = new Map<string, A.Module>([[rootKey, first.module]]);
  const visit = (m: A.Module, chain: string[]) => {
    for (const item of m.items) {
      if (item.kind !== 'use') continue;
      // An unterminated string (E104) ate the rest of its line: that path is not a path.
      if (diagnostics.some((d) => d.code === 'E104' && d.span?.file === m.file && d.span.start === item.span.start + 4)) continue;
      const { file: path, key } = host.locate(item.path, m.file);
      if (chain.includes(key)) {
        // The whole chain from the file being compiled, so that a cycle among used files still names it.
        diagnostics.push(diag('E211', item.span, { path: item.path, chain: [...chain, key].map((p) => host.show(p, file)).join(' -> ') }));
        continue;
      }
      if (seen.has(key)) continue;
      const got = host.read(path);
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
  visit(first.module, [rootKey]);
  return { program: { main: first.module, modules }, diagnostics, sources };
}

/** The whole pipeline on `source` (named `file`): every stage's result, or the diagnostics. */
export function compileIR(source: string, file: string, opts: FrontendOptions = {}): FrontendResult {
  const { program, diagnostics, sources } = load(unBom(source), file, opts.host ?? NO_FILES);
  const lowerer = new Lowerer(program, { dims: opts.dims ?? 2, region: opts.region ?? 'sample', params: opts.params ?? {}, activation: opts.activation ?? 'none' }, diagnostics.length > 0);
  const loss = lowerer.lowerLoss();
  diagnostics.push(...lowerer.diagnostics);
  if (!loss || diagnostics.length) return { ir: undefined, diagnostics, sources };
  const unreduced = loss.value.axes.length > 0 ? loss.value : undefined;
  const objective = unreduced ? sum(unreduced) : loss.value;
  const g = grad(objective, loss.wrt.node);
  const [value, gradient, values] = simplify(unreduced ? [objective, g, unreduced] : [objective, g]) as [Node, Node, Node | undefined];
  // Each pass is a kernel that recomputes what it needs from the inputs: past MAX_PASSES the work grows with their square.
  const extras = values ? [values] : [];
  const gradPlan = plan(value, gradient, extras);
  const passes = gradPlan.passes.length;
  if (passes > MAX_PASSES) return { ir: undefined, diagnostics: [...diagnostics, diag('E234', loss.nameSpan, { name: loss.name, passes, max: MAX_PASSES })], sources };
  let valuePlan: Plan | undefined;
  const ir: LossIR = {
    loss, value, grad: gradient, ...(values ? { values } : {}), objective, plan: gradPlan,
    get valuePlan() { return (valuePlan ??= plan(value, undefined, extras)); },
    ast: program,
    passes: { lower: [loss.value], diff: [objective, g], simplify: [value, gradient] },
  };
  return { ir, diagnostics, sources };
}
