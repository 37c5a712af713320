// `segloss eval` on untrusted data files (issue 10, item 7): element counts are
// checked from the header (.npy shape, PNG IHDR, NIfTI dims) against a documented
// limit before anything is decoded, compressed data never inflates past what the
// header describes, only regular files are read, non-finite inputs and results
// are announced, --grad never overwrites an input and is written atomically, and
// --classes is bounded.
//
// Oracle: the contract in `segloss eval --help` and the README's data limits:
// exit 0 with a value, or exit 2 with a message that names the file; never exit
// 70 (an internal error), a hang, or an out-of-memory kill. Peak memory is the
// child's own maximum resident set (process.resourceUsage at exit). Files are
// assembled here byte by byte from each format's spec (NumPy's .npy, PNG,
// NIfTI-1 and -2, RFC 1950/1952 wrappers), and bombs from deflate blocks of zeros.

import { execFileSync, spawnSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants as Z, crc32, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { rng } from '../src/tools/check.ts';
import { ArrayFileError, readArray } from '../src/tools/io/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'segloss-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The documented default: 2^27 elements per input (512 MiB as float32). */
const LIMIT = 2 ** 27;
/** Peak memory a refused bomb may cost: the CLI alone peaks near 200 MiB here; every bomb below inflates to 1 GiB or more. */
const PEAK = 512 * 2 ** 20;

// ------------------------------------------------------------- the CLI

/** Prints the child's peak resident memory (KiB) on stderr as it exits. */
const PEAK_HOOK = `data:text/javascript,process.on('exit',()=>process.stderr.write('\\nSEGLOSS_PEAK_KIB '+process.resourceUsage().maxRSS+'\\n'))`;

interface Run { code: number | null; out: string; err: string; peak?: number; killed: boolean }
function segloss(args: string[], o: { env?: NodeJS.ProcessEnv; timeout?: number } = {}): Run {
  const r = spawnSync(process.execPath, ['--import', PEAK_HOOK, 'bin/segloss.js', 'eval', ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...o.env },
    timeout: o.timeout ?? 60_000,
    killSignal: 'SIGKILL',
  });
  let err = r.stderr ?? '';
  const m = /\nSEGLOSS_PEAK_KIB (\d+)\n$/.exec(err);
  if (m) err = err.slice(0, m.index);
  return { code: r.status, out: r.stdout ?? '', err, peak: m ? Number(m[1]) * 1024 : undefined, killed: r.signal !== null };
}

/** Refused with exit 2, no stack trace, the file named, within the memory bound. */
function refused(r: Run, file: string, why: RegExp): void {
  expect(r.killed, 'killed at the time limit (a hang)').toBe(false);
  expect(r.code, r.err).toBe(2);
  expect(r.err).toContain(file);
  expect(r.err).toMatch(why);
  expect(r.err).not.toMatch(/^\s+at /m);
  expect(r.err).not.toContain('internal error');
  expect(r.peak, 'peak memory').toBeLessThan(PEAK);
}

function file(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

// --------------------------------------------------------------- .npy

/** NumPy's .npy by hand: magic, version, header length, the dict padded with spaces to 64 bytes, then the data. */
function npyBytes(descr: string, shape: readonly (number | string)[], body: Uint8Array, o: { fortran?: string; dict?: string; version?: number } = {}): Buffer {
  const shapeText = `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`;
  let header = o.dict ?? `{'descr': '${descr}', 'fortran_order': ${o.fortran ?? 'False'}, 'shape': ${shapeText}, }`;
  const v = o.version ?? 1;
  const pre = v === 1 ? 10 : 12;
  header += ' '.repeat(63 - ((pre + header.length) % 64)) + '\n';
  const head = Buffer.alloc(pre);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, v, 0]).copy(head);
  if (v === 1) head.writeUInt16LE(header.length, 8);
  else head.writeUInt32LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), body]);
}

const f32 = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);
const P16 = Array.from({ length: 16 }, (_, i) => 0.05 + i / 20);
const G16 = Array.from({ length: 16 }, (_, i) => i % 2);
const pFile = file('p.npy', npyBytes('<f4', [1, 4, 4, 1], f32(P16)));
const gFile = file('g.npy', npyBytes('|u1', [1, 4, 4, 1], Uint8Array.from(G16)));

// ---------------------------------------------------------------- .png

const u32be = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
function chunk(type: string, data: Uint8Array, length = data.length): Buffer {
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  return Buffer.concat([u32be(length), td, u32be(crc32(td))]);
}
const PNG_SIG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
function ihdr(w: number, h: number, depth: number, colour: number, interlace = 0, compression = 0, filter = 0): Buffer {
  const b = Buffer.alloc(13);
  b.writeUInt32BE(w >>> 0, 0);
  b.writeUInt32BE(h >>> 0, 4);
  b.set([depth, colour, compression, filter, interlace], 8);
  return chunk('IHDR', b);
}
const IEND = chunk('IEND', new Uint8Array(0));
const png = (...chunks: Buffer[]) => Buffer.concat([PNG_SIG, ...chunks, IEND]);

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Scanlines of a gray image (values < 2^depth) in colour type `colour`, R = G = B, full alpha; filter byte `filter(y)`. */
function scanlines(w: number, h: number, depth: number, colour: number, values: ArrayLike<number>, filter: (y: number) => number = () => 0): Buffer {
  const ch = CHANNELS[colour]!;
  const max = 2 ** depth - 1;
  const rowBytes = Math.ceil((w * ch * depth) / 8);
  const out = Buffer.alloc(h * (rowBytes + 1));
  for (let y = 0; y < h; y++) {
    out[y * (rowBytes + 1)] = filter(y);
    const samples: number[] = [];
    for (let x = 0; x < w; x++) {
      const v = values[y * w + x]! & max;
      if (colour === 0 || colour === 3) samples.push(v);
      else if (colour === 4) samples.push(v, max);
      else if (colour === 2) samples.push(v, v, v);
      else samples.push(v, v, v, max);
    }
    const row = out.subarray(y * (rowBytes + 1) + 1, (y + 1) * (rowBytes + 1));
    samples.forEach((s, i) => {
      if (depth === 16) row.writeUInt16BE(s, 2 * i);
      else if (depth === 8) row[i] = s;
      else row[(i * depth) >> 3]! |= s << (8 - depth - ((i * depth) & 7));
    });
  }
  return out;
}
const palette = (n: number) => chunk('PLTE', Buffer.from(Array.from({ length: 3 * n }, (_, i) => Math.floor(i / 3) & 0xff)));

