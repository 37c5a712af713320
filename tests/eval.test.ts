// `segloss eval`, started the way a user starts it (bin/segloss.js), on .npy
// files written here with npyjs.
//
// Oracle: the float64 reference interpreter run in this process
// (`load(name, params, {backend: 'reference', ...})`) on the same values the
// files hold. For the gpu.js backends (f32 arithmetic) the tolerances are:
//   value: relative 1e-5. Inputs are exact in f32 and in f64, so all the
//     difference is f32 rounding (u = 2^-24 ≈ 6e-8) in the chunked sums:
//     a sum of n terms in chunks of c errs by at most about (c + n/c)·u of the
//     sum of |terms|, below 1e-5 relative for the few thousand cells here,
//     and the epilogue (a division, a mean) adds a few u.
//   gradient: 1e-4 of the largest |reference gradient|, element by element.
//     Each element is a short f32 expression of the input and of the reduced
//     sums (each already within the bound above), and the sums reach the map
//     kernel through an f32 buffer; 1e-4 leaves room for those relative errors
//     meeting a cancellation (p - g, 1 - d) without hiding a wrong index,
//     which errs by the gradient's own size.
// The reference backend run through the CLI reads float64 files and must give
// the in-process reference's numbers exactly: same interpreter, same inputs,
// so any difference would be a loss in the files or the JSON.
// Layouts: an nchw run is compared with the reference in nhwc on the
// transposed arrays, so the layout handling has an independent oracle.
// Errors: the documented exit code 2 and the text a person reads.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'npyjs';
import { afterAll, describe, expect, inject, test } from 'vitest';
import { requiredBackends } from '../src/runtime/backends/gpujs.ts';
import { ArrayFileError, readArray, writeArray } from '../src/tools/io/index.ts';
import { BACKENDS, load } from '../src/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'segloss-eval-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function segloss(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, ['bin/segloss.js', 'eval', ...args], { encoding: 'utf8', env: { ...env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

type Typed = Float32Array | Float64Array | Uint8Array;
function npy(name: string, data: Typed, shape: number[]): string {
  const path = join(dir, name);
  writeFileSync(path, new Uint8Array(dump(data, shape)));
  return path;
}

let seed = 12345;
function rand(): number {
  seed = (seed * 16807) % 2147483647;
  return seed / 2147483647;
}
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const probs = (shape: number[]) => Float32Array.from({ length: size(shape) }, () => 0.02 + 0.96 * rand());
const logits = (shape: number[]) => Float32Array.from({ length: size(shape) }, () => 8 * rand() - 4);
const mask = (shape: number[]) => Uint8Array.from({ length: size(shape) }, () => (rand() < 0.4 ? 1 : 0));

/** nhwc (batch, ..., class) → nchw (batch, class, ...) of a row-major array. */
function toNchw<T extends Typed>(a: T, shape: number[]): { data: T; shape: number[] } {
  const [b, ...rest] = shape;
  const c = rest.pop()!;
  const s = size(rest);
  const out = new (a.constructor as new (n: number) => T)(a.length);
  for (let i = 0; i < b!; i++) for (let k = 0; k < c; k++) for (let j = 0; j < s; j++) out[(i * c + k) * s + j] = a[(i * s + j) * c + k]!;
  return { data: out, shape: [b!, c, ...rest] };
}

interface RefOpts { params?: Record<string, number>; layout?: 'nhwc' | 'nchw'; region?: 'sample' | 'batch' | 'global'; activation?: 'none' | 'sigmoid' | 'softmax' }
/** The float64 reference on the given values (widened exactly to f64). */
async function reference(name: string, pred: Typed, target: Typed, shape: number[], o: RefOpts = {}) {
  const loss = await load(name, o.params ?? {}, { backend: 'reference', layout: o.layout, region: o.region, activation: o.activation });
  try {
    const inputs: Record<string, Float64Array> = {};
    inputs[loss.wrt] = Float64Array.from(pred);
    inputs[loss.inputs.find((i) => i.role === 'target')!.name] = Float64Array.from(target);
    const r = await loss.valueAndGrad(inputs, shape);
    return { value: r.value, grad: r.grad };
  } finally {
    loss.dispose();
  }
}

function json(r: { code: number | null; out: string; err: string }) {
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as { loss: string; backend: string; value: number; shape: number[] };
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  expect(got.length).toBe(want.length);
  let maxRef = 0;
  for (let i = 0; i < want.length; i++) maxRef = Math.max(maxRef, Math.abs(want[i]!));
  expect(maxRef).toBeGreaterThan(0);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  expect(worst / maxRef, `max |err| ${worst} vs max |ref| ${maxRef}`).toBeLessThanOrEqual(tol);
}

const VALUE_TOL = 1e-5;
const GRAD_TOL = 1e-4;

describe('segloss eval: values and gradients against the float64 reference', () => {
  const shape = [2, 24, 20, 2]; // nhwc, 1920 cells
  const p = probs(shape);
  const g = mask(shape);
  const pFile = npy('p.npy', p, shape);
  const gFile = npy('g-u8.npy', g, shape);

  test('library NAME dice, cpu, nhwc, float32 pred + uint8 target, --json and --grad', async () => {
    const out = join(dir, 'dice-cpu-grad.npy');
    const r = json(segloss(['dice', '--pred', pFile, '--target', gFile, '--backend', 'cpu', '--grad', out, '--json']));
    const ref = await reference('dice', p, g, shape);
    expect(r).toMatchObject({ loss: 'dice', backend: 'cpu', shape });
    expect(Math.abs(r.value - ref.value) / Math.abs(ref.value)).toBeLessThanOrEqual(VALUE_TOL);
    const grad = readArray(out);
    expect(grad.dtype).toBe('float32');
    expect(grad.shape).toEqual(shape);
    expectClose(grad.data, ref.grad, GRAD_TOL);
  });

  // js, and the GPU paths (headlessgl under Xvfb, webgpu through Dawn): skipped with the reason when
  // they cannot start here, unless SEGLOSS_REQUIRE_BACKENDS names them (then the eval's exit 2 fails).
  for (const backend of ['js', 'headlessgl', 'webgpu'] as const) {
    const probe = backend === 'js' ? { ok: true as const } : inject('seglossBackends')[backend];
    const skip = !probe.ok && backend !== 'js' && !requiredBackends().has(backend);
    test.skipIf(skip)(`tversky on ${backend}${probe.ok ? '' : ` (${probe.why})`}: the in-process reference`, async () => {
      const out = join(dir, `tversky-${backend}.npy`);
      const r = json(segloss(['tversky', '--pred', pFile, '--target', gFile, '--backend', backend, '--grad', out, '--json']));
      const ref = await reference('tversky', p, g, shape);
      expect(r).toMatchObject({ loss: 'tversky', backend, shape });
      expect(Math.abs(r.value - ref.value) / Math.abs(ref.value)).toBeLessThanOrEqual(VALUE_TOL);
      expectClose(readArray(out).data, ref.grad, GRAD_TOL);
    });
  }

  test('dice, webasm, nchw: same numbers as the nhwc reference, gradient in nchw', async () => {
    const pc = toNchw(p, shape);
    const gc = toNchw(g, shape);
    const out = join(dir, 'dice-webasm-nchw.npy');
    const r = json(segloss(['dice', '--pred', npy('p-nchw.npy', pc.data, pc.shape), '--target', npy('g-nchw.npy', gc.data, gc.shape), '--layout', 'nchw', '--backend', 'webasm', '--grad', out, '--json']));
    const ref = await reference('dice', p, g, shape); // nhwc
    expect(r).toMatchObject({ loss: 'dice', backend: 'webasm', shape: pc.shape });
    expect(Math.abs(r.value - ref.value) / Math.abs(ref.value)).toBeLessThanOrEqual(VALUE_TOL);
    const grad = readArray(out);
    expect(grad.shape).toEqual(pc.shape);
    expectClose(grad.data, toNchw(ref.grad as Float64Array, shape).data, GRAD_TOL);
  });

  test('reference backend on float64 files: exactly the in-process reference, float64 gradient, text output', async () => {
    const p64 = Float64Array.from(p, (x) => x + 1e-12); // not representable in f32: a narrowing would show
    const g64 = Float64Array.from(g);
    const out = join(dir, 'dice-ref-grad.npy');
    const r = segloss(['dice', '--pred', npy('p64.npy', p64, shape), '--target', npy('g64.npy', g64, shape), '--backend', 'reference', '--grad', out]);
    expect(r.code, r.err).toBe(0);
    const ref = await reference('dice', p64, g64, shape);
    expect(r.out).toBe(`dice  value ${ref.value.toFixed(6)}  backend reference  shape [2, 24, 20, 2]\ngradient written to ${out}\n`);
    const grad = readArray(out);
    expect(grad.dtype).toBe('float64');
    expect(grad.data).toBeInstanceOf(Float64Array);
    expect(Array.from(grad.data)).toEqual(Array.from(ref.grad));
  });

  test('--activation sigmoid: bce on logits against the reference of bce with activation sigmoid', async () => {
    const x = logits(shape);
    const out = join(dir, 'bce-sigmoid-grad.npy');
    const r = json(segloss(['bce', '--pred', npy('logits.npy', x, shape), '--target', gFile, '--activation', 'sigmoid', '--backend', 'cpu', '--grad', out, '--json']));
    const ref = await reference('bce', x, g, shape, { activation: 'sigmoid' });
    // the logits read as probabilities would give another number: refused, in process and on the command line
    await expect(reference('bce', x, g, shape)).rejects.toThrow(/outside \[0, 1\]: .*activation 'sigmoid' or 'softmax'/);
    const refused = segloss(['bce', '--pred', npy('logits.npy', x, shape), '--target', gFile, '--backend', 'cpu']);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/takes probabilities in \[0, 1\]: if they are logits, pass --activation sigmoid .* or --activation softmax/);
    expect(Math.abs(r.value - ref.value) / Math.abs(ref.value)).toBeLessThanOrEqual(VALUE_TOL);
    expectClose(readArray(out).data, ref.grad, GRAD_TOL);
  });

  test('FILE path with --param overrides and --region batch: tversky on webasm', async () => {
    const params = { alpha: 0.7, beta: 0.3 };
    const out = join(dir, 'tversky-grad.npy');
    const r = json(segloss(['losses/tversky.loss', '--pred', pFile, '--target', gFile, '--param', 'alpha=0.7', '--param', 'beta=0.3', '--region', 'batch', '--backend', 'webasm', '--grad', out, '--json']));
    const ref = await reference('tversky', p, g, shape, { params, region: 'batch' });
    const defaults = await reference('tversky', p, g, shape, { region: 'batch' });
    expect(Math.abs(defaults.value - ref.value)).toBeGreaterThan(1e-3); // the override matters
    expect(r).toMatchObject({ loss: 'tversky', backend: 'webasm' });
    expect(Math.abs(r.value - ref.value) / Math.abs(ref.value)).toBeLessThanOrEqual(VALUE_TOL);
    expectClose(readArray(out).data, ref.grad, GRAD_TOL);
  });

  // --activation softmax needs the codegen fix for class reductions nested in a
  // class loop (an inner max/sum reused the outer loop's load, so every softmax
  // was 1/C on the gpu.js backends); this test caught it.
  test('a 3-D volume (5-D array): dice on logits with --activation softmax, --region global, cpu', async () => {
    const vshape = [2, 6, 10, 8, 3]; // batch, z, y, x, class: 2880 cells
    const x = logits(vshape);
    const onehot = new Uint8Array(size(vshape));
    for (let i = 0; i < onehot.length; i += 3) onehot[i + Math.floor(rand() * 3)] = 1;
    const out = join(dir, 'vol-grad.npy');
    const r = json(segloss(['dice', '--pred', npy('vol-logits.npy', x, vshape), '--target', npy('vol-g.npy', onehot, vshape), '--activation', 'softmax', '--region', 'global', '--backend', 'cpu', '--grad', out, '--json']));
    const ref = await reference('dice', x, onehot, vshape, { activation: 'softmax', region: 'global' });
    expect(r).toMatchObject({ loss: 'dice', backend: 'cpu', shape: vshape });
    expect(Math.abs(r.value - ref.value) / Math.abs(ref.value)).toBeLessThanOrEqual(VALUE_TOL);
    const grad = readArray(out);
    expect(grad.shape).toEqual(vshape);
    expectClose(grad.data, ref.grad, GRAD_TOL);
  });
});

describe('segloss eval: errors are exit 2 with a clear message and no stack trace', () => {
  const shape = [1, 4, 4, 1];
  const pFile = npy('small-p.npy', probs(shape), shape);
  const gFile = npy('small-g.npy', mask(shape), shape);
  const noStack = (err: string) => expect(err).not.toMatch(/^\s+at /m);

  test('a missing file', () => {
    const r = segloss(['dice', '--pred', join(dir, 'nope.npy'), '--target', gFile]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`--pred: ${join(dir, 'nope.npy')}: no such file`);
    noStack(r.err);
  });

  test('a shape mismatch names both shapes', () => {
    const other = npy('other-g.npy', mask([1, 4, 5, 1]), [1, 4, 5, 1]);
    const r = segloss(['dice', '--pred', pFile, '--target', other]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('has shape [1, 4, 5, 1] but --pred');
    expect(r.err).toContain('has [1, 4, 4, 1]; they must match');
    noStack(r.err);
  });

  test('an unknown parameter is E214 from the formula, located in the library file', () => {
    const r = segloss(['dice', '--pred', pFile, '--target', gFile, '--param', 'alpha=0.3', '--backend', 'reference']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/losses\/dice\.loss:\d+:\d+: error\[E214\]: loss 'dice' has no parameter 'alpha'/);
    noStack(r.err);
  });

  test('an unknown --backend', () => {
    const r = segloss(['dice', '--pred', pFile, '--target', gFile, '--backend', 'cuda']);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`--backend is one of auto, ${BACKENDS.join(', ')}; got 'cuda'`);
    noStack(r.err);
  });

  test('a backend that cannot start (headlessgl without an X display) says what is missing, no fallback', () => {
    const env = { ...process.env };
    delete env.DISPLAY;
    const r = segloss(['dice', '--pred', pFile, '--target', gFile, '--backend', 'headlessgl', '--json'], env);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^segloss: backend 'headlessgl' cannot start here: .*(DISPLAY|gl)/);
    noStack(r.err);
  });
});

describe('readArray / writeArray (.npy through npyjs)', () => {
  // Oracle: the values written, and NumPy's header format spelled out by hand.
  test('float32 and float64 round trip with their element type; uint8 and bool read exactly', () => {
    const f32 = Float32Array.from([0.1, -2.5, 3e-8, 7]);
    const f64 = Float64Array.from([0.1, -2.5, 3e-300, 7]);
    writeArray(join(dir, 'rt32.npy'), f32, [2, 2]);
    writeArray(join(dir, 'rt64.npy'), f64, [4]);
    expect(readArray(join(dir, 'rt32.npy'))).toEqual({ data: f32, shape: [2, 2], dtype: 'float32' });
    expect(readArray(join(dir, 'rt64.npy'))).toEqual({ data: f64, shape: [4], dtype: 'float64' });
    const u8 = readArray(npy('u8.npy', Uint8Array.from([0, 1, 255]), [3]));
    expect(u8).toEqual({ data: Float32Array.from([0, 1, 255]), shape: [3], dtype: 'uint8' });
    const b1 = readFileSync(npy('b1.npy', Uint8Array.from([0, 1, 1]), [3])).toString('latin1').replace("'|u1'", "'|b1'");
    writeFileSync(join(dir, 'b1.npy'), Buffer.from(b1, 'latin1'));
    expect(readArray(join(dir, 'b1.npy'))).toEqual({ data: Float32Array.from([0, 1, 1]), shape: [3], dtype: 'bool' });
  });

  test('Fortran order is reordered to C order', () => {
    // column-major [[1, 2, 3], [4, 5, 6]] is 1 4 2 5 3 6
    const text = readFileSync(npy('f.npy', Float32Array.from([1, 4, 2, 5, 3, 6]), [2, 3])).toString('latin1').replace("'fortran_order':False", "'fortran_order':True ");
    writeFileSync(join(dir, 'f.npy'), Buffer.from(text, 'latin1'));
    expect(Array.from(readArray(join(dir, 'f.npy')).data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test('bad files are ArrayFileErrors that name the file and the problem', () => {
    const bad = (name: string, bytes: Uint8Array | string) => { writeFileSync(join(dir, name), bytes); return join(dir, name); };
    const good = readFileSync(npy('good.npy', Float32Array.from([1, 2, 3, 4]), [4]));
    const cases: [string, RegExp][] = [
      [bad('text.npy', 'hello'), /not a NumPy \.npy file/],
      [bad('short.npy', good.subarray(0, good.length - 4)), /truncated: shape \[4\] needs 4 elements, the file holds 3/],
      [bad('be.npy', Buffer.from(good.toString('latin1').replace("'<f4'", "'>f4'"), 'latin1')), /big-endian/],
      [bad('i8.npy', Buffer.from(good.toString('latin1').replace("'<f4'", "'<c8'"), 'latin1')), /unsupported element type '<c8'/],
      [join(dir, 'absent.npy'), /no such file/],
      [join(dir, 'x.tiff'), /unknown array format '\.tiff'/],
    ];
    for (const [path, why] of cases) {
      expect(() => readArray(path), path).toThrow(ArrayFileError);
      expect(() => readArray(path), path).toThrow(why);
    }
    expect(() => writeArray(join(dir, 'w.npy'), new Float32Array(3), [2, 2])).toThrow(/shape \[2, 2\] needs 4 elements, got 3/);
  });
});
