// Every diagnostic segloss can report: one numbered table of codes with message
// and hint templates, and the formatter that prints file:line:col, the line, a caret.
// Passes return diagnostics; they never throw them.

import type { Span } from './ast.ts';
import { KNOB_NAMES } from './knob-names.ts';

interface CodeEntry { title: string; message: string; hint?: string }

/** `{name}` in a template is replaced by the argument of that name. */
export const CODES = {
  // Lexing and parsing.
  E101: { title: 'unexpected character', message: "unexpected character '{text}'", hint: 'comments start with #; strings use double quotes' },
  E102: { title: 'expected token', message: 'expected {expected} but found {found}', hint: '{hint}' },
  E103: { title: 'no viable alternative', message: 'unexpected {found} here; expected {expected}' },
  E105: { title: 'nested too deeply', message: 'this expression nests more than {max} levels deep (brackets, calls, repeat blocks, unary minus and powers)', hint: 'bind the inner parts to names' },
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
  E210: { title: 'use: file not usable', message: "cannot use '{path}': {why}", hint: "a path is looked for in the folder of the file that says `use`, then the project's losses/, each SEGLOSS_PATH directory and the library; a `use` reaches only .loss files in those folders and their subfolders" },
  E211: { title: 'use: cycle', message: "'{path}' uses itself through {chain}" },
  E212: { title: 'no loss', message: '{file} declares no loss', hint: 'add `loss name(p: prob, g: target) = ...`' },
  E213: { title: 'not a constant', message: "the default of '{name}' must be a number", hint: 'write a literal such as 0.5, 1e-5 or -1' },
  E214: { title: 'unknown parameter', message: "loss '{loss}' has no parameter '{name}'", hint: '{hint}' },
  E215: { title: 'axes on a non-reduction', message: "'{name}' is not a reduction and takes no [axes]", hint: 'reductions are sum, mean, max, min' },
  E216: { title: 'recursive function', message: "'{name}' calls itself (through {chain})", hint: 'functions cannot recurse; use a fixed-count loop' },
  E217: { title: 'not a value', message: "'{name}' is a function; call it with arguments", hint: 'write {name}(...)' },
  E218: { title: 'two losses', message: "'{name}' is the second loss in this file", hint: 'one file holds one loss; put helpers in `def`s' },
  E219: { title: 'bad parameter value', message: "parameter '{name}' must be a finite float32 number, got '{value}'", hint: 'kernels run in float32: 0, or a size from 1.2e-38 to 3.4e38' },
  E220: { title: 'activation on logits', message: "'{name}' already takes logits; activation '{activation}' applies to a prob input", hint: 'drop the activation: this loss applies its own' },
  E221: { title: 'not a constant argument', message: "{what} of '{name}' must be {want}", hint: 'window widths and kernels are fixed when the loss is compiled' },
  E222: { title: 'not along space', message: "'{name}' runs along {want}, not ({axes})", hint: '{hint}' },
  E223: { title: 'scale levels differ', message: "'{name}' combines values at scale levels {a} and {b}", hint: '{hint}' },
  E225: { title: 'bad knob value', message: "knob '{name}' must be {want}, got '{value}'", hint: `knobs: ${KNOB_NAMES.join(', ')}` },
  E226: { title: 'reduction does not apply', message: "reduction '{reduction}' does not apply to '{name}': {why}", hint: "use reduction 'mean' (the default) for this loss" },
  E229: { title: 'knob does not apply', message: "knob '{name}' does not apply to '{loss}': {why}", hint: 'leave it out: a knob that changes nothing is an error, never a silent no-op' },
  E230: { title: 'eps inside the log of logits', message: "'{name}' adds a constant inside the log of its prediction (as tf.keras 2.x does on probabilities); with activation '{activation}' the log is taken exactly from the logits, where that constant has no meaning", hint: 'set the eps inside the log to 0 (log_eps = 0), as tf.keras does with from_logits=True' },
  E231: { title: 'constant out of range', message: '{what} is {value}', hint: 'every backend computes in float32 at least: a constant must be finite, and 0 or a size from 1.2e-38 to 3.4e38 (the reference would keep what the kernels cannot)' },
  E232: { title: 'formula too large', message: 'lowering this formula builds more than {max} nodes; it stopped here', hint: 'a def called with many different arguments, or nested repeats, multiply the formula: share values in bindings, or lower a repeat count' },
  E233: { title: 'calls nested too deeply', message: "this call of '{name}' is nested more than {max} calls deep", hint: 'each def call is inlined where it is made: a chain of defs each calling the one before may be {max} long' },
  E234: { title: 'too many passes', message: "loss '{name}' needs {passes} passes over the data, more than {max}", hint: 'each reduction over space whose result feeds the next one starts a new pass: a repeat over a mean or sum adds one pass per iteration' },
  E227: { title: 'repeat count not a constant', message: 'the count of a repeat must be a constant', hint: 'write a number or a parameter: the loop is unrolled when the loss is compiled' },
  E228: { title: 'bad repeat count', message: 'a repeat count must be a whole number from 0 to {max}, got {value}', hint: '{hint}' },
  // Axes.
  E301: { title: 'reduction over a missing axis', message: "{op}[{axes}] reduces over {missing}, but the value has axes ({have})", hint: '{hint}' },
  E302: { title: 'loss is not a scalar', message: "the loss must reduce to a scalar, but it still has axes ({have})", hint: 'wrap it in mean(...) or sum(...)' },
  E303: { title: 'axis repeated', message: "axis '{name}' is named twice in this reduction" },
  E305: { title: 'axis required', message: "'{name}' runs over the {axis} axis, but its argument has axes ({have})", hint: 'an earlier reduction removed it, or the value never had it: apply it before reducing' },
  E304: { title: 'axis not in this layout', message: "axis '{name}' does not exist in {dims}-D data" },
} as const satisfies Record<string, CodeEntry>;