// ------------------------------------------------------------ .nii(.gz)

interface Nii {
  version?: 1 | 2;
  le?: boolean;
  /** dim[0..7]; missing entries are 1 (dim[0] defaults to the number given minus 1). */
  dims: number[];
  datatype: number;
  bitpix: number;
  voxOffset?: number;
  slope?: number;
  inter?: number;
  /** The 4 extension flag bytes and what follows them, before the data. */
  ext?: Uint8Array;
  /** Bytes written into the header at an offset (a hostile field). */
  patch?: [number, Uint8Array][];
  data: Uint8Array;
}
function nifti(o: Nii): Buffer {
  const v2 = o.version === 2;
  const le = o.le ?? true;
  const hs = v2 ? 540 : 348;
  const ext = o.ext ?? new Uint8Array(4);
  const start = hs + ext.length;
  const vox = o.voxOffset ?? start;
  const h = Buffer.alloc(hs);
  const i32 = (v: number, at: number) => (le ? h.writeInt32LE(v, at) : h.writeInt32BE(v, at));
  const i16 = (v: number, at: number) => (le ? h.writeInt16LE(v, at) : h.writeInt16BE(v, at));
  const dims = [...o.dims, 1, 1, 1, 1, 1, 1, 1, 1].slice(0, 8);
  i32(hs, 0);
  if (v2) {
    Buffer.from('n+2\0\r\n\x1a\n', 'latin1').copy(h, 4);
    i16(o.datatype, 12);
    i16(o.bitpix, 14);
    dims.forEach((d, i) => (le ? h.writeBigInt64LE(BigInt(d), 16 + 8 * i) : h.writeBigInt64BE(BigInt(d), 16 + 8 * i)));
    const big = (v: number, at: number) => (le ? h.writeBigInt64LE(BigInt(v), at) : h.writeBigInt64BE(BigInt(v), at));
    if (Number.isInteger(vox) && Math.abs(vox) < 2 ** 63) big(vox, 168);
    (le ? h.writeDoubleLE.bind(h) : h.writeDoubleBE.bind(h))(o.slope ?? 0, 176);
    (le ? h.writeDoubleLE.bind(h) : h.writeDoubleBE.bind(h))(o.inter ?? 0, 184);
  } else {
    dims.forEach((d, i) => i16(d, 40 + 2 * i));
    i16(o.datatype, 70);
    i16(o.bitpix, 72);
    const f = (v: number, at: number) => (le ? h.writeFloatLE(v, at) : h.writeFloatBE(v, at));
    f(vox, 108);
    f(o.slope ?? 0, 112);
    f(o.inter ?? 0, 116);
    Buffer.from('n+1\0', 'latin1').copy(h, 344);
  }
  for (const [at, bytes] of o.patch ?? []) h.set(bytes.subarray(0, Math.max(0, hs - at)), at);
  const pad = Number.isInteger(vox) && vox > start && vox < start + 4096 ? Buffer.alloc(vox - start) : Buffer.alloc(0);
  return Buffer.concat([h, ext, pad, o.data]);
}

// ------------------------------------------------------------ the bombs

// 1 MiB of zeros as raw deflate blocks ending on a byte boundary (a sync flush,
// no final block): copies concatenate into a longer stream of zeros.
const MIB_OF_ZEROS = deflateRawSync(Buffer.alloc(2 ** 20), { level: 9, finishFlush: Z.Z_SYNC_FLUSH });
const FINAL_EMPTY_BLOCK = Buffer.from([0x03, 0x00]);
/** A raw deflate stream: `prefix`, then `mib` MiB of zeros, about 1 KiB of input per MiB of output. */
function zerosRaw(mib: number, prefix: Uint8Array = new Uint8Array(0)): Buffer {
  const head = prefix.length ? deflateRawSync(prefix, { finishFlush: Z.Z_SYNC_FLUSH }) : Buffer.alloc(0);
  return Buffer.concat([head, ...Array<Buffer>(mib).fill(MIB_OF_ZEROS), FINAL_EMPTY_BLOCK]);
}
/** RFC 1950 around `mib` MiB of zeros (Adler-32 of n zeros: a = 1, b = n mod 65521). */
function zlibZeros(mib: number): Buffer {
  const n = mib * 2 ** 20;
  return Buffer.concat([Buffer.from([0x78, 0xda]), zerosRaw(mib), u32be((((n % 65521) << 16) | 1) >>> 0)]);
}
/** RFC 1952 around `prefix` then `mib` MiB of zeros; the trailer's CRC is left 0 (a bounded reader stops long before it). */
function gzipZeros(mib: number, prefix: Uint8Array): Buffer {
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE((prefix.length + mib * 2 ** 20) >>> 0, 4);
  return Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), zerosRaw(mib, prefix), trailer]);
}

// ================================================================ tests

