// `segloss eval FILE|NAME --pred P.npy --target G.npy`: run a loss on arrays
// from files (.npy, .png, .nii, .nii.gz) on one backend; print the value,
// optionally write the gradient with respect to the prediction (same shape and
// layout as --pred). --classes N one-hots a label-map target (with or without
// its class axis). Shapes that look like the other layout, probabilities outside
// [0, 1] and mistyped loss names are refused with a hint (exit 2). Input files
// are untrusted: io.ts checks their element counts against --max-elements before
// decoding; non-finite values and results are warned about on stderr; --grad
// never names an input and is written atomically.

import type { Command } from 'commander';
import { statSync } from 'node:fs';
import { readSource } from '../../runtime/sources.ts';
import type { Params } from '../../compiler/lower/knobs.ts';
import { InputError } from '../../compiler/core/errors.ts';
import { BackendUnavailable } from '../../runtime/backends/gpujs.ts';
import { oneHot } from '../../runtime/labels.ts';
import { type ArrayData, ArrayFileError, DEFAULT_MAX_ELEMENTS, ElementLimitError, type Intensity, MAX_MAX_ELEMENTS, arrayFormat, isImageFile, readArray, toNchw, writeArray } from '../../tools/io/index.ts';
import { type Layout, otherLayoutLikely, relayout } from '../../compiler/core/layout.ts';
import { BACKENDS, type CompiledLoss, compile, load } from '../../runtime/loss.ts';
import { LOSS_ARG_HELP, UsageError, activation, backend, collect, layout, paramHelp, parseParams, region, resolveLoss } from '../options.ts';

interface EvalOptions {
  pred: string;
  target: string;
  input: string[];
  layout: string;
  region: string;
  activation: string;
  param: string[];
  backend: string;
  grad?: string;
  json?: boolean;
  classes?: string;
  maxElements?: string;
}

/** The most classes --classes takes: every label of a 16-bit label map (PNG, uint16). */
const MAX_CLASSES = 65536;

const EXAMPLES = `
The loss is a .loss file or a name: NAME.loss in your project's losses/, a
SEGLOSS_PATH directory, or the library, in that order.
--pred goes to the loss's prob/logits input, --target to its target input, and
each extra weight/map input comes from --input NAME=FILE.npy. Arrays are .npy
(float32, float64, or integers/bool: int8..int64, uint8..uint64), 4-D (batch,
y, x, class in nhwc; batch, class, y, x in nchw) or 5-D for volumes (batch, z,
y, x, class in nhwc). The gradient is float32, or float64 from the reference
backend.

--layout defaults to nhwc; a --pred whose last axis looks like a spatial one
(say [2, 3, 32, 32]: 32 "classes") is refused with a hint to pass --layout nchw
(give --layout nhwc to read it as nhwc anyway). A loss that takes probabilities
refuses --pred values outside [0, 1]: logits need --activation sigmoid|softmax.

Images and volumes (one sample each, any --layout):
  .png          gray 8/16-bit, shape [1, H, W, 1]. --pred and --input values are
                v/255 (8-bit) or v/65535 (16-bit); a --target mask saved as 0/1
                stays 0/1, other targets scale the same way (0/255 gives 0/1).
                Palette PNGs hold labels (their indices).
  .nii .nii.gz  NIfTI volumes, shape [1, Z, Y, X, T] (NIfTI stores x fastest;
                a 4th dimension T is the class axis), values as stored (times
                scl_slope plus scl_inter when set).
--classes N reads --target as a label map (integers 0..N-1, any integer or float
dtype, int64 included; PNG values as stored) and one-hots it into N classes, to
match an N-channel --pred. The map has one channel ([B, H, W, 1] in nhwc,
[B, 1, H, W] in nchw) or no class axis at all ([B, H, W], or [B, D, H, W] for
volumes, in either layout). With --param ignore_index=K, pixels labelled K are
left out of the loss (K may lie outside 0..N-1, e.g. 255).

Untrusted files: only regular files are read (not a FIFO, a device or a
directory). Each input may hold at most --max-elements elements (default
2^27 = 134217728, 512 MiB as float32; or SEGLOSS_MAX_ELEMENTS), checked from its
header (.npy shape, PNG IHDR width × height × channels, NIfTI dims) before it is
decoded; compressed data never inflates past what the header describes.
NaN or ±Infinity in an input is a warning on stderr (file, counts); the result
is still printed, and a non-finite value is warned about too (--json: null).
--grad may not name an input (exit 2) and is written to a temporary file in its
folder, then renamed: an error never leaves half a file. --classes is at most
${MAX_CLASSES}.

Exit code 2 for a bad file, shape, flag or formula, or a backend that cannot start here.

Examples:
  segloss eval dice --pred pred.npy --target mask.npy
  segloss eval losses/tversky.loss --pred p.npy --target g.npy --param alpha=0.7 --backend cpu
  segloss eval bce --pred logits.npy --target mask.npy --activation sigmoid --grad dlogits.npy
  segloss eval dice --pred p.npy --target g.npy --layout nchw --region batch --json
  segloss eval dice --pred prob.png --target mask.png
  segloss eval dice --pred probs.nii.gz --target labels.nii.gz --classes 4
  segloss eval dice_ce --pred logits.npy --target labels_int64.npy --classes 3 --activation softmax --param ignore_index=255
  segloss eval dice --pred p_nchw.npy --target labels_bhw.npy --layout nchw --classes 3`;

