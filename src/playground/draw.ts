// Canvas pictures: a grey image of values in [0, 1] with a target outline, a
// diverging heatmap of a gradient (blue negative, red positive, white zero,
// scaled by the largest magnitude), and line charts of training curves.

/** Draw size × size RGBA pixels, scaled to the canvas without smoothing. */
function blit(canvas: HTMLCanvasElement, n: number, rgba: Uint8ClampedArray): void {
  const off = document.createElement('canvas');
  off.width = n;
  off.height = n;
  off.getContext('2d')!.putImageData(new ImageData(rgba as Uint8ClampedArray<ArrayBuffer>, n, n), 0, 0);
  const ctx = canvas.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
}

/** Values in [0, 1] as grey (1 dark); `outline` (0/1 per pixel) marks its edge in orange. */
export function drawGrey(canvas: HTMLCanvasElement, n: number, values: ArrayLike<number>, outline?: ArrayLike<number>): void {
  const rgba = new Uint8ClampedArray(n * n * 4);
  for (let i = 0; i < n * n; i++) {
    const v = Math.round(255 * (1 - Math.min(1, Math.max(0, values[i]!))));
    rgba.set([v, v, v, 255], i * 4);
    if (outline && outline[i]! > 0) {
      const x = i % n, y = (i - x) / n;
      const edge = (x > 0 && !(outline[i - 1]! > 0)) || (x < n - 1 && !(outline[i + 1]! > 0)) || (y > 0 && !(outline[i - n]! > 0)) || (y < n - 1 && !(outline[i + n]! > 0));
      if (edge) rgba.set([240, 130, 20, 255], i * 4);
    }
  }
  blit(canvas, n, rgba);
}

/** A diverging heatmap of `values`, white at 0, full colour at ±scale (default: the largest magnitude). Returns the scale. */
export function drawHeat(canvas: HTMLCanvasElement, n: number, values: ArrayLike<number>, scale?: number): number {
  let m = scale ?? 0;
  if (scale === undefined) for (let i = 0; i < n * n; i++) { const a = Math.abs(values[i]!); if (a > m) m = a; }
  const rgba = new Uint8ClampedArray(n * n * 4);
  for (let i = 0; i < n * n; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) { rgba.set([0, 200, 0, 255], i * 4); continue; }
    const t = m > 0 ? Math.max(-1, Math.min(1, v / m)) : 0;
    const a = Math.sqrt(Math.abs(t));
    // red for positive (the loss rises with p there: gradient descent lowers p), blue for negative.
    rgba.set(t >= 0 ? [255, 255 * (1 - a) + 40 * a, 255 * (1 - a) + 40 * a, 255] : [255 * (1 - a) + 40 * a, 255 * (1 - a) + 90 * a, 255, 255], i * 4);
  }
  blit(canvas, n, rgba);
  return m;
}

export interface Curve { label: string; color: string; points: readonly number[]; /** The step of each point (default: its index). */ xs?: readonly number[] }

/** Line charts: each curve on the shared y range (or each on its own, `own`), x the step. */
export function drawCurves(canvas: HTMLCanvasElement, curves: readonly Curve[], opts: { own?: boolean; yMin?: number; yMax?: number } = {}): void {
  const ctx = canvas.getContext('2d')!;
  const W = canvas.width, H = canvas.height, L = 44, R = 8, T = 8, Bm = 22;
  ctx.clearRect(0, 0, W, H);
  ctx.font = '11px system-ui, sans-serif';
  ctx.strokeStyle = '#d9dee7';
  ctx.strokeRect(L, T, W - L - R, H - T - Bm);
  const xOf = (c: Curve, i: number) => c.xs?.[i] ?? i;
  const steps = Math.max(2, ...curves.map((c) => xOf(c, c.points.length - 1) + 1));
  const range = (pts: readonly number[]) => {
    const f = pts.filter(Number.isFinite);
    let lo = opts.yMin ?? Math.min(...f), hi = opts.yMax ?? Math.max(...f);
    if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
    return [lo, hi] as const;
  };
  const all = range(curves.flatMap((c) => c.points));
  ctx.fillStyle = '#667085';
  ctx.fillText(String(steps - 1), W - R - 20, H - 6);
  ctx.fillText('0', L, H - 6);
  curves.forEach((c, k) => {
    const [lo, hi] = opts.own ? range(c.points) : all;
    ctx.strokeStyle = c.color;
    ctx.lineWidth = 1.6;
    ctx.beginPath();
    c.points.forEach((v, i) => {
      const x = L + ((W - L - R) * xOf(c, i)) / (steps - 1), y = T + (H - T - Bm) * (1 - (v - lo) / (hi - lo));
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = c.color;
    const last = c.points[c.points.length - 1];
    ctx.textAlign = 'right';
    ctx.fillText(`${c.label}${last !== undefined ? `: ${fmt(last)}` : ''}`, W - R - 6, T + 13 + 13 * k);
    ctx.textAlign = 'left';
    if (opts.own || k === 0) { ctx.fillText(fmt(hi), 2, T + 10 + (opts.own ? 12 * k : 0)); ctx.fillText(fmt(lo), 2, H - Bm - (opts.own ? 12 * (curves.length - 1 - k) : 0)); }
  });
}

export const fmt = (v: number): string => (v === 0 ? '0' : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toPrecision(4));