describe('element counts are checked from the header, before decoding', () => {
  test(`a .npy over the default limit (2^27 = ${LIMIT} elements): refused from its header, the file never decoded`, () => {
    // [1, 16384, 8193, 1] uint8: 134,234,112 elements, a sparse file of that many bytes
    const path = file('huge.npy', npyBytes('|u1', [1, 16384, 8193, 1], new Uint8Array(0)));
    truncateSync(path, statSync(path).size + 16384 * 8193);
    const r = segloss(['dice', '--pred', path, '--target', gFile]);
    refused(r, path, /134234112 elements, more than the limit of 134217728.*--max-elements/);
  });

  test('--max-elements N and SEGLOSS_MAX_ELEMENTS set the limit; the flag wins; bad values are exit 2', () => {
    refused(segloss(['dice', '--pred', pFile, '--target', gFile, '--max-elements', '15']), pFile, /16 elements, more than the limit of 15/);
    refused(segloss(['dice', '--pred', pFile, '--target', gFile], { env: { SEGLOSS_MAX_ELEMENTS: '15' } }), pFile, /more than the limit of 15 .*SEGLOSS_MAX_ELEMENTS/);
    const ok = segloss(['dice', '--pred', pFile, '--target', gFile, '--max-elements', '16'], { env: { SEGLOSS_MAX_ELEMENTS: '15' } });
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toMatch(/^dice {2}value 0\.\d+/);
    for (const bad of ['0', '1.5']) {
      const r = segloss(['dice', '--pred', pFile, '--target', gFile, '--max-elements', bad]);
      expect(r.code).toBe(2);
      expect(r.err).toContain(`--max-elements takes a whole number from 1 to 2147483648, got '${bad}'`);
    }
    const env = segloss(['dice', '--pred', pFile, '--target', gFile], { env: { SEGLOSS_MAX_ELEMENTS: 'lots' } });
    expect(env.code).toBe(2);
    expect(env.err).toContain("SEGLOSS_MAX_ELEMENTS takes a whole number from 1 to 2147483648, got 'lots'");
  });

  test('a .npy header that lies or is not what NumPy writes is an ArrayFileError naming the file', () => {
    const body16 = f32(P16);
    const cases: [string, Buffer, RegExp][] = [
      ['hex dim', npyBytes('<f4', ['0x10'], body16), /malformed shape/],
      ['float dims', npyBytes('<f4', ['4.', '4.'], body16), /malformed shape/],
      ['negative dim', npyBytes('<f4', [-1], body16), /malformed shape/],
      ['a dim past 2^53', npyBytes('<f4', ['9007199254740993', 0], body16), /malformed shape/],
      ['2^80 elements', npyBytes('<f4', [2 ** 40, 2 ** 40], body16), /1208925819614629174706176 elements, more than the limit/],
      ['one element too many', npyBytes('<f4', [15], body16), /1 trailing element/],
      ['half an element', npyBytes('<f4', [5], body16.subarray(0, 18)), /truncated: shape \[5\] needs 5 elements \(20 bytes\), the file holds 18 bytes/],
      ['a repeated key', npyBytes('', [], body16, { dict: "{'descr': '<f8', 'descr': '<f4', 'fortran_order': False, 'shape': (16,), }" }), /malformed \.npy header/],
      ['a missing key', npyBytes('', [], body16, { dict: "{'descr': '<f4', 'shape': (16,), }" }), /malformed \.npy header/],
      ['an unknown key', npyBytes('', [], body16, { dict: "{'descr': '<f4', 'fortran_order': False, 'shape': (16,), 'x': 1, }" }), /malformed \.npy header/],
      ['fortran_order neither True nor False', npyBytes('<f4', [16], body16, { fortran: '1' }), /malformed \.npy header/],
      ['a header length past the end', (() => { const b = npyBytes('<f4', [16], body16); b.writeUInt16LE(60000, 8); return b; })(), /malformed \.npy header/],
    ];
    for (const [name, bytes, why] of cases) {
      const path = file(`lie-${name.replace(/\W+/g, '-')}.npy`, bytes);
      let e: unknown;
      try { readArray(path); } catch (x) { e = x; }
      expect(e, name).toBeInstanceOf(ArrayFileError);
      expect((e as Error).message, name).toContain(path);
      expect((e as Error).message, name).toMatch(why);
    }
    // what NumPy writes still reads: version 2.0 (4-byte header length), a 0-d array, an empty one
    expect(readArray(file('v2.npy', npyBytes('<f4', [2, 2], f32([1, 2, 3, 4]), { version: 2 }))).data).toEqual(Float32Array.from([1, 2, 3, 4]));
    expect(readArray(file('scalar.npy', npyBytes('<f8', [], new Uint8Array(Float64Array.from([7]).buffer)))).shape).toEqual([]);
    expect(readArray(file('empty.npy', npyBytes('<f4', [0, 3], new Uint8Array(0)))).shape).toEqual([0, 3]);
  });

  test('a PNG whose IHDR declares 10^10 pixels: refused from the IHDR, never inflated', () => {
    const path = file('ihdr-bomb.png', png(ihdr(100_000, 100_000, 8, 0), chunk('IDAT', deflateSync(Buffer.alloc(2 * 100_001)))));
    refused(segloss(['dice', '--pred', path, '--target', gFile]), path, /IHDR: 100000 × 100000 pixels × 1 channel = 10000000000 elements, more than the limit of 134217728/);
  });

  test('a PNG whose IDAT inflates to 1 GiB (16 × 16 pixels declared): refused once the inflation passes what 16 rows need', () => {
    const path = file('idat-bomb.png', png(ihdr(16, 16, 8, 0), chunk('IDAT', zlibZeros(1024))));
    refused(segloss(['dice', '--pred', path, '--target', path]), path, /image data inflates to more than the 272 bytes of a 16 × 16 image/);
  });

  test('a PNG with a 1 GiB iCCP profile: ancillary chunks are never inflated, the image reads', () => {
    const image = chunk('IDAT', deflateSync(scanlines(4, 4, 8, 0, G16.map((v) => v * 255))));
    const path = file('iccp-bomb.png', png(ihdr(4, 4, 8, 0), chunk('iCCP', Buffer.concat([Buffer.from('bomb\0\0', 'latin1'), zlibZeros(1024)])), image));
    const r = segloss(['dice', '--pred', pFile, '--target', path]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^dice {2}value 0\.\d+/);
    expect(r.peak, 'peak memory').toBeLessThan(PEAK);
  });

  test('a NIfTI whose dims declare 2^28 voxels (NIfTI-1) or 2^80 (NIfTI-2): refused from the header', () => {
    const v1 = file('dims-bomb.nii', nifti({ dims: [3, 2048, 2048, 64], datatype: 2, bitpix: 8, data: new Uint8Array(16) }));
    refused(segloss(['dice', '--pred', v1, '--target', gFile]), v1, /dims 2048 × 2048 × 64 = 268435456 elements, more than the limit of 134217728/);
    const v2 = file('dims-bomb2.nii', nifti({ version: 2, dims: [2, 2 ** 40, 2 ** 40], datatype: 16, bitpix: 32, data: new Uint8Array(64) }));
    refused(segloss(['dice', '--pred', v2, '--target', gFile]), v2, /dims 1099511627776 × 1099511627776 = 1208925819614629174706176 elements, more than the limit/);
  });

  test('a .nii.gz that inflates to 1 GiB behind a 4 × 4 header: the gunzip stops at what the header needs', () => {
    const header = nifti({ dims: [3, 4, 4, 1], datatype: 2, bitpix: 8, data: Uint8Array.from(G16) });
    const path = file('gz-bomb.nii.gz', gzipZeros(1024, header));
    refused(segloss(['dice', '--pred', path, '--target', path]), path, /decompresses to more than the \d+ bytes its header describes/);
  });

  test('a NIfTI extension whose size is negative (a loop in nifti-reader-js): extensions are skipped, the volume reads', () => {
    // No --backend: auto, measured in that process (wasm or js, whichever was faster there).
    // at 352 an extension of esize -16 steps back to 336, where intent_name holds 16: back to 352, for ever
    const ext = Buffer.alloc(4 + 32);
    ext[0] = 1;
    ext.writeInt32LE(-16, 4);
    const path = file('ext-loop.nii', nifti({ dims: [3, 4, 4, 1], datatype: 2, bitpix: 8, ext, patch: [[336, Buffer.from([16, 0, 0, 0])]], data: Uint8Array.from(G16) }));
    const r = segloss(['dice', '--pred', path, '--target', path], { timeout: 30_000 });
    expect(r.killed, 'a hang').toBe(false);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^dice {2}value 0\.\d+ {2}backend (?:wasm|js) {2}shape \[1, 1, 4, 4, 1\]/);
  });
});

