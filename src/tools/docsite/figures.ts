// The pictures of a loss page, computed by the float64 reference backend:
//  - the loss on one pixel against the prediction (for target 1 and 0);
//  - the loss on a 32x32 image against how far the prediction is shifted off
//    the target (a disc), for a sharp and a soft prediction: the picture that
//    means something for windowed (SSIM), distance (boundary, Hausdorff),
//    skeleton (clDice) and image-level (balanced CE) losses;
//  - the gradient on that image as a heatmap.
// A figure whose data is constant says nothing: it is left out, with a sentence
// saying why. A loss constant on one channel (softmax over one class) is drawn
// on two: background 1 - p and foreground p.

import { readFileSync } from 'node:fs';
import type { LoweredLoss } from '../../compiler/lower/lower.ts';
import { compile } from '../../runtime/loss.ts';
import { esc } from './text.ts';
import { heatmap, linePlot } from './svg.ts';

/** Which figures a page got: for the report and the tests. */
export interface FigureKinds { pixel: string; shift: string; gradient: string }

const N = 32, R = 9;
/** Where the heatmap's prediction sits: the first of these at which the gradient is not zero everywhere. */
const GRAD_SHIFTS: readonly (readonly [number, number])[] = [[3, 2], [6, 4], [9, 6]];
const SHIFTS = Array.from({ length: 13 }, (_, k) => k);

/** Finite and not all equal (relative to their size). */
export function varies(ys: readonly number[]): boolean {
  const f = ys.filter(Number.isFinite);
  if (f.length < 2) return false;
  const lo = Math.min(...f), hi = Math.max(...f);
  return hi - lo > 1e-9 * Math.max(1, Math.abs(hi), Math.abs(lo));
}

/** Prediction and target of one pixel or an image on C channels (C = 2: background, foreground). */
function channels(fg: Float64Array, C: number): Float64Array {
  if (C === 1) return fg;
  const out = new Float64Array(fg.length * 2);
  fg.forEach((v, i) => { out[2 * i] = 1 - v; out[2 * i + 1] = v; });
  return out;
}

/** A soft disc of radius R shifted by (sx, sy), its edge a sigmoid of width `soft` px. */
function disc(sx: number, sy: number, soft: number): Float64Array {
  const a = new Float64Array(N * N);
  for (let y = 0; y < N; y++) for (let x = 0; x < N; x++) {
    const d = Math.hypot(x + 0.5 - N / 2 - sx, y + 0.5 - N / 2 - sy);
    a[y * N + x] = soft === 0 ? (d <= R ? 1 : 0) : 1 / (1 + Math.exp(-(R - d) / soft));
  }
  return a;
}

