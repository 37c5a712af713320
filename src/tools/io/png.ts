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

import { inflateSync } from 'node:zlib';
import { decode as pngDecode, encode as pngEncode } from 'fast-png';
import { type ArrayData, ArrayFileError, type DType, type ReadOptions, checkCount, concat, printable } from './types.ts';

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
export function decodePng(bytes: Uint8Array, path: string, options: ReadOptions & { maxElements: number }): ArrayData {
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

export function encodePng(data: Float32Array | Float64Array, shape: readonly number[], path: string): Uint8Array {
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