describe('only regular files are read', () => {
  test('a FIFO as --pred is refused at once (no writer would keep the open waiting for ever)', () => {
    const fifo = join(dir, 'fifo.npy');
    execFileSync('mkfifo', [fifo]);
    refused(segloss(['dice', '--pred', fifo, '--target', gFile], { timeout: 30_000 }), fifo, /not a regular file \(a FIFO\)/);
  });

  test('/dev/zero behind a symlink as --target: refused, not read for ever', () => {
    const zero = join(dir, 'zero.npy');
    symlinkSync('/dev/zero', zero);
    refused(segloss(['dice', '--pred', pFile, '--target', zero], { timeout: 30_000 }), zero, /not a regular file \(a character device\)/);
  });

  test('a directory', () => {
    const d = join(dir, 'folder.npy');
    mkdirSync(d);
    refused(segloss(['dice', '--pred', pFile, '--target', d]), d, /is a directory/);
  });
});

describe('non-finite inputs and results are announced on stderr', () => {
  test('NaN and ±Inf in --pred and --target: one warning per file with the counts, the NaN value printed and announced', () => {
    const logits = [...P16];
    logits[1] = NaN;
    logits[2] = Infinity;
    logits[3] = -Infinity;
    const pred = file('nan-pred.npy', npyBytes('<f4', [1, 4, 4, 1], f32(logits)));
    const target = file('nan-target.npy', npyBytes('<f4', [1, 4, 4, 1], f32(G16.map((v, i) => (i === 5 ? NaN : v)))));
    const r = segloss(['bce', '--activation', 'sigmoid', '--pred', pred, '--target', target]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^bce {2}value NaN /);
    expect(r.err).toContain(`segloss: warning: --pred ${pred} holds 3 non-finite values (1 NaN, 1 +Infinity, 1 -Infinity) among 16`);
    expect(r.err).toContain(`segloss: warning: --target ${target} holds 1 non-finite value (1 NaN) among 16`);
    expect(r.err).toContain('segloss: warning: the loss value is NaN');
    // --json: JSON has no NaN, so the value is null, and the warnings are the same
    const j = segloss(['bce', '--activation', 'sigmoid', '--pred', pred, '--target', gFile, '--json']);
    expect(j.code, j.err).toBe(0);
    expect(JSON.parse(j.out).value).toBeNull();
    expect(j.err).toContain('segloss: warning: the loss value is NaN');
  });
});

