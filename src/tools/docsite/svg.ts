// SVG drawings for the catalogue: a line plot and a heatmap. Each scales down
// with the page (viewBox, width 100% up to its natural size, see style.ts).

/** An SVG line plot of curves over xs (the x axis spans xs' range). */
export function linePlot(xs: readonly number[], curves: { ys: readonly number[]; label: string; color: string }[], o: { xlabel: string; label: string }): string {
  const W = 480, H = 300, L = 56, T = 16, Rm = 110, B = 40, w = W - L - Rm, h = H - T - B;
  const all = curves.flatMap((c) => c.ys).filter(Number.isFinite);
  const ticks = niceTicks(Math.min(...all), Math.max(...all));
  const pad = 0.03 * (ticks[ticks.length - 1]! - ticks[0]!), [lo, hi] = [ticks[0]! - pad, ticks[ticks.length - 1]! + pad];
  const x0 = Math.min(...xs), x1 = Math.max(...xs), xticks = niceTicks(x0, x1).filter((t) => t >= x0 - 1e-9 && t <= x1 + 1e-9);
  const X = (x: number) => L + ((x - x0) / (x1 - x0 || 1)) * w, Y = (y: number) => T + h - ((y - lo) / (hi - lo || 1)) * h;
  const path = (ys: readonly number[]) => ys.map((y, i) => (Number.isFinite(y) ? `${i === 0 || !Number.isFinite(ys[i - 1]!) ? 'M' : 'L'}${X(xs[i]!).toFixed(1)},${Y(y).toFixed(1)}` : '')).join('');
  const parts = [
    `<svg class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${o.label}">`,
    `<rect x="${L}" y="${T}" width="${w}" height="${h}" fill="none" stroke="#999"/>`,
    ...xticks.map((x) => `<path d="M${X(x).toFixed(1)},${T + h}v5" stroke="#999"/><text x="${X(x).toFixed(1)}" y="${T + h + 18}" text-anchor="middle">${+x.toPrecision(6)}</text>`),
    ...ticks.map((y) => `<path d="M${L - 5},${Y(y).toFixed(1)}h5" stroke="#999"/><text x="${L - 8}" y="${(Y(y) + 4).toFixed(1)}" text-anchor="end">${+y.toPrecision(6)}</text>`),
    `<text x="${L + w / 2}" y="${H - 4}" text-anchor="middle">${o.xlabel}</text>`,
    ...curves.map((c, i) => `<path class="curve" d="${path(c.ys)}" fill="none" stroke="${c.color}" stroke-width="2"/>` +
      `<path d="M${L + w + 12},${T + 14 + 20 * i}h24" stroke="${c.color}" stroke-width="2"/><text x="${L + w + 42}" y="${T + 18 + 20 * i}">${c.label}</text>`),
    `</svg>`,
  ];
  return parts.join('\n');
}

/** About five round tick values covering [lo, hi]. */
function niceTicks(lo: number, hi: number): number[] {
  if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
  const raw = (hi - lo) / 4, mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const ticks: number[] = [];
  for (let t = Math.floor(lo / step) * step; t < hi + step * 0.999; t += step) ticks.push(t);
  return ticks;
}

/** An N x N field as an SVG heatmap, blue (negative) - white - red (positive), with the target and prediction outlines. */
export function heatmap(v: ArrayLike<number>, N: number, R: number, shift: readonly [number, number]): string {
  let m = 0;
  for (let i = 0; i < N * N; i++) m = Math.max(m, Math.abs(v[i]!));
  const color = (t: number) => { // t in [-1, 1]
    const [r, g, b] = t < 0 ? [33, 102, 172] : [178, 24, 43];
    const a = Math.min(1, Math.abs(t));
    return `rgb(${[r, g, b].map((c) => Math.round(255 + (c - 255) * a)).join(',')})`;
  };
  const S = 8, size = N * S, bar = Array.from({ length: 11 }, (_, k) => 1 - k / 5);
  const cells: string[] = [];
  for (let y = 0; y < N; y++) for (let x = 0; x < N; x++) cells.push(`<rect x="${x}" y="${y}" width="1" height="1" fill="${color(m ? v[y * N + x]! / m : 0)}"/>`);
  return [
    `<svg class="heatmap" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${size + 110} ${size}" width="${size + 110}" height="${size}" role="img" aria-label="gradient heatmap">`,
    `<g class="cells" transform="scale(${S})" shape-rendering="crispEdges">${cells.join('')}</g>`,
    `<circle cx="${(N / 2) * S}" cy="${(N / 2) * S}" r="${R * S}" fill="none" stroke="#000" stroke-width="1.5"/>`,
    `<circle cx="${(N / 2 + shift[0]) * S}" cy="${(N / 2 + shift[1]) * S}" r="${R * S}" fill="none" stroke="#000" stroke-width="1.5" stroke-dasharray="6 4"/>`,
    ...bar.map((t, k) => `<rect x="${size + 16}" y="${20 + k * 20}" width="16" height="20" fill="${color(t)}"/>`),
    `<rect x="${size + 16}" y="20" width="16" height="220" fill="none" stroke="#999"/>`,
    `<text x="${size + 38}" y="26">${(m).toExponential(1)}</text><text x="${size + 38}" y="134">0</text><text x="${size + 38}" y="242">${(-m).toExponential(1)}</text>`,
    `</svg>`,
  ].join('\n');
}
