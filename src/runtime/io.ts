// Array files in and out: `readArray(path)` gives row-major data as a
// Float32Array or Float64Array with its shape and the file's element type;
// `writeArray(path, data, shape)` writes one. The format is picked by the
// file name's extension from FORMATS, so other readers (PNG masks, NIfTI
// volumes) are more entries behind the same two functions.
//
// .npy (NumPy's format, read and written by `npyjs`): C or Fortran order,
// little-endian; float32 and float16 read as Float32Array, float64 as
// Float64Array, 8- and 16-bit integers and bool (masks) as Float32Array (exact),
// 32- and 64-bit integers as Float64Array (exact: a 64-bit value beyond ±(2^53 − 1),
// which no double holds exactly, is refused; NumPy's and torch's default label
// dtype is int64). Complex and text are refused. Every failure is an
// ArrayFileError whose message names the file.
//
// .png (read and written by `fast-png`): one image, shape [1, H, W, 1] (nhwc:
// one sample, one channel). Gray 1/2/4/8/16-bit; RGB(A) only when R = G = B;
// alpha ignored. How intensities become numbers depends on `intensity`:
//   'probability' (the default; --pred, --input): v / (2^bits − 1), so 8-bit
//     values are /255 and 16-bit /65535, into [0, 1];
//   'mask' (--target): a mask saved as 0/1 keeps its values; anything else is
//     scaled as a probability, so a 0/255 mask becomes 0/1 and soft labels [0, 1];
//   'labels' (--target with --classes): the integers as stored.
// Palette (indexed) PNGs are label maps: their indices, in every mode.
// Writing (.png): shape [1, H, W, 1], [1, 1, H, W], [H, W, 1] or [H, W], values
// in [0, 1], stored 8-bit as round(255 v); anything else is refused (use .npy).
//
// .nii / .nii.gz (NIfTI-1 and -2, read by `nifti-reader-js`, which also
// gunzips): NIfTI stores x fastest, then y, then z (then t), so the row-major
// shape is [1, Z, Y, X, T] (nhwc: batch 1, the volume, the 4th dimension as the
// class axis, 1 when absent); a 2-D image is a volume of one slice. Values are
// as stored, times scl_slope plus scl_inter when scl_slope is set; float64 and
// 32-bit integer files read as Float64Array (exact, as for .npy), the rest as
// Float32Array. `intensity` does not apply: NIfTI values are used as they are.
// Read only.
//
// `oneHot(labels, classes, classAxis)` turns a label map (integers 0..N-1, one
// channel or no class axis at all) into N channels of 0/1 along the class axis; `toNchw` moves
// the class axis of an nhwc array (as PNG and NIfTI read) to position 1.

import { readFileSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { decode as pngDecode, encode as pngEncode } from 'fast-png';
import { decompress as niftiDecompress, isCompressed as niftiIsCompressed, isNIFTI as niftiIs, readHeader as niftiHeader, readImage as niftiImage } from 'nifti-reader-js';
import { dump as npyDump, parse as npyParse } from 'npyjs';
import { InputError } from './errors.ts';

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

/** How a PNG's integer intensities become numbers (see the top of this file). */
export type Intensity = 'probability' | 'mask' | 'labels';

export interface ReadOptions {
  /** For images (.png); other formats ignore it. Default 'probability'. */
  intensity?: Intensity;
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
  decode(bytes: Uint8Array, path: string, options: ReadOptions): ArrayData;
  /** Whether arrays read from it are nhwc images (one sample, class last), whatever --layout says. */
  image?: boolean;
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
  i8: { dtype: 'int64', wide: true }, // npyjs reads these as BigInt64Array / BigUint64Array
  u8: { dtype: 'uint64', wide: true },
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
  if (!kind) fail(`unsupported element type '${descr}'; use float32, float64, or integers/bool (labels, masks)`);

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
  const raw = parsed.data as unknown as ArrayLike<number | boolean | bigint>;
  if (raw.length < n) fail(`truncated: shape [${shape.join(', ')}] needs ${n} elements, the file holds ${raw.length}`);
  if (raw.length > n) fail(`${raw.length - n} trailing elements after the [${shape.join(', ')}] array`);

  const data = kind!.wide ? new Float64Array(n) : new Float32Array(n);
  if (typeof raw[0] === 'boolean') for (let i = 0; i < n; i++) data[i] = raw[i] ? 1 : 0;
  else if (typeof raw[0] === 'bigint') {
    const big = raw as ArrayLike<bigint>;
    const limit = BigInt(Number.MAX_SAFE_INTEGER);
    for (let i = 0; i < n; i++) {
      const v = big[i]!;
      if (v > limit || v < -limit) fail(`element ${i} is ${v}, beyond ±(2^53 − 1): a ${kind!.dtype} that no double holds exactly; labels and masks are small integers`);
      data[i] = Number(v);
    }
  } else data.set(raw as ArrayLike<number>);
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

// ------------------------------------------------------------------- .png

/** One sample per pixel: gray, or the channel of an RGB(A) image whose R, G and B agree; depths under 8 unpacked. */
function pngGray(png: ReturnType<typeof pngDecode>, fail: (why: string) => never): Uint8Array | Uint16Array | Uint8ClampedArray {
  const { width, height, depth, channels, data } = png;
  const n = width * height;
  let raw = data;
  if (depth < 8 && data.length !== n * channels) {
    // fast-png leaves sub-byte samples packed, each row starting on a byte
    const rowBytes = Math.ceil((width * channels * depth) / 8);
    const perRow = width * channels;
    const out = new Uint8Array(n * channels);
    const mask = (1 << depth) - 1;
    for (let y = 0; y < height; y++) {
      for (let i = 0; i < perRow; i++) {
        const bit = i * depth;
        const byte = data[y * rowBytes + (bit >> 3)]!;
        out[y * perRow + i] = (byte >> (8 - depth - (bit & 7))) & mask;
      }
    }
    raw = out;
  }
  if (channels === 1) return raw;
  if (channels === 2) return raw.filter((_, i) => i % 2 === 0); // gray + alpha: the alpha is ignored
  const out = depth === 16 ? new Uint16Array(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const r = raw[i * channels]!, g = raw[i * channels + 1]!, b = raw[i * channels + 2]!;
    if (r !== g || g !== b) {
      fail(`a colour image (pixel ${i % width}, ${Math.floor(i / width)} is RGB ${r}, ${g}, ${b}); masks and probability maps are grayscale (or palette label maps)`);
    }
    out[i] = r;
  }
  return out;
}

function decodePng(bytes: Uint8Array, path: string, options: ReadOptions): ArrayData {
  const fail = (why: string): never => { throw new ArrayFileError(path, why); };
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 8 || sig.some((b, i) => bytes[i] !== b)) fail('not a PNG file (no PNG signature)');
  let png: ReturnType<typeof pngDecode>;
  try {
    png = pngDecode(bytes);
  } catch (e) {
    return fail(`malformed PNG (${(e as Error).message})`);
  }
  const shape = [1, png.height, png.width, 1];
  const gray = pngGray(png, fail);
  const dtype: DType = png.depth === 16 ? 'uint16' : 'uint8';
  const full = 2 ** png.depth - 1;
  const data = new Float32Array(gray.length);
  const mode = options.intensity ?? 'probability';
  // A palette image holds indices into its colours: labels, whatever the mode.
  let binary = true;
  if (mode === 'mask') for (let i = 0; i < gray.length && binary; i++) binary = gray[i]! <= 1;
  if (png.palette || mode === 'labels' || (mode === 'mask' && binary)) {
    data.set(gray);
    return { data, shape, dtype };
  }
  for (let i = 0; i < gray.length; i++) data[i] = gray[i]! / full;
  return { data, shape, dtype, scale: full };
}

function encodePng(data: Float32Array | Float64Array, shape: readonly number[], path: string): Uint8Array {
  const fail = (why: string): never => { throw new ArrayFileError(path, why); };
  const s = [...shape];
  const hw = s.length === 4 && s[0] === 1 && s[3] === 1 ? [s[1]!, s[2]!]
    : s.length === 4 && s[0] === 1 && s[1] === 1 ? [s[2]!, s[3]!]
    : s.length === 3 && s[2] === 1 ? [s[0]!, s[1]!]
    : s.length === 2 ? s
    : fail(`a PNG holds one gray image: shape [1, H, W, 1], [1, 1, H, W], [H, W, 1] or [H, W], not [${s.join(', ')}]; use .npy`);
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!(v >= 0 && v <= 1)) fail(`a PNG stores values in [0, 1] (8-bit, as round(255 v)); element ${i} is ${v}; use .npy for other values (gradients)`);
    out[i] = Math.round(v * 255);
  }
  return pngEncode({ width: hw[1]!, height: hw[0]!, data: out, depth: 8, channels: 1 });
}