describe('--grad never overwrites an input, and is written atomically', () => {
  test('--grad naming --pred, --target or a link to them is refused before computing; the inputs are untouched', () => {
    // copies of their own: a failing run overwrites them
    const p = file('grad-p.npy', readFileSync(pFile)), g = file('grad-g.npy', readFileSync(gFile));
    const link = join(dir, 'p-link.npy');
    symlinkSync(p, link);
    const hard = join(dir, 'g-hard.npy');
    linkSync(g, hard);
    refused(segloss(['dice', '--pred', p, '--target', g, '--grad', p]), p, /--grad .* is --pred's file; refusing to overwrite an input/);
    refused(segloss(['dice', '--pred', p, '--target', g, '--grad', link]), link, /--grad .* is --pred's file/);
    refused(segloss(['dice', '--pred', p, '--target', g, '--grad', hard]), hard, /--grad .* is --target's file/);
    expect(readFileSync(p)).toEqual(readFileSync(pFile));
    expect(readFileSync(g)).toEqual(readFileSync(gFile));
  });

  test('an existing --grad file is replaced by a rename (a new inode), no temporary file is left; a failed write keeps the old file', () => {
    const sub = join(dir, 'grad');
    mkdirSync(sub);
    const out = join(sub, 'dp.npy');
    writeFileSync(out, 'old');
    const inode = statSync(out).ino;
    const r = segloss(['dice', '--pred', pFile, '--target', gFile, '--grad', out]);
    expect(r.code, r.err).toBe(0);
    expect(statSync(out).ino).not.toBe(inode);
    expect(readArray(out).shape).toEqual([1, 4, 4, 1]);
    expect(readdirSync(sub)).toEqual(['dp.npy']);
    // a gradient outside [0, 1] cannot be a PNG: exit 2, the old file as it was
    const outPng = join(sub, 'dp.png');
    writeFileSync(outPng, 'old');
    const bad = segloss(['bce', '--activation', 'sigmoid', '--pred', pFile, '--target', gFile, '--grad', outPng]);
    expect(bad.code).toBe(2);
    expect(readFileSync(outPng, 'latin1')).toBe('old');
    expect(readdirSync(sub).sort()).toEqual(['dp.npy', 'dp.png']);
  });

  test('a FIFO as --grad is refused before computing (writing would wait for a reader for ever)', () => {
    const fifo = join(dir, 'grad-fifo.npy');
    execFileSync('mkfifo', [fifo]);
    refused(segloss(['dice', '--pred', pFile, '--target', gFile, '--grad', fifo], { timeout: 30_000 }), fifo, /--grad .*not a regular file \(a FIFO\)/);
  });
});

describe('--classes is bounded', () => {
  test('more than 65536 classes, or not a whole number of at least 2: exit 2 naming the range', () => {
    for (const n of ['65537', '99999999999999999999', '1']) {
      const r = segloss(['dice', '--pred', pFile, '--target', gFile, '--classes', n]);
      expect(r.code).toBe(2);
      expect(r.err).toContain(`--classes takes a whole number from 2 to 65536, got '${n}'`);
    }
  });
});

// ================================================================= fuzz

// Hostile files of each format, drawn by fast-check from the fixed seed of
// tests/setup.ts, run through `segloss eval` in one child process
// (tests/eval-data-harness.ts) with SEGLOSS_MAX_ELEMENTS = 2^20: every file must
// give a value (exit 0) or an exit 2 whose message names it, each within 20 s,
// and the whole run must stay under 1 GiB of resident memory (every bomb here
// inflates to 1 GiB or more, every honest file is under 2^20 elements).

interface Hostile { category: string; ext: '.npy' | '.png' | '.nii' | '.nii.gz'; bytes: Uint8Array }
const FUZZ_LIMIT = 2 ** 20;

const NPY_KINDS: [string, number][] = [['<f4', 4], ['<f8', 8], ['<f2', 2], ['|b1', 1], ['|i1', 1], ['|u1', 1], ['<i2', 2], ['<u2', 2], ['<i4', 4], ['<u4', 4], ['<i8', 8], ['<u8', 8]];
const shape4 = fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 3 })).map((t) => [...t]);
const anyShape = fc.oneof({ weight: 3, arbitrary: shape4 }, { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 6 }) });
const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** n elements of `kind`: probabilities / 0-1 masks (nice), or raw random bytes (any value, NaN and Inf included). */
function npyBody(kind: [string, number], n: number, seed: number, nice: boolean): Uint8Array {
  const r = rng(seed);
  const bytes = new Uint8Array(n * kind[1]);
  if (!nice) { for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256); return bytes; }
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < n; i++) {
    const v = r();
    switch (kind[0]) {
      case '<f4': view.setFloat32(4 * i, v, true); break;
      case '<f8': view.setFloat64(8 * i, v, true); break;
      case '<f2': view.setUint16(2 * i, v < 0.5 ? 0 : 0x3c00, true); break;
      default: bytes[i * kind[1]] = v < 0.5 ? 0 : 1;
    }
  }
  return bytes;
}

const npyValid = fc.record({ kind: fc.constantFrom(...NPY_KINDS), shape: anyShape, fortran: fc.boolean(), seed: fc.integer(), nice: fc.boolean() })
  .map(({ kind, shape, fortran, seed, nice }) => npyBytes(kind[0], shape, npyBody(kind, count(shape), seed, nice), { fortran: fortran ? 'True' : 'False' }));

const SHAPE_TOKENS = ['-1', '0x10', '2.', '1e3', '99999999999999999999', '9007199254740993', '2**40', "'a'", 'None', '1_000', '+4', ' 4 ', '04', '4L', '', '()', '4,4'];
const DESCRS = ['<c8', '<U3', '|O', '<f16', '|V8', 'f4', '=f4', '>f4', '>i1', '<m8', '<M8[s]', 'x', '', "<f4', 'shape': (9,"];
const npyLie = fc.record({
  kind: fc.constantFrom(...NPY_KINDS),
  shape: shape4,
  what: fc.constantFrom('shape', 'descr', 'fortran', 'keys', 'text', 'length', 'version'),
  tokens: fc.array(fc.constantFrom(...SHAPE_TOKENS), { maxLength: 5 }),
  descr: fc.constantFrom(...DESCRS),
  text: fc.string({ maxLength: 80 }),
  pick: fc.nat(),
  extra: fc.nat({ max: 64 }),
}).map(({ kind, shape, what, tokens, descr, text, pick, extra }) => {
  const body = npyBody(kind, count(shape) + (extra % 3), pick, true);
  const shapeText = `(${shape.join(', ')},)`;
  switch (what) {
    case 'shape': return npyBytes(kind[0], tokens, body);
    case 'descr': return npyBytes(descr, shape, body);
    case 'fortran': return npyBytes(kind[0], shape, body, { fortran: ['1', 'None', "'yes'", 'true', ''][pick % 5] });
    case 'keys': return npyBytes('', [], body, { dict: [
      `{'descr': '${kind[0]}', 'shape': ${shapeText}}`,
      `{'descr': '${kind[0]}', 'fortran_order': False, 'shape': ${shapeText}, 'shape': (1,)}`,
      `{'descr': '${kind[0]}', 'fortran_order': False, 'shape': ${shapeText}, 'extra': 1}`,
      `{'descr': '${kind[0]}', 'fortran_order': False}`,
      `['descr', '${kind[0]}']`,
    ][pick % 5]! });
    case 'text': return npyBytes('', [], body, { dict: text });
    case 'length': { const b = npyBytes(kind[0], shape, body); b.writeUInt16LE(pick % 65536, 8); return b; }
    default: { const b = npyBytes(kind[0], shape, body); b[6] = [0, 2, 3, 9, 255][pick % 5]!; return b; }
  }
});
const npyHuge = fc.record({ kind: fc.constantFrom(...NPY_KINDS), dims: fc.array(fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1024, max: 2 ** 31 }), fc.constant(2 ** 53 - 1)), { minLength: 1, maxLength: 5 }), n: fc.nat({ max: 256 }) })
  .filter(({ dims }) => count(dims) > FUZZ_LIMIT)
  .map(({ kind, dims, n }) => npyBytes(kind[0], dims, npyBody(kind, n, n, true)));
