// Array files in and out: `readArray(path)` gives row-major data as a
// Float32Array or Float64Array with its shape and the file's element type;
// `writeArray(path, data, shape)` writes one. The format is picked by the
// file name's extension from FORMATS, so other readers (PNG masks, NIfTI
// volumes) are more entries behind the same two functions.
//
// The formats, each in its own file with its notes: npy.ts (.npy), png.ts
// (.png), nifti.ts (.nii, .nii.gz); files.ts reads and writes the files.
//
// Files are untrusted. `readArray` reads regular files only (a FIFO, a device or
// a directory is refused before any byte is read) and checks the element count
// from the header (.npy shape, PNG IHDR width × height × channels, NIfTI dims)
// against `maxElements` (DEFAULT_MAX_ELEMENTS) before decoding anything; the
// file may be at most 8 bytes per element plus 16 MiB long. Compressed data
// never inflates past what the header describes: a PNG's image data stops at
// the bytes its IHDR needs (its ancillary chunks, an ICC profile or text, are
// never inflated), a .nii.gz stops at vox_offset plus the voxels' bytes. A
// header that lies (a .npy whose data is longer or shorter than its shape) is an
// ArrayFileError. `writeArray` writes atomically: a temporary file in the same
// folder, then a rename, so an error never leaves half a file or destroys the
// old one.
//
// `toNchw` moves the class axis of an nhwc array (as PNG and NIfTI read) to
// position 1. (`oneHot`, a label map as one-hot channels, is in src/runtime/labels.ts.)

import { extname } from 'node:path';
import { readRegular, writeAtomic } from './files.ts';
import { decodeNifti } from './nifti.ts';
import { decodeNpy, encodeNpy } from './npy.ts';
import { decodePng, encodePng } from './png.ts';
import { type ArrayData, ArrayFileError, type ArrayFormat, DEFAULT_MAX_ELEMENTS, type ReadOptions } from './types.ts';

export { ArrayFileError, DEFAULT_MAX_ELEMENTS, ElementLimitError, MAX_MAX_ELEMENTS } from './types.ts';
export type { ArrayData, ArrayFormat, DType, Intensity, ReadOptions } from './types.ts';

/** Every readable format, by extension. */
export const FORMATS: ArrayFormat[] = [
  { extensions: ['.npy'], name: 'NumPy .npy', decode: decodeNpy, encode: encodeNpy },
  { extensions: ['.png'], name: 'PNG', decode: decodePng, encode: encodePng, image: true },
  { extensions: ['.nii', '.nii.gz'], name: 'NIfTI', decode: decodeNifti, image: true },
];

/** The format of a file name (by extension); throws ArrayFileError for an unknown one, or when `forWriting` and the format is read-only. */
export function arrayFormat(path: string, forWriting = false): ArrayFormat {
  const f = formatOf(path);
  if (forWriting && !f.encode) throw new ArrayFileError(path, `${f.name} files can be read but not written`);
  return f;
}

function formatOf(path: string): ArrayFormat {
  const lower = path.toLowerCase();
  const ext = extname(lower);
  const f = FORMATS.find((x) => x.extensions.some((e) => lower.endsWith(e)));
  if (!f) throw new ArrayFileError(path, `unknown array format '${ext || '(no extension)'}'; known: ${FORMATS.flatMap((x) => x.extensions).join(', ')}`);
  return f;
}

/**
 * Read an array file; the format comes from the extension (`options.intensity`:
 * how PNG values scale; `options.maxElements`: the limit). Throws ArrayFileError
 * (ElementLimitError over the limit).
 */
export function readArray(path: string, options: ReadOptions = {}): ArrayData {
  const format = formatOf(path);
  const maxElements = options.maxElements ?? DEFAULT_MAX_ELEMENTS;
  // 8 bytes per element (float64), and room for headers, NIfTI extensions, PNG ancillary chunks
  const bytes = readRegular(path, 8 * maxElements + 16 * 2 ** 20, maxElements);
  try {
    return format.decode(bytes, path, { ...options, maxElements });
  } catch (e) {
    if (e instanceof ArrayFileError) throw e;
    throw new ArrayFileError(path, `not a readable ${format.name} file (${(e as Error).message})`);
  }
}

/** Write row-major data in the format of the extension, with the element type of `data` (float32 or float64). Throws ArrayFileError. */
export function writeArray(path: string, data: Float32Array | Float64Array, shape: readonly number[]): void {
  const format = arrayFormat(path, true);
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new ArrayFileError(path, `shape [${shape.join(', ')}] needs ${n} elements, got ${data.length}`);
  writeAtomic(path, format.encode!(data, shape, path));
}

/** Whether `path` is read as an nhwc image (PNG, NIfTI): one sample, the class axis last, whatever the layout. */
export function isImageFile(path: string): boolean {
  return formatOf(path).image === true;
}

/** An nhwc array (batch, ..., class) with its class axis moved to position 1 (nchw). */
export function toNchw(a: ArrayData): ArrayData {
  const [b, ...rest] = a.shape;
  const c = rest.pop()!;
  const s = rest.reduce((x, y) => x * y, 1);
  const out = new (a.data.constructor as new (n: number) => Float32Array | Float64Array)(a.data.length);
  for (let i = 0; i < b!; i++) for (let k = 0; k < c; k++) for (let j = 0; j < s; j++) out[(i * c + k) * s + j] = a.data[(i * s + j) * c + k]!;
  return { ...a, data: out, shape: [b!, c, ...rest] };
}
