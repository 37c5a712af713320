// The fuzz suite's inputs (issue 10) and the judge that runs one of them: random bytes, token soups,
// grammar-generated programs, mutations of library files and a targeted list. The judge runs in a
// worker thread (tests/fuzz.test.ts starts it) so that a hang, a deep recursion or a runaway
// allocation is caught per input; its oracle for a formula that compiles is the float64 reference.

import { rng } from '../src/tools/check.ts';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { parentPort } from 'node:worker_threads';
import { LIBRARY_DIR } from '../src/runtime/sources.ts';
import { CODES, SeglossError } from '../src/compiler/front/diagnostics.ts';
import { toposort } from '../src/compiler/core/ir.ts';
import { InputError } from '../src/compiler/core/errors.ts';
import { sizesOf, toCanonical } from '../src/compiler/core/layout.ts';
import { type CompiledLoss, compile } from '../src/index.ts';
import { evaluate } from '../src/compiler/core/reference.ts';

/** One fuzz input: a formula and how it is compiled and run. */
export interface FuzzInput {
  source: string;
  /** The formula's file name; a library file's real path, so that its `use`s resolve. Default /fuzz/main.loss. */
  file?: string;
  /** Virtual files a `use` may read (by path); paths inside the library fall through to the file system. */
  files?: Record<string, string>;
  params?: Record<string, string | number | boolean | number[] | number[][]>;
  activation?: 'sigmoid' | 'softmax';
  layout?: 'nhwc' | 'nchw';
  /** The data's shape in `layout` (2-D: 4 numbers, 3-D: 5). */
  shape?: number[];
  /** Seeds the random input data. */
  seed?: number;
  /** What a targeted input is (printed with a failure). */
  note?: string;
}

/** What one input gave. A failure breaks the property; every other kind is a fair answer. */
export type Outcome =
  | { kind: 'equal'; nonFinite: boolean }
  /** Compiled, and js differs where the float64 reference leaves float32's range: not a fair comparison. */
  | { kind: 'beyond-f32'; message: string }
  | { kind: 'diagnostic'; codes: string[] }
  | { kind: 'input-error'; message: string }
  | { kind: 'failure'; why: string; message: string };

// ---------------------------------------------------------------------------------------------
// The lexicon: what the language's tokens look like, for soups and mutations.

const BUILTINS = ['exp', 'log', 'log1p', 'sqrt', 'abs', 'sign', 'sigmoid', 'softplus', 'tanh', 'detach', 'logsigmoid', 'cosh', 'logcosh', 'relu',
  'pow', 'clip', 'where', 'classes', 'classindex', 'sum', 'mean', 'max', 'min', 'softmax', 'logsoftmax', 'at', 'wasserstein', 'window', 'gaussian',
  'box', 'maxpool', 'minpool', 'cross', 'interior', 'avgpool2', 'edt', 'sdt', 'sorted', 'cumsum'];
const AXES = ['batch', 'class', 'z', 'y', 'x', 'space', 'region'];
const ROLES = ['prob', 'logits', 'target', 'weight', 'map'];
/** Names that collide with what JavaScript objects, generated code or the language already hold. */
export const HOSTILE_NAMES = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', 'then',
  'length', 'NaN', 'Infinity', 'undefined', 'null', 'this', 'eval', 'arguments', 'Math', 'globalThis', 'process', 'require', 'small', 'mem',
  'out', 'thread', 'i', 'n', 'Float32Array', 'loss', 'def', 'use', 'repeat', 'sum', 'exp', 'softmax', 'region', 'class', 'prob', 'gaussian',
  '_', '__', 'x'.repeat(5000), 'var', 'function', 'return', 'let', 'await'];
/** Numbers at the edges of float32, float64 and the lexer. */
export const EDGE_NUMBERS = ['0', '00', '0.0', '1e-45', '1e-46', '5e-324', '1e-400', '3.4028234e38', '3.5e38', '1e308', '1.8e308', '1e999',
  '.5', '2.', '0e0', '1E+2', '123456789012345678901234567890', `0.${'0'.repeat(400)}1`, `1${'0'.repeat(400)}`, '1e-5', '0.5', '1', '3', '1000', '1001'];
const NUMBERS = ['0', '1', '2', '0.5', '1e-5', '3', '-1', '11', '1.5', '255', ...EDGE_NUMBERS];
const OPS = ['+', '-', '*', '/', '^', '<', '<=', '>', '>=', '==', '!=', '='];
const PUNCT = ['(', ')', '[', ']', '{', '}', ',', ':', ';'];
const NAMES = ['p', 'g', 'w', 'x', 'a', 'b', 'f', 'tp', 'k', 'alpha', 'smooth', 's', 'd', 'mask'];
const KEYWORDS = ['loss', 'def', 'use', 'repeat'];
const STRINGS = ['"dice.loss"', '"tversky.loss"', '"helpers.loss"', '"x"', '""', '"a\\"b"', '"../x.loss"', '"/etc/passwd"', '"main.loss"', '"unterminated'];
const SPACE = [' ', ' ', ' ', '\n', '\n  ', '\t', '\r\n', '# comment\n'];
const ODD_TEXT = ['\uFEFF', '\r', '\0', '\u00a0', '\u2028', '\u200b', '\u202e', 'é', '𝑥', '😀', '\ud800', '\f', '\v', '$', '@', '`', '\'', '\\', '~', '!', '&', '|', '%', '?'];

export const TOKENS: readonly string[] = [...BUILTINS, ...AXES, ...ROLES, ...NAMES, ...KEYWORDS, ...NUMBERS, ...OPS, ...PUNCT, ...STRINGS];

// ---------------------------------------------------------------------------------------------
// Random bytes and token soups.

const PRELUDE = 'loss f(p: prob, g: target; k = 1)\n  = ';

/** Bytes as UTF-8 (lossy), any code points (lone surrogates included), or printable ASCII. */
export const bytesInput: fc.Arbitrary<FuzzInput> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('utf8')),
  fc.string({ unit: 'binary', maxLength: 120 }),
  fc.string({ unit: fc.integer({ min: 0, max: 127 }).map((c) => String.fromCharCode(c)), maxLength: 200 }),
  fc.tuple(fc.boolean(), fc.uint8Array({ maxLength: 80 })).map(([prelude, b]) => (prelude ? PRELUDE : '') + Buffer.from(b).toString('latin1')),
).map((source) => ({ source }));

/** Tokens of the language in random order, alone or after a loss's head (so the soup reaches the checker). */
export const tokenSoupInput: fc.Arbitrary<FuzzInput> = fc.tuple(
  fc.constantFrom('', '', PRELUDE, 'loss f(p: prob, g: target) ', 'def h(x) = x\n'),
  fc.array(fc.tuple(fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...TOKENS) }, { weight: 1, arbitrary: fc.constantFrom(...ODD_TEXT) }), fc.constantFrom(...SPACE)), { maxLength: 40 }),
  fc.constantFrom('', '', ' = mean(p * g)', '\n'),
).map(([head, soup, tail]) => ({ source: head + soup.map(([t, s]) => t + s).join('') + tail }));

/** `n` uniform choices in [0, 1) (unbiased: fast-check's bias toward small values would make every chance come true). */
export const choicesArb = (n: number): fc.Arbitrary<number[]> =>
  fc.noBias(fc.array(fc.integer({ min: 0, max: 2 ** 30 - 1 }), { minLength: n, maxLength: n })).map((xs) => xs.map((x) => x / 2 ** 30));