const npyLength = fc.record({ kind: fc.constantFrom(...NPY_KINDS), shape: shape4, cut: fc.integer({ min: -40, max: 40 }) })
  .map(({ kind, shape, cut }) => {
    const b = npyBytes(kind[0], shape, npyBody(kind, count(shape), cut, true));
    return cut < 0 ? b.subarray(0, Math.max(0, b.length + cut)) : Buffer.concat([b, Buffer.alloc(cut + 1, 7)]);
  });

const PNG_DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
const pngParts = fc.record({ colour: fc.constantFrom(0, 2, 3, 4, 6), d: fc.nat(), w: fc.integer({ min: 1, max: 12 }), h: fc.integer({ min: 1, max: 12 }), seed: fc.integer(), filters: fc.boolean() })
  .map(({ colour, d, w, h, seed, filters }) => {
    const depth = PNG_DEPTHS[colour]![d % PNG_DEPTHS[colour]!.length]!;
    const r = rng(seed);
    const values = Array.from({ length: w * h }, () => Math.floor(r() * 2 ** depth));
    const raw = scanlines(w, h, depth, colour, values, (y) => (filters ? (y * 7 + seed) % 5 : 0));
    return { colour, depth, w, h, head: ihdr(w, h, depth, colour), plte: colour === 3 ? [palette(2 ** depth)] : [], raw };
  });
const pngValid = pngParts.map((p) => png(p.head, ...p.plte, chunk('IDAT', deflateSync(p.raw))));
const pngIhdrHuge = fc.record({ w: fc.oneof(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.constant(2 ** 32 - 1)), h: fc.integer({ min: 1, max: 2 ** 31 - 1 }), colour: fc.constantFrom(0, 2, 3, 4, 6), rows: fc.nat({ max: 4096 }) })
  .filter(({ w, h, colour }) => w * h * CHANNELS[colour]! > FUZZ_LIMIT)
  .map(({ w, h, colour, rows }) => png(ihdr(w, h, 8, colour), chunk('IDAT', deflateSync(Buffer.alloc(rows)))));
const pngIdatBomb = fc.record({ w: fc.integer({ min: 1, max: 64 }), h: fc.integer({ min: 1, max: 64 }), mib: fc.integer({ min: 1024, max: 1536 }), split: fc.boolean() })
  .map(({ w, h, mib, split }) => {
    const z = zlibZeros(mib);
    const idat = split ? [chunk('IDAT', z.subarray(0, 100)), chunk('IDAT', z.subarray(100))] : [chunk('IDAT', z)];
    return png(ihdr(w, h, 8, 0), ...idat);
  });
const pngAncillaryBomb = fc.record({ parts: pngParts, type: fc.constantFrom('iCCP', 'zTXt', 'iTXt'), mib: fc.integer({ min: 1024, max: 1536 }) })
  .map(({ parts: p, type, mib }) => {
    const z = zlibZeros(mib);
    const data = type === 'iTXt' ? Buffer.concat([Buffer.from('k\0\x01\0\0\0', 'latin1'), z]) : Buffer.concat([Buffer.from('k\0\0', 'latin1'), z]);
    return png(p.head, chunk(type, data), ...p.plte, chunk('IDAT', deflateSync(p.raw)));
  });
const pngChunkLie = fc.record({ parts: pngParts, what: fc.nat({ max: 13 }), x: fc.nat() }).map(({ parts: p, what, x }) => {
  const idat = chunk('IDAT', deflateSync(p.raw));
  const plte = p.plte;
  switch (what) {
    case 0: return png(p.head, ...plte, chunk('IDAT', deflateSync(p.raw), 0xfffffff0)); // a length past the end
    case 1: return png(...plte, idat); // no IHDR
    case 2: return png(...plte, idat, p.head); // IHDR last
    case 3: return Buffer.concat([PNG_SIG, p.head, ...plte, idat]); // no IEND
    case 4: return png(ihdr(p.w, p.h, [0, 3, 5, 7, 32, 255][x % 6]!, p.colour), ...plte, idat); // a bad depth
    case 5: return png(ihdr(p.w, p.h, p.depth, [1, 5, 7, 255][x % 4]!), ...plte, idat); // a bad colour type
    case 6: return png(ihdr(p.w, p.h, p.depth, p.colour, 1), ...plte, idat); // Adam7 declared, rows not interlaced
    case 7: return png(ihdr(p.w, p.h, p.depth, p.colour, 0, 1 + (x % 255)), ...plte, idat); // unknown compression
    case 8: return png(ihdr(p.w, p.h, p.depth, p.colour, 0, 0, 1 + (x % 255)), ...plte, idat); // unknown filter method
    case 9: return png(p.head, palette(1000), idat); // a palette of 1000 colours
    case 10: { const raw = Buffer.from(p.raw); raw[0] = 5 + (x % 251); return png(p.head, ...plte, chunk('IDAT', deflateSync(raw))); } // a bad row filter
    case 11: return png(p.head, ...plte); // no IDAT
    case 12: return png(p.head, ...plte, chunk('IDAT', deflateSync(p.raw.subarray(0, x % p.raw.length)))); // rows missing
    default: return png(p.head, ...plte, chunk('IDAT', Buffer.from(p.raw))); // not zlib at all
  }
});

