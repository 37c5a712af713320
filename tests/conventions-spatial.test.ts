// Two conventions of other libraries that the language reaches through its spatial ops:
// - clDice with the authors' (and MONAI's) soft_erode, the min of axis-wise 3-wide pools (erosion = 1,
//   the default; `minpool(x, cross(3))`), against their soft_skel/soft_cldice written here twice: in float64
//   (the value, windows with torch's −∞ padding by hand) and in TensorFlow.js (value, and gradient by autodiff);
// - Lovász hinge and softmax with segmentation_models.pytorch's per_image=False (`region batch`: one sort per
//   class over the flattened batch), against lovasz_hinge_flat / lovasz_softmax_flat written here in float64,
//   their gradient by the chain rule as torch's autograd takes it (the sort's permutation a constant), itself
//   checked by central differences.
// Oracles never call segloss. Also: axis-wise and cross pools on the IR against a first-max pool by hand and
// against the tfjs evaluator's autodiff (the `check` oracle), and the errors of the new forms.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, test } from 'vitest';
import * as B from '../src/compiler/core/build.ts';
import { frontend } from '../src/runtime/sources.ts';
import { emitModule } from '../src/tools/module.ts';
import { grad } from '../src/compiler/passes/diff.ts';
import { canonicalAxes, fromCanonical, sizesOf, toCanonical } from '../src/compiler/core/layout.ts';
import { rng } from '../src/tools/check.ts';
import { type CompiledLoss, load } from '../src/index.ts';
import { evaluate } from '../src/compiler/core/reference.ts';
import { edtRef, orders } from '../src/compiler/core/ops/f64-loops.ts';
import { tfValueAndGrad } from '../src/tools/tfjs-eval.ts';
import { tfjs } from '../src/tools/tfjs.ts';
import { F32_TOL, relErr } from './draw.ts';
import { softSkelTf } from './oracles.ts';

const tf = await tfjs('cpu');
type Params = Record<string, number | string | boolean>;

/** The largest error seen per oracle, printed at the end (the report quotes it). */
const worst = new Map<string, number>();
const note = (what: string, e: number) => worst.set(what, Math.max(worst.get(what) ?? 0, e));
afterAll(() => console.log(`largest relative errors:\n${[...worst].map(([k, v]) => `  ${k}: ${v.toExponential(2)}`).join('\n')}`));

const BACKENDS = ['reference', 'js'] as const;
const F64_TOL = 1e-10;

async function ours(name: string, params: Params, backend: 'reference' | 'js', x: Float32Array, g: Float32Array, shape: number[]) {
  const loss = await load(name, params as never, { backend, layout: 'nhwc' });
  const [wrt, target] = [loss.wrt, loss.inputs.find((i) => i.role === 'target')!.name];
  const r = await loss.valueAndGrad({ [wrt]: x, [target]: g }, shape);
  loss.dispose();
  return r;
}

// ------------------------------------------------------------------ clDice: float64

/** An NHWC shape as [B, D, H, W, C] (D = 1 in 2-D). */
const five = (shape: number[]) => (shape.length === 4 ? [shape[0]!, 1, shape[1]!, shape[2]!, shape[3]!] : shape);

/**
 * max (or min) over the window k = [kd, kh, kw] around each element, stride 1; torch's max_pool with padding
 * (k − 1)/2 pads with −∞, so a window partly outside the image takes the max of its in-image elements.
 */
function pool64(x: Float64Array, shape: number[], k: number[], min: boolean): Float64Array {
  const [B, D, H, W, C] = five(shape);
  const out = new Float64Array(x.length);
  const at = (b: number, d: number, h: number, w: number, c: number) => (((b * D! + d) * H! + h) * W! + w) * C! + c;
  for (let b = 0; b < B!; b++) for (let d = 0; d < D!; d++) for (let h = 0; h < H!; h++) for (let w = 0; w < W!; w++) for (let c = 0; c < C!; c++) {
    let m = min ? Infinity : -Infinity;
    for (let i = -(k[0]! - 1) / 2; i <= (k[0]! - 1) / 2; i++) for (let j = -(k[1]! - 1) / 2; j <= (k[1]! - 1) / 2; j++) for (let l = -(k[2]! - 1) / 2; l <= (k[2]! - 1) / 2; l++) {
      const [dd, hh, ww] = [d + i, h + j, w + l];
      if (dd < 0 || dd >= D! || hh < 0 || hh >= H! || ww < 0 || ww >= W!) continue;
      const v = x[at(b, dd, hh, ww, c)]!;
      m = min ? Math.min(m, v) : Math.max(m, v);
    }
    out[at(b, d, h, w, c)] = m;
  }
  return out;
}