export type Code = keyof typeof CODES;

export interface Diagnostic {
  code: Code;
  message: string;
  hint: string | undefined;
  span: Span | undefined;
}

/** Characters a terminal would act on or not show: C0/C1 controls, line and paragraph separators, zero-width and bidi marks. */
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;
/** The longest argument a message shows (a name, a path, a character run): longer ones are cut with '…'. */
const MAX_ARG = 120;

/** A text in a message: invisible characters as \u{…}, and, with `cut`, at most MAX_ARG characters. */
export function shown(text: string, cut = true): string {
  const t = cut && text.length > MAX_ARG ? `${text.slice(0, MAX_ARG)}…` : text;
  return t.replace(INVISIBLE, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`);
}

/** Arguments the compiler writes itself (hints, reasons), never cut; the others may hold a formula's text. */
const OWN_TEXT: ReadonlySet<string> = new Set(['hint', 'why', 'want', 'expected']);

function fill(template: string, args: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => (Object.hasOwn(args, k) ? shown(String(args[k]), !OWN_TEXT.has(k)) : `{${k}}`));
}

export function diag(code: Code, span: Span | undefined, args: Record<string, string | number> = {}): Diagnostic {
  const entry: CodeEntry = CODES[code];
  const hint = entry.hint === undefined ? undefined : fill(entry.hint, args);
  return { code, message: fill(entry.message, args), hint: hint === '' ? undefined : hint, span };
}

/** The error segloss raises for a formula or input mistake; the CLI prints it and exits 2. */
export class SeglossError extends Error {
  constructor(readonly diagnostics: Diagnostic[], readonly sources: ReadonlyMap<string, string> = new Map()) {
    super([...diagnostics.slice(0, MAX_SHOWN).map((d) => `${d.code}: ${d.message}`), ...(diagnostics.length > MAX_SHOWN ? [`... and ${diagnostics.length - MAX_SHOWN} more`] : [])].join('\n'));
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
    const { text, col, width } = excerpt(lineAt(src, d.span.line), d.span.col, d.span.end - d.span.start);
    const num = String(d.span.line);
    const pad = ' '.repeat(num.length);
    out.push(`${pad} |`);
    out.push(`${num} | ${text}`);
    out.push(`${pad} | ${' '.repeat(col - 1)}${red('^'.repeat(width))}`);
  }
  if (d.hint) out.push(`  ${cyan('hint')}: ${d.hint}`);
  return out.join('\n');
}

/** Line `n` (from 1) of `src`, with line ends as the lexer counts them: \n, \r\n and a lone \r. */
function lineAt(src: string, n: number): string {
  let start = 0;
  for (let i = 1; i < n; i++) {
    const m = /\r\n?|\n/g;
    m.lastIndex = start;
    const hit = m.exec(src);
    if (!hit) return '';
    start = hit.index + hit[0].length;
  }
  const end = src.slice(start).search(/[\r\n]/);
  return end < 0 ? src.slice(start) : src.slice(start, start + end);
}

/** The widest source excerpt shown: a long line is cut to this many characters around the caret. */
const EXCERPT = 100;

/**
 * The part of a line a diagnostic shows, with the caret's column and width in it: at most EXCERPT characters
 * around the span ('…' where cut), each invisible character (a control, a tab) one visible '?' or space, so
 * the caret stays under its place and the terminal runs nothing.
 */
function excerpt(line: string, col: number, length: number): { text: string; col: number; width: number } {
  let from = 0;
  if (line.length > EXCERPT) from = Math.max(0, Math.min(col - 1 - EXCERPT / 4, line.length - EXCERPT));
  const to = Math.min(line.length, from + EXCERPT);
  const body = line.slice(from, to).replace(/\t/g, ' ').replace(INVISIBLE, '?');
  const head = from > 0 ? '…' : '';
  const c = Math.max(1, col - from) + head.length;
  const width = Math.max(1, Math.min(length, to - from - (col - 1 - from)));
  return { text: head + body + (to < line.length ? '…' : ''), col: c, width };
}

/** The most diagnostics printed at once: a file of random bytes can make thousands; the rest are counted. */
export const MAX_SHOWN = 50;

export function formatDiagnostics(ds: readonly Diagnostic[], sources: ReadonlyMap<string, string>, opts: FormatOptions = {}): string {
  const out = ds.slice(0, MAX_SHOWN).map((d) => formatDiagnostic(d, sources, opts));
  if (ds.length > MAX_SHOWN) out.push(`... and ${ds.length - MAX_SHOWN} more error${ds.length - MAX_SHOWN === 1 ? '' : 's'}`);
  return out.join('\n\n');
}