const NII_TYPES: [number, number][] = [[2, 8], [4, 16], [8, 32], [16, 32], [64, 64], [256, 8], [512, 16], [768, 32]];
const niiParts = fc.record({
  version: fc.constantFrom<1 | 2>(1, 2), le: fc.boolean(), type: fc.constantFrom(...NII_TYPES),
  dims: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }), seed: fc.integer(), nice: fc.boolean(),
  slope: fc.oneof(fc.constant(0), fc.constant(1), fc.double({ noNaN: false })),
}).map(({ version, le, type, dims, seed, nice, slope }) => {
  const n = count(dims);
  const r = rng(seed);
  const data = new Uint8Array((n * type[1]) / 8);
  if (nice) { for (let i = 0; i < n; i++) data[(i * type[1]) / 8 + (le ? 0 : type[1] / 8 - 1)] = r() < 0.5 ? 0 : 1; if (type[0] === 16 || type[0] === 64) data.fill(0); }
  else for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
  return { version, le, datatype: type[0], bitpix: type[1], dims: [dims.length, ...dims], data, slope: nice ? 0 : slope };
});
const niiValid = niiParts.map((o) => nifti(o));
const niiHuge = fc.record({ parts: niiParts, dims: fc.array(fc.oneof(fc.integer({ min: -5, max: 40 }), fc.integer({ min: 1000, max: 32767 }), fc.integer({ min: 1, max: 2 ** 50 })), { minLength: 8, maxLength: 8 }) })
  .filter(({ parts, dims }) => parts.version === 2 || dims.every((d) => d <= 32767))
  .map(({ parts, dims }) => nifti({ ...parts, dims }));
const niiLie = fc.record({ parts: niiParts, what: fc.nat({ max: 6 }), x: fc.integer(), d: fc.double() }).map(({ parts: p, what, x, d }) => {
  switch (what) {
    case 0: return nifti({ ...p, voxOffset: [NaN, -1, 0, 100, 348.5, 1e12, 2 ** 31, d][Math.abs(x) % 8]! }); // vox_offset
    case 1: return nifti({ ...p, bitpix: x & 0x7fff }); // bitpix against datatype
    case 2: return nifti({ ...p, datatype: [0, 1, 32, 128, 1024, 1280, 1536, 1792, 2048, 2304, x & 0x7fff][Math.abs(x) % 11]! }); // unsupported types
    case 3: return nifti({ ...p, patch: [[0, Buffer.from([x & 0xff, 1, 0, 0])]] }); // sizeof_hdr
    case 4: return nifti({ ...p, dims: [x % 10, ...p.dims.slice(1)] }); // dim[0]
    case 5: return nifti({ ...p, slope: d, inter: -d }); // scl_slope, scl_inter
    default: return nifti({ ...p, patch: [[p.version === 2 ? 4 : 344, Buffer.from([0x6e, 0x2b, 0x31 + (x & 1), 0])]] }); // the other version's magic
  }
});
const niiExt = fc.record({ parts: niiParts, sizes: fc.array(fc.oneof(fc.constantFrom(-16, -32, 0, 8, 16, 32, 2 ** 31 - 16), fc.integer()), { minLength: 1, maxLength: 4 }), at: fc.integer({ min: -8, max: 8 }), loop: fc.integer({ min: 0, max: 3 }) })
  .map(({ parts, sizes, at, loop }) => {
    const ext = Buffer.alloc(4 + 16 * sizes.length + 16);
    ext[0] = 1;
    const hs = parts.version === 2 ? 540 : 348;
    const le = parts.le;
    if (loop) {
      // esize −16k steps back 16k bytes into the header, where +16k steps forward again (a loop in nifti-reader-js)
      const back = Buffer.alloc(4);
      if (le) { ext.writeInt32LE(-16 * loop, 4); back.writeInt32LE(16 * loop); } else { ext.writeInt32BE(-16 * loop, 4); back.writeInt32BE(16 * loop); }
      return nifti({ ...parts, ext, patch: [[hs + 4 - 16 * loop, back]] });
    }
    sizes.forEach((s, i) => ext.writeInt32LE(s | 0, 4 + 16 * i));
    return nifti({ ...parts, ext, patch: [[hs - 16 + at, Buffer.from([16, 0, 0, 0])]] });
  });

const gzNiiValid = niiValid.map((b) => gzipSync(b));
const gzNiiHostile = fc.oneof(niiHuge, niiLie, niiExt).map((b) => gzipSync(b));
const gzBomb = fc.record({ parts: niiParts, mib: fc.integer({ min: 1024, max: 1536 }) }).map(({ parts, mib }) => gzipZeros(mib, nifti(parts)));
const gzLateHeader = fc.record({ parts: niiParts, empties: fc.integer({ min: 1000, max: 30000 }) }).map(({ parts, empties }) => {
  // empty stored blocks (5 bytes each, no output) ahead of the data: a valid gzip whose header comes late
  const body = nifti(parts);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(body), 0);
  trailer.writeUInt32LE(body.length, 4);
  return Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), Buffer.alloc(5 * empties, Buffer.from([0, 0, 0, 0xff, 0xff])), deflateRawSync(body), trailer]);
});

/** A valid file of a format with bytes overwritten or cut off. */
const mutated = (valid: fc.Arbitrary<Uint8Array>, skip = 0) => fc.record({ b: valid, flips: fc.array(fc.tuple(fc.noBias(fc.nat()), fc.nat({ max: 255 })), { minLength: 1, maxLength: 8 }), cut: fc.noBias(fc.nat()), cutting: fc.nat({ max: 3 }) })
  .map(({ b, flips, cut, cutting }) => {
    const out = Buffer.from(b);
    for (const [at, v] of flips) out[skip + (at % Math.max(1, out.length - skip))] = v;
    return cutting ? out : out.subarray(0, cut % (out.length + 1)); // cut off one time in four
  });
const randomBytes = (magic: number[]) => fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.concat([Buffer.from(magic), b]));

