// .npy (NumPy's format, versions 1 to 3; the header must be the dict NumPy
// writes, exactly descr, fortran_order and shape; written by `npyjs`): C or
// Fortran order, little-endian; float32 and float16 read as Float32Array, float64 as
// Float64Array, 8- and 16-bit integers and bool (masks) as Float32Array (exact),
// 32- and 64-bit integers as Float64Array (exact: a 64-bit value beyond ±(2^53 − 1),
// which no double holds exactly, is refused; NumPy's and torch's default label
// dtype is int64). Complex and text are refused. Every failure is an
// ArrayFileError whose message names the file.

import { dump as npyDump } from 'npyjs';
import { type ArrayData, ArrayFileError, type DType, checkCount, printable } from './types.ts';

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

export function decodeNpy(bytes: Uint8Array, path: string, options: { maxElements: number }): ArrayData {
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

export function encodeNpy(data: Float32Array | Float64Array, shape: readonly number[]): Uint8Array {
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