/** The authors' soft_erode: min of the (3,1) and (1,3) pools (3-D: (3,1,1), (1,3,1), (1,1,3)); or the square one. */
function erode64(x: Float64Array, shape: number[], plus: boolean): Float64Array {
  const is3 = shape.length === 5;
  if (!plus) return pool64(x, shape, is3 ? [3, 3, 3] : [1, 3, 3], true);
  const arms = is3 ? [[3, 1, 1], [1, 3, 1], [1, 1, 3]] : [[1, 3, 1], [1, 1, 3]];
  return arms.map((k) => pool64(x, shape, k, true)).reduce((a, b) => a.map((v, i) => Math.min(v, b[i]!)));
}
const dilate64 = (x: Float64Array, shape: number[]) => pool64(x, shape, shape.length === 5 ? [3, 3, 3] : [1, 3, 3], false);
const relu = (v: number) => Math.max(v, 0);

/** soft_skel(img, iter_): skel = relu(img − open(img)); iter_ times: erode, delta = relu(img − open(img)), skel += relu(delta − skel·delta). */
function softSkel64(x0: Float64Array, shape: number[], iters: number, plus: boolean): Float64Array {
  const open = (v: Float64Array) => dilate64(erode64(v, shape, plus), shape);
  let x = x0;
  let o = open(x);
  let skel = x.map((v, i) => relu(v - o[i]!));
  for (let j = 0; j < iters; j++) {
    x = erode64(x, shape, plus);
    o = open(x);
    const delta = x.map((v, i) => relu(v - o[i]!));
    skel = skel.map((s, i) => s + relu(delta[i]! - s * delta[i]!));
  }
  return skel;
}

/**
 * soft_cldice: 1 − 2·tprec·tsens/(tprec + tsens), smooth 1. `per`: the group of each element whose sums
 * make one score (per sample and class: segloss's region sample), or −1 for an element left out (the
 * authors' [:, 1:] channel slice); the mean over the groups.
 */
function clDice64(p: Float64Array, g: Float64Array, shape: number[], o: { iters: number; plus: boolean; per: (i: number) => number; groups: number }): number {
  const sp = softSkel64(p, shape, o.iters, o.plus), sg = softSkel64(g, shape, o.iters, o.plus);
  const s = Array.from({ length: o.groups }, () => [0, 0, 0, 0]);
  for (let i = 0; i < p.length; i++) {
    const k = o.per(i);
    if (k < 0) continue;
    s[k]![0]! += sp[i]! * g[i]!; s[k]![1]! += sp[i]!; s[k]![2]! += sg[i]! * p[i]!; s[k]![3]! += sg[i]!;
  }
  const terms = s.map(([a, b, c, d]) => {
    const tprec = (a! + 1) / (b! + 1), tsens = (c! + 1) / (d! + 1);
    return 1 - (2 * tprec * tsens) / (tprec + tsens);
  });
  return terms.reduce((a, b) => a + b, 0) / terms.length;
}

// ------------------------------------------------------------------ clDice: TensorFlow.js

/** The authors' soft_skel on [B, D, H, W, C] (2-D cases have D = 1): tests/oracles.ts's, plus-shaped erosion. */
function skelTf(x: Tensor, is3: boolean, iters: number): Tensor {
  if (is3) return softSkelTf(tf, x, 3, iters, 1);
  const [B, D, H, W, C] = x.shape as number[];
  return tf.reshape(softSkelTf(tf, tf.reshape(x, [B! * D!, H!, W!, C!]), 2, iters, 1), x.shape);
}
/** soft_cldice in tfjs; `global`: the authors' sums over everything but channel 0, else per sample and class. */
function clDiceTf(p: Tensor, g: Tensor, is3: boolean, iters: number, global: boolean): Tensor {
  const sp = skelTf(p, is3, iters), sg = skelTf(g, is3, iters);
  const C = p.shape[4]!;
  const fg = (t: Tensor) => (global ? tf.slice(t, [0, 0, 0, 0, 1], [-1, -1, -1, -1, C - 1]) : t);
  const ax = global ? undefined : [1, 2, 3];
  const tprec = tf.div(tf.add(tf.sum(fg(tf.mul(sp, g)), ax), 1), tf.add(tf.sum(fg(sp), ax), 1));
  const tsens = tf.div(tf.add(tf.sum(fg(tf.mul(sg, p)), ax), 1), tf.add(tf.sum(fg(sg), ax), 1));
  return tf.mean(tf.sub(1, tf.div(tf.mul(2, tf.mul(tprec, tsens)), tf.add(tprec, tsens))));
}