export function register(program: Command): void {
  program
    .command('eval')
    .description('run a loss on arrays (.npy, .png, .nii, .nii.gz): print its value, write its gradient')
    .argument('<loss>', LOSS_ARG_HELP)
    .requiredOption('--pred <file>', 'the prediction (probabilities, or logits with --activation)')
    .requiredOption('--target <file>', 'the target (masks, one-hot or soft labels), same shape as --pred; a label map with --classes')
    .option('--input <name=file>', 'an extra weight/map input of the loss (repeatable)', collect, [])
    .option('--layout <layout>', 'axis order of the arrays: nhwc | nchw', 'nhwc')
    .option('--region <region>', 'what `region` binds to: sample | batch | global', 'sample')
    .option('--activation <act>', '--pred holds logits; the loss applies none | sigmoid | softmax first', 'none')
    .option('--param <name=value>', paramHelp('override a parameter default', 'reduction=sum|none, include_background=false, class_weights=1,2,0.5, mask=true (then --input mask=FILE), ignore_index=K (with --classes)'), collect, [])
    .option('--backend <name>', `auto | ${BACKENDS.join(' | ')}`, 'auto')
    .option('--grad <file>', 'write d loss / d pred here (.npy, same shape and layout as --pred)')
    .option('--classes <n>', '--target is a label map of integers 0..n-1 ([B, H, W], or one channel): one-hot it into n classes (n must be --pred\'s class count)')
    .option('--max-elements <n>', `the most elements one input file may hold, checked from its header before reading (default ${DEFAULT_MAX_ELEMENTS}, or SEGLOSS_MAX_ELEMENTS)`)
    .option('--json', 'print {loss, backend, value, shape}')
    .addHelpText('after', EXAMPLES)
    .action(async (lossArg: string, o: EvalOptions, cmd: Command) => {
      // flags first, so that a typo costs no file reading or compiling
      const opts = {
        layout: layout(o.layout),
        region: region(o.region),
        activation: activation(o.activation),
        backend: backend(o.backend),
      };
      const params = parseParams(o.param);
      const extra = parseInputs(o.input);
      const classes = o.classes === undefined ? undefined : classCount(o.classes);
      const maxElements = o.maxElements !== undefined ? elementLimit(o.maxElements, '--max-elements')
        : process.env.SEGLOSS_MAX_ELEMENTS !== undefined ? elementLimit(process.env.SEGLOSS_MAX_ELEMENTS, 'SEGLOSS_MAX_ELEMENTS')
        : DEFAULT_MAX_ELEMENTS;
      // A file, or a name: one in the package's library loads by name, another (the project's losses/, SEGLOSS_PATH) as its file.
      const { file: lossPath, library } = resolveLoss(lossArg);
      const isFile = !library;
      if (o.grad) {
        try { arrayFormat(o.grad, true); } catch (e) { throw toUsage(e); }
        checkGradPath(o.grad, [['--pred', o.pred], ['--target', o.target], ...[...extra].map(([name, f]): [string, string] => [`--input ${name}`, f]), ...(isFile ? [['the loss file', lossPath] as [string, string]] : [])]);
      }

      const warnings: string[] = [];
      const read = (file: string, flag: string, intensity: Intensity): ArrayData => {
        const a = readInput(file, flag, intensity, opts.layout, maxElements);
        const bad = nonFinite(a.data);
        if (bad) warnings.push(`${flag} ${file} holds ${bad}`);
        return a;
      };
      const pred = read(o.pred, '--pred', 'probability');
      let target = read(o.target, '--target', classes ? 'labels' : 'mask');
      const ignoreIndex = params['ignore_index'];
      if (ignoreIndex !== undefined && !classes) throw new UsageError('--param ignore_index needs a label map: give --classes N (pixels labelled ignore_index are left out)');
      if ((pred.shape.length !== 4 && pred.shape.length !== 5) || pred.shape.includes(0)) {
        throw new UsageError(`--pred ${o.pred} has shape ${fmtShape(pred.shape)}; expected 4-D (2-D images, batch first) or 5-D (volumes) in layout ${opts.layout}, no empty axis`);
      }
      checkLayout(pred, o.pred, opts.layout, cmd.getOptionValueSource('layout') === 'cli');
      const ca = classAxis(opts.layout, pred.shape);
      let mask: Float32Array | undefined;
      if (classes) {
        const predClasses = pred.shape[ca]!;
        if (classes !== predClasses) {
          const other: Layout = opts.layout === 'nhwc' ? 'nchw' : 'nhwc';
          const there = pred.shape[classAxis(other, pred.shape)];
          throw new UsageError(`--classes ${classes} but --pred ${o.pred} has ${predClasses} class${predClasses === 1 ? '' : 'es'} (axis ${ca} of ${fmtShape(pred.shape)} in layout ${opts.layout})` +
            (there === classes ? `; it has ${classes} along axis ${classAxis(other, pred.shape)}, the class axis in ${other}: pass --layout ${other}` : '; --classes is the class count of --pred'));
        }
        try { ({ mask, ...target } = oneHot(target, classes, ca, `--target ${o.target}`, typeof ignoreIndex === 'number' ? ignoreIndex : undefined, pred.shape.length)); } catch (e) { throw toUsage(e); }
      }
      sameShape(target, pred, `--target ${o.target}`, o.pred, opts.layout, classes === undefined);
      noteWideMask(target, o.target);
      const extraData = new Map<string, ArrayData>();
      for (const [name, file] of extra) {
        const a = read(file, `--input ${name}`, 'probability');
        // A mask is per pixel: one channel, repeated along class.
        const perPixel = name === 'mask' && a.shape[classAxis(opts.layout, a.shape)] === 1;
        sameShape(a, perPixel ? { ...pred, shape: pred.shape.map((n, i) => (i === classAxis(opts.layout, pred.shape) ? 1 : n)) } : pred, `--input ${name}=${file}`, o.pred);
        extraData.set(name, a);
      }

      const loss = await open(isFile ? lossPath : lossArg, isFile, params, opts);
      try {
        if (loss.inputs.find((i) => i.name === loss.wrt)?.role === 'prob') checkProbabilities(pred, o.pred, loss.name);
        if (mask && !extraData.has('mask')) extraData.set('mask', { data: mask, shape: pred.shape.map((n, i) => (i === classAxis(opts.layout, pred.shape) ? 1 : n)), dtype: 'float32' });
        const inputs = bindInputs(loss, pred, target, extraData, lossArg);
        for (const w of warnings) process.stderr.write(`segloss: warning: ${w}\n`);
        let grad: Float32Array | Float64Array | undefined;
        let r: { value: number; backend: string; values?: Float64Array };
        if (o.grad) ({ grad, ...r } = await loss.valueAndGrad(inputs, pred.shape));
        else r = await loss.value(inputs, pred.shape);
        const fell = loss.kernelBackends().filter((b) => b !== r.backend);
        if (fell.length) throw new UsageError(`backend '${r.backend}': gpu.js ran ${fell.length} kernel(s) on ${[...new Set(fell)].join(', ')} instead; not reporting a result from another backend`);
        if (!Number.isFinite(r.value)) process.stderr.write(`segloss: warning: the loss value is ${r.value}${warnings.length ? ' (non-finite inputs, above)' : ''}\n`);
        const badValues = r.values && nonFinite(r.values);
        if (badValues) process.stderr.write(`segloss: warning: the per-item values (reduction none) hold ${badValues}\n`);
        if (o.grad) {
          const badGrad = nonFinite(grad!);
          if (badGrad) process.stderr.write(`segloss: warning: the gradient holds ${badGrad}\n`);
          try { writeArray(o.grad, grad!, pred.shape); } catch (e) { throw toUsage(e); }
        }
        if (o.json) {
          process.stdout.write(`${JSON.stringify({ loss: loss.name, backend: r.backend, value: r.value, ...(r.values ? { values: [...r.values] } : {}), shape: pred.shape })}\n`);
        } else {
          process.stdout.write(`${loss.name}  value ${fmtValue(r.value)}  backend ${r.backend}  shape ${fmtShape(pred.shape)}\n`);
          // Per-pixel values can be millions: the first 32 here, all of them with --json.
          if (r.values) process.stdout.write(`values (reduction none, ${r.values.length}) ${[...r.values.subarray(0, 32)].map(fmtValue).join(' ')}${r.values.length > 32 ? ' ... (all with --json)' : ''}\n`);
          if (o.grad) process.stdout.write(`gradient written to ${o.grad}\n`);
        }
      } finally {
        loss.dispose();
      }
    });
}