const cat = (category: string, ext: Hostile['ext'], arb: fc.Arbitrary<Uint8Array>, weight = 1) => ({ weight, arbitrary: arb.map((bytes): Hostile => ({ category, ext, bytes })) });
const hostile = fc.oneof(
  cat('npy valid', '.npy', npyValid, 3),
  cat('npy header lies', '.npy', npyLie, 3),
  cat('npy huge shape', '.npy', npyHuge, 2),
  cat('npy data length lies', '.npy', npyLength, 2),
  cat('npy bytes overwritten', '.npy', mutated(npyValid), 2),
  cat('npy random bytes', '.npy', randomBytes([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59])),
  cat('png valid', '.png', pngValid, 3),
  cat('png IHDR huge', '.png', pngIhdrHuge, 2),
  cat('png IDAT bomb', '.png', pngIdatBomb),
  cat('png ancillary bomb', '.png', pngAncillaryBomb),
  cat('png chunk lies', '.png', pngChunkLie, 3),
  cat('png bytes overwritten', '.png', mutated(pngValid, 8), 2),
  cat('png random bytes', '.png', randomBytes([...PNG_SIG])),
  cat('nii valid', '.nii', niiValid, 3),
  cat('nii dims huge', '.nii', niiHuge, 2),
  cat('nii header lies', '.nii', niiLie, 3),
  cat('nii extensions', '.nii', niiExt, 2),
  cat('nii bytes overwritten', '.nii', mutated(niiValid), 2),
  cat('nii.gz valid', '.nii.gz', gzNiiValid, 2),
  cat('nii.gz hostile header', '.nii.gz', gzNiiHostile, 2),
  cat('nii.gz bomb', '.nii.gz', gzBomb),
  cat('nii.gz header late', '.nii.gz', gzLateHeader),
  cat('nii.gz bytes overwritten', '.nii.gz', mutated(gzNiiValid), 2),
);

const FUZZ_RUNS = 1000;

describe('fuzz: hostile .npy, .png, .nii and .nii.gz through segloss eval', () => {
  test(`${FUZZ_RUNS} files: a value or exit 2 naming the file; never exit 70, a hang or an out-of-memory`, () => {
    const seed = fc.readConfigureGlobal().seed!;
    const inputs = fc.sample(hostile, { numRuns: FUZZ_RUNS, seed });
    const fuzzDir = join(dir, 'fuzz');
    mkdirSync(fuzzDir);
    const jobs = inputs.map((h, id) => {
      const path = join(fuzzDir, `${id}${h.ext}`);
      writeFileSync(path, h.bytes);
      // dice takes probabilities (refusing others, naming the file); bce on logits takes any finite value
      const loss = id % 2 === 0 ? ['dice'] : ['bce', '--activation', 'sigmoid'];
      return { id, args: ['eval', ...loss, '--pred', path, '--target', path, '--backend', 'js'], path };
    });
    const jobsFile = join(dir, 'jobs.json');
    const resultsFile = join(dir, 'results.jsonl');
    writeFileSync(jobsFile, JSON.stringify(jobs));
    writeFileSync(resultsFile, '');
    const child = spawnSync(process.execPath, ['--import', 'tsx', 'tests/eval-data-harness.ts', jobsFile, resultsFile], {
      encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', SEGLOSS_MAX_ELEMENTS: String(FUZZ_LIMIT) }, timeout: 300_000, killSignal: 'SIGKILL',
    });
    const lines = readFileSync(resultsFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const results = lines.filter((l) => 'id' in l) as { id: number; code: number; out: string; err: string; ms: number }[];
    const peak = lines.find((l) => 'maxRssKiB' in l)?.maxRssKiB as number | undefined;

    const table = new Map<string, { n: number; ok: number; refused: number; bad: number; slowest: number }>();
    for (const h of inputs) if (!table.has(h.category)) table.set(h.category, { n: 0, ok: 0, refused: 0, bad: 0, slowest: 0 });
    for (const h of inputs) table.get(h.category)!.n++;
    const failures: string[] = [];
    for (const r of results) {
      const h = inputs[r.id]!, row = table.get(h.category)!, path = jobs[r.id]!.path;
      row.slowest = Math.max(row.slowest, r.ms);
      const why = r.code === 0 ? (/value /.test(r.out) ? '' : 'exit 0 without a value')
        : r.code !== 2 ? `exit ${r.code}`
        : !r.err.includes(path) ? 'exit 2 without the file named'
        : /^\s+at /m.test(r.err) ? 'a stack trace' : '';
      const slow = r.ms > 20_000 ? `took ${Math.round(r.ms)} ms` : '';
      if (why || slow) { row.bad++; failures.push(`${path} (${h.category}): ${why || slow}\n${r.err}`); }
      else if (r.code === 0) row.ok++;
      else row.refused++;
    }
    if (results.length < jobs.length) {
      const next = jobs[results.length]!;
      failures.push(`${next.path} (${inputs[next.id]!.category}): the run stopped here (${child.signal ? `killed by ${child.signal}: a hang or out of memory` : `exit ${child.status}`})\n${child.stderr.slice(-2000)}`);
    }
    const lines2 = [...table].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) =>
      `  ${k.padEnd(26)} ${String(v.n).padStart(4)} inputs: ${String(v.ok).padStart(3)} value, ${String(v.refused).padStart(3)} exit 2, ${v.bad} bad; slowest ${Math.round(v.slowest)} ms`);
    console.log(`eval data fuzz: fast-check seed ${seed}, ${inputs.length} files, SEGLOSS_MAX_ELEMENTS=${FUZZ_LIMIT}, peak memory ${peak === undefined ? '?' : Math.round(peak / 1024)} MiB\n${lines2.join('\n')}`);
    expect(failures.slice(0, 5).join('\n\n')).toBe('');
    expect(results.length).toBe(jobs.length);
    // the harness against the real command line: the first file of a few categories, same exit code
    for (const category of ['npy header lies', 'png chunk lies', 'png valid', 'nii extensions', 'nii.gz bomb', 'nii.gz valid']) {
      const r = results.find((x) => inputs[x.id]!.category === category)!;
      const cli = segloss(jobs[r.id]!.args.slice(1), { env: { SEGLOSS_MAX_ELEMENTS: String(FUZZ_LIMIT) } });
      expect(cli.code, `${category}: ${cli.err}`).toBe(r.code);
      if (cli.code === 2) expect(cli.err).toContain(jobs[r.id]!.path);
    }
    expect(peak! * 1024).toBeLessThan(2 ** 30);
    // every category is exercised, and the honest files mostly give values
    for (const [k, v] of table) expect(v.n, k).toBeGreaterThan(0);
    expect(table.get('npy valid')!.ok + table.get('png valid')!.ok + table.get('nii valid')!.ok).toBeGreaterThan(0);
  }, 900_000);
});
