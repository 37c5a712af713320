// The on-device bridge (`toTfjsDevice`): the loss value and the compiler's symbolic gradient evaluated
// as tfjs ops inside tf.customGrad, with no host round trip.
//
// Oracles:
// - tfjs autodiff of the same formula: the lowered, unsimplified objective built with the records'
//   tfjs rules (tools/tfjs-eval.ts) and differentiated by tf.valueAndGrad: independent of diff.ts and
//   simplify.ts, which produce the gradient the device path evaluates;
// - the kernel path: `toTfjs` over the same loss on the js backend (the compiled kernels, float32).
// Every library loss the device path supports is checked against both, on the cases `segloss check`
// uses (binary 2-D, multi-class 2-D, binary 3-D; bigger images for windows and scale levels); every
// other library loss must be refused at toTfjsDevice time with an error naming the op.

import { builtinModules } from 'node:module';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Scalar, Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { build } from 'esbuild';
import { afterAll, describe, expect, test } from 'vitest';
import { relErr } from './draw.ts';
import { toposort } from '../src/compiler/core/ir.ts';
import { fromCanonical, sizesOf, toCanonical } from '../src/compiler/core/layout.ts';
import { record } from '../src/compiler/core/ops/index.ts';
import { DEVICE_UNSUPPORTED } from '../src/compiler/core/tf-graph.ts';
import { type CompiledLoss, LIBRARY_DIR, load, toTfjs, toTfjsDevice } from '../src/index.ts';
import { CHECK_CASES, MULTISCALE_CHECK_CASES, SPATIAL_CHECK_CASES, randomInputs, rng } from '../src/tools/check.ts';
import { tfValueAndGrad } from '../src/tools/tfjs-eval.ts';
import { tfjs } from '../src/tools/tfjs.ts';

const tf = await tfjs('cpu');

// Tolerances, norm-wise (max|a − b| / max|b|). Both sides are tfjs-cpu float32 on the same float32
// inputs, but different formulas: autodiff of the lowered objective vs the simplified symbolic
// gradient (reassociated sums, cancelled factors, stable forms), so they round differently: ~1e-7
// per op, grown by sums of up to ~1000 terms and by cancellation (1 − Dice). `segloss check` allows
// 2e-4 between our float64 gradient and tfjs's; the same bound here (observed: see the log lines).
// A wrong sign, a transposed layout or a missing term is off by 1e-2 or more.
const TOL_ORACLE = 2e-4;
// Against the kernels (float32 on the js backend, the same simplified graph, different summation
// order): `segloss check`'s kernel tolerance.
const TOL_KERNELS = 5e-5;

const relVal = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);

/**
 * Runs `f` (whose tensor work is synchronous) and fails if it read a tensor back to the host: tfjs's
 * engine.readSync is what dataSync and arraySync call. An op whose tfjs rule reads the host (as the
 * oracle's sort and distance transform do) would show here.
 */
function noReadBack<T>(f: () => T, what: string): T {
  const engine = tf.engine() as unknown as { readSync: (...a: unknown[]) => unknown };
  const readSync = engine.readSync;
  let reads = 0;
  engine.readSync = function (this: unknown, ...a: unknown[]) { reads++; return readSync.apply(this, a); };
  try { return f(); } finally {
    engine.readSync = readSync;
    expect(reads, `${what}: tensors read back to the host`).toBe(0);
  }
}

const NAMES = readdirSync(LIBRARY_DIR).filter((f) => f.endsWith('.loss')).map((f) => f.slice(0, -5)).sort();
const compiled: CompiledLoss[] = [];
afterAll(() => { for (const l of compiled) l.dispose(); });

/** The library losses whose graphs (value and gradient, 2-D) use an op with no on-device form. */
async function unsupportedOps(l: CompiledLoss): Promise<string[]> {
  const ir = l.ir(2);
  return [...new Set(toposort([ir.value, ir.grad]).map((n) => n.op).filter((op) => DEVICE_UNSUPPORTED[op] !== undefined))];
}