const classAxis = (l: Layout, shape: readonly number[]) => (l === 'nhwc' ? shape.length - 1 : 1);


function parseInputs(list: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const kv of list) {
    const m = /^([A-Za-z_]\w*)=(.+)$/.exec(kv);
    if (!m) throw new UsageError(`--input takes name=file.npy, got '${kv}'`);
    if (out.has(m[1]!)) throw new UsageError(`--input ${m[1]} is given twice`);
    out.set(m[1]!, m[2]!);
  }
  return out;
}

function classCount(s: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s.trim()) || n < 2 || n > MAX_CLASSES) throw new UsageError(`--classes takes a whole number from 2 to ${MAX_CLASSES}, got '${s}'`);
  return n;
}

/** --max-elements or SEGLOSS_MAX_ELEMENTS: a whole number from 1 to MAX_MAX_ELEMENTS. */
function elementLimit(s: string, what: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s.trim()) || n < 1 || n > MAX_MAX_ELEMENTS) throw new UsageError(`${what} takes a whole number from 1 to ${MAX_MAX_ELEMENTS}, got '${s}'`);
  return n;
}

/**
 * --grad must not be one of the inputs (compared by device and inode, so a
 * symlink or a hard link counts) nor anything but a regular file where it exists.
 */
function checkGradPath(grad: string, inputs: readonly [string, string][]): void {
  let g;
  try { g = statSync(grad); } catch { return; } // a new file (a missing folder fails at the write)
  if (g.isDirectory()) throw new UsageError(`--grad ${grad}: is a directory`);
  if (!g.isFile()) throw new UsageError(`--grad ${grad}: not a regular file (${g.isFIFO() ? 'a FIFO' : g.isCharacterDevice() ? 'a character device' : g.isSocket() ? 'a socket' : 'a device'}); the gradient is written to a temporary file and renamed there`);
  for (const [flag, file] of inputs) {
    let st;
    try { st = statSync(file); } catch { continue; }
    if (st.dev === g.dev && st.ino === g.ino) {
      throw new UsageError(`--grad ${grad} is ${flag}'s file${file === grad ? '' : ` (${file})`}; refusing to overwrite an input`);
    }
  }
}