// ---------------------------------------------------------------------------------------------
// Grammar-generated programs. Expressions track their axes, so most programs are well typed; a few
// choices (a reduction over an axis the value lacks, a wrong arity, a bad constant) make errors on purpose.

type Ax = 'batch' | 'class' | 'z' | 'y' | 'x';
interface Ex { text: string; axes: Ax[] }
interface Ctx {
  dims: 2 | 3; classes: number; leaves: Ex[]; defs: { name: string; arity: number; named: string[] }[]; usesDice: boolean;
  /** In a def's body: no reductions, so that its result has the union of its arguments' axes. */
  elementwise?: boolean;
}

const ALL2: Ax[] = ['batch', 'class', 'y', 'x'];
const ALL3: Ax[] = ['batch', 'class', 'z', 'y', 'x'];
const ORDER: Ax[] = ['batch', 'class', 'z', 'y', 'x'];
const uni = (a: readonly Ax[], b: readonly Ax[]): Ax[] => ORDER.filter((x) => a.includes(x) || b.includes(x));
const spaceOf = (c: Ctx): Ax[] => (c.dims === 3 ? ['z', 'y', 'x'] : ['y', 'x']);

const ELEMENTWISE = ['exp', 'log', 'log1p', 'sqrt', 'abs', 'sign', 'sigmoid', 'softplus', 'tanh', 'detach', 'logsigmoid', 'cosh', 'logcosh', 'relu'];

/**
 * An expression of depth at most `depth`, from `rnd` (a stream of choices: fast-check draws them, so a
 * failing program shrinks by its choices).
 */
function genExpr(c: Ctx, rnd: () => number, depth: number): Ex {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const chance = (p: number) => rnd() < p;
  if (depth <= 0 || chance(0.2)) {
    if (chance(0.15)) return { text: chance(0.1) ? pick(EDGE_NUMBERS) : pick(['0.5', '2', '1e-5', '3', '0.25', '1', '0']), axes: [] };
    if (chance(0.05)) return pick([{ text: 'classes()', axes: [] }, { text: 'classindex()', axes: ['class'] as Ax[] }]);
    return pick(c.leaves);
  }
  const sub = () => genExpr(c, rnd, depth - 1);
  const kind = rnd();
  if (kind < 0.22) {
    const x = sub();
    return { text: `${pick(ELEMENTWISE)}(${x.text})`, axes: x.axes };
  }
  if (kind < 0.45) {
    const a = sub(), b = sub();
    return { text: `(${a.text} ${pick(['+', '-', '*', '/', '*', '+', '^', '<', '>=', '==', '!='])} ${b.text})`, axes: uni(a.axes, b.axes) };
  }
  if (kind < 0.52) {
    const a = sub(), b = sub();
    if (chance(0.3)) { const x = sub(); return { text: `clip(${x.text}, ${a.text}, ${b.text})`, axes: uni(x.axes, uni(a.axes, b.axes)) }; }
    if (chance(0.4)) { const t = sub(); return { text: `where(${t.text} > 0.5, ${a.text}, ${b.text})`, axes: uni(t.axes, uni(a.axes, b.axes)) }; }
    return { text: `${pick(['pow', 'max', 'min'])}(${a.text}, ${b.text})`, axes: uni(a.axes, b.axes) };
  }
  if (kind < 0.68 && !c.elementwise) {
    // A reduction over a subset of the value's axes, by name or by group (space, region); now and then over one it lacks.
    const x = sub();
    const op = pick(['sum', 'mean', 'max', 'min']);
    if (chance(0.25)) return { text: `${op}(${x.text})`, axes: [] };
    const sp = spaceOf(c);
    if (chance(0.3) && sp.every((a) => x.axes.includes(a))) {
      const group = pick(['space', 'region']);
      // region is space by default (the sample region); a region knob may widen it, and then the program may be wrong.
      return { text: `${op}[${group}](${x.text})`, axes: x.axes.filter((a) => !sp.includes(a)) };
    }
    let over = x.axes.filter(() => chance(0.5));
    if (chance(0.04)) over = [pick(c.dims === 3 ? ALL3 : ALL2)];
    if (over.length === 0) return { text: `${op}(${x.text})`, axes: [] };
    return { text: `${op}[${over.join(', ')}](${x.text})`, axes: x.axes.filter((a) => !over.includes(a)) };
  }
  if (kind < 0.74 && !c.elementwise) {
    const x = sub();
    const f = pick(['softmax', 'logsoftmax', 'softmax', 'at', 'wasserstein']);
    if (f === 'at') return { text: `at(${x.text}, ${pick(['0', '1', String(c.classes - 1), String(c.classes), '0.5'])})`, axes: x.axes.filter((a) => a !== 'class') };
    if (f === 'wasserstein') return { text: `wasserstein(${x.text}, g)`, axes: uni(x.axes, ALL2).filter((a) => a !== 'class' && (c.dims === 3 || a !== 'z')) };
    return { text: `${f}(${x.text})`, axes: x.axes };
  }
  if (kind < 0.86 && !c.elementwise) {
    const x = sub();
    const sp = uni(x.axes, spaceOf(c));
    switch (pick(['window', 'pool', 'pool', 'edt', 'sdt', 'interior', 'sort', 'cumsum', 'avgpool'])) {
      case 'window': return { text: `window(${x.text}, ${pick(['gaussian(3, 1.5)', 'box(3)', 'gaussian(5, 0.5)', 'box(1)', 'gaussian(11, 1.5)', 'box(2)', 'gaussian(3, 0)'])})`, axes: sp };
      case 'pool': {
        const along = pick(['', '', '[y]', '[x]', '[space]', c.dims === 3 ? '[z]' : '[y, x]', '[class]']);
        return { text: `${pick(['maxpool', 'minpool'])}${along}(${x.text}, ${pick(['3', '1', '5', 'cross(3)', '2', '3'])})`, axes: sp };
      }
      case 'edt': return { text: `edt(${x.text})`, axes: sp };
      case 'sdt': return { text: `sdt(${x.text})`, axes: sp };
      case 'interior': return { text: `(${x.text} * interior(${pick(['3', '1', '5'])}))`, axes: sp };
      case 'sort': return { text: `sorted${pick(['[space]', '', '[batch, space]'])}(${x.text}, ${pick(c.leaves).text})`, axes: uni(sp, pick(c.leaves).axes) };
      case 'cumsum': return { text: `cumsum${pick(['[space]', '', '[batch, space]'])}(${x.text})`, axes: sp };
      default: return { text: `sum[space](interior(1, 1) * avgpool2(${x.text}))`, axes: x.axes.filter((a) => !spaceOf(c).includes(a)) };
    }
  }
  if (c.defs.length && kind < 0.95) {
    const d = pick(c.defs);
    const args = Array.from({ length: d.arity }, () => sub());
    const named = d.named.length && chance(0.4) ? [`${pick(d.named)} = ${pick(['0.5', '2', '1'])}`] : [];
    return { text: `${d.name}(${[...args.map((a) => a.text), ...named].join(', ')})`, axes: args.reduce<Ax[]>((s, a) => uni(s, a.axes), []) };
  }
  if (c.usesDice && chance(0.5)) return { text: `dice(${pick(['p', 'sigmoid(p)', 'g'])}, g${chance(0.5) ? ', smooth_nr = 1' : ''})`, axes: [] };
  const x = sub();
  return { text: `-${x.text}`, axes: x.axes };
}

