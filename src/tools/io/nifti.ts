// .nii / .nii.gz (NIfTI-1 and -2; the header read by `nifti-reader-js`, its
// extensions skipped; gunzipped by node:zlib): NIfTI stores x fastest, then y,
// then z (then t), so the row-major shape is [1, Z, Y, X, T] (nhwc: batch 1,
// the volume, the 4th dimension as the class axis, 1 when absent); a 2-D image
// is a volume of one slice. Values are
// as stored, times scl_slope plus scl_inter when scl_slope is set; float64 and
// 32-bit integer files read as Float64Array (exact, as for .npy), the rest as
// Float32Array. `intensity` does not apply: NIfTI values are used as they are.
// Read only.

import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import { readHeader as niftiHeader } from 'nifti-reader-js';
import { type ArrayData, ArrayFileError, type DType, checkCount } from './types.ts';

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
export function decodeNifti(bytes: Uint8Array, path: string, options: { maxElements: number }): ArrayData {
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
