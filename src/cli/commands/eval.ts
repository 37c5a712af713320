// `segloss eval FILE|NAME --pred P.npy --target G.npy`: run a loss on arrays
// from files (.npy, .png, .nii, .nii.gz) on one backend; print the value,
// optionally write the gradient with respect to the prediction (same shape and
// layout as --pred). --classes N one-hots a label-map target.

import type { Command } from 'commander';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Params } from '../../compiler/knobs.ts';
import { InputError } from '../../runtime/errors.ts';
import { BackendUnavailable } from '../../runtime/gpu-env.ts';
import { type ArrayData, ArrayFileError, type Intensity, arrayFormat, isImageFile, oneHot, readArray, toNchw, writeArray } from '../../runtime/io.ts';
import type { Layout } from '../../runtime/layout.ts';
import { BACKENDS, type CompiledLoss, LIBRARY_DIR, compile, load } from '../../runtime/loss.ts';
import { UsageError, activation, backend, collect, layout, parseParams, region } from '../options.ts';

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
}

const EXAMPLES = `
The loss is a .loss file or the name of a library loss (losses/NAME.loss).
--pred goes to the loss's prob/logits input, --target to its target input, and
each extra weight/map input comes from --input NAME=FILE.npy. Arrays are .npy
(float32, float64, or integer/bool masks), 4-D (batch, y, x, class in nhwc;
batch, class, y, x in nchw) or 5-D for volumes (batch, z, y, x, class in nhwc).
The gradient is float32, or float64 from the reference backend.

Images and volumes (one sample each, any --layout):
  .png          gray 8/16-bit, shape [1, H, W, 1]. --pred and --input values are
                v/255 (8-bit) or v/65535 (16-bit); a --target mask saved as 0/1
                stays 0/1, other targets scale the same way (0/255 gives 0/1).
                Palette PNGs hold labels (their indices).
  .nii .nii.gz  NIfTI volumes, shape [1, Z, Y, X, T] (NIfTI stores x fastest;
                a 4th dimension T is the class axis), values as stored (times
                scl_slope plus scl_inter when set).
--classes N reads --target as a label map (one channel of integers 0..N-1; PNG
values as stored) and one-hots it into N classes, to match an N-channel --pred.

Exit code 2 for a bad file, shape, flag or formula, or a backend that cannot start here.

Examples:
  segloss eval dice --pred pred.npy --target mask.npy
  segloss eval losses/tversky.loss --pred p.npy --target g.npy --param alpha=0.7 --backend cpu
  segloss eval bce --pred logits.npy --target mask.npy --activation sigmoid --grad dlogits.npy
  segloss eval dice --pred p.npy --target g.npy --layout nchw --region batch --json
  segloss eval dice --pred prob.png --target mask.png
  segloss eval dice --pred probs.nii.gz --target labels.nii.gz --classes 4`;