/** A `def` whose body is elementwise in its parameters (so its result has the union of their axes), maybe with a loop. */
function genDef(c: Ctx, rnd: () => number, i: number): string {
  const name = `f${i}`;
  const arity = 1 + Math.floor(rnd() * 2);
  const params = Array.from({ length: arity }, (_, j) => `a${j}`);
  const withDefault = rnd() < 0.5;
  const all = c.dims === 3 ? ALL3 : ALL2;
  const local: Ctx = { ...c, leaves: [...params.map((t) => ({ text: t, axes: all })), ...(withDefault ? [{ text: 'k', axes: [] }] : [])], usesDice: false, elementwise: true };
  const elementwise = (d: number): Ex => genExpr(local, rnd, d);
  const lines = [`def ${name}(${params.join(', ')}${withDefault ? `, k = ${['2', '0.5', '1e-5', '3'][Math.floor(rnd() * 4)]}` : ''})`];
  if (rnd() < 0.4) {
    lines.push(`  s = ${elementwise(1).text}`, `  repeat ${withDefault && rnd() < 0.5 ? 'k' : ['0', '1', '2', '3'][Math.floor(rnd() * 4)]} {`, `    s = 0.5 * s + 0.25 * ${params[0]}`, '  }', '  = s');
  } else {
    lines.push(`  = ${elementwise(2).text}`);
  }
  c.defs.push({ name, arity, named: withDefault ? ['k'] : [] });
  return lines.join('\n');
}

/** A shape in `layout` for `dims`, with `classes` classes. */
function shapeOf(dims: 2 | 3, classes: number, batch: number, side: number[], layout: 'nhwc' | 'nchw'): number[] {
  const sp = side.slice(0, dims);
  return layout === 'nhwc' ? [batch, ...sp, classes] : [batch, classes, ...sp];
}

/** Knobs for a program: a random subset, consistent with the data's classes. */
function genKnobs(rnd: () => number, classes: number): FuzzInput['params'] {
  const out: NonNullable<FuzzInput['params']> = {};
  const chance = (p: number) => rnd() < p;
  if (chance(0.15)) out.region = ['sample', 'batch', 'global'][Math.floor(rnd() * 3)]!;
  if (chance(0.1)) out.include_background = false;
  if (chance(0.1)) out.class_weights = Array.from({ length: classes }, (_, i) => [1, 0.5, 2, 0][i % 4]!);
  if (chance(0.1)) out.mask = true;
  if (chance(0.05)) out.ignore_index = 255;
  if (chance(0.1)) out.reduction = chance(0.5) ? 'sum' : 'none';
  if (chance(0.04) && classes >= 2) out.class_distances = Array.from({ length: classes }, (_, i) => Array.from({ length: classes }, (_, j) => (i === j ? 0 : 1 + ((i + j) % 2))));
  if (chance(0.03)) out[['activation', 'region', 'reduction', 'mask'][Math.floor(rnd() * 4)]!] = ['maybe', '', 'NaN', '1e999'][Math.floor(rnd() * 4)]!;
  if (chance(0.1)) out.k = ['0', '2', '-1', '1e30', 'NaN', '1e999', '0.5', ''][Math.floor(rnd() * 8)]!;
  return out;
}

/** A whole program: maybe a `use`, defs, a loss with inputs and parameters, bindings, a loop, the result. */
export const grammarInput: fc.Arbitrary<FuzzInput> = fc.record({
  choices: choicesArb(400),
  dims: fc.constantFrom<(2 | 3)[]>(2, 2, 2, 3),
  classes: fc.integer({ min: 1, max: 3 }),
  batch: fc.integer({ min: 1, max: 2 }),
  side: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 3, maxLength: 3 }),
  layout: fc.constantFrom<('nhwc' | 'nchw')[]>('nhwc', 'nhwc', 'nchw'),
  seed: fc.nat(),
}).map(({ choices, dims, classes, batch, side, layout, seed }) => {
  let at = 0;
  // Past the drawn choices, a fixed cycle: programs stay finite whatever the draws.
  const rnd = () => choices[at++ % choices.length]!;
  const chance = (p: number) => rnd() < p;
  const all = dims === 3 ? ALL3 : ALL2;
  const logits = chance(0.2);
  const pred = logits ? 'x: logits' : 'p: prob';
  const p = logits ? 'x' : 'p';
  const extra = [chance(0.3) ? 'w: weight' : '', chance(0.2) ? 'm: map' : ''].filter(Boolean);
  const c: Ctx = {
    dims, classes, defs: [],
    leaves: [{ text: p, axes: all }, { text: 'g', axes: all }, { text: 'k', axes: [] }, ...extra.map((e) => ({ text: e[0]!, axes: all }))],
    usesDice: !logits && chance(0.1),
  };
  const files: Record<string, string> = {};
  const lines: string[] = [];
  if (c.usesDice) lines.push(`use "${LIB_PREFIX}/dice.loss"`);
  if (chance(0.15)) {
    // A helper file of defs, used by the program.
    files['/fuzz/helpers.loss'] = genDef(c, rnd, 90);
    lines.push('use "helpers.loss"');
  }
  const nDefs = Math.floor(rnd() * 3);
  for (let i = 0; i < nDefs; i++) lines.push(genDef(c, rnd, i));
  const params = ['k = 1', ...(chance(0.3) ? [`n = ${['2', '0', '3', '1.5', '-1'][Math.floor(rnd() * 5)]}`] : [])];
  lines.push(`loss f(${[pred, 'g: target', ...extra].join(', ')}; ${params.join(', ')})`);
  const nBind = Math.floor(rnd() * 3);
  for (let i = 0; i < nBind; i++) {
    const e = genExpr(c, rnd, 3);
    lines.push(`  t${i} = ${e.text}`);
    c.leaves.push({ text: `t${i}`, axes: e.axes });
  }
  if (chance(0.25)) {
    const s0 = genExpr(c, rnd, 2);
    lines.push(`  s = ${s0.text}`);
    const count = params.length > 1 && chance(0.5) ? 'n' : ['0', '1', '2', '3', '10'][Math.floor(rnd() * 5)]!;
    const inner = { ...c, leaves: [...c.leaves, { text: 's', axes: s0.axes }] };
    const body = genExpr(inner, rnd, 2);
    lines.push(`  repeat ${count} {`, `    s = 0.5 * s + 0.5 * ${body.text}`);
    if (chance(0.3)) lines.push('    repeat 2 {', '      s = s * 0.9', '    }');
    lines.push('  }');
    c.leaves.push({ text: 's', axes: uni(s0.axes, body.axes) });
  }
  const r = genExpr(c, rnd, 3);
  const result = chance(0.92) ? `${['mean', 'sum', 'mean'][Math.floor(rnd() * 3)]}(${r.text})` : r.text;
  lines.push(`  = ${result}`);
  const knobs = genKnobs(rnd, classes);
  const activation: FuzzInput['activation'] = logits ? undefined : chance(0.1) ? (chance(0.5) ? 'sigmoid' : 'softmax') : undefined;
  return {
    source: `${lines.join('\n')}\n`, files, params: knobs, layout, seed,
    shape: shapeOf(dims, classes, batch, side, layout), ...(activation ? { activation } : {}),
  } satisfies FuzzInput;
});

/** The library's folder seen from /fuzz/ (a `use` of a library file from a virtual program). */
const LIB_PREFIX = relative('/fuzz', LIBRARY_DIR);

// ---------------------------------------------------------------------------------------------
// Mutations of a library file.