/** "3 non-finite values (1 NaN, 2 +Infinity) among 16 elements", or '' when every value is finite. */
function nonFinite(data: ArrayLike<number>): string {
  let nan = 0, pos = 0, neg = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v - v !== 0) { if (v !== v) nan++; else if (v > 0) pos++; else neg++; }
  }
  const k = nan + pos + neg;
  if (!k) return '';
  const parts = [[nan, 'NaN'], [pos, '+Infinity'], [neg, '-Infinity']].filter(([c]) => c).map(([c, w]) => `${c} ${w}`);
  return `${k} non-finite value${k === 1 ? '' : 's'} (${parts.join(', ')}) among ${data.length} elements`;
}

function toUsage(e: unknown): unknown {
  if (e instanceof InputError) return new UsageError(e.message);
  return e;
}

/** An array file; images and volumes (nhwc, one sample) are moved to `layout`. */
function readInput(file: string, flag: string, intensity: Intensity, to: Layout, maxElements: number): ArrayData {
  try {
    const a = readArray(file, { intensity, maxElements });
    return to === 'nchw' && isImageFile(file) ? toNchw(a) : a;
  } catch (e) {
    if (e instanceof ElementLimitError) throw new UsageError(`${flag}: ${e.message} (--max-elements N or SEGLOSS_MAX_ELEMENTS=N sets the limit)`);
    if (e instanceof ArrayFileError) throw new UsageError(`${flag}: ${e.message}`);
    throw e;
  }
}

