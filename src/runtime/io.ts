// Array files in and out: `readArray(path)` gives row-major data as a
// Float32Array or Float64Array with its shape and the file's element type;
// `writeArray(path, data, shape)` writes one. The format is picked by the
// file name's extension from FORMATS, so other readers (PNG masks, NIfTI
// volumes) can be added as one more entry behind the same two functions.
//
// .npy (NumPy's format, read and written by `npyjs`): C or Fortran order,
// little-endian; float32 and float16 read as Float32Array, float64 as
// Float64Array, 8- and 16-bit integers and bool (masks) as Float32Array (exact),
// 32-bit integers as Float64Array (exact). 64-bit integers, complex and text are
// refused. Every failure is an ArrayFileError whose message names the file.

import { readFileSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { dump as npyDump, parse as npyParse } from 'npyjs';
import { InputError } from './errors.ts';

/** The element type of the file, in NumPy's names ('float32', 'uint8', ...). */
export type DType = 'float16' | 'float32' | 'float64' | 'bool' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32';

export interface ArrayData {
  /** Row-major (C order), whatever order the file used. */
  data: Float32Array | Float64Array;
  shape: number[];
  /** What the file holds; `data` is float32 or float64 and represents it exactly. */
  dtype: DType;
}

/** A file that cannot be read or written as an array; the message names the file and says why. */
export class ArrayFileError extends InputError {
  override readonly name = 'ArrayFileError';
  constructor(
    readonly path: string,
    readonly why: string,
  ) {
    super(`${path}: ${why}`);
  }
}

export interface ArrayFormat {
  /** Lower-case extensions with the dot, e.g. ['.npy']. */
  extensions: readonly string[];
  /** A short name for messages ('NumPy .npy'). */
  name: string;
  /** Decode a whole file; throw ArrayFileError (or any Error, which is wrapped) on bad content. */
  decode(bytes: Uint8Array, path: string): ArrayData;
  /** Encode row-major data; absent for read-only formats. */
  encode?(data: Float32Array | Float64Array, shape: readonly number[], path: string): Uint8Array;
}

// ------------------------------------------------------------------- .npy

const NPY_DTYPES: Record<string, { dtype: DType; wide: boolean }> = {
  f2: { dtype: 'float16', wide: false }, // npyjs widens float16 to float32
  f4: { dtype: 'float32', wide: false },
  f8: { dtype: 'float64', wide: true },
  b1: { dtype: 'bool', wide: false },
  i1: { dtype: 'int8', wide: false },
  u1: { dtype: 'uint8', wide: false },
  i2: { dtype: 'int16', wide: false },
  u2: { dtype: 'uint16', wide: false },
  i4: { dtype: 'int32', wide: true }, // not every int32 is a float32
  u4: { dtype: 'uint32', wide: true },
};

function npyHeaderDescr(bytes: Uint8Array): string | undefined {
  // the header is ASCII and at most a few hundred bytes for any real array
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, Math.min(bytes.length, 4096)));
  return /'descr'\s*:\s*'([^']*)'/.exec(head)?.[1];
}

function decodeNpy(bytes: Uint8Array, path: string): ArrayData {
  const fail = (why: string): never => { throw new ArrayFileError(path, why); };
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) fail('not a NumPy .npy file (no \\x93NUMPY magic)');
  const descr = npyHeaderDescr(bytes);
  if (descr === undefined) fail('malformed .npy header (no descr)');
  const code = descr!.slice(1);
  if (descr!.startsWith('>') && !/^[iub]1$/.test(code)) fail(`big-endian data ('${descr}') is not supported; save it little-endian (arr.astype('<${code}'))`);
  const kind = NPY_DTYPES[code];
  if (!kind) fail(`unsupported element type '${descr}'; use float32, float64, or an integer/bool mask up to 32 bits`);

  // npyjs makes typed-array views on the buffer: give it a fresh, aligned one
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let parsed: ReturnType<typeof npyParse>;
  try {
    parsed = npyParse(buf);
  } catch (e) {
    return fail(`malformed .npy file (${(e as Error).message})`);
  }
  const shape = parsed.shape;
  if (shape.some((n) => !Number.isInteger(n) || n < 0)) fail(`malformed shape (${shape.join(', ')})`);
  const n = shape.reduce((a, b) => a * b, 1);
  const raw = parsed.data as unknown as ArrayLike<number | boolean>;
  if (raw.length < n) fail(`truncated: shape [${shape.join(', ')}] needs ${n} elements, the file holds ${raw.length}`);
  if (raw.length > n) fail(`${raw.length - n} trailing elements after the [${shape.join(', ')}] array`);

  const data = kind!.wide ? new Float64Array(n) : new Float32Array(n);
  if (typeof raw[0] === 'boolean') for (let i = 0; i < n; i++) data[i] = raw[i] ? 1 : 0;
  else data.set(raw as ArrayLike<number>);
  return { data: parsed.fortranOrder ? fromFortran(data, shape) : data, shape, dtype: kind!.dtype };
}

function encodeNpy(data: Float32Array | Float64Array, shape: readonly number[]): Uint8Array {
  return new Uint8Array(npyDump(data, [...shape]));
}

/** Column-major (Fortran) data reordered row-major. */
function fromFortran<T extends Float32Array | Float64Array>(data: T, shape: readonly number[]): T {
  if (shape.length < 2) return data;
  const out = new (data.constructor as new (n: number) => T)(data.length);
  const idx = new Array<number>(shape.length).fill(0);
  const fStride: number[] = [];
  let s = 1;
  for (const d of shape) { fStride.push(s); s *= d; }
  for (let i = 0; i < data.length; i++) {
    let src = 0;
    for (let d = 0; d < shape.length; d++) src += idx[d]! * fStride[d]!;
    out[i] = data[src]!;
    for (let d = shape.length - 1; d >= 0; d--) { if (++idx[d]! < shape[d]!) break; idx[d] = 0; }
  }
  return out;
}

// ---------------------------------------------------------------- formats

/** Every readable format; add PNG or NIfTI here. */
export const FORMATS: ArrayFormat[] = [
  { extensions: ['.npy'], name: 'NumPy .npy', decode: decodeNpy, encode: encodeNpy },
];

/** The format of a file name (by extension); throws ArrayFileError for an unknown one, or when `forWriting` and the format is read-only. */
export function arrayFormat(path: string, forWriting = false): ArrayFormat {
  const f = formatOf(path);
  if (forWriting && !f.encode) throw new ArrayFileError(path, `${f.name} files can be read but not written`);
  return f;
}

function formatOf(path: string): ArrayFormat {
  const ext = extname(path).toLowerCase();
  const f = FORMATS.find((x) => x.extensions.includes(ext));
  if (!f) throw new ArrayFileError(path, `unknown array format '${ext || '(no extension)'}'; known: ${FORMATS.flatMap((x) => x.extensions).join(', ')}`);
  return f;
}

/** Read an array file; the format comes from the extension. Throws ArrayFileError. */
export function readArray(path: string): ArrayData {
  const format = formatOf(path);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ArrayFileError(path, code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : `cannot read (${code ?? (e as Error).message})`);
  }
  try {
    return format.decode(bytes, path);
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
  const bytes = format.encode!(data, shape, path);
  try {
    writeFileSync(path, bytes);
  } catch (e) {
    throw new ArrayFileError(path, `cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}