// ------------------------------------------------------------------ clDice: cases

interface SkelCase { name: string; shape: number[]; target: 'blobs' | 'onehot' }
const SKEL_CASES: SkelCase[] = [
  { name: 'binary 2-D', shape: [2, 11, 10, 1], target: 'blobs' },
  { name: 'multi-class 2-D', shape: [2, 9, 8, 3], target: 'onehot' },
  { name: 'binary 3-D', shape: [2, 6, 7, 5, 1], target: 'blobs' },
  { name: 'two-class 3-D', shape: [1, 5, 6, 7, 2], target: 'onehot' },
];

/** NHWC float32 inputs: predictions near the target (skeletons need thick shapes), blobs or Voronoi-like labels. */
function skelInputs(c: SkelCase, seed: number): { p: Float32Array; g: Float32Array } {
  const r = rng(seed);
  const [B, D, H, W, C] = five(c.shape);
  const n = c.shape.reduce((a, b) => a * b, 1);
  const g = new Float32Array(n), p = new Float32Array(n);
  const at = (b: number, d: number, h: number, w: number, k: number) => (((b * D! + d) * H! + h) * W! + w) * C! + k;
  for (let b = 0; b < B!; b++) {
    const seeds = Array.from({ length: 3 }, () => [r() * D!, r() * H!, r() * W!, 1.5 + 2.5 * r()] as const);
    for (let d = 0; d < D!; d++) for (let h = 0; h < H!; h++) for (let w = 0; w < W!; w++) {
      const dist = seeds.map(([sd, sh, sw]) => Math.hypot(d - sd, h - sh, w - sw));
      if (c.target === 'blobs') g[at(b, d, h, w, 0)] = seeds.some(([, , , rad], i) => dist[i]! <= rad) ? 1 : 0;
      else g[at(b, d, h, w, dist.indexOf(Math.min(...dist)) % C!)] = 1;
    }
  }
  for (let i = 0; i < n; i++) p[i] = Math.fround(0.02 + 0.96 * (g[i] ? 0.3 + 0.7 * r() : 0.7 * r()));
  return { p, g };
}

describe('clDice: the authors\' plus-shaped soft_erode (erosion = 1, the default)', () => {
  const rows = SKEL_CASES.flatMap((c) => [
    { c, region: 'sample', iters: 3 },
    { c, region: 'sample', iters: 1 },
    // The authors' (and MONAI's) sums: over the batch and every channel but 0.
    ...(c.shape.at(-1)! > 1 ? [{ c, region: 'global', iters: 3 }] : []),
  ]);
  test.each(rows.map((r) => [r.c.name, r.region, r.iters, r] as const))('%s, region %s, %i iterations: value (float64, tfjs) and gradient (tfjs autodiff)', async (_n, _r, _i, { c, region, iters }) => {
    const { p, g } = skelInputs(c, 11);
    const is3 = c.shape.length === 5;
    const [, , , , C] = five(c.shape);
    const S = c.shape.slice(1, -1).reduce((a, b) => a * b, 1);
    const global = region === 'global';
    // NHWC element i: channel i % C, sample ⌊i / (S·C)⌋.
    const per = global ? (i: number) => (i % C! === 0 ? -1 : 0) : (i: number) => Math.floor(i / (S * C!)) * C! + (i % C!);
    const want64 = clDice64(Float64Array.from(p), Float64Array.from(g), c.shape, { iters, plus: true, per, groups: global ? 1 : c.shape[0]! * C! });
    const pt = tf.tensor(p, five(c.shape)), gt = tf.tensor(g, five(c.shape));
    const { value, grad: gtf } = tf.valueAndGrad((x: Tensor) => clDiceTf(x, gt, is3, iters, global) as Scalar)(pt);
    const wantTf = { value: value.dataSync()[0]!, grad: gtf.dataSync() };
    tf.dispose([pt, gt, value, gtf]);
    expect(relErr([wantTf.value], [want64])).toBeLessThanOrEqual(1e-6);
    const params: Params = { iterations: iters, ...(global ? { region: 'global', include_background: false } : {}) };
    for (const backend of BACKENDS) {
      const got = await ours('cldice', params, backend, p, g, c.shape);
      const eValue = relErr([got.value], [want64]);
      const eGrad = relErr(got.grad, wantTf.grad);
      note(`cldice ${backend} value vs float64`, eValue);
      note(`cldice ${backend} gradient vs tfjs`, eGrad);
      expect(eValue, `${backend} value`).toBeLessThanOrEqual(backend === 'reference' ? F64_TOL : F32_TOL);
      // tfjs runs float32: the reference's float64 gradient agrees to float32 rounding.
      expect(eGrad, `${backend} gradient`).toBeLessThanOrEqual(F32_TOL);
    }
  });

  test('erosion = 0 is the square window, and differs from the default on these shapes; dice_cldice passes erosion on', async () => {
    const c = SKEL_CASES[0]!;
    const { p, g } = skelInputs(c, 12);
    const S = c.shape.slice(1, -1).reduce((a, b) => a * b, 1);
    const o = { iters: 3, per: (i: number) => Math.floor(i / S), groups: c.shape[0]! };
    const [plus, square] = [true, false].map((q) => clDice64(Float64Array.from(p), Float64Array.from(g), c.shape, { ...o, plus: q }));
    expect(Math.abs(plus! - square!)).toBeGreaterThan(1e-3);
    expect(relErr([(await ours('cldice', { erosion: 0 }, 'reference', p, g, c.shape)).value], [square!])).toBeLessThanOrEqual(F64_TOL);
    expect(relErr([(await ours('cldice', {}, 'reference', p, g, c.shape)).value], [plus!])).toBeLessThanOrEqual(F64_TOL);
    // dice_cldice = (1 − α)·Dice + α·clDice, each term with its own erosion: alpha = 1 leaves clDice alone.
    for (const erosion of [0, 1]) {
      const v = (await ours('dice_cldice', { alpha: 1, erosion }, 'reference', p, g, c.shape)).value;
      expect(relErr([v], [erosion ? plus! : square!])).toBeLessThanOrEqual(F64_TOL);
    }
  });
});