/** Tokens of `text` with their offsets (names, numbers, strings, operators; comments and spaces skipped). */
function tokensOf(text: string): { at: number; text: string }[] {
  const out: { at: number; text: string }[] = [];
  const re = /#[^\n]*|"[^"\n]*"|[A-Za-z_][A-Za-z0-9_]*|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|<=|>=|==|!=|\S/g;
  for (let m; (m = re.exec(text));) if (!m[0].startsWith('#')) out.push({ at: m.index, text: m[0] });
  return out;
}

const MUTATIONS = ['delete', 'insert', 'replace-token', 'replace-number', 'replace-name', 'duplicate-line', 'swap-lines', 'truncate', 'byte', 'delete-token'] as const;

/** `text` with one to three mutations, each picked and placed by `rnd`. */
export function mutate(text: string, rnd: () => number, count: number): string {
  let t = text;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  for (let n = 0; n < count; n++) {
    const toks = tokensOf(t);
    const tok = toks.length ? pick(toks) : { at: 0, text: '' };
    const at = Math.floor(rnd() * (t.length + 1));
    const splice = (from: number, len: number, ins: string) => t.slice(0, from) + ins + t.slice(from + len);
    switch (pick(MUTATIONS)) {
      case 'delete': t = splice(at, 1 + Math.floor(rnd() * 10), ''); break;
      case 'insert': t = splice(at, 0, ` ${pick(TOKENS)} `); break;
      case 'replace-token': t = splice(tok.at, tok.text.length, pick(TOKENS)); break;
      case 'replace-number': {
        const nums = toks.filter((k) => /^[\d.]/.test(k.text));
        const k = nums.length ? pick(nums) : tok;
        t = splice(k.at, k.text.length, pick(EDGE_NUMBERS));
        break;
      }
      case 'replace-name': {
        const names = toks.filter((k) => /^[A-Za-z_]/.test(k.text));
        const k = names.length ? pick(names) : tok;
        t = splice(k.at, k.text.length, pick([...BUILTINS, ...AXES, ...HOSTILE_NAMES.filter((h) => h.length < 100), ...names.map((x) => x.text)]));
        break;
      }
      case 'duplicate-line': {
        const lines = t.split('\n');
        const i = Math.floor(rnd() * lines.length);
        lines.splice(i, 0, lines[i]!);
        t = lines.join('\n');
        break;
      }
      case 'swap-lines': {
        const lines = t.split('\n');
        const i = Math.floor(rnd() * lines.length), j = Math.floor(rnd() * lines.length);
        [lines[i], lines[j]] = [lines[j]!, lines[i]!];
        t = lines.join('\n');
        break;
      }
      case 'truncate': t = t.slice(0, at); break;
      case 'byte': t = splice(at, 1, pick([...ODD_TEXT, String.fromCharCode(Math.floor(rnd() * 128))])); break;
      case 'delete-token': t = splice(tok.at, tok.text.length, ''); break;
    }
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// The judge: run one input, in the worker.

const F32_MAX = 3.4028234663852886e38;

/** mulberry32 (tools/check.ts): the input data from the input's seed. */
const prng = rng;

/** Data for each input by role: probabilities in (0, 1) with exact 0, ½ and 1 now and then; masks of 0 and 1. */
export function dataFor(inputs: { name: string; role: string }[], n: number, seed: number): Record<string, Float32Array> {
  const r = prng(seed);
  const out: Record<string, Float32Array> = Object.create(null);
  for (const { name, role } of inputs) {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const u = r();
      a[i] = role === 'prob' ? (u < 0.05 ? [0, 0.5, 1][Math.floor(r() * 3)]! : 0.02 + 0.96 * r())
        : role === 'logits' ? -4 + 8 * r()
        : role === 'target' || name === 'mask' ? (u < 0.5 ? 0 : 1)
        : role === 'weight' ? 0.1 + 1.9 * r()
        : -2 + 4 * r();
    }
    out[name] = a;
  }
  return out;
}

/** Within float32 rounding of the reference: the same non-finite values, or close relative to the scale. */
function close(js: number, ref: number, scale: number, rtol: number): boolean {
  if (Number.isNaN(ref) || Number.isNaN(js)) return Number.isNaN(ref) && Number.isNaN(js);
  // Kernels start a max (min) at float32's lowest (highest) number, WGSL having no infinity (grammar/README.md,
  // Limits): a max over values that are all −∞ is −3.4e38 there.
  if (!Number.isFinite(ref)) return js === ref || js === Math.sign(ref) * F32_MAX;
  // A finite float64 value beyond float32's range is infinite (or huge) in float32.
  if (Math.abs(ref) > F32_MAX) return Math.sign(js) === Math.sign(ref) && (Math.abs(js) > F32_MAX / 2);
  if (!Number.isFinite(js)) return false;
  // Relative to the element and to the largest element; the floor covers a difference of O(1) terms that
  // cancel (float64 leaves ~1e-16 of them, float32 ~1e-8).
  return Math.abs(js - ref) <= rtol * Math.abs(ref) + rtol * 1e-2 * scale + 1e-6;
}

function maxAbs(xs: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < xs.length; i++) { const v = Math.abs(xs[i]!); if (Number.isFinite(v) && v < F32_MAX && v > m) m = v; }
  return m;
}

interface Run { value: number; grad: ArrayLike<number>; values?: ArrayLike<number> }

/** Where `js` leaves every one of the reference runs (the first the inputs, the others inputs a few float32 ulps off): undefined when it matches one. */
function mismatch(js: Run, refs: Run[], rtol: number): string | undefined {
  const scalar = (what: string, get: (r: Run) => number, scale: number) =>
    refs.some((r) => close(get(js), get(r), scale, rtol)) ? undefined : `${what}: js ${get(js)}, reference ${get(refs[0]!)}`;
  const array = (what: string, get: (r: Run) => ArrayLike<number> | undefined) => {
    const a = get(js);
    if (!a) return undefined;
    const scale = maxAbs(get(refs[0]!)!);
    for (let i = 0; i < a.length; i++) {
      // Element by element against any run: at a near-tie the runs fall on both sides of it.
      if (!refs.some((r) => close(a[i]!, get(r)![i]!, scale, rtol))) return `${what}[${i}]: js ${a[i]}, reference ${get(refs[0]!)![i]} (of ${a.length}, max |ref| ${scale})`;
    }
    return undefined;
  };
  return scalar('value', (r) => r.value, Math.abs(refs[0]!.value)) ?? array('grad', (r) => r.grad) ?? array('values', (r) => r.values);
}

/** The inputs moved by a few float32 ulps, one direction per run: a near-tie (a comparison, a max) may flip. */
function nudged(data: Record<string, Float32Array>, k: number): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = Object.create(null);
  const r = prng(1000 + k);
  for (const name of Object.keys(data)) {
    const a = Float32Array.from(data[name]!);
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      if (v === 0 || v === 1) continue; // masks and one-hot targets stay exact
      a[i] = Math.fround(v * (1 + (r() < 0.5 ? -1 : 1) * 4e-7 * (1 + k)));
    }
    out[name] = a;
  }
  return out;
}

/**
 * Whether the float64 evaluation of the loss leaves float32's range at some node (a finite value beyond
 * FLT_MAX, or a nonzero one below its smallest normal): float32 storage overflows or flushes there, so
 * the js kernels may fairly differ. Not when a constant is beyond float32: that one is the formula's (an error).
 */
