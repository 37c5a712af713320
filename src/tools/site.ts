// The library as a static site (`segloss docs --out DIR`): an index grouped by
// kind of loss with a search box, and one page per loss with its header (prose
// with code and linked citations), what its inputs must hold and how to call it
// (load, CLI, the equivalent MONAI/smp/Keras call with segloss's flags), the
// formula as written (from the AST) and the compiler's simplified loss and
// gradient (from the IR), both typeset by KaTeX here (loss pages carry no
// JavaScript), the parameters, the kernel plan, and pictures computed by the
// float64 reference backend. KaTeX's CSS and fonts are copied beside the pages,
// so the site works offline. The parts live in src/tools/docsite/.

import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
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
import { type FigureKinds, pictures } from './docsite/figures.ts';
import { moduleTex } from './docsite/formula.ts';
import { html } from './docsite/page.ts';
import { GROUPS, citation, esc, groupOf, prose } from './docsite/text.ts';
import { inputsHtml, useItHtml } from './docsite/usage.ts';

/** A header as every library file writes it: the title, then `# key: value` lines (read by the catalogue's parseHeader). */
export interface Header { title: string; citation: string; use: string; convention: string }

export function readHeader(lines: readonly string[]): Header {
  const h = parseHeader(lines);
  return { title: h.title, citation: h.citation ?? '', use: h.use ?? '', convention: h.convention ?? '' };
}

interface Entry { loss: LoweredLoss; header: Header; passes: number; page: string; figures: FigureKinds }

export interface SiteOptions {
  /**
   * The playground page, relative to the site's folder, linked from every loss page as
   * `PATH#loss=NAME`. Default: `../playground/index.html` when that file exists beside the
   * output folder; no link when it does not.
   */
  playground?: string;
}

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
export async function writeSite(files: readonly string[], out: string, opts: SiteOptions = {}): Promise<string[]> {
  mkdirSync(join(out, 'assets'), { recursive: true });
  const katexDist = dirname(createRequire(import.meta.url).resolve('katex'));
  cpSync(join(katexDist, 'katex.min.css'), join(out, 'assets', 'katex.min.css'));
  cpSync(join(katexDist, 'fonts'), join(out, 'assets', 'fonts'), { recursive: true });
  const playground = opts.playground ?? (existsSync(join(out, '..', 'playground', 'index.html')) ? '../playground/index.html' : undefined);

  const entries: Entry[] = [];
  for (const file of files) {
    const r = frontendFile(file);
    if (!r.ir) throw new SeglossError(r.diagnostics, r.sources);
    const { loss } = r.ir;
    const header = readHeader(loss.header);
    const page = `${loss.name}.html`;
    const pics = await pictures(file, loss);
    const math = printRoots([{ name: tex(loss.name), node: r.ir.value }, { name: `\\frac{\\partial\\,${tex(loss.name)}}{\\partial ${loss.wrt.name.length === 1 ? loss.wrt.name : tex(loss.wrt.name)}}`, node: r.ir.grad }], 'latex');
    const written = moduleTex(r.ir.ast.main);
    const mainText = r.sources.get(r.ir.ast.main.file) ?? [...r.sources.values()][0] ?? '';
    const twoClasses = pics.kinds.shift.includes('2 channels') || pics.kinds.pixel.includes('2 channels');
    const body = [
      `<p><a href="index.html">← all losses</a>${playground ? ` · <a class="playground" href="${esc(`${playground}#loss=${encodeURIComponent(loss.name)}`)}">try it in the playground</a>` : ''}</p>`,
      `<h1>${esc(header.title)} <code>${esc(loss.name)}</code></h1>`,
      `<dl><dt>Citation</dt><dd class="citation">${citation(header.citation)}</dd><dt>Use</dt><dd>${prose(header.use)}</dd><dt>Convention</dt><dd>${prose(header.convention)}</dd></dl>`,
      `<section class="use-it"><h2>Use it</h2>`,
      `<h3>Inputs</h3>`,
      inputsHtml(loss, mainText, twoClasses),
      useItHtml(loss),
      `</section>`,
      `<section class="formula"><h2>Formula</h2>`,
      `<p>As written in <code>${esc(basename(file))}</code>${r.ir.ast.modules.length > 1 ? ` (it uses ${r.ir.ast.modules.slice(1).map((m) => `<code>${esc(basename(m.file))}</code>`).join(', ')}; their text is below)` : ''}.</p>`,
      ...written.map((b) => (b.kind === 'use' ? `<p class="file">use "${esc(b.name)}"</p>` : `<h3>${b.kind} <code>${esc(b.name)}</code></h3>${b.defaults ? `<p class="defaults">defaults: <code>${esc(b.defaults)}</code></p>` : ''}${typeset(b.latex, file)}`)),
      `<h2>Loss and gradient, as compiled</h2>`,
      `<p>As the compiler simplified them; the <i>t</i>s are shared subexpressions.</p>`,
      typeset(math, file),
      `<h2>Source</h2>`,
      ...[...r.sources].map(([path, text]) => `<p class="file">${esc(basename(path))}</p><pre class="source">${esc(text)}</pre>`),
      `</section>`,
      `<h2>Parameters</h2>`,
      loss.params.length ? `<div class="scroll"><table><tr><th>name</th><th>default</th></tr>${loss.params.map((q) => `<tr><td><code>${esc(q.name)}</code></td><td>${q.default}</td></tr>`).join('')}</table></div>` : '<p>None.</p>',
      `<h2>Kernel plan</h2>`,
      `<pre>${esc(planText(r.ir))}</pre>`,
      `<h2>Pictures</h2>`,
      `<p>Computed by the float64 reference backend with the default parameters.</p>`,
      pics.html,
    ];
    writeFileSync(join(out, page), html(`${header.title} — segloss`, body.join('\n')));
    entries.push({ loss, header, passes: passCount(r.ir.plan), page, figures: pics.kinds });
  }
  writeFileSync(join(out, 'index.html'), indexPage(entries));
  return ['index.html', ...entries.map((e) => e.page)];
}

