// `segloss docs`: the generated site, opened in real headless Chromium.
// Oracles: the browser itself (console errors, failed or outside requests,
// KaTeX's rendered output, SVG geometry, which fonts loaded) and the library's
// files (one page per loss, the plan's pass count).
//
// Without /usr/bin/chromium the browser test fails, naming how to install it,
// unless SEGLOSS_SKIP_BROWSER=1, which skips it with a loud warning.

import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeSite } from '../src/tools/site.ts';

const CHROMIUM = '/usr/bin/chromium';
const skipBrowser = !existsSync(CHROMIUM) && process.env.SEGLOSS_SKIP_BROWSER === '1';
if (skipBrowser) console.warn(`\n${'!'.repeat(78)}\n!! SKIPPED: the docs browser test (no ${CHROMIUM}, SEGLOSS_SKIP_BROWSER=1)\n${'!'.repeat(78)}\n`);

// A loss whose inputs are not prob/target: its pictures must still render.
const FIXTURE = `# Weighted BCE on logits (a test fixture)
# citation: none; a fixture for the docs test.
# use: a loss with logits and weight inputs.
# convention: mean over every element.
loss wbce_logits(x: logits, g: target, w: weight)
  = mean(w * (softplus(x) - g * x))
`;

const LIBRARY = readdirSync('losses').filter((f) => f.endsWith('.loss')).sort().map((f) => `losses/${f}`);
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.css': 'text/css', '.woff2': 'font/woff2', '.woff': 'font/woff', '.ttf': 'font/ttf' };

let dir: string;
let site: string;
let pages: string[];
let server: Server;
let base: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'segloss-docs-'));
  writeFileSync(join(dir, 'wbce_logits.loss'), FIXTURE);
  site = join(dir, 'site');
  pages = await writeSite([...LIBRARY, join(dir, 'wbce_logits.loss')], site);
  server = createServer((req, res) => {
    const path = normalize(join(site, decodeURIComponent(new URL(req.url!, 'http://x').pathname)));
    let body: Buffer;
    try { if (!path.startsWith(site)) throw new Error('outside'); body = readFileSync(path); } catch { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' }).end(body);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
}, 120_000);

afterAll(() => {
  server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('segloss docs', () => {
  test('writes an index, one page per loss, and KaTeX\'s CSS and fonts', () => {
    expect(pages).toEqual(['index.html', ...LIBRARY.map((f) => f.slice('losses/'.length).replace(/\.loss$/, '.html')), 'wbce_logits.html']);
    for (const p of pages) expect(existsSync(join(site, p)), p).toBe(true);
    expect(existsSync(join(site, 'assets', 'katex.min.css'))).toBe(true);
    expect(readdirSync(join(site, 'assets', 'fonts')).filter((f) => f.endsWith('.woff2')).length).toBeGreaterThan(10);
    const index = readFileSync(join(site, 'index.html'), 'utf8');
    for (const p of pages.slice(1)) expect(index).toContain(`href="${p}"`);
    for (const p of pages) expect(readFileSync(join(site, p), 'utf8'), `${p} carries no script`).not.toMatch(/<script/i);
  });

  test('a loss page holds the header, the source, the parameters and the plan', () => {
    const dice = readFileSync(join(site, 'dice.html'), 'utf8');
    expect(dice).toContain('Milletari, Navab, Ahmadi');
    expect(dice).toContain('loss dice(p: prob, g: target; smooth_nr = 1e-5, smooth_dr = 1e-5, squared_pred = 0, zero_absent = 0, eps = 1e-7)');
    expect(dice).toContain('<td><code>smooth_nr</code></td><td>0.00001</td>');
    expect(dice).toContain('dice: 2 passes over the full tensor');
    expect(readFileSync(join(site, 'index.html'), 'utf8')).toMatch(/<a href="bce.html">.*?<td class="n">1<\/td>/);
    expect(readFileSync(join(site, 'wbce_logits.html'), 'utf8')).toContain('(weight) is all ones');
  });

  test.skipIf(skipBrowser)('every page renders in headless Chromium: no errors, no failed or outside requests, math typeset, pictures drawn', async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is not installed at ${CHROMIUM}: run 'apt-get install -y chromium' (or 'bash .ci/setup-gpu.sh'), or set SEGLOSS_SKIP_BROWSER=1 to skip this test`);
    }
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--headless'],
    });
    try {
      const context = await browser.newContext();
      const problems: string[] = [];
      await context.route('**/*', (route) => {
        const url = route.request().url();
        if (url.startsWith(base)) return route.continue();
        problems.push(`outside request: ${url}`);
        return route.abort();
      });
      const page = await context.newPage();
      page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('requestfailed', (r) => problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`));
      page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });

      for (const p of pages) {
        await page.goto(base + p, { waitUntil: 'load' });
        const seen = await page.evaluate(async () => {
          await document.fonts.ready;
          const count = (sel: string) => document.querySelectorAll(sel).length;
          const imgs = [...document.querySelectorAll('img')];
          return {
            katex: count('.katex'), errors: count('.katex-error') + count('.katex [style*="#cc0000"]'),
            katexFonts: [...document.fonts].filter((f) => f.family.replace(/"/g, '').startsWith('KaTeX') && f.status === 'loaded').length,
            imgsBroken: imgs.filter((i) => !i.complete || i.naturalWidth === 0).length,
            plots: [...document.querySelectorAll('svg.plot')].map((s) => [...s.querySelectorAll('path[stroke-width="2"]')].map((q) => (q.getAttribute('d') ?? '').length)),
            heatmaps: [...document.querySelectorAll('svg.heatmap')].map((s) => { const r = s.getBoundingClientRect(); return { cells: s.querySelectorAll('g rect').length, w: r.width, h: r.height }; }),
            rows: count('table.losses tr'),
          };
        });
        if (p === 'index.html') {
          expect(seen.rows, p).toBe(pages.length); // header + one row per loss
          continue;
        }
        expect(seen.katex, `${p}: KaTeX output`).toBeGreaterThan(0);
        expect(seen.errors, `${p}: .katex-error or an unsupported command in KaTeX's error colour`).toBe(0);
        expect(seen.katexFonts, `${p}: KaTeX fonts loaded`).toBeGreaterThan(0);
        expect(seen.imgsBroken, `${p}: broken <img>`).toBe(0);
        expect(seen.plots, `${p}: one line plot`).toHaveLength(1);
        expect(seen.plots[0]!.filter((len) => len > 500), `${p}: two curves of 99 points (and two legend strokes)`).toHaveLength(2);
        expect(seen.heatmaps, `${p}: one heatmap`).toHaveLength(1);
        expect(seen.heatmaps[0]!.cells, `${p}: 32x32 cells and the colour bar`).toBeGreaterThanOrEqual(32 * 32);
        expect(seen.heatmaps[0]!.w * seen.heatmaps[0]!.h, `${p}: heatmap laid out`).toBeGreaterThan(0);
      }
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 120_000);
});