// ------------------------------------------------------------------ pools on the IR

describe('axis-wise and cross pools: first-max gradient by hand, the tfjs evaluator, every window shape', () => {
  /** Canonical [B, C, (Z), Y, X] arrays: the first max of each window (row-major) gets the window's weight. */
  function byHand(x: Float64Array, w: Float64Array, dims: number[], k: number[]): { v: Float64Array; g: Float64Array } {
    const sp = dims.reduce((a, b) => a * b, 1);
    const st = dims.map((_, a) => dims.slice(a + 1).reduce((p, q) => p * q, 1));
    const v = new Float64Array(x.length), g = new Float64Array(x.length);
    for (let o = 0; o < x.length / sp; o++) for (let i = 0; i < sp; i++) {
      const c = dims.map((n, a) => Math.floor(i / st[a]!) % n);
      let best = -Infinity, at = -1;
      const visit = (a: number, j: number): void => {
        if (a === dims.length) { if (x[o * sp + j]! > best) { best = x[o * sp + j]!; at = j; } return; }
        const h = (k[a]! - 1) / 2;
        for (let d = -h; d <= h; d++) if (c[a]! + d >= 0 && c[a]! + d < dims[a]!) visit(a + 1, j + d * st[a]!);
      };
      visit(0, i);
      v[o * sp + i] = best;
      g[o * sp + at]! += w[o * sp + i]!;
    }
    return { v, g };
  }
  const CASES = [
    { dims: 2 as const, sizes: { batch: 2, class: 2, z: 1, y: 7, x: 6 } },
    { dims: 3 as const, sizes: { batch: 1, class: 2, z: 5, y: 4, x: 6 } },
  ];
  const rows = CASES.flatMap((c) => {
    const space = c.dims === 3 ? (['z', 'y', 'x'] as const) : (['y', 'x'] as const);
    const subsets = [...Array(2 ** space.length).keys()].slice(1).map((m) => space.filter((_, i) => m & (1 << i)));
    return subsets.flatMap((along) => [3, 5].map((k) => ({ c, space, along, k })));
  });
  test.each(rows.map((r) => [`${r.c.dims}-D`, r.along.join(','), r.k, r] as const))('%s maxpool[%s](x, %i)', async (_d, _a, _k, { c, space, along, k }) => {
    const axes = canonicalAxes(c.dims);
    const n = axes.reduce((a, ax) => a * c.sizes[ax], 1);
    const u = rng(k * 31 + along.length);
    const data = { x: Float64Array.from({ length: n }, () => Math.fround(2 * u() - 1)), w: Float64Array.from({ length: n }, () => Math.fround(2 * u() - 1)) };
    const x = B.input('x', axes);
    const pool = B.maxpool(x, k, [...space], [...along]);
    const L = B.sum(B.mul(B.input('w', axes), pool));
    const [v, g] = evaluate([pool, grad(L, x)], data, c.sizes);
    const want = byHand(data.x, data.w, space.map((a) => c.sizes[a]), space.map((a) => (along.includes(a) ? k : 1)));
    expect(relErr(v!.data, want.v)).toBe(0);
    expect(relErr(g!.data, want.g)).toBe(0);
    // The tfjs evaluator's autodiff (segloss check's oracle) through the registry's tfjs rule.
    const t = await tfValueAndGrad(L, 'x', data, c.sizes, c.dims);
    note('pool gradient, tfjs evaluator vs by hand', relErr(t.grad, want.g));
    expect(relErr(t.grad, want.g)).toBeLessThanOrEqual(1e-6);
  });

  test('maxpool(e, cross(k)) is the max of the axis-wise pools; minpool(e, cross(k)) their min; a cube is maxpool[space]', () => {
    const src = (body: string) => `loss t(p: prob, g: target)\n  = mean(g * ${body})`;
    const ir = (body: string, dims: 2 | 3 = 2) => {
      const r = frontend(src(body), 't.loss', { dims });
      expect(r.diagnostics.map((d) => d.message)).toEqual([]);
      return r.ir!.value;
    };
    expect(ir('maxpool(p, cross(3))')).toBe(ir('max(maxpool[y](p, 3), maxpool[x](p, 3))'));
    expect(ir('minpool(p, cross(5))', 3)).toBe(ir('min(min(minpool[z](p, 5), minpool[y](p, 5)), minpool[x](p, 5))', 3));
    expect(ir('maxpool[space](p, 3)')).toBe(ir('maxpool(p, 3)'));
    expect(ir('maxpool[y, x](p, 3)')).toBe(ir('maxpool(p, 3)'));
    expect(ir('minpool[x](p, cross(3))')).toBe(ir('minpool[x](p, 3)'));
  });

  test('errors: a pool along batch or class, a sort along class (region global), a bad cross', () => {
    const diags = (body: string, region: 'sample' | 'global' = 'sample') =>
      frontend(`loss t(p: prob, g: target)\n  = mean(${body})`, 't.loss', { dims: 2, region }).diagnostics.map((d) => `${d.code} ${d.message} | ${d.hint}`);
    expect(diags('maxpool[class](p, 3)')[0]).toMatch(/^E222 'maxpool' runs along spatial axes, not \(class\)/);
    expect(diags('minpool[batch, y](p, 3)')[0]).toMatch(/^E222 'minpool' runs along spatial axes, not \(batch, y\)/);
    expect(diags('sorted[region](p, p)', 'global')[0]).toMatch(/^E222 'sorted' runs along every spatial axis, or batch and every spatial axis, not \(batch, class, y, x\) \| it runs per class/);
    expect(diags('cumsum[class, space](p)')[0]).toMatch(/^E222 'cumsum'/);
    expect(diags('maxpool(p, cross(2))')[0]).toMatch(/^E221 a window width of 'cross' must be a constant odd integer/);
    expect(diags('maxpool(p, cross(3, 1))')[0]).toMatch(/^E203/);
  });
});