function leavesFloat32(loss: CompiledLoss, data: Record<string, Float32Array>, shape: number[], layout: 'nhwc' | 'nchw'): boolean {
  const { sizes, dims } = sizesOf(shape, layout);
  const ir = loss.ir(dims);
  const canon: Record<string, Float64Array> = Object.create(null);
  for (const i of loss.inputs) canon[i.name] = toCanonical(data[i.name]!, layout, sizes, dims);
  const nodes = toposort([ir.value, ir.grad, ...(ir.values ? [ir.values] : [])]);
  // A constant beyond float32 (or not finite) is the formula's, not float32 storage's: no excuse.
  if (nodes.some((n) => n.op === 'const' && !(Math.abs(n.arg as number) <= F32_MAX))) return false;
  const vals = evaluate(nodes, canon, sizes);
  return nodes.some((n, i) => n.op !== 'const' && vals[i]!.data.some((v) => Number.isFinite(v) && v !== 0 && (Math.abs(v) > F32_MAX || Math.abs(v) < 1.1754943508222875e-38)));
}

/** Every diagnostic has a known code and a span in a file it read, whose line and column match its offset. */
function located(ds: readonly { code: string; message: string; span?: { file: string; line: number; col: number; start: number; end: number } }[], sources: ReadonlyMap<string, string>, codes: Record<string, { message: string }>): Outcome {
  if (ds.length === 0) return { kind: 'failure', why: 'error without diagnostics', message: '' };
  for (const d of ds) {
    if (!(d.code in codes)) return { kind: 'failure', why: 'unknown code', message: `${d.code}: ${d.message}` };
    // A template slot left unfilled prints as {name}: an argument the reporter forgot.
    const slots = [...codes[d.code]!.message.matchAll(/\{(\w+)\}/g)].map((m) => `{${m[1]}}`);
    if (slots.some((s) => d.message.includes(s))) return { kind: 'failure', why: 'unfilled message', message: `${d.code}: ${d.message}` };
    const s = d.span;
    if (!s) return { kind: 'failure', why: 'unlocated diagnostic', message: `${d.code}: ${d.message}` };
    const src = sources.get(s.file);
    if (src === undefined) return { kind: 'failure', why: 'span in an unknown file', message: `${d.code} at ${s.file}:${s.line}:${s.col}` };
    if (!(s.line >= 1 && s.col >= 1 && s.start >= 0 && s.start <= src.length && s.end >= s.start)) {
      return { kind: 'failure', why: 'bad span', message: `${d.code} at ${s.line}:${s.col} [${s.start}, ${s.end}) of ${src.length}` };
    }
    // As the formatter reads lines (\r?\n): the line and column the caret is drawn at.
    // Lines end as the lexer ends them: \r\n, \n or a lone \r.
    const before = src.slice(0, s.start).split(/\r\n?|\n/);
    if (before.length !== s.line || before[before.length - 1]!.length + 1 !== s.col) {
      return { kind: 'failure', why: 'span line/col disagree with its offset', message: `${d.code} at ${s.line}:${s.col}, offset ${s.start} is ${before.length}:${before[before.length - 1]!.length + 1}` };
    }
  }
  return { kind: 'diagnostic', codes: [...new Set(ds.map((d) => d.code))].sort() };
}

/** An exception's outcome: formula and input errors are fair; everything else is a failure. */
function thrown(e: unknown): Outcome {
  if (e instanceof SeglossError) return located(e.diagnostics, e.sources, CODES);
  const err = e instanceof Error ? e : new Error(String(e));
  if (err instanceof RangeError && /call stack/.test(err.message)) return { kind: 'failure', why: 'stack overflow', message: `${err.message}\n${stackHead(err)}` };
  if (err.message.startsWith('internal:')) return { kind: 'failure', why: 'internal', message: `${err.message}\n${stackHead(err)}` };
  if (err instanceof InputError) return { kind: 'input-error', message: err.message };
  return { kind: 'failure', why: `uncaught ${err.name}`, message: `${err.message}\n${stackHead(err)}` };
}

function stackHead(e: Error): string {
  return (e.stack ?? '').split('\n').slice(1, 6).map((l) => l.trim()).join(' | ');
}

/** The relative tolerance of float32 storage between passes, against float64 throughout. */
const RTOL = 2e-4;

/** Compile `inp` on the reference and js backends and compare, or judge the diagnostics. */
export async function judge(inp: FuzzInput): Promise<Outcome> {
  const files = inp.files ?? {};
  const readFile = inp.file ? undefined : (path: string): string | undefined => {
    const key = resolve(path);
    if (key in files) return files[key];
    if (key.startsWith(`${resolve(LIBRARY_DIR)}/`)) { try { return readFileSync(key, 'utf8'); } catch { return undefined; } }
    return undefined;
  };
  const opts = {
    file: inp.file ?? '/fuzz/main.loss', layout: inp.layout ?? 'nhwc', threads: 1,
    ...(inp.params ? { params: inp.params } : {}), ...(inp.activation ? { activation: inp.activation } : {}), ...(readFile ? { readFile } : {}),
  } as const;
  const shape = inp.shape ?? [1, 3, 4, 2];
  let ref, js;
  try {
    ref = await compile(inp.source, { ...opts, backend: 'reference' });
    js = await compile(inp.source, { ...opts, backend: 'js' });
    const n = shape.reduce((a, b) => a * b, 1);
    const data = dataFor(ref.inputs, n, inp.seed ?? 1);
    const a = await js.valueAndGrad(data, shape);
    const b = await ref.valueAndGrad(data, shape);
    const v = await js.value(data, shape);
    const refs: Run[] = [b];
    let bad = mismatch(a, refs, RTOL) ?? mismatch({ ...v, grad: b.grad }, refs, RTOL);
    // A mismatch may be a near-tie: compare with the reference on inputs a few ulps off.
    for (let k = 0; bad && k < 4; k++) {
      refs.push(await ref.valueAndGrad(nudged(data, k), shape));
      bad = mismatch(a, refs, RTOL) ?? mismatch({ ...v, grad: b.grad }, refs, RTOL);
    }
    if (bad && leavesFloat32(ref, data, shape, opts.layout)) return { kind: 'beyond-f32', message: bad };
    if (bad) return { kind: 'failure', why: 'js differs from the reference', message: bad };
    return { kind: 'equal', nonFinite: !Number.isFinite(b.value) || !Array.prototype.every.call(b.grad, Number.isFinite) };
  } catch (e) {
    return thrown(e);
  } finally {
    ref?.dispose();
    js?.dispose();
  }
}

/** The worker's loop: judge each input posted, post back its outcome. */
export async function serve(): Promise<void> {
  parentPort!.on('message', async (inp: FuzzInput) => {
    let out: Outcome;
    try { out = await judge(inp); } catch (e) { out = thrown(e); }
    parentPort!.postMessage(out);
  });
  parentPort!.postMessage('ready');
}

// ---------------------------------------------------------------------------------------------
// The targeted list: sizes and texts chosen to break recursion, linear passes, limits and the lexer.

const L = (body: string, head = 'loss f(p: prob, g: target; k = 1)') => `${head}\n  = ${body}\n`;

/** Nesting depths: every kind of bracket and prefix the grammar recurses on. */
export const NEST_DEPTHS = [10, 100, 1000, 100000];

