// The library as a static site: an index table and one page per loss with its
// header, formula source, the loss and its gradient typeset by KaTeX (rendered
// here, so pages carry no JavaScript), the parameters, the kernel plan, and two
// pictures computed by the float64 reference backend. KaTeX's CSS and fonts are
// copied beside the pages, so the site works offline.

import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import katex from 'katex';
import { frontendFile } from '../runtime/sources.ts';
import { SeglossError } from '../compiler/front/diagnostics.ts';
import { parseHeader } from '../compiler/front/catalogue.ts';
import type { LoweredLoss } from '../compiler/lower/lower.ts';
import { passCount } from '../compiler/plan/plan.ts';
import { planText } from '../compiler/dump.ts';
import { printRoots } from '../compiler/passes/print.ts';
import { compile } from '../runtime/loss.ts';

/** A header as every library file writes it: the title, then `# key: value` lines (read by the catalogue's parseHeader). */
export interface Header { title: string; citation: string; use: string; convention: string }

export function readHeader(lines: readonly string[]): Header {
  const h = parseHeader(lines);
  return { title: h.title, citation: h.citation ?? '', use: h.use ?? '', convention: h.convention ?? '' };
}

interface Entry { loss: LoweredLoss; header: Header; passes: number; page: string }

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const tex = (name: string) => `\\mathrm{${name.replace(/_/g, '\\_')}}`;
const params = (l: LoweredLoss) => l.params.map((p) => `${p.name} = ${p.default}`).join(', ') || '—';

/** KaTeX's HTML for a display formula; LaTeX it cannot typeset is an error, not a red patch on the page. */
function typeset(latex: string, file: string): string {
  try {
    return katex.renderToString(latex, { displayMode: true, throwOnError: true });
  } catch (e) {
    throw new Error(`${file}: KaTeX cannot typeset the printed formula: ${(e as Error).message}`);
  }
}

/** Write the site for `files` into `out`; returns the pages written (index first). */
export async function writeSite(files: readonly string[], out: string): Promise<string[]> {
  mkdirSync(join(out, 'assets'), { recursive: true });
  const katexDist = dirname(createRequire(import.meta.url).resolve('katex'));
  cpSync(join(katexDist, 'katex.min.css'), join(out, 'assets', 'katex.min.css'));
  cpSync(join(katexDist, 'fonts'), join(out, 'assets', 'fonts'), { recursive: true });

  const entries: Entry[] = [];
  for (const file of files) {
    const r = frontendFile(file);
    if (!r.ir) throw new SeglossError(r.diagnostics, r.sources);
    const { loss } = r.ir;
    const p = r.ir.plan;
    const entry = { loss, header: readHeader(loss.header), passes: passCount(p), page: `${loss.name}.html` };
    const math = printRoots([{ name: tex(loss.name), node: r.ir.value }, { name: `\\frac{\\partial\\,${tex(loss.name)}}{\\partial ${loss.wrt.name.length === 1 ? loss.wrt.name : tex(loss.wrt.name)}}`, node: r.ir.grad }], 'latex');
    const body = [
      `<p><a href="index.html">← all losses</a></p>`,
      `<h1>${esc(entry.header.title)} <code>${esc(loss.name)}</code></h1>`,
      `<dl><dt>Citation</dt><dd>${esc(entry.header.citation)}</dd><dt>Use</dt><dd>${esc(entry.header.use)}</dd><dt>Convention</dt><dd>${esc(entry.header.convention)}</dd></dl>`,
      `<h2>Formula</h2>`,
      ...[...r.sources].map(([path, text]) => `<p class="file">${esc(basename(path))}</p><pre class="source">${esc(text)}</pre>`),
      `<h2>Loss and gradient</h2>`,
      `<p>As the compiler simplified them; the <i>t</i>s are shared subexpressions.</p>`,
      typeset(math, file),
      `<h2>Parameters</h2>`,
      loss.params.length ? `<table><tr><th>name</th><th>default</th></tr>${loss.params.map((q) => `<tr><td><code>${esc(q.name)}</code></td><td>${q.default}</td></tr>`).join('')}</table>` : '<p>None.</p>',
      `<h2>Kernel plan</h2>`,
      `<pre>${esc(planText(r.ir))}</pre>`,
      `<h2>Pictures</h2>`,
      await pictures(file, loss),
    ];
    writeFileSync(join(out, entry.page), html(`${entry.header.title} — segloss`, body.join('\n')));
    entries.push(entry);
  }

  const rows = entries.map((e) => `<tr><td><a href="${e.page}"><code>${esc(e.loss.name)}</code></a></td><td>${esc(e.header.title)}</td><td>${esc(e.header.use)}</td><td>${esc(e.header.citation)}</td><td class="n">${e.passes}</td><td><code>${esc(params(e.loss))}</code></td></tr>`);
  const index = [
    `<h1>segloss: the loss library</h1>`,
    `<p>${entries.length} losses. <em>Passes</em> counts the fused passes over the full tensor that compute the loss and its gradient together.</p>`,
    `<table class="losses"><tr><th>loss</th><th>title</th><th>use case</th><th>citation</th><th>passes</th><th>parameters</th></tr>`,
    ...rows,
    `</table>`,
  ];
  writeFileSync(join(out, 'index.html'), html('segloss: the loss library', index.join('\n')));
  return ['index.html', ...entries.map((e) => e.page)];
}