// ------------------------------------------------------------------ Lovász, per_image=False

/** smp's _lovasz_grad(gt_sorted): J_i − J_{i−1}, J_i = 1 − (gts − cumsum(gt))_i / (gts + cumsum(1 − gt))_i. */
function lovaszGrad64(gs: number[]): number[] {
  const gts = gs.reduce((a, b) => a + b, 0);
  let c1 = 0, c0 = 0;
  const jac = gs.map((v) => { c1 += v; c0 += 1 - v; return 1 - (gts - c1) / (gts + c0); });
  return jac.map((j, i) => (i === 0 ? j : j - jac[i - 1]!));
}

/** Indices in the order torch.sort(errors, descending=True) gives (stable here; the errors have no ties). */
const descending = (e: number[]) => e.map((_, i) => i).sort((a, b) => e[b]! - e[a]! || a - b);

/** lovasz_hinge_flat(logits, labels) over every pixel of the batch, and its gradient (the order a constant). */
function hingeFlat64(x: Float64Array, g: Float64Array): { value: number; grad: Float64Array } {
  const signs = Array.from(g, (v) => 2 * v - 1);
  const e = Array.from(x, (v, i) => 1 - v * signs[i]!);
  const perm = descending(e);
  const w = lovaszGrad64(perm.map((i) => g[i]!));
  const grad = new Float64Array(x.length);
  let value = 0;
  perm.forEach((i, k) => { value += relu(e[i]!) * w[k]!; grad[i] = (e[i]! > 0 ? w[k]! : 0) * -signs[i]!; });
  return { value, grad };
}