/** The index: a search box, then one table per group (distribution, region, boundary, compound, seed variants, other). */
function indexPage(entries: readonly Entry[]): string {
  const groups = [...GROUPS, { id: 'other', title: 'Other', blurb: 'losses outside the library\'s groups', names: [] as string[] }];
  const row = (e: Entry) => `<tr data-search="${esc(`${e.loss.name} ${e.header.title} ${e.header.use} ${e.header.citation}`.toLowerCase())}"><td><a href="${e.page}"><code>${esc(e.loss.name)}</code></a></td><td>${esc(e.header.title)}</td><td>${prose(e.header.use)}</td><td class="cite">${esc(e.header.citation)}</td><td class="n">${e.passes}</td><td><code>${esc(params(e.loss))}</code></td></tr>`;
  const sections = groups.flatMap((g) => {
    const mine = entries.filter((e) => groupOf(e.loss.name) === g.id);
    return mine.length ? [`<section class="group" id="${g.id}"><h2>${esc(g.title)}</h2><p>${esc(g.blurb)}.</p>`,
      `<table class="losses"><tr><th>loss</th><th>title</th><th>use case</th><th>citation</th><th>passes</th><th>parameters</th></tr>`,
      ...mine.map(row), `</table></section>`] : [];
  });
  const present = groups.filter((g) => entries.some((e) => groupOf(e.loss.name) === g.id));
  return html('segloss: the loss library', [
    `<h1>segloss: the loss library</h1>`,
    `<p>${entries.length} losses. <em>Passes</em> counts the fused passes over the full tensor that compute the loss and its gradient together.</p>`,
    `<nav class="groups">${present.map((g) => `<a href="#${g.id}">${esc(g.title)}</a>`).join(' ')}</nav>`,
    `<label for="search">Search the losses</label><br><input id="search" type="search" placeholder="name, title, use case or author" autocomplete="off"> <span id="count"></span>`,
    ...sections,
  ].join('\n'), { search: true });
}