/** An integer mask of 0/255 (a saved image) is used as it is, which is rarely meant: say so on stderr. */
function noteWideMask(a: ArrayData, file: string): void {
  if (a.dtype.startsWith('float')) return;
  let max = 0;
  for (let i = 0; i < a.data.length; i++) if (a.data[i]! > max) max = a.data[i]!;
  if (max > 1) process.stderr.write(`segloss: note: --target ${file} is ${a.dtype} with values up to ${max}; they are used as they are (masks are usually 0/1)\n`);
}

/** Exact equality of shapes. */
const equal = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((n, i) => n === b[i]);

function sameShape(a: ArrayData, pred: ArrayData, what: string, predFile: string, l?: Layout, labelsPossible = false): void {
  if (equal(a.shape, pred.shape)) return;
  let hint = '';
  if (l) {
    const ca = classAxis(l, pred.shape);
    const C = pred.shape[ca]!;
    const noClass = pred.shape.filter((_, i) => i !== ca);
    const other: Layout = l === 'nhwc' ? 'nchw' : 'nhwc';
    if (labelsPossible && C > 1 && (equal(a.shape, noClass) || equal(a.shape, pred.shape.map((n, i) => (i === ca ? 1 : n))))) {
      hint = `; it looks like a label map: pass --classes ${C} to one-hot it`;
    } else if (equal(relayout(a.shape, other, l), pred.shape)) {
      hint = `; they match once the class axis is moved: ${what.split(' ')[0]} looks like layout ${other} and --pred like ${l}. Save both in one layout and pass it (--layout nhwc or --layout nchw)`;
    }
  }
  throw new UsageError(`${what} has shape ${fmtShape(a.shape)} but --pred ${predFile} has ${fmtShape(pred.shape)}; they must match${hint}`);
}