describe('every library loss: value and gradient on the device', () => {
  const supported: string[] = [];
  const refused: string[] = [];
  afterAll(() => console.log(`[tfjs-device] supported (${supported.length}): ${supported.join(' ')}\n[tfjs-device] refused (${refused.length}): ${refused.join(' ')}`));

  for (const name of NAMES) {
    test(name, async () => {
      const loss = await load(name, {}, { backend: 'js', layout: 'nhwc' });
      compiled.push(loss);
      const bad = await unsupportedOps(loss);
      if (bad.length) {
        // Refused, naming each op, pointing at toTfjs; never a silent fallback.
        let err: unknown;
        try { toTfjsDevice(loss); } catch (e) { err = e; }
        expect(err).toBeInstanceOf(Error);
        for (const op of bad) expect((err as Error).message).toContain(`op '${op}'`);
        expect((err as Error).message).toContain('toTfjs');
        refused.push(`${name}(${bad.join(',')})`);
        return;
      }
      supported.push(name);
      const device = toTfjsDevice(loss);
      const kernels = await toTfjs(loss);
      const wants = new Set(toposort([loss.ir(2).objective]).map((n) => record(n.op).checkImages));
      // Scale levels: the smaller two of check's cases (its 165x170 image takes the tfjs-cpu oracle 40 s here).
      const cases = wants.has('multiscale') ? MULTISCALE_CHECK_CASES.slice(1) : wants.has('wide') ? SPATIAL_CHECK_CASES : CHECK_CASES;
      let worstO = 0, worstK = 0, nonzero = 0;
      for (const [k, c] of cases.entries()) {
        const { sizes, dims } = sizesOf(c.shape, 'nhwc');
        const ir = loss.ir(dims);
        const wrt = ir.loss.wrt.name;
        const target = ir.loss.inputs.find((i) => i.role === 'target')!.name;
        const canon = randomInputs(ir.loss.inputs, sizes, dims, c.multiclass, 1234 + k);
        // Float32 on every side: the oracle reads the same rounded numbers.
        for (const key of Object.keys(canon)) canon[key] = Float64Array.from(Float32Array.from(canon[key]!));
        const oracle = await tfValueAndGrad(ir.objective, wrt, canon, sizes, dims);
        if (oracle.grad.some((v) => v !== 0)) nonzero++;
        const nhwc = (a: ArrayLike<number>) => fromCanonical(a, 'nhwc', sizes, dims, (n) => new Float32Array(n));
        const yPred = tf.tensor(nhwc(canon[wrt]!), c.shape);
        const yTrue = tf.tensor(nhwc(canon[target]!), c.shape);
        const dev = await noReadBack(() => device.valueAndGrad(yTrue, yPred), `${name} ${c.name}`);
        const ker = await kernels.valueAndGrad(yTrue, yPred);
        const dv = (await dev.value.data())[0]!, dg = await dev.grad.data();
        const kv = (await ker.value.data())[0]!, kg = await ker.grad.data();
        tf.dispose([yPred, yTrue, dev.value, dev.grad, ker.value, ker.grad]);
        const eO = Math.max(relVal(dv, oracle.value), relErr(toCanonical(dg, 'nhwc', sizes, dims), oracle.grad));
        const eK = Math.max(relVal(dv, kv), relErr(dg, kg));
        worstO = Math.max(worstO, eO);
        worstK = Math.max(worstK, eK);
        expect(eO, `${name} ${c.name}: device vs tfjs autodiff`).toBeLessThan(TOL_ORACLE);
        expect(eK, `${name} ${c.name}: device vs kernels`).toBeLessThan(TOL_KERNELS);
      }
      // A zero gradient would match anything (relErr's scale): each loss has a case where it is not (one-class
      // softmax losses and MS-SSIM's smallest images have none in some cases).
      expect(nonzero, `${name}: the oracle's gradient is zero in every case`).toBeGreaterThan(0);
      console.log(`[tfjs-device] ${name}: vs tfjs autodiff ${worstO.toExponential(1)}, vs kernels ${worstK.toExponential(1)}`);
      device.dispose();
    }, 120_000);
  }
});