/** lovasz_softmax_flat(probas [P, C], labels, classes='present') over every pixel of the batch (NHWC order), and its gradient. */
function softmaxFlat64(p: Float64Array, g: Float64Array, C: number): { value: number; grad: Float64Array } {
  const P = p.length / C;
  const grad = new Float64Array(p.length);
  const losses: number[] = [];
  const parts: { idx: number[]; d: number[] }[] = [];
  for (let c = 0; c < C; c++) {
    const idx = Array.from({ length: P }, (_, i) => i * C + c);
    const fg = idx.map((i) => g[i]!);
    if (fg.every((v) => v === 0)) continue;
    const e = idx.map((i, j) => Math.abs(fg[j]! - p[i]!));
    const perm = descending(e);
    const w = lovaszGrad64(perm.map((j) => fg[j]!));
    losses.push(perm.reduce((a, j, k) => a + e[j]! * w[k]!, 0));
    // d|fg − p|/dp = sign(p − fg) (0 at 0, as torch's abs).
    const d = new Array<number>(P);
    perm.forEach((j, k) => { d[j] = w[k]! * Math.sign(p[idx[j]!]! - fg[j]!); });
    parts.push({ idx, d });
  }
  for (const { idx, d } of parts) idx.forEach((i, j) => { grad[i] = d[j]! / losses.length; });
  return { value: losses.length ? losses.reduce((a, b) => a + b, 0) / losses.length : 0, grad };
}

/** Central differences of f along a random direction u against ⟨∇f, u⟩: the oracle's own gradient. */
function checkDirectional(f: (x: Float64Array) => number, x: Float64Array, gradient: Float64Array, seed: number): number {
  const r = rng(seed);
  const u = Float64Array.from(x, () => 2 * r() - 1);
  const h = 1e-6;
  const fd = (f(x.map((v, i) => v + h * u[i]!)) - f(x.map((v, i) => v - h * u[i]!))) / (2 * h);
  return Math.abs(fd - gradient.reduce((a, gi, i) => a + gi * u[i]!, 0)) / Math.max(Math.abs(fd), 1e-12);
}

