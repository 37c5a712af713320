// Array files in and out: `readArray(path)` gives row-major data as a
// Float32Array or Float64Array with its shape and the file's element type;
// `writeArray(path, data, shape)` writes one. The format is picked by the
// file name's extension from FORMATS, so other readers (PNG masks, NIfTI
// volumes) are more entries behind the same two functions.
//
// .npy (NumPy's format, versions 1 to 3; the header must be the dict NumPy
// writes, exactly descr, fortran_order and shape; written by `npyjs`): C or
// Fortran order, little-endian; float32 and float16 read as Float32Array, float64 as
// Float64Array, 8- and 16-bit integers and bool (masks) as Float32Array (exact),
// 32- and 64-bit integers as Float64Array (exact: a 64-bit value beyond ±(2^53 − 1),
// which no double holds exactly, is refused; NumPy's and torch's default label
// dtype is int64). Complex and text are refused. Every failure is an
// ArrayFileError whose message names the file.
//
// .png (read and written by `fast-png`, which is given IHDR and IDAT only): one
// image, shape [1, H, W, 1] (nhwc: one sample, one channel). Gray 1/2/4/8/16-bit; RGB(A) only when R = G = B;
// alpha ignored. How intensities become numbers depends on `intensity`:
//   'probability' (the default; --pred, --input): v / (2^bits − 1), so 8-bit
//     values are /255 and 16-bit /65535, into [0, 1];
//   'mask' (--target): a mask saved as 0/1 keeps its values; anything else is
//     scaled as a probability, so a 0/255 mask becomes 0/1 and soft labels [0, 1];
//   'labels' (--target with --classes): the integers as stored.
// Palette (indexed, colour type 3) PNGs are label maps: their indices, in every mode.
// Writing (.png): shape [1, H, W, 1], [1, 1, H, W], [H, W, 1] or [H, W], values
// in [0, 1], stored 8-bit as round(255 v); anything else is refused (use .npy).
//
// .nii / .nii.gz (NIfTI-1 and -2; the header read by `nifti-reader-js`, its
// extensions skipped; gunzipped by node:zlib): NIfTI stores x fastest, then y,
// then z (then t), so the row-major shape is [1, Z, Y, X, T] (nhwc: batch 1,
// the volume, the 4th dimension as the class axis, 1 when absent); a 2-D image
// is a volume of one slice. Values are
// as stored, times scl_slope plus scl_inter when scl_slope is set; float64 and
// 32-bit integer files read as Float64Array (exact, as for .npy), the rest as
// Float32Array. `intensity` does not apply: NIfTI values are used as they are.
// Read only.
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
// `oneHot(labels, classes, classAxis)` turns a label map (integers 0..N-1, one
// channel or no class axis at all) into N channels of 0/1 along the class axis; `toNchw` moves
// the class axis of an nhwc array (as PNG and NIfTI read) to position 1.