describe('training on the device', () => {
  test('a 1x1 conv + sigmoid trained with Adam on the device path: the Dice loss falls; its weight gradients equal the kernel path\'s', async () => {
    const loss = await load('dice', {}, { backend: 'js', layout: 'nhwc' });
    compiled.push(loss);
    const device = toTfjsDevice(loss);
    const kernels = await toTfjs(loss);
    const r = rng(7);
    const shape = [4, 16, 16, 1];
    const x = tf.tensor4d(Float32Array.from({ length: 4 * 16 * 16 * 2 }, () => r() * 2 - 1), [4, 16, 16, 2]);
    // The target is a linear threshold of x: learnable by a 1x1 conv.
    const g = tf.tidy(() => tf.cast(tf.greater(tf.sum(tf.mul(x, tf.tensor1d([1.5, -1])), -1, true), 0.1), 'float32')) as Tensor4D;
    const w = tf.variable(tf.tensor4d([0.1, 0.05], [1, 1, 2, 1]));
    const b = tf.variable(tf.scalar(0));
    const predict = () => tf.sigmoid(tf.add(tf.conv2d(x, w as unknown as Tensor4D, 1, 'same'), b)) as Tensor;
    expect(predict().shape).toEqual(shape);

    // One step's weight gradients, both paths.
    const dGrads = await device.variableGrads(predict, g, [w, b]);
    const kGrads = await kernels.variableGrads(predict, g, [w, b]);
    expect(relVal(dGrads.value, kGrads.value)).toBeLessThan(TOL_KERNELS);
    const flat = async (m: Record<string, Tensor>) => Float32Array.from([...(await m[w.name]!.data()), ...(await m[b.name]!.data())]);
    expect(relErr(await flat(dGrads.grads), await flat(kGrads.grads))).toBeLessThan(TOL_KERNELS);
    tf.dispose([...Object.values(dGrads.grads), ...Object.values(kGrads.grads)]);

    // optimizer.minimize through the sync call, as any tfjs training loop.
    const opt = tf.train.adam(0.05);
    const curve: number[] = [];
    for (let step = 0; step < 25; step++) {
      const v = opt.minimize(() => device(g, predict()) as Scalar, true, [w, b])!;
      curve.push((await v.data())[0]!);
      v.dispose();
    }
    console.log(`[tfjs-device] dice training: ${curve[0]!.toFixed(4)} -> ${curve.at(-1)!.toFixed(4)}`);
    expect(curve.at(-1)!).toBeLessThan(curve[0]! * 0.8);
    // No host round trip: a training step reads no tensor back (engine.readSync is what dataSync calls, and
    // the kernel path's step does call it, which shows the spy sees such reads).
    const engine = tf.engine() as unknown as { readSync: (...a: unknown[]) => unknown };
    const readSync = engine.readSync;
    let reads = 0;
    engine.readSync = function (this: unknown, ...a: unknown[]) { reads++; return readSync.apply(this, a); };
    try {
      opt.minimize(() => device(g, predict()) as Scalar, false, [w, b]);
      expect(reads, 'readSync calls in a device-path step').toBe(0);
      opt.minimize(() => kernels(g, predict()) as Scalar, false, [w, b]);
      expect(reads, 'readSync calls in a kernel-path step').toBeGreaterThan(0);
    } finally {
      engine.readSync = readSync;
    }
    // No tensor leaks per step: one more step leaves the count where it was.
    const before = tf.memory().numTensors;
    tf.dispose(opt.minimize(() => device(g, predict()) as Scalar, true, [w, b])!);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, g, w, b]);
    opt.dispose();
    device.dispose();
  });
});