/**
 * The two pictures, from the reference backend: the loss on one pixel against
 * the prediction, and the gradient on a 32x32 disc. Inputs other than the
 * prediction and target get ones (weight, map); logits get logit(p).
 */
async function pictures(file: string, loss: LoweredLoss): Promise<string> {
  const compiled = await compile(readFileSync(file, 'utf8'), { file, backend: 'reference' });
  const notes = loss.inputs.flatMap((i) => (i.role === 'weight' || i.role === 'map' ? [`<code>${esc(i.name)}</code> (${i.role}) is all ones`] : i.role === 'logits' ? [`<code>${esc(i.name)}</code> (logits) is logit(p), so the horizontal axis is its sigmoid`] : []));
  const inputs = (p: Float64Array, g: Float64Array) => Object.fromEntries(loss.inputs.map((i) => [i.name,
    i.role === 'target' ? g : i.role === 'prob' ? p : i.role === 'logits' ? p.map((v) => Math.log(v / (1 - v))) : p.map(() => 1)]));
  try {
    const ps = Array.from({ length: 99 }, (_, k) => (k + 1) / 100);
    const curve = async (g: number) => Promise.all(ps.map(async (p) => (await compiled.value(inputs(Float64Array.of(p), Float64Array.of(g)), [1, 1, 1, 1])).value));
    const [on, off] = [await curve(1), await curve(0)];

    const N = 32, R = 9, shift = [3, 2] as const;
    const g = new Float64Array(N * N), p = new Float64Array(N * N);
    for (let y = 0; y < N; y++) for (let x = 0; x < N; x++) {
      g[y * N + x] = Math.hypot(x + 0.5 - N / 2, y + 0.5 - N / 2) <= R ? 1 : 0;
      p[y * N + x] = 1 / (1 + Math.exp(-(R - Math.hypot(x + 0.5 - N / 2 - shift[0], y + 0.5 - N / 2 - shift[1])) / 1.5));
    }
    const { grad } = await compiled.valueAndGrad(inputs(p, g), [1, N, N, 1]);
    return [
      notes.length ? `<p class="note">In both pictures ${notes.join('; ')}.</p>` : '',
      `<figure>${linePlot(ps, [{ ys: on, label: 'target 1', color: '#1f77b4' }, { ys: off, label: 'target 0', color: '#d62728' }])}`,
      `<figcaption>Figure 1. The loss on a single pixel (a 1×1 image) against the prediction p, for target 1 and target 0 (reference backend, default parameters).</figcaption></figure>`,
      `<figure>${heatmap(grad, N, R, shift)}`,
      `<figcaption>Figure 2. The gradient ∂${esc(loss.name)}/∂${esc(loss.wrt.name)} on a 32×32 image: the target is a disc of radius ${R} (solid circle), the prediction a soft disc shifted by (${shift.join(', ')}) px (dashed: p = 0.5). Blue pulls p up, red pushes it down.</figcaption></figure>`,
    ].join('\n');
  } finally {
    compiled.dispose();
  }
}

