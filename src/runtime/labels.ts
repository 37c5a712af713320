// Label maps as one-hot targets. `oneHot(labels, classes, classAxis)` turns a
// label map (integers 0..N-1, one channel or no class axis at all) into N
// channels of 0/1 along the class axis, with the ignore_index mask. ArrayData,
// what it takes and gives, is also what src/tools/io reads from files; it lives
// here so that the runtime (tfjs-bridge.ts) can use oneHot without importing tools/.

import { InputError } from '../compiler/core/errors.ts';

/** The element type of the file, in NumPy's names ('float32', 'uint8', ...). */
export type DType = 'float16' | 'float32' | 'float64' | 'bool' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64';

export interface ArrayData {
  /** Row-major (C order), whatever order the file used. */
  data: Float32Array | Float64Array;
  shape: number[];
  /** What the file holds; `data` is float32 or float64 and represents it exactly, divided by `scale`. */
  dtype: DType;
  /** Set when the file's values were divided by it (a PNG read as probabilities: 255 or 65535); `data × scale` gives them back. */
  scale?: number;
}

/**
 * A label map (integer values 0..classes-1) as `classes` channels of 0/1 along
 * `classAxis`, the class axis of the result. The map has size 1 along that axis
 * ((B, H, W, 1) in nhwc), or lacks it ((B, H, W) or (B, D, H, W)): then it is
 * inserted. `rank`, the rank of the result (the prediction's), says which; without
 * it, a map whose size along `classAxis` is 1 keeps its axis and any other gets
 * one. A PNG read as probabilities (`scale`) is scaled back to its integers
 * first. Throws InputError naming `what` for a value that is not such a label.
 *
 * With `ignoreIndex`, pixels holding that label are all-zero in the one-hot
 * target and 0 in `mask` (1 elsewhere, one value per pixel): the loss's ignore
 * mask (knob ignore_index).
 */
export function oneHot(labels: ArrayData, classes: number, classAxis: number, what = 'the label map', ignoreIndex?: number, rank?: number): ArrayData & { mask?: Float32Array } {
  if (!Number.isInteger(classes) || classes < 2) throw new InputError(`the number of classes must be an integer of at least 2, got ${classes}`);
  const shape = labels.shape;
  const insert = rank !== undefined ? shape.length === rank - 1 : shape[classAxis] !== 1 && (shape.length === 3 || shape.length === 4);
  const ok = insert ? classAxis >= 0 && classAxis <= shape.length : classAxis >= 0 && classAxis < shape.length && shape[classAxis] === 1 && (rank === undefined || shape.length === rank);
  if (!ok) {
    const r = rank ?? shape.length;
    throw new InputError(`${what} has shape [${shape.join(', ')}]: a label map holds class numbers 0..${classes - 1}, one per pixel: ` +
      `${r}-D with size 1 along the class axis (axis ${classAxis}), or ${r - 1}-D without it`);
  }
  const inner = insert ? shape.slice(classAxis).reduce((x, y) => x * y, 1) : shape.slice(classAxis + 1).reduce((x, y) => x * y, 1);
  const outer = labels.data.length / inner;
  const out = new Float32Array(labels.data.length * classes);
  const mask = ignoreIndex === undefined ? undefined : new Float32Array(labels.data.length).fill(1);
  const scale = labels.scale ?? 1;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const i = o * inner + j;
      const raw = labels.data[i]! * scale;
      const k = Math.round(raw);
      if (mask && k === ignoreIndex && Math.abs(raw - k) <= 1e-6 * Math.max(1, Math.abs(raw))) { mask[i] = 0; continue; }
      if (!(Math.abs(raw - k) <= 1e-6 * Math.max(1, Math.abs(raw))) || k < 0 || k >= classes) {
        throw new InputError(`${what}: element ${i} is ${raw}, not a class number 0..${classes - 1}${ignoreIndex === undefined ? '' : ` or the ignore_index ${ignoreIndex}`}`);
      }
      out[(o * classes + k) * inner + j] = 1;
    }
  }
  const oshape = [...shape];
  if (insert) oshape.splice(classAxis, 0, classes);
  else oshape[classAxis] = classes;
  return { data: out, shape: oshape, dtype: 'float32', ...(mask ? { mask } : {}) };
}