// ----------------------------------------------------------------- .nii(.gz)

const NIFTI_TYPES: Record<number, { dtype: DType; wide: boolean; read: (v: DataView, i: number, le: boolean) => number; size: number }> = {
  2: { dtype: 'uint8', wide: false, size: 1, read: (v, i) => v.getUint8(i) },
  256: { dtype: 'int8', wide: false, size: 1, read: (v, i) => v.getInt8(i) },
  4: { dtype: 'int16', wide: false, size: 2, read: (v, i, le) => v.getInt16(i, le) },
  512: { dtype: 'uint16', wide: false, size: 2, read: (v, i, le) => v.getUint16(i, le) },
  8: { dtype: 'int32', wide: true, size: 4, read: (v, i, le) => v.getInt32(i, le) },
  768: { dtype: 'uint32', wide: true, size: 4, read: (v, i, le) => v.getUint32(i, le) },
  16: { dtype: 'float32', wide: false, size: 4, read: (v, i, le) => v.getFloat32(i, le) },
  64: { dtype: 'float64', wide: true, size: 8, read: (v, i, le) => v.getFloat64(i, le) },
};

function decodeNifti(bytes: Uint8Array, path: string): ArrayData {
  const fail = (why: string): never => { throw new ArrayFileError(path, why); };
  let buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  if (niftiIsCompressed(buf)) {
    try { buf = niftiDecompress(buf) as ArrayBuffer; } catch (e) { return fail(`cannot gunzip (${(e as Error).message})`); }
  }
  if (!niftiIs(buf)) fail('not a NIfTI-1 or NIfTI-2 file (no n+1/n+2 magic; a .hdr/.img pair is not supported, use one .nii)');
  const header = niftiHeader(buf);
  const type = NIFTI_TYPES[header.datatypeCode];
  if (!type) fail(`unsupported NIfTI datatype ${header.datatypeCode}; use uint8, int8, int16, uint16, int32, uint32, float32 or float64`);
  const nd = header.dims[0]!;
  if (nd < 1 || nd > 7) fail(`malformed NIfTI header (dim[0] = ${nd})`);
  const dims = Array.from({ length: 4 }, (_, i) => (i < nd ? header.dims[i + 1]! : 1));
  for (let i = 4; i < nd; i++) if (header.dims[i + 1] !== 1) fail(`${nd} dimensions (size ${header.dims[i + 1]} in dimension ${i + 1}); segloss reads x, y, z and a 4th (class) dimension`);
  if (dims.some((n) => !Number.isInteger(n) || n < 1)) fail(`malformed NIfTI dimensions (${dims.join(', ')})`);
  const [X, Y, Z, T] = dims as [number, number, number, number];
  const n = X * Y * Z * T;
  const image = niftiImage(header, buf);
  if (image.byteLength < n * type!.size) fail(`truncated: ${X}×${Y}×${Z}${T > 1 ? `×${T}` : ''} voxels need ${n * type!.size} bytes, the file holds ${image.byteLength}`);
  const view = new DataView(image);
  const le = header.littleEndian;
  const slope = header.scl_slope, inter = header.scl_inter;
  const scaled = Number.isFinite(slope) && slope !== 0 && !(slope === 1 && (inter === 0 || !Number.isFinite(inter)));
  const data = type!.wide ? new Float64Array(n) : new Float32Array(n);
  // the file: x fastest, then y, z, t; ours: [1, Z, Y, X, T], T fastest
  const vol = X * Y * Z;
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < vol; i++) {
      let v = type!.read(view, (t * vol + i) * type!.size, le);
      if (scaled) v = v * slope + (Number.isFinite(inter) ? inter : 0);
      data[i * T + t] = v;
    }
  }
  return { data, shape: [1, Z, Y, X, T], dtype: type!.dtype };
}

// ---------------------------------------------------------------- formats

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

/** Read an array file; the format comes from the extension (`options.intensity`: how PNG values scale). Throws ArrayFileError. */
export function readArray(path: string, options: ReadOptions = {}): ArrayData {
  const format = formatOf(path);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ArrayFileError(path, code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : `cannot read (${code ?? (e as Error).message})`);
  }
  try {
    return format.decode(bytes, path, options);
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
