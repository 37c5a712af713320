// The types, limits and errors shared by the array file formats (npy.ts,
// png.ts, nifti.ts) and readArray / writeArray (index.ts), and the helpers
// the decoders share.

import { InputError } from '../../compiler/core/errors.ts';
import type { ArrayData } from '../../runtime/labels.ts';

export type { ArrayData, DType } from '../../runtime/labels.ts';

/** How a PNG's integer intensities become numbers (see the top of png.ts). */
export type Intensity = 'probability' | 'mask' | 'labels';

export interface ReadOptions {
  /** For images (.png); other formats ignore it. Default 'probability'. */
  intensity?: Intensity;
  /** The most elements the array may hold, checked from the file's header before decoding. Default DEFAULT_MAX_ELEMENTS. */
  maxElements?: number;
}

/**
 * The default element limit of an input: 2^27 elements, 512 MiB as float32.
 * Decoding holds the file's bytes and the array (a float64 array for 32- and
 * 64-bit data), and a loss needs a gradient and intermediate arrays of the same
 * size, so one input at the limit takes a few GiB all told: what a workstation
 * has, where a shape that lies in a header would otherwise ask for terabytes.
 */
export const DEFAULT_MAX_ELEMENTS = 2 ** 27;
/** The highest limit that can be set (2^31 elements, 8 GiB as float32). */
export const MAX_MAX_ELEMENTS = 2 ** 31;

/** A file that cannot be read or written as an array; the message names the file and says why. */
export class ArrayFileError extends InputError {
  override readonly name: string = 'ArrayFileError';
  constructor(
    readonly path: string,
    readonly why: string,
  ) {
    super(`${path}: ${why}`);
  }
}

/** An array file whose header declares more elements than the limit (ReadOptions.maxElements). */
export class ElementLimitError extends ArrayFileError {
  override readonly name = 'ElementLimitError';
}

export interface ArrayFormat {
  /** Lower-case extensions with the dot, e.g. ['.npy']. */
  extensions: readonly string[];
  /** A short name for messages ('NumPy .npy'). */
  name: string;
  /** Decode a whole file (`options.maxElements` is set); throw ArrayFileError (or any Error, which is wrapped) on bad content. */
  decode(bytes: Uint8Array, path: string, options: ReadOptions & { maxElements: number }): ArrayData;
  /** Whether arrays read from it are nhwc images (one sample, class last), whatever --layout says. */
  image?: boolean;
  /** Encode row-major data; absent for read-only formats. */
  encode?(data: Float32Array | Float64Array, shape: readonly number[], path: string): Uint8Array;
}

/**
 * The element count of `dims`, exact (BigInt), refused with ElementLimitError
 * above `max`: `what` starts the message ("shape [2, 3] holds").
 */
export function checkCount(dims: readonly number[], max: number, what: string, path: string): number {
  const n = dims.reduce((a, d) => a * BigInt(d), 1n);
  if (n > BigInt(max)) throw new ElementLimitError(path, `${what} ${n} elements, more than the limit of ${max}`);
  return Number(n);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** Text from a file, safe to print: control and non-ASCII characters escaped. */
export function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