describe('what yTrue carries, and reduction none', () => {
  test('a label map with an ignore index (nnU-Net style dice_ce on logits): device equals kernels', async () => {
    const loss = await load('dice_ce', { activation: 'softmax', ignore_index: 255 }, { backend: 'js', layout: 'nhwc' });
    compiled.push(loss);
    const device = toTfjsDevice(loss);
    const kernels = await toTfjs(loss);
    const r = rng(3);
    const labels = tf.tensor3d(Int32Array.from({ length: 2 * 6 * 5 }, () => { const u = r(); return u < 0.15 ? 255 : Math.floor(u * 3); }), [2, 6, 5], 'int32');
    const logits = tf.tensor4d(Float32Array.from({ length: 2 * 6 * 5 * 3 }, () => 6 * r() - 3), [2, 6, 5, 3]);
    for (const yTrue of [labels, tf.reshape(labels, [2, 6, 5, 1])]) {
      const d = await device.valueAndGrad(yTrue, logits);
      const k = await kernels.valueAndGrad(yTrue, logits);
      expect(relVal((await d.value.data())[0]!, (await k.value.data())[0]!)).toBeLessThan(TOL_KERNELS);
      expect(relErr(await d.grad.data(), await k.grad.data())).toBeLessThan(TOL_KERNELS);
      tf.dispose([d.value, d.grad, k.value, k.grad]);
    }
    device.dispose();
  });

  test('a mask channel (dice, { mask: true }): device equals kernels', async () => {
    const loss = await load('dice', { mask: true }, { backend: 'js', layout: 'nhwc' });
    compiled.push(loss);
    const device = toTfjsDevice(loss, { maskChannel: true });
    const kernels = await toTfjs(loss, { maskChannel: true });
    const r = rng(5);
    const yTrue = tf.tensor4d(Float32Array.from({ length: 2 * 6 * 5 * 3 }, (_, i) => (i % 3 === 2 ? (r() < 0.7 ? 1 : 0) : r() < 0.4 ? 1 : 0)), [2, 6, 5, 3]);
    const yPred = tf.tensor4d(Float32Array.from({ length: 2 * 6 * 5 * 2 }, () => 0.02 + 0.96 * r()), [2, 6, 5, 2]);
    const d = await device.valueAndGrad(yTrue, yPred);
    const k = await kernels.valueAndGrad(yTrue, yPred);
    expect(relVal((await d.value.data())[0]!, (await k.value.data())[0]!)).toBeLessThan(TOL_KERNELS);
    expect(relErr(await d.grad.data(), await k.grad.data())).toBeLessThan(TOL_KERNELS);
    device.dispose();
  });

  test("reduction 'none': per-item values equal the kernels'; the gradient of Σ w·values (sample weights) equals tfjs autodiff of the oracle graph", async () => {
    for (const name of ['dice', 'bce']) {
      const loss = await load(name, { reduction: 'none' }, { backend: 'js', layout: 'nhwc' });
      compiled.push(loss);
      const device = toTfjsDevice(loss);
      const kernels = await toTfjs(loss);
      const shape = [2, 6, 5, 2];
      const { sizes, dims } = sizesOf(shape, 'nhwc');
      const ir = loss.ir(dims);
      const canon = randomInputs(ir.loss.inputs, sizes, dims, true, 11);
      for (const key of Object.keys(canon)) canon[key] = Float64Array.from(Float32Array.from(canon[key]!));
      const nhwc = (a: ArrayLike<number>) => fromCanonical(a, 'nhwc', sizes, dims, (n) => new Float32Array(n));
      const yPred = tf.tensor(nhwc(canon.p!), shape), yTrue = tf.tensor(nhwc(canon.g!), shape);
      const dv = device(yTrue, yPred);
      const kv = await kernels.valueAndGrad(yTrue, yPred);
      expect(dv.shape).toEqual(device.valuesShape(shape));
      expect(relErr(await dv.data(), await kv.values!.data())).toBeLessThan(TOL_KERNELS);
      // Per-item weights: d Σ w_i v_i / d yPred, on the device (the weighted symbolic gradient) vs
      // tfjs autodiff of the same weighted sum of the oracle graph's values (through the bridge's
      // own values, so the oracle differentiates tf ops of the records' tfjs rules).
      const w = tf.tensor(Float32Array.from({ length: dv.size }, (_, i) => 0.5 + (i % 5) / 3), dv.shape);
      const dGrad = tf.grad((p: Tensor) => tf.sum(tf.mul(w, device(yTrue, p))) as Scalar)(yPred);
      // The oracle: tfjs autodiff through the kernel path is not exact under per-item weights for region
      // losses (it refuses them); so the oracle is tfjs autodiff of tfjs-eval's values graph.
      const { tfBuild, tfContext } = await import('../src/compiler/core/tf-graph.ts');
      const ctx = tfContext(tf, sizes, dims);
      const full = ctx.shape(['batch', 'class', 'y', 'x']);
      const consts = { g: tf.tensor(Float32Array.from(canon.g!), full) };
      const valuesNode = ir.values!;
      const wCanon = valuesNode.axes.length === 4 ? tf.transpose(w, [0, 3, 1, 2]) : tf.reshape(w, ctx.shape(valuesNode.axes));
      const oGrad = tf.grad((p: Tensor) => tf.sum(tf.mul(wCanon, tfBuild(tf, [valuesNode], (n) => (n === 'p' ? p : consts.g), ctx)[0]!)) as Scalar)(tf.tensor(Float32Array.from(canon.p!), full));
      expect(relErr(toCanonical(await dGrad.data(), 'nhwc', sizes, dims), await oGrad.data()), name).toBeLessThan(TOL_ORACLE);
      device.dispose();
    }
  });
});