describe('Lovász with segmentation_models.pytorch\'s per_image=False: region batch', () => {
  const HINGE = [
    { name: 'binary 2-D', shape: [3, 6, 5, 1] },
    { name: 'binary 2-D, sample 0 empty', shape: [2, 7, 4, 1], empty0: true },
    { name: 'binary 3-D', shape: [2, 3, 4, 5, 1] },
  ];
  test.each(HINGE.map((c) => [c.name, c] as const))('lovasz_hinge, %s', async (_n, c) => {
    const r = rng(5);
    const n = c.shape.reduce((a, b) => a * b, 1);
    const per = n / c.shape[0]!;
    const x = Float32Array.from({ length: n }, () => 6 * r() - 3);
    const g = Float32Array.from({ length: n }, (_, i) => (c.empty0 && i < per ? 0 : r() < 0.4 ? 1 : 0));
    const want = hingeFlat64(Float64Array.from(x), Float64Array.from(g));
    note('lovasz_hinge oracle: its gradient vs central differences', checkDirectional((v) => hingeFlat64(v, Float64Array.from(g)).value, Float64Array.from(x), want.grad, 9));
    for (const backend of BACKENDS) {
      const got = await ours('lovasz_hinge', { region: 'batch' }, backend, x, g, c.shape);
      const e = Math.max(relErr([got.value], [want.value]), relErr(got.grad, want.grad));
      note(`lovasz_hinge region=batch ${backend} vs smp float64`, e);
      expect(e, backend).toBeLessThanOrEqual(backend === 'reference' ? F64_TOL : F32_TOL);
    }
    // Per image (the default) is another number: the batch's pixels are not one sort there.
    const sample = await ours('lovasz_hinge', {}, 'reference', x, g, c.shape);
    expect(Math.abs(sample.value - want.value)).toBeGreaterThan(1e-4);
  });

  const SOFTMAX = [
    // Class 3 absent from the whole batch, class 0 from sample 0 only: the present classes are the batch's.
    { name: '4 classes 2-D, one absent', shape: [2, 6, 5, 4], absent: [3], absent0: 0 },
    { name: '3 classes 3-D', shape: [2, 3, 4, 3, 3], absent: [] as number[] },
    { name: 'binary 2-D (one channel)', shape: [3, 5, 4, 1], absent: [] as number[] },
  ];
  test.each(SOFTMAX.map((c) => [c.name, c] as const))('lovasz_softmax, %s', async (_n, c) => {
    const r = rng(6);
    const n = c.shape.reduce((a, b) => a * b, 1);
    const C = c.shape.at(-1)!;
    const P = n / C, perSample = P / c.shape[0]!;
    const p = Float32Array.from({ length: n }, () => Math.fround(0.02 + 0.96 * r()));
    const g = new Float32Array(n);
    for (let i = 0; i < P; i++) {
      if (C === 1) { g[i] = r() < 0.4 ? 1 : 0; continue; }
      const allowed = [...Array(C).keys()].filter((k) => !c.absent.includes(k) && !(i < perSample && k === c.absent0));
      g[i * C + allowed[Math.floor(r() * allowed.length)]!] = 1;
    }
    const want = softmaxFlat64(Float64Array.from(p), Float64Array.from(g), C);
    note('lovasz_softmax oracle: its gradient vs central differences', checkDirectional((v) => softmaxFlat64(v, Float64Array.from(g), C).value, Float64Array.from(p), want.grad, 10));
    for (const backend of BACKENDS) {
      const got = await ours('lovasz_softmax', { region: 'batch' }, backend, p, g, c.shape);
      const e = Math.max(relErr([got.value], [want.value]), relErr(got.grad, want.grad));
      note(`lovasz_softmax region=batch ${backend} vs smp float64`, e);
      expect(e, backend).toBeLessThanOrEqual(backend === 'reference' ? F64_TOL : F32_TOL);
    }
    // The tfjs evaluator (check's oracle) through the registry's batch-wide sort and prefix sums.
    const fe = frontend(readFileSync('losses/lovasz_softmax.loss', 'utf8'), 'losses/lovasz_softmax.loss', { dims: c.shape.length === 5 ? 3 : 2, params: { region: 'batch' } });
    const { sizes, dims } = sizesOf(c.shape, 'nhwc');
    const t = await tfValueAndGrad(fe.ir!.value, 'p', { p: toCanonical(p, 'nhwc', sizes, dims), g: toCanonical(g, 'nhwc', sizes, dims) }, sizes, dims);
    const tg = fromCanonical(t.grad, 'nhwc', sizes, dims, (m) => new Float64Array(m));
    const e = Math.max(relErr([t.value], [want.value]), relErr(tg, want.grad));
    note('lovasz_softmax region=batch tfjs evaluator vs smp float64', e);
    expect(e).toBeLessThanOrEqual(F32_TOL);
  });

  test('the standalone module (segloss compile) runs the batch-wide sort as the reference does', async () => {
    const shape = [2, 5, 4, 3];
    const ref: CompiledLoss = await load('lovasz_softmax', { region: 'batch' }, { backend: 'reference', layout: 'nhwc' });
    const { source } = await emitModule(ref, shape, 'js');
    const dir = mkdtempSync(join(tmpdir(), 'segloss-conv-'));
    try {
      const file = join(dir, 'm.mjs');
      writeFileSync(file, source);
      const m = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as { valueAndGrad(x: Record<string, Float32Array>): { value: number; grad: Float32Array } };
      const r = rng(8);
      const n = shape.reduce((a, b) => a * b, 1);
      const p = Float32Array.from({ length: n }, () => Math.fround(0.02 + 0.96 * r()));
      const g = new Float32Array(n);
      for (let i = 0; i < n / 3; i++) g[i * 3 + Math.floor(r() * 2)] = 1;
      const want = softmaxFlat64(Float64Array.from(p), Float64Array.from(g), 3);
      const got = m.valueAndGrad({ p, g });
      const e = Math.max(relErr([got.value], [want.value]), relErr(got.grad, want.grad));
      note('lovasz_softmax region=batch standalone module vs smp float64', e);
      expect(e).toBeLessThanOrEqual(F32_TOL);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      ref.dispose();
    }
  });

  test('region global is an error that says why, once', () => {
    for (const name of ['lovasz_softmax', 'lovasz_hinge']) {
      const file = `losses/${name}.loss`;
      const fe = frontend(readFileSync(file, 'utf8'), file, { dims: 2, params: { region: 'global' } });
      const e222 = fe.diagnostics.filter((d) => d.code === 'E222');
      expect(e222.map((d) => `${d.message} | ${d.hint}`)).toEqual([
        "'sorted' runs along every spatial axis, or batch and every spatial axis, not (batch, class, y, x) | it runs per class: a sort over class would mix the classes (a Lovász loss sorts each class apart); region batch sorts each class across the batch",
      ]);
    }
  });
});

