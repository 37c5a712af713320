// The knobs every loss accepts, applied the same way everywhere (LOSSES.md,
// "Conventions"). They arrive with the parameters (`--param k=v`,
// `load(name, params)`) and are split off here; the lowerer applies them.
//
// - activation: none | sigmoid | softmax (the prediction holds logits).
// - region: sample | batch | global (what `region` binds to).
// - include_background (true): false drops class 0 from every reduction over
//   `class`, and from the count of a mean over it (ignored with a single channel, as MONAI).
// - class_weights (w_0, …, w_{C−1}): every reduction over `class` weighs class c
//   by w_c; a mean over `class` multiplies, then divides by the class count
//   (MONAI's `weight`).
// - mask (false) / ignore_index: the loss takes one more input, `mask`, per
//   pixel (batch and space; 0 = ignored): every reduction over spatial axes sums
//   mask·e, and a mean divides by the mask's sum (numerator and denominator
//   both masked). `ignore_index = k` implies mask; `segloss eval` and
//   `oneHot(labels, …, ignoreIndex)` (io.ts) build it from a label map.
// - class_distances (every two classes at distance 1): the matrix M of
//   `wasserstein(p, g)` (generalized Wasserstein Dice), normalized by its max as MONAI.
// - reduction (mean): the loss's final reductions (the mean whose value is the
//   loss, through sums and constant multiples of losses) become sums (`sum`) or
//   are dropped (`none`: per-sample, per-class values; one final reduction only).

import { representable } from '../core/numbers.ts';

/** What a region-reduction (`sum over region`) sums over, besides space: the sample, the batch, or everything. */
export type Region = 'sample' | 'batch' | 'global';
/** What the prediction is given as: probabilities, or logits through this activation (the exact log-space path). */
export type Activation = 'none' | 'sigmoid' | 'softmax';
export type ParamValue = number | string | boolean | readonly number[] | readonly (readonly number[])[];
export type Params = Readonly<Record<string, ParamValue>>;
export type Reduction = 'mean' | 'sum' | 'none';

export interface Knobs {
  activation?: Activation;
  region?: Region;
  includeBackground: boolean;
  classWeights?: readonly number[];
  mask: boolean;
  ignoreIndex?: number;
  reduction: Reduction;
  /** The class distance matrix M (K×K) of `wasserstein(p, g)`; absent: every two classes at distance 1. */
  classDistances?: readonly (readonly number[])[];
}

export { KNOB_NAMES, type KnobName } from '../front/knob-names.ts';

export const DEFAULT_KNOBS: Knobs = { includeBackground: true, mask: false, reduction: 'mean' };

function bool(v: ParamValue): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === '1' || v === 'true' || v === 'yes') return true;
  if (v === 0 || v === '0' || v === 'false' || v === 'no') return false;
  return undefined;
}

function numbers(v: ParamValue): number[] | undefined {
  const xs = typeof v === 'string' ? v.split(',').map((s) => (s.trim() === '' ? NaN : Number(s))) : typeof v === 'number' ? [v] : Array.isArray(v) && v.every((x) => typeof x === 'number') ? [...(v as number[])] : undefined;
  // Kernels hold them as float32 literals: finite, within float32's range (a weight of 1e308 is infinity there).
  return xs && xs.length > 0 && xs.every((x) => typeof x === 'number' && representable(x) && x >= 0) ? xs : undefined;
}

/** A number parameter from a CLI string or a number. */
export function numberParam(v: ParamValue): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

export interface Split {
  /** The loss's own parameters (numbers; a non-number value is an error below). */
  params: Record<string, number>;
  knobs: Knobs;
  /** One message per bad knob or non-numeric parameter: `name`, what it wants, what it got. */
  errors: { name: string; want: string; got: string }[];
}

/** Separate the knobs from the loss's own parameters and check their values. */
export function splitParams(all: Params): Split {
  // Null-prototype: a parameter may be called constructor or __proto__.
  const params: Record<string, number> = Object.create(null);
  const knobs: Knobs = { ...DEFAULT_KNOBS };
  const errors: Split['errors'] = [];
  const bad = (name: string, want: string, v: ParamValue) => errors.push({ name, want, got: String(v) });
  for (const [k, v] of Object.entries(all)) {
    switch (k) {
      case 'activation':
        if (v === 'none' || v === 'sigmoid' || v === 'softmax') knobs.activation = v;
        else bad(k, 'none, sigmoid or softmax', v);
        break;
      case 'region':
        if (v === 'sample' || v === 'batch' || v === 'global') knobs.region = v;
        else bad(k, 'sample, batch or global', v);
        break;
      case 'include_background': {
        const b = bool(v);
        if (b === undefined) bad(k, 'true or false', v);
        else knobs.includeBackground = b;
        break;
      }
      case 'class_weights': {
        const xs = numbers(v);
        if (!xs) bad(k, 'non-negative float32 numbers (at most 3.4e38), one per class (1,2,0.5)', v);
        else knobs.classWeights = xs;
        break;
      }
      case 'mask': {
        const b = bool(v);
        if (b === undefined) bad(k, 'true or false', v);
        else knobs.mask = knobs.mask || b;
        break;
      }
      case 'ignore_index': {
        const n = numberParam(v);
        // Labels are compared in float32, exact for integers up to 2^24.
        if (n === undefined || !Number.isInteger(n) || Math.abs(n) > 2 ** 24) bad(k, 'an integer label (at most 2^24 in size)', v);
        else { knobs.ignoreIndex = n; knobs.mask = true; }
        break;
      }
      case 'class_distances': {
        // Rows separated by ';' on the command line (0,1;1,0), or an array of rows.
        const rows = typeof v === 'string' ? v.split(';').map((r) => numbers(r)) : Array.isArray(v) ? v.map((r) => (Array.isArray(r) ? numbers(r as number[]) : undefined)) : [];
        const k = rows.length;
        const ok = k >= 2 && rows.every((r) => r && r.length === k) && rows.every((r, i) => r![i] === 0) && rows.some((r) => r!.some((x) => x > 0));
        if (!ok) bad('class_distances', 'a square matrix of non-negative distances with a zero diagonal, rows separated by ; (0,1,1;1,0,0.5;1,0.5,0)', Array.isArray(v) ? JSON.stringify(v) : v);
        else knobs.classDistances = rows as number[][];
        break;
      }
      case 'reduction':
        if (v === 'mean' || v === 'sum' || v === 'none') knobs.reduction = v;
        else bad(k, 'mean, sum or none', v);
        break;
      default: {
        // Any number passes here (the lowerer reports a non-finite one at the parameter); text must read as one.
        const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
        if (Number.isNaN(n)) bad(k, 'a finite number', v);
        else params[k] = n;
      }
    }
  }
  return { params, knobs, errors };
}
