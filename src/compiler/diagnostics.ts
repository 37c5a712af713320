// Every diagnostic segloss can report: one numbered table of codes with message
// and hint templates, and the formatter that prints file:line:col, the line, a caret.
// Passes return diagnostics; they never throw them.

import type { Span } from './ast.ts';

interface CodeEntry { title: string; message: string; hint?: string }

/** `{name}` in a template is replaced by the argument of that name. */
export const CODES = {
  // Lexing and parsing.
  E101: { title: 'unexpected character', message: "unexpected character '{text}'", hint: 'comments start with #; strings use double quotes' },
  E102: { title: 'expected token', message: 'expected {expected} but found {found}', hint: '{hint}' },
  E103: { title: 'no viable alternative', message: 'unexpected {found} here; expected {expected}' },
  E104: { title: 'unterminated string', message: 'this string has no closing quote', hint: 'close it with " on the same line' },
  // Names, arity, roles.
  E201: { title: 'unknown name', message: "unknown name '{name}'", hint: '{hint}' },
  E202: { title: 'unknown function', message: "unknown function '{name}'", hint: '{hint}' },
  E203: { title: 'wrong number of arguments', message: "'{name}' takes {expected}, but {got} given" },
  E204: { title: 'unknown named argument', message: "'{name}' has no parameter '{arg}'", hint: '{hint}' },
  E205: { title: 'duplicate name', message: "'{name}' is already defined in this scope", hint: 'pick another name' },
  E206: { title: 'unknown axis', message: "unknown axis '{name}'", hint: '{hint}' },
  E207: { title: 'unknown role', message: "unknown input role '{name}'", hint: 'roles are prob, logits, target, weight, map' },
  E208: { title: 'no differentiable input', message: "loss '{name}' has no prob or logits input to differentiate", hint: 'declare the prediction as `p: prob` or `x: logits`' },
  E209: { title: 'two differentiable inputs', message: "loss '{name}' has more than one prob/logits input ({names})", hint: 'the gradient is taken with respect to exactly one prediction' },
  E210: { title: 'use: file not usable', message: "cannot use '{path}': {why}", hint: "paths are relative to the file that says `use`; a `use` reaches only .loss files in that file's folder, its subfolders and the library" },
  E211: { title: 'use: cycle', message: "'{path}' uses itself through {chain}" },
  E212: { title: 'no loss', message: '{file} declares no loss', hint: 'add `loss name(p: prob, g: target) = ...`' },
  E213: { title: 'not a constant', message: "the default of '{name}' must be a number", hint: 'write a literal such as 0.5, 1e-5 or -1' },
  E214: { title: 'unknown parameter', message: "loss '{loss}' has no parameter '{name}'", hint: '{hint}' },
  E215: { title: 'axes on a non-reduction', message: "'{name}' is not a reduction and takes no [axes]", hint: 'reductions are sum, mean, max, min' },
  E216: { title: 'recursive function', message: "'{name}' calls itself (through {chain})", hint: 'functions cannot recurse; use a fixed-count loop' },
  E217: { title: 'not a value', message: "'{name}' is a function; call it with arguments", hint: 'write {name}(...)' },
  E218: { title: 'two losses', message: "'{name}' is the second loss in this file", hint: 'one file holds one loss; put helpers in `def`s' },
  E219: { title: 'bad parameter value', message: "parameter '{name}' must be a finite number, got '{value}'" },
  E220: { title: 'activation on logits', message: "'{name}' already takes logits; activation '{activation}' applies to a prob input", hint: 'drop the activation: this loss applies its own' },
  E221: { title: 'not a constant argument', message: "{what} of '{name}' must be {want}", hint: 'window widths and kernels are fixed when the loss is compiled' },
  E222: { title: 'not along space', message: "'{name}' runs along {want}, not ({axes})", hint: '{hint}' },
  E223: { title: 'scale levels differ', message: "'{name}' combines values at scale levels {a} and {b}", hint: '{hint}' },
  E225: { title: 'bad knob value', message: "knob '{name}' must be {want}, got '{value}'", hint: 'knobs: activation, region, include_background, class_weights, mask, ignore_index, reduction' },
  E226: { title: 'reduction does not apply', message: "reduction '{reduction}' does not apply to '{name}': {why}", hint: "use reduction 'mean' (the default) for this loss" },
  E229: { title: 'knob does not apply', message: "knob '{name}' does not apply to '{loss}': {why}", hint: 'leave it out: a knob that changes nothing is an error, never a silent no-op' },
  E230: { title: 'eps inside the log of logits', message: "'{name}' adds a constant inside the log of its prediction (as tf.keras 2.x does on probabilities); with activation '{activation}' the log is taken exactly from the logits, where that constant has no meaning", hint: 'set the eps inside the log to 0 (log_eps = 0), as tf.keras does with from_logits=True' },
  E227: { title: 'repeat count not a constant', message: 'the count of a repeat must be a constant', hint: 'write a number or a parameter: the loop is unrolled when the loss is compiled' },
  E228: { title: 'bad repeat count', message: 'a repeat count must be a whole number from 0 to {max}, got {value}', hint: '{hint}' },
  // Axes.
  E301: { title: 'reduction over a missing axis', message: "{op}[{axes}] reduces over {missing}, but the value has axes ({have})", hint: '{hint}' },
  E302: { title: 'loss is not a scalar', message: "the loss must reduce to a scalar, but it still has axes ({have})", hint: 'wrap it in mean(...) or sum(...)' },
  E303: { title: 'axis repeated', message: "axis '{name}' is named twice in this reduction" },
  E304: { title: 'axis not in this layout', message: "axis '{name}' does not exist in {dims}-D data" },
} as const satisfies Record<string, CodeEntry>;