/**
 * A --pred that looks written in the other layout: refused when --layout was
 * defaulted (the silent misreading: 32 "classes"), a note when it was given.
 */
function checkLayout(pred: ArrayData, file: string, l: Layout, given: boolean): void {
  const other = otherLayoutLikely(pred.shape, l);
  if (!other) return;
  const C = pred.shape[classAxis(l, pred.shape)]!, C2 = pred.shape[classAxis(other, pred.shape)]!;
  const what = `--pred ${file} has shape ${fmtShape(pred.shape)}: in layout ${l} that is ${C} classes, in ${other} ${C2}`;
  if (given) process.stderr.write(`segloss: note: ${what}; reading it as ${l}, as --layout says\n`);
  else throw new UsageError(`${what}; it looks like ${other}: pass --layout ${other} (or --layout ${l} to read it as ${l} anyway)`);
}

/** A loss on probabilities given values outside [0, 1]: logits passed without --activation. */
function checkProbabilities(pred: ArrayData, file: string, name: string): void {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < pred.data.length; i++) { const v = pred.data[i]!; if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo >= 0 && hi <= 1) return;
  throw new UsageError(`--pred ${file} holds values from ${fmtValue(lo)} to ${fmtValue(hi)}, but loss '${name}' takes probabilities in [0, 1]: ` +
    'if they are logits, pass --activation sigmoid (independent channels, binary) or --activation softmax (one class per pixel)');
}

/** A .loss file, or a loss of the package's library by name, compiled. Formula errors throw SeglossError. */
async function open(arg: string, isFile: boolean, params: Params, opts: Parameters<typeof load>[2] & object): Promise<CompiledLoss> {
  try {
    if (isFile) {
      const got = readSource(arg);
      if ('why' in got) throw new UsageError(`cannot read '${arg}': ${got.why}`);
      return await compile(got.text, { ...opts, file: arg, params });
    }
    return await load(arg, params, opts);
  } catch (e) {
    if (e instanceof BackendUnavailable) throw new UsageError(`backend '${e.backend}' cannot start here: ${e.why}`);
    throw e;
  }
}


/** --pred to the prediction (loss.wrt), --target to the target, --input NAME to the weight/map inputs. */
function bindInputs(loss: CompiledLoss, pred: ArrayData, target: ArrayData, extra: Map<string, ArrayData>, lossArg: string): Record<string, Float32Array | Float64Array> {
  const inputs: Record<string, Float32Array | Float64Array> = {};
  const targets = loss.inputs.filter((i) => i.role === 'target');
  if (targets.length !== 1) throw new UsageError(`loss '${loss.name}' has ${targets.length} target inputs; eval needs exactly one for --target`);
  inputs[loss.wrt] = pred.data;
  inputs[targets[0]!.name] = target.data;
  const others = loss.inputs.filter((i) => i.name !== loss.wrt && i.role !== 'target');
  for (const name of extra.keys()) {
    if (!others.some((i) => i.name === name)) {
      const known = others.map((i) => `${i.name} (${i.role})`).join(', ');
      throw new UsageError(`--input ${name}: loss '${loss.name}'${lossArg === loss.name ? '' : ` (${lossArg})`} has no such extra input; ${known ? `it takes ${known}` : 'it takes only --pred and --target'}`);
    }
  }
  const missing = others.filter((i) => !extra.has(i.name));
  if (missing.length) throw new UsageError(`loss '${loss.name}' also needs ${missing.map((i) => `--input ${i.name}=FILE.npy (${i.role})`).join(', ')}`);
  for (const [name, a] of extra) inputs[name] = a.data;
  return inputs;
}

function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Six significant digits, no trailing zeros, exponent for tiny or huge values. */
function fmtValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-4 || a >= 1e6) ? v.toExponential(5) : v.toFixed(6);
}