describe('the sort of host steps (Lovász): a radix sort from 1,024 keys up', () => {
  // Oracle: the comparison sort the radix sort replaced (key descending, ties by index), on keys that
  // exercise its paths: float32 keys (one word, three passes), float64 keys (two words), many ties, ±0,
  // negatives and denormals, and slices joined across the batch.
  const comparison = (key: Float64Array, sl: Int32Array) => Int32Array.from(sl).sort((a, b) => key[b]! - key[a]! || a - b);
  let seed = 7;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  const kinds: Record<string, () => number> = {
    float32: () => Math.fround(rnd() * 8 - 4),
    float64: () => (rnd() - 0.5) * 1e12,
    ties: () => Math.floor(rnd() * 5) - 2,
    zeros: () => [0, -0, 1e-310, -1e-310, -5e-324][Math.floor(rnd() * 5)]!,
    wide: () => (rnd() < 0.5 ? -1 : 1) * 2 ** Math.floor(rnd() * 200 - 100) * rnd(),
  };
  test.each(Object.keys(kinds))('%s keys: the same order as the comparison sort', (kind) => {
    for (const n of [1024, 5000, 70000]) {
      const key = Float64Array.from({ length: 2 * n }, kinds[kind]!);
      // Two slices, as two images of a batch are.
      const slices = [Int32Array.from({ length: n }, (_, i) => i), Int32Array.from({ length: n }, (_, i) => n + i)];
      const got = orders(key, slices);
      slices.forEach((sl, s) => expect(got[s]).toEqual(comparison(key, sl)));
    }
  });
});

test('a sort by the same keys again gives the kept orders; keys changed in one element are sorted anew', () => {
  const n = 5000;
  const key = Float64Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * 12.9898) * 43758.5453 % 1));
  const sl = [Int32Array.from({ length: n }, (_, i) => i)];
  const comparison = (k: Float64Array) => Int32Array.from(sl[0]!).sort((a, b) => k[b]! - k[a]! || a - b);
  const first = orders(key, sl);
  expect(orders(Float64Array.from(key), sl.map((x) => Int32Array.from(x)))).toBe(first);
  const top = first[0]![0]!;
  const changed = Float64Array.from(key);
  changed[top] = -5;
  const again = orders(changed, sl);
  expect(again).not.toBe(first);
  expect(again[0]).toEqual(comparison(changed));
  expect(again[0]![n - 1]).toBe(top);
});

describe('the exact distance transform of host steps (Hausdorff DT, boundary losses)', () => {
  // Oracle: brute force, the distance from each foreground element (m > 0.5) to every background one of
  // its slice; 0 on the background, and 0 in a slice with no background.
  const brute = (m: Float64Array, outer: number, dims: readonly number[]) => {
    const sp = dims.reduce((a, b) => a * b, 1);
    const coord = (i: number) => { const c: number[] = []; for (let a = dims.length - 1; a >= 0; a--) { c.unshift(i % dims[a]!); i = Math.floor(i / dims[a]!); } return c; };
    const out = new Float64Array(m.length);
    for (let o = 0; o < outer; o++) {
      const bg = [...Array(sp).keys()].filter((j) => !(m[o * sp + j]! > 0.5)).map(coord);
      if (!bg.length) continue;
      for (let i = 0; i < sp; i++) {
        if (!(m[o * sp + i]! > 0.5)) continue;
        const ci = coord(i);
        out[o * sp + i] = Math.sqrt(Math.min(...bg.map((cj) => cj.reduce((s, x, a) => s + (x - ci[a]!) ** 2, 0))));
      }
    }
    return out;
  };
  let seed = 11;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  const cases: [number, number[]][] = [[3, [7, 13]], [2, [16, 9]], [1, [5, 6, 7]], [2, [1, 9]], [2, [9, 1]], [1, [4, 4, 1]]];
  test.each(cases)('%i slices of %j: equal to brute force', (outer, dims) => {
    const n = outer * dims.reduce((a, b) => a * b, 1);
    for (const density of [0.05, 0.5, 0.95, 1]) {
      const m = Float64Array.from({ length: n }, () => (rnd() < density ? 0.5 + rnd() / 2 + 1e-9 : rnd() / 2));
      expect(Array.from(edtRef(m, outer, dims))).toEqual(Array.from(brute(m, outer, dims)));
    }
  });
});