export type Code = keyof typeof CODES;

export interface Diagnostic {
  code: Code;
  message: string;
  hint: string | undefined;
  span: Span | undefined;
}

function fill(template: string, args: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => (k in args ? String(args[k]) : `{${k}}`));
}

export function diag(code: Code, span: Span | undefined, args: Record<string, string | number> = {}): Diagnostic {
  const entry: CodeEntry = CODES[code];
  const hint = entry.hint === undefined ? undefined : fill(entry.hint, args);
  return { code, message: fill(entry.message, args), hint: hint === '' ? undefined : hint, span };
}

/** The error segloss raises for a formula or input mistake; the CLI prints it and exits 2. */
export class SeglossError extends Error {
  constructor(readonly diagnostics: Diagnostic[], readonly sources: ReadonlyMap<string, string> = new Map()) {
    super(diagnostics.map((d) => `${d.code}: ${d.message}`).join('\n'));
    this.name = 'SeglossError';
  }
}

/** Levenshtein distance, for "did you mean". */
/** Edits between a and b: insertions, deletions, substitutions and swaps of two neighbours (dcie → dice is one). */
function distance(a: string, b: string): number {
  // Optimal string alignment: Levenshtein plus a transposition of adjacent characters.
  let prev2: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2]! + 1);
      cur.push(d);
    }
    prev2 = prev;
    prev = cur;
  }
  return prev[b.length]!;
}

/** The closest candidate within a third of the name's length (at least 2 edits), as a hint. */
export function suggest(name: string, candidates: Iterable<string>): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(name.toLowerCase(), c.toLowerCase());
    if (d < bestD || (d === bestD && best !== undefined && c < best)) { best = c; bestD = d; }
  }
  const limit = Math.max(2, Math.floor(name.length / 3));
  return best !== undefined && bestD <= limit ? `did you mean '${best}'?` : '';
}

export interface FormatOptions { color?: boolean }

/**
 * `file:line:col: error[E201]: message`, then the source line with a caret under
 * the span, then the hint. `sources` maps a file name to its text.
 */
export function formatDiagnostic(d: Diagnostic, sources: ReadonlyMap<string, string>, opts: FormatOptions = {}): string {
  const red = (s: string) => (opts.color ? `\x1b[1;31m${s}\x1b[0m` : s);
  const bold = (s: string) => (opts.color ? `\x1b[1m${s}\x1b[0m` : s);
  const cyan = (s: string) => (opts.color ? `\x1b[36m${s}\x1b[0m` : s);
  const where = d.span ? `${d.span.file}:${d.span.line}:${d.span.col}: ` : '';
  const out = [bold(`${where}${red(`error[${d.code}]`)}: ${d.message}`)];
  const src = d.span ? sources.get(d.span.file) : undefined;
  if (d.span && src !== undefined) {
    const lineText = src.split(/\r?\n/)[d.span.line - 1] ?? '';
    const num = String(d.span.line);
    const pad = ' '.repeat(num.length);
    const width = Math.max(1, Math.min(d.span.end - d.span.start, lineText.length - d.span.col + 1));
    out.push(`${pad} |`);
    out.push(`${num} | ${lineText}`);
    out.push(`${pad} | ${' '.repeat(Math.max(0, d.span.col - 1))}${red('^'.repeat(width))}`);
  }
  if (d.hint) out.push(`  ${cyan('hint')}: ${d.hint}`);
  return out.join('\n');
}

export function formatDiagnostics(ds: readonly Diagnostic[], sources: ReadonlyMap<string, string>, opts: FormatOptions = {}): string {
  return ds.map((d) => formatDiagnostic(d, sources, opts)).join('\n\n');
}