import { constants as bufferConstants } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { type Stats, chmodSync, closeSync, constants, fstatSync, fsyncSync, openSync, readSync, realpathSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { constants as zlibConstants, gunzipSync, inflateSync } from 'node:zlib';
import { decode as pngDecode, encode as pngEncode } from 'fast-png';
import { readHeader as niftiHeader } from 'nifti-reader-js';
import { dump as npyDump } from 'npyjs';
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

/** How a PNG's integer intensities become numbers (see the top of this file). */
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

/** Bytes per element of each NumPy type code. */
const NPY_SIZE: Record<string, number> = { f2: 2, f4: 4, f8: 8, b1: 1, i1: 1, u1: 1, i2: 2, u2: 2, i4: 4, u4: 4, i8: 8, u8: 8 };
/** NumPy's own headers are a few hundred bytes; np.load refuses more than 10,000 by default. */
const NPY_MAX_HEADER = 65536;

/**
 * NumPy's header: a Python dict literal with exactly the keys descr (a string),
 * fortran_order (True or False) and shape (a tuple of whole numbers, as text),
 * each once. A string says what is wrong instead.
 */
function npyHeader(text: string): { descr: string; fortran: boolean; shape: string[] } | string {
  const body = /^\s*\{(.*)\}\s*$/s.exec(text)?.[1];
  if (body === undefined) return 'not a dict';
  const item = /\s*'(\w+)'\s*:\s*('[^']*'|True|False|\([^()]*\))\s*(?:,|$)/y;
  const seen = new Map<string, string>();
  for (let at = 0; body.slice(at).trim() !== '';) {
    item.lastIndex = at;
    const m = item.exec(body);
    if (!m) return `unreadable from '${printable(body.slice(at, at + 24).trim())}'`;
    if (seen.has(m[1]!)) return `'${m[1]}' given twice`;
    seen.set(m[1]!, m[2]!);
    at = item.lastIndex;
  }
  for (const k of seen.keys()) if (k !== 'descr' && k !== 'fortran_order' && k !== 'shape') return `unknown key '${k}'`;
  for (const k of ['descr', 'fortran_order', 'shape']) if (!seen.has(k)) return `no '${k}'`;
  const descr = seen.get('descr')!, fortran = seen.get('fortran_order')!, shape = seen.get('shape')!;
  if (!descr.startsWith("'")) return 'descr is not a string';
  if (fortran !== 'True' && fortran !== 'False') return `fortran_order is ${fortran}`;
  if (!shape.startsWith('(')) return 'shape is not a tuple';
  const dims = shape.slice(1, -1).split(',').map((d) => d.trim());
  if (dims.length > 1 && dims[dims.length - 1] === '') dims.pop(); // (4,)
  return { descr: descr.slice(1, -1), fortran: fortran === 'True', shape: dims.length === 1 && dims[0] === '' ? [] : dims };
}

function decodeNpy(bytes: Uint8Array, path: string, options: { maxElements: number }): ArrayData {
  const fail = (why: string): never => { throw new ArrayFileError(path, why); };
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) fail('not a NumPy .npy file (no \\x93NUMPY magic)');
  const version = bytes[6]!;
  if (version < 1 || version > 3) fail(`unsupported .npy format version ${version}.${bytes[7]} (NumPy writes 1.0 to 3.0)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pre = version === 1 ? 10 : 12;
  if (bytes.length < pre) fail('malformed .npy header (the file ends inside it)');
  const hlen = version === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (hlen > NPY_MAX_HEADER) fail(`malformed .npy header (${hlen} bytes long; at most ${NPY_MAX_HEADER} are read)`);
  if (pre + hlen > bytes.length) fail(`malformed .npy header (its length, ${hlen} bytes, runs past the end of the file)`);
  const header = npyHeader(new TextDecoder(version === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(pre, pre + hlen)));
  if (typeof header === 'string') return fail(`malformed .npy header (${header})`);
  const { descr } = header;
  const order = descr[0], code = descr.slice(1);
  if (order === '>' && !/^[iub]1$/.test(code)) fail(`big-endian data ('${printable(descr)}') is not supported; save it little-endian (arr.astype('<${printable(code)}'))`);
  const kind = NPY_DTYPES[code];
  if (!kind || (order !== '<' && order !== '|' && order !== '>')) fail(`unsupported element type '${printable(descr)}'; use float32, float64, or integers/bool (labels, masks)`);

  if (header.shape.some((d) => !/^\d+$/.test(d) || !Number.isSafeInteger(Number(d)))) fail(`malformed shape (${printable(header.shape.join(', '))}): whole numbers below 2^53`);
  const shape = header.shape.map(Number);
  const n = checkCount(shape, options.maxElements, `shape [${shape.join(', ')}] holds`, path);
  const size = NPY_SIZE[code]!;
  const start = pre + hlen;
  const have = bytes.length - start, need = n * size;
  const s = `[${shape.join(', ')}]`;
  if (have < need) fail(`truncated: shape ${s} needs ${n} elements${have % size ? ` (${need} bytes), the file holds ${have} bytes` : `, the file holds ${have / size}`}`);
  if (have > need) {
    const extra = have - need;
    fail(extra % size ? `${extra} trailing bytes after the ${s} array` : `${extra / size} trailing element${extra === size ? '' : 's'} after the ${s} array`);
  }

  // A typed-array view needs an aligned offset: copy the data when it is not.
  const at = bytes.byteOffset + start;
  const buf = at % size === 0 ? bytes.buffer : new Uint8Array(bytes.subarray(start)).buffer;
  const off = at % size === 0 ? at : 0;
  const data = kind!.wide ? new Float64Array(n) : new Float32Array(n);
  switch (code) {
    case 'f2': { const u = new Uint16Array(buf, off, n); for (let i = 0; i < n; i++) data[i] = float16(u[i]!); break; }
    case 'f4': data.set(new Float32Array(buf, off, n)); break;
    case 'f8': data.set(new Float64Array(buf, off, n)); break;
    case 'b1': { const u = new Uint8Array(buf, off, n); for (let i = 0; i < n; i++) data[i] = u[i] ? 1 : 0; break; }
    case 'i1': data.set(new Int8Array(buf, off, n)); break;
    case 'u1': data.set(new Uint8Array(buf, off, n)); break;
    case 'i2': data.set(new Int16Array(buf, off, n)); break;
    case 'u2': data.set(new Uint16Array(buf, off, n)); break;
    case 'i4': data.set(new Int32Array(buf, off, n)); break;
    case 'u4': data.set(new Uint32Array(buf, off, n)); break;
    default: {
      const big = code === 'i8' ? new BigInt64Array(buf, off, n) : new BigUint64Array(buf, off, n);
      const limit = BigInt(Number.MAX_SAFE_INTEGER);
      for (let i = 0; i < n; i++) {
        const v = big[i]!;
        if (v > limit || v < -limit) fail(`element ${i} is ${v}, beyond ±(2^53 − 1): a ${kind!.dtype} that no double holds exactly; labels and masks are small integers`);
        data[i] = Number(v);
      }
    }
  }
  return { data: header.fortran ? fromFortran(data, shape) : data, shape, dtype: kind!.dtype };
}

/** An IEEE half-precision number. */
function float16(h: number): number {
  const e = (h >> 10) & 0x1f, f = h & 0x3ff, sign = h & 0x8000 ? -1 : 1;
  if (e === 0) return sign * f * 2 ** -24;
  if (e === 31) return f ? NaN : sign * Infinity;
  return sign * (1 + f / 1024) * 2 ** (e - 15);
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

const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const PNG_DEPTHS: Record<number, readonly number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

/** The bytes of a PNG's inflated image data: rows of a filter byte and packed samples, in 7 Adam7 passes when interlaced. */
function pngRawBytes(w: number, h: number, bitsPerPixel: number, interlaced: boolean): number {
  const rows = (pw: number, ph: number) => (pw && ph ? ph * (1 + Math.ceil((pw * bitsPerPixel) / 8)) : 0);
  if (!interlaced) return rows(w, h);
  const passes = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;
  return passes.reduce((sum, [x0, y0, dx, dy]) => sum + rows(Math.max(0, Math.ceil((w - x0) / dx)), Math.max(0, Math.ceil((h - y0) / dy))), 0);
}

/**
 * A PNG: the chunks are walked here, the IHDR checked against the limit, the
 * image data inflated with a bound of the bytes the IHDR needs; fast-png then
 * decodes a copy that holds IHDR and IDAT only (it would inflate an ICC
 * profile, or image data of any length, without a bound).
 */
function decodePng(bytes: Uint8Array, path: string, options: ReadOptions & { maxElements: number }): ArrayData {
  const fail = (why: string): never => { throw new ArrayFileError(path, why); };
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 8 || sig.some((b, i) => bytes[i] !== b)) fail('not a PNG file (no PNG signature)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let head: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let end = false;
  for (let at = 8; at < bytes.length && !end;) {
    if (bytes.length - at < 12) fail(`truncated (a chunk cut off at byte ${at})`);
    const len = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (len > bytes.length - at - 12) fail(`truncated: chunk '${printable(type)}' at byte ${at} declares ${len} bytes, ${bytes.length - at - 12} follow`);
    const data = bytes.subarray(at + 8, at + 8 + len);
    if (!head && type !== 'IHDR') fail(`malformed PNG (the first chunk is '${printable(type)}', not IHDR)`);
    if (type === 'IHDR') {
      if (head) fail('malformed PNG (two IHDR chunks)');
      if (len !== 13) fail(`malformed PNG (an IHDR of ${len} bytes, not 13)`);
      head = data;
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') end = true;
    at += 12 + len;
  }
  if (!head) fail('truncated (no IHDR chunk)');
  const hv = new DataView(head!.buffer, head!.byteOffset, 13);
  const w = hv.getUint32(0), h = hv.getUint32(4);
  const [depth, colour, compression, filter, interlace] = head!.subarray(8) as unknown as number[];
  if (!w || !h || w > 2 ** 31 - 1 || h > 2 ** 31 - 1) fail(`IHDR: ${w} × ${h} pixels; a PNG is 1 to 2^31 − 1 pixels wide and high`);
  const channels = PNG_CHANNELS[colour!] ?? fail(`IHDR: unknown colour type ${colour}`);
  if (!PNG_DEPTHS[colour!]!.includes(depth!)) fail(`IHDR: bit depth ${depth} is not allowed with colour type ${colour}`);
  if (compression !== 0 || filter !== 0 || interlace! > 1) fail(`IHDR: unknown compression (${compression}), filter (${filter}) or interlace (${interlace}) method`);
  checkCount([w, h, channels], options.maxElements, `IHDR: ${w} × ${h} pixels × ${channels} channel${channels === 1 ? '' : 's'} =`, path);
  if (!end) fail('truncated (no IEND chunk)');
  if (!idat.length) fail('malformed PNG (no image data: no IDAT chunk)');

  const compressed = concat(idat);
  const need = pngRawBytes(w, h, channels * depth!, interlace === 1);
  let raw: Uint8Array;
  try {
    raw = inflateSync(compressed, { maxOutputLength: need });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return fail(`image data inflates to more than the ${need} bytes of a ${w} × ${h} image`);
    return fail(`image data does not inflate (${(e as Error).message})`);
  }
  if (raw.length < need) fail(`truncated: image data inflates to ${raw.length} bytes, a ${w} × ${h} image needs ${need}`);
  const chunkOf = (type: string, data: Uint8Array) => {
    const c = new Uint8Array(12 + data.length); // CRCs left 0: fast-png does not check them here
    new DataView(c.buffer).setUint32(0, data.length);
    c.set([...type].map((ch) => ch.charCodeAt(0)), 4);
    c.set(data, 8);
    return c;
  };
  let png: ReturnType<typeof pngDecode>;
  try {
    png = pngDecode(concat([new Uint8Array(sig), chunkOf('IHDR', head!), chunkOf('IDAT', compressed), chunkOf('IEND', new Uint8Array(0))]), { checkCrc: false });
  } catch (e) {
    return fail(`malformed PNG (${(e as Error).message})`);
  }
  const shape = [1, png.height, png.width, 1];
  const gray = pngGray(png, fail);
  const dtype: DType = png.depth === 16 ? 'uint16' : 'uint8';
  const full = 2 ** png.depth - 1;
  const data = new Float32Array(gray.length);
  const mode = options.intensity ?? 'probability';
  // A palette image (colour type 3) holds indices into its colours: labels, whatever the mode.
  let binary = true;
  if (mode === 'mask') for (let i = 0; i < gray.length && binary; i++) binary = gray[i]! <= 1;
  if (colour === 3 || mode === 'labels' || (mode === 'mask' && binary)) {
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

/**
 * The first bytes of a gzip stream's content, at least `want` when it has that
 * many, never inflating more than `cap` bytes: prefixes of the compressed bytes
 * are inflated (a sync flush gives what they decode to), 4 KiB first, then
 * longer, and shorter again when one inflates past `cap`.
 */
function gunzipHead(bytes: Uint8Array, want: number, cap: number): Uint8Array {
  let lo = 0, hi = Infinity, size = Math.min(bytes.length, 4096);
  for (;;) {
    let out: Uint8Array | undefined;
    try {
      out = gunzipSync(bytes.subarray(0, size), { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: cap });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ERR_BUFFER_TOO_LARGE') throw e;
    }
    if (out && (out.length >= want || size === bytes.length)) return out;
    if (out) lo = size;
    else hi = size;
    const next = hi === Infinity ? Math.min(bytes.length, size * 16) : Math.floor((lo + hi) / 2);
    if (next <= lo) throw new Error('no prefix inflates to the header'); // one byte cannot take the output from under `want` to over `cap`
    size = next;
  }
}

/**
 * A NIfTI-1 or -2 volume. The header is read first (from the first bytes of a
 * .nii.gz), its dims checked against the limit, and a .nii.gz inflated only up
 * to vox_offset plus the voxels' bytes. Extensions are skipped: nifti-reader-js
 * gets the bare header, since it walks extensions by their declared sizes,
 * which a hostile file can make loop for ever.
 */
function decodeNifti(bytes: Uint8Array, path: string, options: { maxElements: number }): ArrayData {
  const fail = (why: string): never => { throw new ArrayFileError(path, why); };
  const gz = bytes[0] === 0x1f && bytes[1] === 0x8b;
  let head = bytes;
  if (gz) {
    try { head = gunzipHead(bytes, 540, 1 << 20); } catch (e) { return fail(`cannot gunzip (${(e as Error).message})`); }
  }
  const hv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const sizeofHdr = (le: boolean) => (head.length >= 4 ? hv.getInt32(0, le) : 0);
  const text = (at: number, n: number) => String.fromCharCode(...head.subarray(at, at + n));
  const hs = [348, 540].find((n) => (sizeofHdr(true) === n || sizeofHdr(false) === n) && head.length >= n);
  const magic = hs === 348 ? text(344, 4) === 'n+1\0' : hs === 540 && text(4, 4) === 'n+2\0';
  if (!magic) fail('not a NIfTI-1 or NIfTI-2 file (no n+1/n+2 magic; a .hdr/.img pair is not supported, use one .nii)');
  const header = niftiHeader(new Uint8Array(head.subarray(0, hs)).buffer); // a copy of the header alone
  const type = NIFTI_TYPES[header.datatypeCode];
  if (!type) fail(`unsupported NIfTI datatype ${header.datatypeCode}; use uint8, int8, int16, uint16, int32, uint32, float32 or float64`);
  const nd = header.dims[0]!;
  if (!(nd >= 1 && nd <= 7)) fail(`malformed NIfTI header (dim[0] = ${nd})`);
  const all = header.dims.slice(1, nd + 1);
  if (all.some((n) => !Number.isSafeInteger(n) || n < 1)) fail(`malformed NIfTI dimensions (${all.join(', ')})`);
  const n = checkCount(all, options.maxElements, `dims ${all.join(' × ')} =`, path);
  const dims = Array.from({ length: 4 }, (_, i) => (i < nd ? all[i]! : 1));
  for (let i = 4; i < nd; i++) if (all[i] !== 1) fail(`${nd} dimensions (size ${all[i]} in dimension ${i + 1}); segloss reads x, y, z and a 4th (class) dimension`);
  const vox = header.vox_offset;
  if (!Number.isSafeInteger(vox) || vox < hs! + 4) fail(`malformed NIfTI header (vox_offset ${vox}: the voxels start after the ${hs! + 4}-byte header)`);
  const need = vox + n * type!.size;
  const [X, Y, Z, T] = dims as [number, number, number, number];
  const voxels = `${X}×${Y}×${Z}${T > 1 ? `×${T}` : ''} voxels`;
  let content = bytes;
  if (gz) {
    try {
      content = gunzipSync(bytes, { maxOutputLength: need });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return fail(`decompresses to more than the ${need} bytes its header describes (${voxels} from byte ${vox})`);
      return fail(`cannot gunzip (${(e as Error).message})`);
    }
  }
  if (content.length < need) fail(`truncated: ${voxels} need ${n * type!.size} bytes from byte ${vox}, the file holds ${Math.max(0, content.length - vox)}`);
  const view = new DataView(content.buffer, content.byteOffset + vox, n * type!.size);
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

// ---------------------------------------------------------------- helpers

/**
 * The element count of `dims`, exact (BigInt), refused with ElementLimitError
 * above `max`: `what` starts the message ("shape [2, 3] holds").
 */
function checkCount(dims: readonly number[], max: number, what: string, path: string): number {
  const n = dims.reduce((a, d) => a * BigInt(d), 1n);
  if (n > BigInt(max)) throw new ElementLimitError(path, `${what} ${n} elements, more than the limit of ${max}`);
  return Number(n);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** Text from a file, safe to print: control and non-ASCII characters escaped. */
function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** What a file that is not regular is, for messages. */
function fileKind(st: Stats): string {
  return st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() ? 'a character device' : st.isBlockDevice() ? 'a block device' : st.isSocket() ? 'a socket' : 'not a file';
}

/**
 * The bytes of a regular file of at most `maxBytes`. Opened non-blocking, so a
 * FIFO cannot hold the open, and refused after fstat unless it is a regular file.
 */
function readRegular(path: string, maxBytes: number, max: number): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ArrayFileError(path, code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : `cannot open (${code ?? (e as Error).message})`);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new ArrayFileError(path, 'is a directory');
    if (!st.isFile()) throw new ArrayFileError(path, `not a regular file (${fileKind(st)})`);
    if (st.size > maxBytes) throw new ElementLimitError(path, `${st.size} bytes, more than a file of at most ${max} elements needs (${maxBytes} bytes), the limit`);
    if (st.size > bufferConstants.MAX_LENGTH) throw new ArrayFileError(path, `${st.size} bytes, more than Node can read at once (${bufferConstants.MAX_LENGTH})`);
    const buf = Buffer.allocUnsafeSlow(st.size); // its own ArrayBuffer, at offset 0
    let n = 0;
    for (let k; n < st.size && (k = readSync(fd, buf, n, st.size - n, n)) > 0;) n += k;
    return n === st.size ? buf : buf.subarray(0, n);
  } catch (e) {
    if (e instanceof ArrayFileError) throw e;
    throw new ArrayFileError(path, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    closeSync(fd);
  }
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

/**
 * `bytes` into `path` through a temporary file in the same folder and a rename:
 * readers never see half a file, and an error leaves the old file as it was.
 * A symlink is followed (the link stays); anything but a regular file is refused.
 */
function writeAtomic(path: string, bytes: Uint8Array): void {
  let target = path, mode: number | undefined;
  try { target = realpathSync(path); } catch { /* a new file */ }
  let st: Stats | undefined;
  try { st = statSync(target); } catch { /* a new file */ }
  if (st?.isDirectory()) throw new ArrayFileError(path, 'is a directory');
  if (st && !st.isFile()) throw new ArrayFileError(path, `not a regular file (${fileKind(st)})`);
  if (st) mode = st.mode & 0o7777;
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o666);
    for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    if (mode !== undefined) chmodSync(tmp, mode);
    renameSync(tmp, target);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try { unlinkSync(tmp); } catch { /* never created */ }
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