/** An SVG line plot of curves over x in [0, 1]. */
function linePlot(xs: readonly number[], curves: { ys: readonly number[]; label: string; color: string }[]): string {
  const W = 480, H = 300, L = 56, T = 16, Rm = 110, B = 40, w = W - L - Rm, h = H - T - B;
  const all = curves.flatMap((c) => c.ys).filter(Number.isFinite);
  const ticks = niceTicks(Math.min(...all), Math.max(...all));
  const pad = 0.03 * (ticks[ticks.length - 1]! - ticks[0]!), [lo, hi] = [ticks[0]! - pad, ticks[ticks.length - 1]! + pad];
  const X = (x: number) => L + x * w, Y = (y: number) => T + h - ((y - lo) / (hi - lo || 1)) * h;
  const path = (ys: readonly number[]) => ys.map((y, i) => (Number.isFinite(y) ? `${i === 0 || !Number.isFinite(ys[i - 1]!) ? 'M' : 'L'}${X(xs[i]!).toFixed(1)},${Y(y).toFixed(1)}` : '')).join('');
  const parts = [
    `<svg class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="loss against prediction">`,
    `<rect x="${L}" y="${T}" width="${w}" height="${h}" fill="none" stroke="#999"/>`,
    ...[0, 0.25, 0.5, 0.75, 1].map((x) => `<path d="M${X(x)},${T + h}v5" stroke="#999"/><text x="${X(x)}" y="${T + h + 18}" text-anchor="middle">${x}</text>`),
    ...ticks.map((y) => `<path d="M${L - 5},${Y(y).toFixed(1)}h5" stroke="#999"/><text x="${L - 8}" y="${(Y(y) + 4).toFixed(1)}" text-anchor="end">${+y.toPrecision(6)}</text>`),
    `<text x="${L + w / 2}" y="${H - 4}" text-anchor="middle">prediction p</text>`,
    ...curves.map((c, i) => `<path d="${path(c.ys)}" fill="none" stroke="${c.color}" stroke-width="2"/>` +
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
function heatmap(v: ArrayLike<number>, N: number, R: number, shift: readonly [number, number]): string {
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
    `<g transform="scale(${S})" shape-rendering="crispEdges">${cells.join('')}</g>`,
    `<circle cx="${(N / 2) * S}" cy="${(N / 2) * S}" r="${R * S}" fill="none" stroke="#000" stroke-width="1.5"/>`,
    `<circle cx="${(N / 2 + shift[0]) * S}" cy="${(N / 2 + shift[1]) * S}" r="${R * S}" fill="none" stroke="#000" stroke-width="1.5" stroke-dasharray="6 4"/>`,
    ...bar.map((t, k) => `<rect x="${size + 16}" y="${20 + k * 20}" width="16" height="20" fill="${color(t)}"/>`),
    `<rect x="${size + 16}" y="20" width="16" height="220" fill="none" stroke="#999"/>`,
    `<text x="${size + 38}" y="26">${(m).toExponential(1)}</text><text x="${size + 38}" y="134">0</text><text x="${size + 38}" y="242">${(-m).toExponential(1)}</text>`,
    `</svg>`,
  ].join('\n');
}

function html(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<link rel="stylesheet" href="assets/katex.min.css">
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; } th, td { border-bottom: 1px solid #ddd; padding: .35em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.n { text-align: right; }
table.losses td:nth-child(4) { font-size: 90%; color: #555; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; } pre.source { white-space: pre-wrap; } .file { margin-bottom: 0; font-family: monospace; color: #555; }
dt { font-weight: 600; } dd { margin: 0 0 .5em 1.5em; }
.katex-display { overflow-x: auto; overflow-y: hidden; padding: .5em 0; }
figure { margin: 1em 0 2em; } figcaption { color: #555; font-size: 90%; max-width: 640px; }
svg text { font: 12px system-ui, sans-serif; fill: #333; } .note { color: #8a5a00; }
</style></head>
<body>
${body}
</body></html>
`;
}