describe('layouts and calls without a tape', () => {
  test('nchw (dice_focal, 3 classes, 2-D and 3-D): device equals kernels; a call outside a tape gives the same value and leaks no tensor', async () => {
    const loss = await load('dice_focal', {}, { backend: 'js', layout: 'nchw' });
    compiled.push(loss);
    const device = toTfjsDevice(loss, { layout: 'nchw' });
    const kernels = await toTfjs(loss, { layout: 'nchw' });
    const r = rng(17);
    for (const shape of [[2, 3, 6, 5], [1, 3, 4, 5, 3]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const pix = n / 3;
      // One-hot along axis 1 (nchw): pixel j of sample b has class k at (b·3 + k)·pix/B + j.
      const labels = Array.from({ length: pix }, () => Math.floor(r() * 3));
      const per = pix / shape[0]!;
      const g = new Float32Array(n);
      labels.forEach((k, i) => { const b = Math.floor(i / per), j = i % per; g[(b * 3 + k) * per + j] = 1; });
      const yTrue = tf.tensor(g, shape);
      const yPred = tf.tensor(Float32Array.from({ length: n }, () => 0.02 + 0.96 * r()), shape);
      const d = await device.valueAndGrad(yTrue, yPred);
      const k = await kernels.valueAndGrad(yTrue, yPred);
      const dv = (await d.value.data())[0]!;
      expect(relVal(dv, (await k.value.data())[0]!)).toBeLessThan(TOL_KERNELS);
      expect(relErr(await d.grad.data(), await k.grad.data())).toBeLessThan(TOL_KERNELS);
      tf.dispose([d.value, d.grad, k.value, k.grad]);
      // Without a tape only the value is built; the kept constants are made by the first call of a shape.
      const before = tf.memory().numTensors;
      const v = device(yTrue, yPred);
      expect(relVal((await v.data())[0]!, dv)).toBeLessThan(1e-6);
      v.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
    device.dispose();
  });
});

describe('ties', () => {
  // Quantized predictions tie inside max-pool windows (clDice's soft skeleton) and in sort keys (Lovász):
  // the device forms must break ties as the kernels do (the first tap in scan order; the stable order).
  for (const name of ['cldice', 'lovasz_hinge']) {
    test(`${name} on predictions of two values: device equals kernels`, async () => {
      const loss = await load(name, {}, { backend: 'js', layout: 'nhwc' });
      compiled.push(loss);
      const device = toTfjsDevice(loss);
      const kernels = await toTfjs(loss);
      const r = rng(13);
      const n = 2 * 12 * 11;
      const logits = name.startsWith('lovasz');
      const yPred = tf.tensor4d(Float32Array.from({ length: n }, () => (r() < 0.5 ? (logits ? -1 : 0.25) : logits ? 2 : 0.75)), [2, 12, 11, 1]);
      const yTrue = tf.tensor4d(Float32Array.from({ length: n }, () => (r() < 0.4 ? 1 : 0)), [2, 12, 11, 1]);
      const d = await device.valueAndGrad(yTrue, yPred);
      const k = await kernels.valueAndGrad(yTrue, yPred);
      expect(relVal((await d.value.data())[0]!, (await k.value.data())[0]!)).toBeLessThan(TOL_KERNELS);
      expect(relErr(await d.grad.data(), await k.grad.data())).toBeLessThan(TOL_KERNELS);
      device.dispose();
    });
  }
});

describe('importable without Node built-ins', () => {
  test("esbuild --platform=browser of src/tfjs.ts ('segloss/tfjs': both bridges; tfjs external) reads no Node built-in", async () => {
    const out = await build({ entryPoints: ['src/tfjs.ts'], bundle: true, platform: 'browser', format: 'esm', write: false, metafile: true, logLevel: 'silent', external: ['@tensorflow/tfjs-core'] });
    expect(out.errors).toEqual([]);
    const inputs = Object.keys(out.metafile.inputs);
    expect(inputs.filter((p) => p.startsWith('node:') || builtinModules.includes(p))).toEqual([]);
    expect(inputs.some((p) => p.includes('runtime/loss.ts') || p.includes('backends/'))).toBe(false);
  });

  test('a browser-style source (compileIR of the formula text, no CompiledLoss) works as the loss', async () => {
    const { compileIR } = await import('../src/compiler/index.ts');
    const { readFileSync } = await import('node:fs');
    // As a page would: the texts in a map, a SourceHost over it for `use "dice.loss"`.
    const texts = new Map(['tversky.loss', 'dice.loss'].map((f) => [f, readFileSync(join(LIBRARY_DIR, f), 'utf8')]));
    const host = {
      locate: (path: string) => ({ file: path, key: path }),
      read: (file: string) => (texts.has(file) ? { text: texts.get(file)! } : { why: 'not in the page' }),
      show: (key: string) => key,
    };
    const source = { name: 'tversky', ir: (dims: 2 | 3) => compileIR(texts.get('tversky.loss')!, 'tversky.loss', { dims, host }).ir! };
    const fn = toTfjsDevice(source);
    const loss = await load('tversky', {}, { backend: 'js', layout: 'nhwc' });
    compiled.push(loss);
    const kernels = await toTfjs(loss);
    const r = rng(9);
    const yTrue = tf.tensor4d(Float32Array.from({ length: 2 * 6 * 5 }, () => (r() < 0.4 ? 1 : 0)), [2, 6, 5, 1]);
    const yPred = tf.tensor4d(Float32Array.from({ length: 2 * 6 * 5 }, () => 0.02 + 0.96 * r()), [2, 6, 5, 1]);
    const d = await fn.valueAndGrad(yTrue, yPred);
    const k = await kernels.valueAndGrad(yTrue, yPred);
    expect(relVal((await d.value.data())[0]!, (await k.value.data())[0]!)).toBeLessThan(TOL_KERNELS);
    expect(relErr(await d.grad.data(), await k.grad.data())).toBeLessThan(TOL_KERNELS);
  });
});