export function register(program: Command): void {
  program
    .command('eval')
    .description('run a loss on arrays (.npy, .png, .nii, .nii.gz): print its value, write its gradient')
    .argument('<loss>', 'a .loss file, or the name of a library loss (dice, bce, ...)')
    .requiredOption('--pred <file>', 'the prediction (probabilities, or logits with --activation)')
    .requiredOption('--target <file>', 'the target (masks, one-hot or soft labels), same shape as --pred')
    .option('--input <name=file>', 'an extra weight/map input of the loss (repeatable)', collect, [])
    .option('--layout <layout>', 'axis order of the arrays: nhwc | nchw', 'nhwc')
    .option('--region <region>', 'what `region` binds to: sample | batch | global', 'sample')
    .option('--activation <act>', '--pred holds logits; the loss applies none | sigmoid | softmax first', 'none')
    .option('--param <name=value>', 'override a parameter default, or set a knob: reduction=sum|none, include_background=false, class_weights=1,2,0.5, mask=true (then --input mask=FILE), ignore_index=K (with --classes) (repeatable)', collect, [])
    .option('--backend <name>', `auto | ${BACKENDS.join(' | ')}`, 'auto')
    .option('--grad <file>', 'write d loss / d pred here (.npy, same shape and layout as --pred)')
    .option('--classes <n>', '--target is a label map of integers 0..n-1: one-hot it into n classes')
    .option('--json', 'print {loss, backend, value, shape}')
    .addHelpText('after', EXAMPLES)
    .action(async (lossArg: string, o: EvalOptions) => {
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
      if (o.grad) { try { arrayFormat(o.grad, true); } catch (e) { throw toUsage(e); } }

      const pred = read(o.pred, '--pred', 'probability', opts.layout);
      let target = read(o.target, '--target', classes ? 'labels' : 'mask', opts.layout);
      const ignoreIndex = params['ignore_index'];
      if (ignoreIndex !== undefined && !classes) throw new UsageError('--param ignore_index needs a label map: give --classes N (pixels labelled ignore_index are left out)');
      let mask: Float32Array | undefined;
      if (classes) {
        const axis = opts.layout === 'nhwc' ? target.shape.length - 1 : 1;
        try { ({ mask, ...target } = oneHot(target, classes, axis, `--target ${o.target}`, typeof ignoreIndex === 'number' ? ignoreIndex : undefined)); } catch (e) { throw toUsage(e); }
      }
      if ((pred.shape.length !== 4 && pred.shape.length !== 5) || pred.shape.includes(0)) {
        throw new UsageError(`--pred ${o.pred} has shape ${fmtShape(pred.shape)}; expected 4-D (2-D images, batch first) or 5-D (volumes) in layout ${opts.layout}, no empty axis`);
      }
      sameShape(target, pred, `--target ${o.target}`, o.pred);
      noteWideMask(target, o.target);
      const extraData = new Map<string, ArrayData>();
      for (const [name, file] of extra) {
        const a = read(file, `--input ${name}`, 'probability', opts.layout);
        // A mask is per pixel: one channel, repeated along class.
        const perPixel = name === 'mask' && a.shape[classAxis(opts.layout, a.shape)] === 1;
        sameShape(a, perPixel ? { ...pred, shape: pred.shape.map((n, i) => (i === classAxis(opts.layout, pred.shape) ? 1 : n)) } : pred, `--input ${name}=${file}`, o.pred);
        extraData.set(name, a);
      }

      const loss = await open(lossArg, params, opts);
      try {
        if (mask && !extraData.has('mask')) extraData.set('mask', { data: mask, shape: pred.shape.map((n, i) => (i === classAxis(opts.layout, pred.shape) ? 1 : n)), dtype: 'float32' });
        const inputs = bindInputs(loss, pred, target, extraData, lossArg);
        let grad: Float32Array | Float64Array | undefined;
        let r: { value: number; backend: string; values?: Float64Array };
        if (o.grad) ({ grad, ...r } = await loss.valueAndGrad(inputs, pred.shape));
        else r = await loss.value(inputs, pred.shape);
        const fell = loss.kernelBackends().filter((b) => b !== r.backend);
        if (fell.length) throw new UsageError(`backend '${r.backend}': gpu.js ran ${fell.length} kernel(s) on ${[...new Set(fell)].join(', ')} instead; not reporting a result from another backend`);
        if (o.grad) {
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
  if (!/^\d+$/.test(s.trim()) || n < 2) throw new UsageError(`--classes takes an integer of at least 2, got '${s}'`);
  return n;
}

function toUsage(e: unknown): unknown {
  if (e instanceof InputError) return new UsageError(e.message);
  return e;
}

/** An array file; images and volumes (nhwc, one sample) are moved to `layout`. */
function read(file: string, flag: string, intensity: Intensity, to: Layout): ArrayData {
  try {
    const a = readArray(file, { intensity });
    return to === 'nchw' && isImageFile(file) ? toNchw(a) : a;
  } catch (e) {
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

function sameShape(a: ArrayData, pred: ArrayData, what: string, predFile: string): void {
  if (a.shape.length !== pred.shape.length || a.shape.some((n, i) => n !== pred.shape[i])) {
    throw new UsageError(`${what} has shape ${fmtShape(a.shape)} but --pred ${predFile} has ${fmtShape(pred.shape)}; they must match`);
  }
}

/** A .loss file if the argument names one, else a library loss. Formula errors throw SeglossError. */
async function open(arg: string, params: Params, opts: Parameters<typeof load>[2] & object): Promise<CompiledLoss> {
  const isFile = existsSync(arg) && statSync(arg).isFile();
  const looksLikePath = /[/\\]/.test(arg) || arg.endsWith('.loss');
  if (!isFile && looksLikePath) throw new UsageError(`cannot read '${arg}'`);
  if (!isFile && !existsSync(join(LIBRARY_DIR, `${arg}.loss`))) {
    throw new UsageError(`'${arg}' is neither a file nor a library loss; library losses: ${libraryNames().join(', ')}`);
  }
  try {
    if (isFile) return await compile(readFileSync(arg, 'utf8'), { ...opts, file: arg, params });
    return await load(arg, params, opts);
  } catch (e) {
    if (e instanceof BackendUnavailable) throw new UsageError(`backend '${e.backend}' cannot start here: ${e.why}`);
    throw e;
  }
}

function libraryNames(): string[] {
  try { return readdirSync(LIBRARY_DIR).filter((f) => f.endsWith('.loss')).map((f) => f.slice(0, -5)).sort(); } catch { return []; }
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