function nesting(d: number): FuzzInput[] {
  const rep = (s: string, n = d) => s.repeat(n);
  const defF = 'def h(x) = x * 0.5 + 0.1\n';
  return [
    ['parentheses', L(`mean(${rep('(')}p${rep(')')} * g)`)],
    ['unary minus', L(`mean(${rep('-')}p * g)`)],
    ['power chain (right-associative)', L(`mean(${rep('p^')}p)`)],
    ['nested calls', L(`mean(${rep('sigmoid(')}p${rep(')')})`)],
    ['nested reductions', L(`${rep('sum(')}p${rep(')')}`)],
    ['nested def calls', defF + L(`mean(${rep('h(')}p${rep(')')})`)],
    ['nested where', L(`mean(${rep('where(p > 0.5, ')}p${rep(', g)')})`)],
    ['nested repeats', `loss f(p: prob, g: target)\n  s = p\n${rep('repeat 1 {\n')}  s = s * 0.5 + p\n${rep('}\n')}  = mean(s * g)\n`],
    ['unclosed parentheses', L(`mean(${rep('(')}p * g`)],
    ['unclosed brackets', L(`sum${rep('[')}space](p)`)],
    ['nested comparisons in parentheses', L(`mean(${rep('(p < ')}g${rep(')')})`)],
    ['nested default arguments', `${Array.from({ length: Math.min(d, 2000) }, (_, i) => `def d${i}(x, y = ${i ? `d${i - 1}(0.5)` : '0.5'}) = x * y`).join('\n')}\n${L(`mean(d${Math.min(d, 2000) - 1}(p) * g)`)}`],
  ].map(([note, source]) => ({ source: source!, note: `nesting ${d}: ${note}` }));
}

/** Chain lengths: long left-associated chains and long sequences of statements (50,000 for one chain only: the time budget). */
export const CHAIN_LENGTHS = [1000, 10000];