export async function pictures(file: string, loss: LoweredLoss): Promise<{ html: string; kinds: FigureKinds }> {
  const compiled = await compile(readFileSync(file, 'utf8'), { file, backend: 'reference' });
  const logits = loss.inputs.some((i) => i.role === 'logits');
  // Inputs other than the prediction and target get ones; logits are logit(p) on one channel, log(p) on two (softmax gives p back).
  const inputs = (p: Float64Array, g: Float64Array, C: number) => Object.fromEntries(loss.inputs.map((i) => [i.name,
    i.role === 'target' ? g : i.role === 'prob' ? p : i.role === 'logits' ? p.map((v) => (C === 1 ? Math.log(v / (1 - v)) : Math.log(v))) : p.map(() => 1)]));
  const value = async (fgP: Float64Array, fgG: Float64Array, C: number, shape: number[]) =>
    (await compiled.value(inputs(channels(fgP, C), channels(fgG, C), C), [...shape, C])).value;
  const twoNote = (C: number) => (C === 2 ? ' On one channel this loss is constant, so it is drawn on two: background 1 − p and foreground p (target likewise).' : '');
  const logitNote = (C: number) => (logits ? ` The logits are ${C === 1 ? 'logit(p)' : 'log p per channel'}, so the prediction axis is what the activation gives back.` : '');
  const out: string[] = [], kinds: FigureKinds = { pixel: 'absent', shift: 'absent', gradient: 'absent' };
  const absent: string[] = [];
  let fig = 0;
  try {
    const notes = loss.inputs.flatMap((i) => (i.role === 'weight' || i.role === 'map' ? [`<code>${esc(i.name)}</code> (${i.role}) is all ones`] : []));
    if (notes.length) out.push(`<p class="note">In every picture ${notes.join('; ')}.</p>`);

    // Against the shift, on an image (computed first: it says how many channels the loss needs).
    const target = disc(0, 0, 0);
    let shift: { sharp: number[]; soft: number[]; C: number } | undefined;
    for (const C of [1, 2]) {
      const sharp = await Promise.all(SHIFTS.map((s) => value(disc(s, 0, 0.5), target, C, [1, N, N])));
      const soft = await Promise.all(SHIFTS.map((s) => value(disc(s, 0, 1.5), target, C, [1, N, N])));
      if (varies([...sharp, ...soft])) { shift = { sharp, soft, C }; break; }
    }
    // One pixel: on two channels only for a loss that needs two on the image too.
    const ps = Array.from({ length: 99 }, (_, k) => (k + 1) / 100);
    let pixel: { on: number[]; off: number[]; C: number } | undefined, flat = NaN;
    for (const C of shift?.C === 2 ? [1, 2] : [1]) {
      const curve = async (t: number) => Promise.all(ps.map((q) => value(Float64Array.of(q), Float64Array.of(t), C, [1, 1, 1])));
      const [on, off] = [await curve(1), await curve(0)];
      if (Number.isNaN(flat)) flat = on[0]!;
      if (varies([...on, ...off])) { pixel = { on, off, C }; break; }
    }
    if (pixel) {
      kinds.pixel = `one pixel, ${pixel.C} channel${pixel.C > 1 ? 's' : ''}`;
      out.push(`<figure data-figure="pixel">${linePlot(ps, [{ ys: pixel.on, label: 'target 1', color: '#1f77b4' }, { ys: pixel.off, label: 'target 0', color: '#d62728' }], { xlabel: 'prediction p', label: 'loss against the prediction on one pixel' })}`,
        `<figcaption>Figure ${++fig}. The loss on a single pixel (a 1×1 image) against the prediction p, for target 1 and target 0 (default parameters).${twoNote(pixel.C)}${logitNote(pixel.C)}</figcaption></figure>`);
    } else {
      absent.push(`On a single pixel this loss is constant (${Number.isFinite(flat) ? +flat.toPrecision(4) : flat} for every prediction): it reads windows, distance maps or statistics of a whole image, so a one-pixel plot says nothing; the next picture shows it on an image.`);
    }

    if (shift) {
      kinds.shift = `shift sweep, ${shift.C} channel${shift.C > 1 ? 's' : ''}`;
      out.push(`<figure data-figure="shift">${linePlot(SHIFTS, [{ ys: shift.sharp, label: 'sharp edge', color: '#1f77b4' }, { ys: shift.soft, label: 'soft edge', color: '#ff7f0e' }], { xlabel: 'shift s (pixels)', label: 'loss against the shift of the prediction' })}`,
        `<figcaption>Figure ${++fig}. The loss on a 32×32 image against misalignment: the target is a disc of radius ${R}; the prediction is the same disc moved right by s pixels, its edge a sigmoid 0.5 px (sharp) or 1.5 px (soft) wide. A loss that measures overlap, structure or boundary distance grows with s.${twoNote(shift.C)}${logitNote(shift.C)}</figcaption></figure>`);
    } else {
      absent.push('On the 32×32 disc the loss does not change as the prediction moves off the target, so that plot is left out.');
    }
    let grad: { g: Float64Array; C: number; at: readonly [number, number] } | undefined;
    search: for (const C of shift ? [shift.C] : [1, 2]) {
      for (const at of GRAD_SHIFTS) {
        const r = await compiled.valueAndGrad(inputs(channels(disc(...at, 1.5), C), channels(target, C), C), [1, N, N, C]);
        const g = Float64Array.from({ length: N * N }, (_, i) => r.grad[i * C + C - 1]!);
        if (varies(Array.from(g))) { grad = { g, C, at }; break search; }
      }
    }
    if (grad) {
      kinds.gradient = `heatmap, ${grad.C} channel${grad.C > 1 ? 's' : ''}`;
      out.push(`<figure data-figure="gradient">${heatmap(grad.g, N, R, grad.at)}`,
        `<figcaption>Figure ${++fig}. The gradient ∂${esc(loss.name)}/∂${esc(loss.wrt.name)}${grad.C > 1 ? ' (foreground channel)' : ''} on a 32×32 image: the target is a disc of radius ${R} (solid circle), the prediction a soft disc shifted by (${grad.at.join(', ')}) px (dashed: p = 0.5)${grad.at !== GRAD_SHIFTS[0] ? ` (at (${GRAD_SHIFTS.slice(0, GRAD_SHIFTS.indexOf(grad.at)).map((a) => a.join(', ')).join(') and (')}) px its gradient is zero everywhere)` : ''}. Blue (negative): a gradient-descent step raises p there; red: it lowers p.${twoNote(grad.C)}</figcaption></figure>`);
    } else {
      absent.push(`Its gradient on the disc shifted by (${GRAD_SHIFTS.map((a) => a.join(', ')).join('), (')}) px is zero everywhere, so the heatmap is left out.`);
    }
    if (absent.length) out.unshift(`<p class="absent">${absent.join(' ')}</p>`);
    return { html: out.join('\n'), kinds };
  } finally {
    compiled.dispose();
  }
}
