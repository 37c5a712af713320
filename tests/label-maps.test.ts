// Label maps fed to `segloss eval` and to io.ts's oneHot: int64/uint64 .npy files
// (NumPy's and torch's default label dtype), maps without a class axis ((B, H, W),
// (B, D, H, W)), ignore_index; and the refusals of silent misuse, with their hints
// (a transposed layout, logits without --activation, a mistyped loss name).
//
// Oracles:
// - the same command on the one-hot float32 target built here from the labels by
//   hand: same backend, same numbers, so value and gradient must be identical;
// - the float64 reference interpreter in this process on that one-hot target
//   (relative 1e-5 for the f32 js backend: chunked f32 sums, see eval.test.ts);
// - for ignore_index, MONAI's Dice over the kept pixels only, in plain JS doubles
//   (1e-9 relative against the reference backend: both float64, a few hundred terms);
// - for .npy bytes, files assembled here byte by byte from NumPy's format spec.
// Errors: exit 2, the hint a person needs, no stack trace.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'npyjs';
import { afterAll, describe, expect, test } from 'vitest';
import { rng } from '../src/tools/check.ts';
import { oneHot } from '../src/runtime/labels.ts';
import { ArrayFileError, readArray } from '../src/tools/io/index.ts';
import { load } from '../src/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'segloss-labels-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function segloss(args: string[]) {
  const r = spawnSync(process.execPath, ['bin/segloss.js', ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
function json(args: string[]): { value: number; values?: number[]; shape: number[] } {
  const r = segloss(['eval', ...args, '--json']);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out);
}
const noStack = (err: string) => expect(err).not.toMatch(/^\s+at /m);

type Typed = Float32Array | Float64Array | Uint8Array | BigInt64Array | BigUint64Array;
function npy(name: string, data: Typed, shape: number[]): string {
  const path = join(dir, name);
  writeFileSync(path, new Uint8Array(dump(data as Float32Array, shape)));
  return path;
}

/** NumPy's .npy v1.0 by hand: magic, version, header length, a dict padded with spaces to 64 bytes, then the data. */
function npyBytes(descr: string, shape: number[], body: Uint8Array): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const out = new Uint8Array(10 + header.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(body, 10 + header.length);
  return out;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const r = rng(2024);
const probs = (shape: number[]) => Float32Array.from({ length: size(shape) }, () => 0.02 + 0.96 * r());
/** Labels 0..C−1, and `ignore` at about every fifth pixel when given. */
const labelsOf = (n: number, C: number, ignore?: number) => Array.from({ length: n }, () => (ignore !== undefined && r() < 0.2 ? ignore : Math.floor(r() * C)));

/** One-hot of per-pixel labels, the class axis last (nhwc) or second (nchw); an ignored label gives zeros. */
function oneHotByHand(labels: number[], C: number, batch: number, layout: 'nhwc' | 'nchw'): Float32Array {
  const out = new Float32Array(labels.length * C);
  const per = labels.length / batch;
  labels.forEach((k, i) => {
    if (k < 0 || k >= C) return;
    const b = Math.floor(i / per), j = i % per;
    out[layout === 'nhwc' ? i * C + k : (b * C + k) * per + j] = 1;
  });
  return out;
}

async function referenceValue(name: string, p: Float32Array, g: Float32Array, shape: number[], layout: 'nhwc' | 'nchw' = 'nhwc') {
  const loss = await load(name, {}, { backend: 'reference', layout });
  try { return (await loss.value({ p, g }, shape)).value; } finally { loss.dispose(); }
}

describe('segloss eval --classes: label maps equal their one-hot targets', () => {
  test('int64 (B, H, W), nhwc, dice on js: the value and gradient of the one-hot float32 target, and the reference', async () => {
    const B = 2, H = 9, W = 7, C = 3;
    const labels = labelsOf(B * H * W, C);
    const p = probs([B, H, W, C]);
    const pFile = npy('p.npy', p, [B, H, W, C]);
    const lFile = npy('labels-i8.npy', BigInt64Array.from(labels, BigInt), [B, H, W]);
    expect(readFileSync(lFile).toString('latin1')).toMatch(/'descr':\s*'<i8'/); // what np.save writes for int64
    const g = oneHotByHand(labels, C, B, 'nhwc');
    const gFile = npy('onehot.npy', g, [B, H, W, C]);
    const [dl, dg] = [join(dir, 'dl.npy'), join(dir, 'dg.npy')];
    const fromLabels = json(['dice', '--pred', pFile, '--target', lFile, '--classes', '3', '--backend', 'js', '--grad', dl]);
    const fromOneHot = json(['dice', '--pred', pFile, '--target', gFile, '--backend', 'js', '--grad', dg]);
    expect(fromLabels.value).toBe(fromOneHot.value);
    expect(Array.from(readArray(dl).data)).toEqual(Array.from(readArray(dg).data));
    const ref = await referenceValue('dice', p, g, [B, H, W, C]);
    expect(Math.abs(fromLabels.value - ref) / ref).toBeLessThanOrEqual(1e-5);
  });

  test('int64 (B, H, W) with --param ignore_index=255: MONAI Dice over the kept pixels (reference backend), and js', () => {
    const B = 2, H = 8, W = 6, C = 3, n = B * H * W;
    const labels = labelsOf(n, C, 255);
    expect(labels.filter((k) => k === 255).length).toBeGreaterThan(5);
    const p = probs([B, H, W, C]);
    const pFile = npy('pi.npy', p, [B, H, W, C]);
    const lFile = npy('labels-ign.npy', BigInt64Array.from(labels, BigInt), [B, H, W]);
    // Oracle: per sample and class, over kept pixels only, 1 − (2 tp + 1e-5) / (Σp + Σg + 1e-5); the mean.
    let want = 0;
    for (let b = 0; b < B; b++) {
      for (let c = 0; c < C; c++) {
        let tp = 0, sp = 0, sg = 0;
        for (let j = 0; j < H * W; j++) {
          const i = b * H * W + j;
          if (labels[i] === 255) continue;
          const gv = labels[i] === c ? 1 : 0, pv = p[i * C + c]!;
          tp += pv * gv; sp += pv; sg += gv;
        }
        want += 1 - (2 * tp + 1e-5) / (sp + sg + 1e-5);
      }
    }
    want /= B * C;
    const ref = json(['dice', '--pred', pFile, '--target', lFile, '--classes', '3', '--param', 'ignore_index=255', '--backend', 'reference']);
    expect(Math.abs(ref.value - want) / want).toBeLessThanOrEqual(1e-9);
    const js = json(['dice', '--pred', pFile, '--target', lFile, '--classes', '3', '--param', 'ignore_index=255', '--backend', 'js']);
    expect(Math.abs(js.value - want) / want).toBeLessThanOrEqual(1e-5);
    // Without ignore_index the 255s are refused, not read as a class.
    const bad = segloss(['eval', 'dice', '--pred', pFile, '--target', lFile, '--classes', '3']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/element \d+ is 255, not a class number 0\.\.2/);
  });

  test('nchw: uint64 (B, H, W) and uint8 (B, 1, H, W) label maps equal the nchw one-hot target', () => {
    const B = 2, H = 5, W = 6, C = 4;
    const labels = labelsOf(B * H * W, C);
    const p = probs([B, C, H, W]);
    const pFile = npy('p-nchw.npy', p, [B, C, H, W]);
    const gFile = npy('onehot-nchw.npy', oneHotByHand(labels, C, B, 'nchw'), [B, C, H, W]);
    const want = json(['dice', '--pred', pFile, '--target', gFile, '--layout', 'nchw', '--backend', 'js']).value;
    for (const [name, data, shape] of [
      ['l-u64.npy', BigUint64Array.from(labels, BigInt), [B, H, W]],
      ['l-u8.npy', Uint8Array.from(labels), [B, 1, H, W]],
    ] as const) {
      const got = json(['dice', '--pred', pFile, '--target', npy(name, data, [...shape]), '--layout', 'nchw', '--classes', '4', '--backend', 'js']);
      expect(got.value, name).toBe(want);
    }
  });

  test('a volume: int64 (B, D, H, W) with a 5-D prediction equals the one-hot target', () => {
    const B = 1, D = 3, H = 4, W = 5, C = 2;
    const labels = labelsOf(B * D * H * W, C);
    const p = probs([B, D, H, W, C]);
    const pFile = npy('pv.npy', p, [B, D, H, W, C]);
    const want = json(['dice', '--pred', pFile, '--target', npy('gv.npy', oneHotByHand(labels, C, B, 'nhwc'), [B, D, H, W, C]), '--backend', 'js']).value;
    const got = json(['dice', '--pred', pFile, '--target', npy('lv.npy', BigInt64Array.from(labels, BigInt), [B, D, H, W]), '--classes', '2', '--backend', 'js']);
    expect(got.value).toBe(want);
  });
});

describe('io: 64-bit integer .npy and oneHot without a class axis', () => {
  test('int64 and uint64 read exactly up to 2^53 − 1; beyond, a clear ArrayFileError', () => {
    const big = (values: bigint[], signed: boolean) => {
      const a = signed ? BigInt64Array.from(values) : BigUint64Array.from(values);
      return new Uint8Array(a.buffer);
    };
    const edge = 2n ** 53n - 1n;
    const i8 = join(dir, 'hand-i8.npy');
    writeFileSync(i8, npyBytes('<i8', [2, 2], big([0n, -edge, edge, 255n], true)));
    expect(readArray(i8)).toEqual({ data: Float64Array.from([0, -(2 ** 53 - 1), 2 ** 53 - 1, 255]), shape: [2, 2], dtype: 'int64' });
    const u8 = join(dir, 'hand-u8.npy');
    writeFileSync(u8, npyBytes('<u8', [3], big([1n, 7n, edge], false)));
    expect(readArray(u8)).toEqual({ data: Float64Array.from([1, 7, 2 ** 53 - 1]), shape: [3], dtype: 'uint64' });
    const over = join(dir, 'hand-over.npy');
    writeFileSync(over, npyBytes('<i8', [2], big([3n, -(2n ** 53n)], true)));
    expect(() => readArray(over)).toThrow(ArrayFileError);
    expect(() => readArray(over)).toThrow(/element 1 is -9007199254740992, beyond ±\(2\^53 − 1\)/);
    const overU = join(dir, 'hand-over-u.npy');
    writeFileSync(overU, npyBytes('<u8', [1], big([2n ** 64n - 1n], false)));
    expect(() => readArray(overU)).toThrow(/element 0 is 18446744073709551615, beyond/);
  });

  test('oneHot inserts a missing class axis (nhwc last, nchw second) and builds the ignore mask', () => {
    const labels = [0, 2, 1, 255, 2, 0]; // B = 2, H = 1, W = 3
    const data = Float64Array.from(labels);
    const nhwc = oneHot({ data, shape: [2, 1, 3], dtype: 'int64' }, 3, 3, 'labels', 255, 4);
    expect(nhwc.shape).toEqual([2, 1, 3, 3]);
    expect(Array.from(nhwc.data)).toEqual(Array.from(oneHotByHand(labels, 3, 2, 'nhwc')));
    expect(Array.from(nhwc.mask!)).toEqual([1, 1, 1, 0, 1, 1]);
    // the same map with its class axis of 1 gives the same
    expect(oneHot({ data, shape: [2, 1, 3, 1], dtype: 'int64' }, 3, 3, 'labels', 255, 4).data).toEqual(nhwc.data);
    const nchw = oneHot({ data, shape: [2, 1, 3], dtype: 'int64' }, 3, 1, 'labels', 255, 4);
    expect(nchw.shape).toEqual([2, 3, 1, 3]);
    expect(Array.from(nchw.data)).toEqual(Array.from(oneHotByHand(labels, 3, 2, 'nchw')));
    expect(() => oneHot({ data, shape: [6], dtype: 'int64' }, 3, 3, 'labels', undefined, 4)).toThrow(/labels has shape \[6\]: a label map .* 4-D with size 1 along the class axis \(axis 3\), or 3-D without it/);
  });
});

describe('silent misuse is refused, with a hint', () => {
  test('an nchw file read with the default layout: an error naming --layout nchw; --layout nchw reads it; --layout nhwc insists', () => {
    const shape = [2, 3, 32, 32];
    const p = npy('t-p.npy', probs(shape), shape);
    const g = npy('t-g.npy', Float32Array.from({ length: size(shape) }, () => (r() < 0.4 ? 1 : 0)), shape);
    const e = segloss(['eval', 'dice', '--pred', p, '--target', g]);
    expect(e.code).toBe(2);
    expect(e.err).toContain('has shape [2, 3, 32, 32]: in layout nhwc that is 32 classes, in nchw 3; it looks like nchw: pass --layout nchw');
    noStack(e.err);
    expect(segloss(['eval', 'dice', '--pred', p, '--target', g, '--layout', 'nchw']).code).toBe(0);
    const insisted = segloss(['eval', 'dice', '--pred', p, '--target', g, '--layout', 'nhwc']);
    expect(insisted.code).toBe(0);
    expect(insisted.err).toMatch(/note: .* reading it as nhwc, as --layout says/);
  });

  test('target and prediction that match only after moving the class axis; a label map without --classes; --classes against the class count', () => {
    const p = npy('m-p.npy', probs([2, 6, 5, 3]), [2, 6, 5, 3]);
    const g = npy('m-g.npy', new Float32Array(2 * 3 * 6 * 5), [2, 3, 6, 5]);
    const moved = segloss(['eval', 'dice', '--pred', p, '--target', g]);
    expect(moved.code).toBe(2);
    expect(moved.err).toMatch(/they match once the class axis is moved: --target looks like layout nchw and --pred like nhwc.*--layout nchw/);
    const l = npy('m-l.npy', BigInt64Array.from(labelsOf(60, 3), BigInt), [2, 6, 5]);
    const noClasses = segloss(['eval', 'dice', '--pred', p, '--target', l]);
    expect(noClasses.code).toBe(2);
    expect(noClasses.err).toContain('it looks like a label map: pass --classes 3 to one-hot it');
    const wrong = segloss(['eval', 'dice', '--pred', p, '--target', l, '--classes', '4']);
    expect(wrong.code).toBe(2);
    expect(wrong.err).toContain('--classes 4 but --pred');
    expect(wrong.err).toContain('has 3 classes (axis 3 of [2, 6, 5, 3] in layout nhwc)');
    noStack(wrong.err);
  });

  test('logits passed to a loss on probabilities: refused, naming --activation sigmoid|softmax; accepted with it', async () => {
    const shape = [1, 6, 6, 2];
    const x = npy('logits.npy', Float32Array.from({ length: size(shape) }, () => 6 * r() - 3), shape);
    const g = npy('lg-g.npy', Float32Array.from({ length: size(shape) }, () => (r() < 0.5 ? 1 : 0)), shape);
    const e = segloss(['eval', 'dice', '--pred', x, '--target', g]);
    expect(e.code).toBe(2);
    expect(e.err).toMatch(/--pred .*logits\.npy holds values from -\d\.\d+ to \d\.\d+, but loss 'dice' takes probabilities in \[0, 1\]: if they are logits, pass --activation sigmoid .* or --activation softmax/);
    noStack(e.err);
    expect(segloss(['eval', 'dice', '--pred', x, '--target', g, '--activation', 'sigmoid']).code).toBe(0);
    // The API says the same, in its own words.
    const loss = await load('dice', {}, { backend: 'reference' });
    try {
      await expect(loss.value({ p: Float32Array.from([0.5, 1.5]), g: Float32Array.from([0, 1]) }, [1, 1, 1, 2])).rejects.toThrow(/element 1 is 1\.5, outside \[0, 1\]: .*activation 'sigmoid' or 'softmax'/);
    } finally { loss.dispose(); }
  });

  test('a mistyped loss name: did you mean, in eval, show and load()', async () => {
    const p = npy('d-p.npy', probs([1, 2, 2, 1]), [1, 2, 2, 1]);
    const e = segloss(['eval', 'dcie', '--pred', p, '--target', p]);
    expect(e.code).toBe(2);
    expect(e.err).toMatch(/'dcie' is neither a file nor a library loss; .*\n {2}hint: did you mean 'dice'\?/);
    const s = segloss(['show', 'tverksy']);
    expect(s.code).toBe(2);
    expect(s.err).toContain("hint: did you mean 'tversky'?");
    await expect(load('dcie')).rejects.toThrow(/no loss named 'dcie' in .*; did you mean 'dice'\?/);
    await expect(load('focla_tversky')).rejects.toThrow(/did you mean 'focal_tversky'\?/);
    // nothing close: no guess
    await expect(load('zzzzzzzz')).rejects.toThrow(/no loss named 'zzzzzzzz' in [^;]*$/);
  });
});