function chains(n: number): FuzzInput[] {
  const terms = (f: (i: number) => string, sep: string) => Array.from({ length: n }, (_, i) => f(i)).join(sep);
  const short = Math.min(n, 2000);
  return [
    ['+ chain of one name', L(`mean(${terms(() => 'p', ' + ')} * g)`)],
    ['+ chain of distinct terms', L(`mean(${terms((i) => `p * ${i + 1}`, ' + ')})`)],
    ['* chain', L(`mean(${terms(() => 'p', ' * ')})`)],
    ['- chain', L(`mean(${terms(() => 'p', ' - ')})`)],
    ['/ chain', L(`mean(${terms(() => 'p', ' / ')})`)],
    ['mixed + - * / chain', L(`mean(${terms((i) => (i ? `${'+-*/'[i % 4]} ${i % 4 > 1 ? 1 + (i % 3) * 0.001 : 'p'}` : 'p'), ' ')} * g)`)],
    ['binding chain', `loss f(p: prob, g: target)\n${terms((i) => `  a${i} = ${i ? `a${i - 1}` : 'p'} * 0.5 + p`, '\n')}\n  = mean(a${n - 1} * g)\n`],
    ['unused bindings', `loss f(p: prob, g: target)\n${terms((i) => `  u${i} = p * ${i}`, '\n')}\n  = mean(p * g)\n`],
    ['def chain', `def h0(x) = x * 0.5 + 0.25\n${Array.from({ length: short - 1 }, (_, i) => `def h${i + 1}(x) = h${i}(x) * 0.5 + 0.25`).join('\n')}\n${L(`mean(h${short - 1}(p) * g)`)}`],
    ['many reductions (one accumulator each)', L(`${Array.from({ length: short }, (_, i) => `sum[space](p * ${i + 1})`).join(' + ').replace(/^/, 'mean(')} * 1)`)],
    ['many parameters', `loss f(p: prob, g: target; ${Array.from({ length: short }, (_, i) => `k${i} = ${i}`).join(', ')})\n  = mean(p * (${Array.from({ length: short }, (_, i) => `k${i}`).join(' + ')}))\n`],
    ['many inputs', `loss f(p: prob, ${Array.from({ length: Math.min(n, 300) }, (_, i) => `w${i}: weight`).join(', ')})\n  = mean(p * (${Array.from({ length: Math.min(n, 300) }, (_, i) => `w${i}`).join(' + ')}))\n`],
    ['a long comment header', `${terms((i) => `# line ${i}`, '\n')}\n${L('mean(p * g)')}`],
  ].map(([note, source]) => ({ source: source!, note: `chain ${n}: ${note}` }));
}

const REPEATS: [string, string][] = [
  ['repeat 1000 { x = x * 0.5 + p }', 'loss f(p: prob, g: target)\n  x = p\n  repeat 1000 {\n    x = x * 0.5 + p\n  }\n  = mean(x * g)\n'],
  ['repeat 1000 with two states', 'loss f(p: prob, g: target)\n  x = p\n  y = g\n  repeat 1000 {\n    x = 0.5 * x + 0.5 * y\n    y = 0.5 * y + 0.25 * x\n  }\n  = mean(x * y)\n'],
  ['repeat 10 x 10 x 10', 'loss f(p: prob, g: target)\n  x = p\n  repeat 10 {\n    repeat 10 {\n      repeat 10 {\n        x = x * 0.5 + p\n      }\n    }\n  }\n  = mean(x * g)\n'],
  ['repeat 1000 { x = x + x } (overflows)', 'loss f(p: prob, g: target)\n  x = p\n  repeat 1000 {\n    x = x + x\n  }\n  = mean(x * g)\n'],
  ['repeat 200: a DAG read twice per step', 'loss f(p: prob, g: target)\n  x = p\n  repeat 200 {\n    x = sigmoid(x) * x + p\n  }\n  = mean(x * g)\n'],
  ['repeat 100: x*x + x', 'loss f(p: prob, g: target)\n  x = p\n  repeat 100 {\n    x = x * x * 0.5 + x * 0.25\n  }\n  = mean(x * g)\n'],
  ['repeat 1000 of a pool', 'loss f(p: prob, g: target)\n  x = p\n  repeat 1000 {\n    x = 0.5 * maxpool(x, 3) + 0.5 * p\n  }\n  = mean(x * g)\n'],
  ['repeat 1000 of a reduction', 'loss f(p: prob, g: target)\n  x = p\n  repeat 1000 {\n    x = x - 0.1 * mean[space](x) + 0.01 * p\n  }\n  = mean(x * g)\n'],
  ['repeat 1001 (over the limit)', 'loss f(p: prob, g: target)\n  x = p\n  repeat 1001 {\n    x = x * 0.5 + p\n  }\n  = mean(x * g)\n'],
  ['repeat 1000 x 1000', 'loss f(p: prob, g: target)\n  x = p\n  repeat 1000 {\n    repeat 1000 {\n      x = x * 0.5 + p\n    }\n  }\n  = mean(x * g)\n'],
  ['a def with a loop called in a loop', 'def sm(x, n = 30)\n  s = x\n  repeat n {\n    s = 0.5 * s + 0.25 * x\n  }\n  = s\nloss f(p: prob, g: target)\n  x = p\n  repeat 30 {\n    x = sm(x) + 0.1 * p\n  }\n  = mean(x * g)\n'],
];

/** Defs whose inlined size doubles at each level. */
function exponential(): FuzzInput[] {
  const out: FuzzInput[] = [];
  for (const n of [10, 20, 30, 60]) {
    const same = Array.from({ length: n }, (_, i) => `def e${i + 1}(x) = e${i}(x) + e${i}(x)`).join('\n');
    const diff = Array.from({ length: n }, (_, i) => `def e${i + 1}(x) = e${i}(x) + e${i}(x * 0.5)`).join('\n');
    const defaults = Array.from({ length: n }, (_, i) => `def e${i + 1}(x, y = e${i}(0.5, 0.5) + e${i}(0.25, 0.5)) = x * y`).join('\n');
    out.push(
      { note: `exponential defs ${n}: the same argument twice`, source: `def e0(x) = x * 0.5\n${same}\n${L(`mean(e${n}(p) * g)`)}` },
      { note: `exponential defs ${n}: different arguments`, source: `def e0(x) = sigmoid(x)\n${diff}\n${L(`mean(e${n}(p) * g)`)}` },
      { note: `exponential defs ${n}: through defaults`, source: `def e0(x, y = 0.5) = x * y\n${defaults}\n${L(`mean(e${n}(p) * g)`)}` },
      { note: `exponential defs ${n}: a loss called as a function`, source: `def e0(x) = x * 0.5\n${diff}\n${L(`mean(e${n}(p) * g) + mean(e${n}(g) * p)`)}` },
    );
  }
  return out;
}

/** Each hostile name at each place a name can stand. */
function hostileNames(): FuzzInput[] {
  const at: [string, (n: string) => FuzzInput][] = [
    ['loss name', (n) => ({ source: `loss ${n}(p: prob, g: target) = mean(p * g)\n` })],
    ['prediction name', (n) => ({ source: `loss f(${n}: prob, g: target) = mean(${n} * g)\n` })],
    ['target name', (n) => ({ source: `loss f(p: prob, ${n}: target) = mean(p * ${n})\n` })],
    ['role', (n) => ({ source: `loss f(p: prob, g: ${n}) = mean(p * g)\n` })],
    ['parameter', (n) => ({ source: `loss f(p: prob, g: target; ${n} = 0.5) = mean(p * g * ${n})\n` })],
    ['parameter override', (n) => ({ source: `loss f(p: prob, g: target; ${n} = 0.5) = mean(p * g * ${n})\n`, params: Object.fromEntries([[n, 2]]) })],
    ['unknown override', (n) => ({ source: 'loss f(p: prob, g: target) = mean(p * g)\n', params: Object.fromEntries([[n, '1']]) })],
    ['def name', (n) => ({ source: `def ${n}(x) = x * 2\nloss f(p: prob, g: target) = mean(${n}(p) * g)\n` })],
    ['def parameter', (n) => ({ source: `def h(${n}) = ${n} * 2\nloss f(p: prob, g: target) = mean(h(p) * g)\n` })],
    ['binding', (n) => ({ source: `loss f(p: prob, g: target)\n  ${n} = p * g\n  = mean(${n})\n` })],
    ['named argument', (n) => ({ source: `def h(x, ${n} = 1) = x * ${n}\nloss f(p: prob, g: target) = mean(h(p, ${n} = 2) * g)\n` })],
    ['axis', (n) => ({ source: `loss f(p: prob, g: target) = mean(sum[${n}](p * g))\n` })],
    ['callee', (n) => ({ source: `loss f(p: prob, g: target) = mean(${n}(p) * g)\n` })],
    ['loop state', (n) => ({ source: `loss f(p: prob, g: target)\n  ${n} = p\n  repeat 2 {\n    ${n} = ${n} * 0.5 + p\n  }\n  = mean(${n} * g)\n` })],
    ['use path', (n) => ({ source: `use "${n}.loss"\nloss f(p: prob, g: target) = mean(p * g)\n` })],
    ['a used file\'s def', (n) => ({ source: `use "h.loss"\nloss f(p: prob, g: target) = mean(${n}(p) * g)\n`, files: { '/fuzz/h.loss': `def ${n}(x) = x * 0.5\n` } })],
  ];
  return at.flatMap(([where, f]) => HOSTILE_NAMES.map((n) => ({ ...f(n), note: `hostile name ${n.length > 20 ? `${n.slice(0, 8)}…(${n.length})` : n} as ${where}` })));
}

/** Each edge number at each place a number can stand, and the constant expressions that are not numbers. */
function edgeNumbers(): FuzzInput[] {
  const at: [string, (x: string) => FuzzInput][] = [
    ['parameter default', (x) => ({ source: `loss f(p: prob, g: target; k = ${x}) = mean(p * g * k)\n` })],
    ['negated default', (x) => ({ source: `loss f(p: prob, g: target; k = -${x}) = mean(p * g + k)\n` })],
    ['factor', (x) => ({ source: L(`mean(p * ${x} + g)`) })],
    ['divisor', (x) => ({ source: L(`mean(p / ${x})`) })],
    ['exponent', (x) => ({ source: L(`mean(p ^ ${x})`) })],
    ['repeat count', (x) => ({ source: `loss f(p: prob, g: target)\n  s = p\n  repeat ${x} {\n    s = s * 0.5 + p\n  }\n  = mean(s * g)\n` })],
    ['window width', (x) => ({ source: L(`mean(window(p, box(${x})) * g)`) })],
    ['gaussian sigma', (x) => ({ source: L(`mean(window(p, gaussian(3, ${x})) * g)`) })],
    ['pool width', (x) => ({ source: L(`mean(maxpool(p, ${x}) * g)`) })],
    ['interior width', (x) => ({ source: L(`mean(interior(${x}) * p)`) })],
    ['class index', (x) => ({ source: L(`mean(at(p, ${x}) * at(g, 0))`) })],
    ['clip bound', (x) => ({ source: L(`mean(clip(p, 0, ${x}) * g)`) })],
    ['override (text)', (x) => ({ source: L('mean(p * g * k)'), params: { k: x } })],
  ];
  const numbers = at.flatMap(([where, f]) => EDGE_NUMBERS.map((x) => ({ ...f(x), note: `edge number ${x.length > 20 ? `${x.slice(0, 6)}…(${x.length})` : x} as ${where}` })));
  const constants = ['0/0', 'sqrt(-1)', '1e999-1e999', 'log(0)', '1/0', '-1/0', '0^0', '(-8)^(1/3)', 'exp(1000)', '-0', 'log(-1)', '1e38 * 10', '3e38 + 3e38',
    '1e-45 / 2', 'p / 0', 'log(p - p)', 'sqrt(p - p)', '0 * log(0)', 'classes() ^ 1000', 'exp(-1000)', '1e308 * 10', '(p - p) / (g - g)', 'p ^ 1e999',
    'max(0/0, p)', 'where(0/0 > 0, p, g)', 'detach(0/0) * p', 'sum(p) / 0']
    .map((c) => ({ source: L(`mean(p * g + ${c})`), note: `constant ${c}` }));
  const limits = ['maxpool(p, 99999)', 'minpool(p, cross(99999))', 'window(p, gaussian(99999, 1))', 'window(p, box(99999))', 'window(p, gaussian(3, 1e-300))',
    'window(p, gaussian(3, 1e300))', 'interior(99999)', 'interior(1, 99999)', 'interior(3, 60)', 'at(p, 1e300)', 'maxpool[y](p, 1e9 + 1)', 'sum[space](interior(1, 4) * avgpool2(avgpool2(avgpool2(avgpool2(p)))))']
    .map((c) => ({ source: L(`mean(${c} * g)`), note: `limit ${c}` }));
  const overrides: FuzzInput[] = [['NaN', 'NaN'], ['Infinity (number)', Infinity], ['-Infinity (number)', -Infinity], ['NaN (number)', NaN], ['1e999', '1e999'], ['empty', ''], ['spaces', '  '], ['hex', '0x10'], ['-0', '-0'], ['max float64', Number.MAX_VALUE]]
    .map(([what, v]) => ({ source: L('mean(p * g * k)'), params: { k: v as string | number }, note: `override k = ${what}` }));
  const knobs: FuzzInput[] = ([
    { params: { class_weights: [1, 2, 3] } }, { params: { class_weights: [] } }, { params: { class_weights: '1,,2' } }, { params: { class_weights: [NaN, 1] } },
    { params: { class_weights: [1e308, 1e308] } }, { params: { ignore_index: 1e300 } }, { params: { ignore_index: 0.5 } }, { params: { region: 'batch' } },
    { params: { class_distances: [[0, 1], [1, 0]] } }, { params: { class_distances: [[0, Infinity], [1, 0]] } }, { params: { reduction: 'none', class_weights: [0, 0] } },
    { params: { include_background: false }, shape: [1, 3, 4, 1] }, { params: { mask: true, include_background: false, class_weights: [0, 1], reduction: 'none' } },
  ] as { params: NonNullable<FuzzInput['params']>; shape?: number[] }[]).map((k) => ({ source: L('mean(sum[region, class](p * g))'), ...k, note: `knobs ${JSON.stringify(k.params)}${k.shape ? ` on ${k.shape}` : ''}` }));
  return [...numbers, ...constants, ...limits, ...overrides, ...knobs];
}

/**
 * NaN and ±Inf made at run time (log of a negative or of 0) through every kind of op: elementwise max/min,
 * reductions, pools, windows, sorts, distance maps, class functions, comparisons. The reference defines
 * what they give; the kernels must give the same.
 */
function nonFinite(): FuzzInput[] {
  const nan = 'log(p - 1)', ninf = 'log(relu(-p))', pinf = '-log(relu(-p))';
  return [
    `max(${nan}, p)`, `max(p, ${nan})`, `min(${nan}, p)`, `clip(${nan}, 0, 1)`, `relu(${nan})`, `abs(${ninf})`, `sign(${nan})`, `detach(${nan}) * p`,
    `max[space](${ninf})`, `min[space](${pinf})`, `max[class](${ninf})`, `max[space](where(p > 0.5, ${nan}, p))`, `max[space](where(p > 0.5, ${ninf}, p))`,
    `maxpool(${ninf}, 3)`, `minpool(${pinf}, 3)`, `maxpool(where(p > 0.5, ${nan}, p), 3)`, `minpool(${ninf}, cross(3))`,
    `window(${ninf}, box(3))`, `window(where(p > 0.5, ${nan}, p), gaussian(3, 1))`, `sum[space](interior(1, 1) * avgpool2(${ninf}))`,
    `sorted[space](p, ${nan})`, `sorted[space](p, where(p > 0.5, ${pinf}, p))`, `cumsum[space](${ninf})`, `edt(${nan})`, `sdt(where(p > 0.5, ${pinf}, p))`,
    `softmax(${ninf})`, `softmax(${pinf})`, `logsoftmax(where(p > 0.5, ${ninf}, p))`, `softmax(${nan})`,
    `where(${nan} > 0, p, g)`, `(${nan} == ${nan}) * p`, `(${nan} != p) * p`, `(${ninf} < p) * p`, `${ninf} * 0`, `exp(${ninf})`, `sigmoid(${ninf}) + sigmoid(${pinf})`,
    `softplus(${pinf})`, `logsigmoid(${ninf})`, `tanh(${pinf})`, `logcosh(${pinf})`, `p ^ ${pinf}`, `${ninf} ^ 2`, `sqrt(${pinf})`,
  ].map((e) => ({ source: L(`mean(p * g + ${e})`), note: `non-finite: ${e}` }));
}

/** Byte-order marks, line ends, NUL and Unicode where the lexer and the caret meet them. */
function textOddities(): FuzzInput[] {
  const ok = 'loss f(p: prob, g: target)\n  t = p * g\n  = mean(t)\n';
  const bad = 'loss f(p: prob, g: target)\n  t = p * gg\n  = mean(t)\n';
  const texts: [string, string][] = [
    ['BOM', `\uFEFF${ok}`], ['BOM in the middle', ok.replace('t = ', '\uFEFFt = ')], ['two BOMs', `\uFEFF\uFEFF${ok}`],
    ['CR line ends', ok.replace(/\n/g, '\r')], ['CRLF line ends', ok.replace(/\n/g, '\r\n')], ['mixed line ends', 'loss f(p: prob, g: target)\r\n  t = p * g\r  = mean(t)\n'],
    ['an error after CR line ends', bad.replace(/\n/g, '\r')], ['an error after CRLF line ends', bad.replace(/\n/g, '\r\n')], ['an error after a BOM', `\uFEFF${bad}`],
    ['an error after U+2028', bad.replace('\n', '\u2028')], ['an error after a form feed', `\f${bad}`],
    ['NUL in a comment', `# a\0b\n${ok}`], ['NUL between tokens', ok.replace('p * g', 'p *\0g')], ['NUL in a name', ok.replace('t = p', 't\0 = p')],
    ['NUL in a use path', `use "a\0.loss"\n${ok}`], ['NUL only', '\0'], ['NUL after the result', `${ok}\0`],
    ['é in a name', ok.replace(/\bt\b/g, 'té')], ['a math italic x', ok.replace(/\bt\b/g, '𝑥')], ['fullwidth p', ok.replace('p * g', 'ｐ * g')],
    ['NBSP as a space', ok.replace('p * g', 'p\u00a0*\u00a0g')], ['zero-width space', ok.replace('p * g', 'p\u200b * g')], ['U+2028 between statements', ok.replace(/\n/g, '\u2028')],
    ['RTL override in a comment', `# \u202e evil\n${ok}`], ['a lone surrogate in a comment', `# \ud800\n${ok}`], ['a lone surrogate in a name', ok.replace('t = p', 't\udc00 = p')],
    ['a lone surrogate in a use path', `use "\ud800.loss"\n${ok}`], ['emoji in a string', `use "😀.loss"\n${ok}`], ['emoji in a comment', `# 😀😀\n${ok}`],
    ['tabs', ok.replace(/ {2}/g, '\t')], ['vertical tab', ok.replace('p * g', 'p\v* g')], ['empty', ''], ['spaces only', '   \n\t\n'], ['comments only', '# a\n# b\n'],
    ['BOM only', '\uFEFF'], ['no final newline', ok.trimEnd()], ['a 200 kB comment line', `# ${'x'.repeat(200_000)}\n${ok}`], ['a 200 kB line of spaces', `${' '.repeat(200_000)}${ok}`],
    ['a 100 kB name', ok.replace(/\bt\b/g, 't'.repeat(100_000))], ['a string with escapes', `use "a\\"b\\\\c.loss"\n${ok}`], ['a string cut by CR', `use "a\rb.loss"\n${ok}`],
    ['a use of "."', `use "."\n${ok}`], ['a use of ""', `use ""\n${ok}`], ['a use of the file itself', `use "main.loss"\n${ok}`],
  ];
  return texts.map(([note, source]) => ({ source, note: `text: ${note}` }));
}

/** The whole targeted list, in a fixed order. */
export function targetedInputs(): FuzzInput[] {
  return [
    ...NEST_DEPTHS.flatMap(nesting),
    ...CHAIN_LENGTHS.flatMap(chains),
    ...chains(50000).filter((c) => c.note!.endsWith('+ chain of distinct terms')),
    ...REPEATS.map(([note, source]) => ({ source, note: `loop: ${note}` })),
    ...exponential(),
    ...hostileNames(),
    ...edgeNumbers(),
    ...nonFinite(),
    ...textOddities(),
  ];
}
