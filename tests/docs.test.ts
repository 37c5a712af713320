// `segloss docs`: the generated site, opened in real headless Chromium.
// Oracles: the browser itself (console errors, failed or outside requests,
// KaTeX's rendered output, SVG geometry, which fonts loaded, the layout's width
// at a phone's 390 px) and the library's files (one page per loss, the plan's
// pass count). Screenshots of two pages at phone width go to
// .tmp/test-output/docs/ (git-ignored), for a person to look at.
//
// Without /usr/bin/chromium the browser test fails, naming how to install it,
// unless SEGLOSS_SKIP_BROWSER=1, which skips it with a loud warning.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeSite } from '../src/tools/site.ts';
import { EQUIVALENTS, paramsObject } from '../src/tools/docsite/usage.ts';
import { load } from '../src/index.ts';

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
    for (const p of pages.slice(1)) expect(readFileSync(join(site, p), 'utf8'), `${p} carries no script`).not.toMatch(/<script/i);
    // The index's one script is its search box, inline: nothing loaded from elsewhere.
    expect(index.match(/<script/gi), 'index: one inline script').toHaveLength(1);
    expect(index).not.toMatch(/<script[^>]*\bsrc=/i);
  });

  test('the index groups the losses and every library loss is in a named group', () => {
    const index = readFileSync(join(site, 'index.html'), 'utf8');
    for (const id of ['distribution', 'region', 'boundary', 'compound', 'seed']) expect(index).toContain(`<section class="group" id="${id}">`);
    const other = index.slice(index.indexOf('<section class="group" id="other">'));
    expect(other).toContain('wbce_logits.html');
    for (const p of pages.slice(1, -1)) expect(other, `${p} is grouped`).not.toContain(`href="${p}"`);
    expect(index).toContain('<input id="search" type="search"');
  });

  test('a loss page renders its header prose, links its citation, and says how to use it', () => {
    const dice = readFileSync(join(site, 'dice.html'), 'utf8');
    expect(dice).toContain('per sample and class over <code>region</code>'); // backticks rendered
    expect(dice).toContain('<a href="https://arxiv.org/abs/1606.04797">arXiv:1606.04797</a>');
    expect(readFileSync(join(site, 'balanced_ce.html'), 'utf8')).toMatch(/<a class="find" href="https:\/\/scholar\.google\.com\/scholar\?q=Xie/);
    expect(dice).toContain('<h2>Use it</h2>');
    expect(dice).toContain("const loss = await load('dice', { smooth_nr: 0.00001, smooth_dr: 0.00001 });");
    expect(dice).toContain('npx segloss eval dice --pred p.npy --target g.npy --grad dp.npy');
    expect(dice).toContain("<code>smp.losses.DiceLoss('multilabel')</code>");
    expect(dice).toContain('--activation sigmoid --region batch --param smooth_nr=0 --param smooth_dr=0 --param zero_absent=1');
    expect(dice).toContain("in <code>load</code>: <code>{ activation: 'sigmoid', region: 'batch', smooth_nr: 0, smooth_dr: 0, zero_absent: 1 }</code>");
    expect(dice).toContain('probabilities in [0, 1]');
    expect(dice).toContain('one-hot (or soft) masks');
    const gwd = readFileSync(join(site, 'generalized_wasserstein_dice.html'), 'utf8');
    expect(gwd).toContain('logits, raw scores; the formula applies the softmax over the class axis itself');
    expect(dice).toContain('<code>--param region=batch --param smooth_nr=0 --param smooth_dr=0 --param zero_absent=1</code>.'); // flags in prose as code
    expect(gwd).toContain('at least two class channels');
    expect(readFileSync(join(site, 'mcc.html'), 'utf8')).toContain('smp.losses.MCCLoss()');
    expect(readFileSync(join(site, 'seed_dice.html'), 'utf8')).toContain('No MONAI, segmentation_models.pytorch or Keras call is listed');
    // The formula as written, from the AST, before the compiler's.
    expect(dice).toMatch(/<h3>def <code>dice_score<\/code><\/h3><p class="defaults">defaults: <code>smooth_nr = 1e-5, smooth_dr = 1e-5, eps = 1e-7, squared_pred = 0<\/code><\/p><span class="katex-display">/);
    expect(dice.indexOf('<h3>loss <code>dice</code></h3>')).toBeLessThan(dice.indexOf('Loss and gradient, as compiled'));
    // No playground yet: no link to it.
    expect(existsSync(join(site, '..', 'playground', 'index.html'))).toBe(false);
    for (const p of pages.slice(1)) expect(readFileSync(join(site, p), 'utf8'), p).not.toContain('playground');
  });

  test('a loss page links its playground view when there is one', async () => {
    const other = join(dir, 'with-playground');
    mkdirSync(join(other, 'playground'), { recursive: true });
    writeFileSync(join(other, 'playground', 'index.html'), '<!doctype html><title>playground</title>');
    await writeSite(['losses/bce.loss'], join(other, 'site'));
    expect(readFileSync(join(other, 'site', 'bce.html'), 'utf8')).toContain('<a class="playground" href="../playground/index.html#loss=bce">');
  }, 60_000);

  test('every equivalent call\'s flags load (no unknown parameter or knob, no knob without effect)', async () => {
    const shape = [1, 12, 12, 2], n = 12 * 12 * 2;
    for (const [name, eqs] of Object.entries(EQUIVALENTS)) {
      expect(existsSync(`losses/${name}.loss`), name).toBe(true);
      for (const e of eqs) {
        const loss = await load(name, paramsObject(e.flags) as Record<string, number>, { backend: 'reference' });
        const inputs = Object.fromEntries(loss.inputs.map((i) => [i.name, Float32Array.from({ length: n }, (_, k) => (i.role === 'target' ? k % 2 : 0.2 + 0.6 * ((k * 7) % 11) / 11))]));
        expect(Number.isFinite((await loss.value(inputs, shape)).value), `${name} ${e.flags}`).toBe(true);
        loss.dispose();
      }
    }
  }, 60_000);

  // Equivalents checked against the library's computation written here from its source
  // (not from segloss's formula): smp's DiceLoss('multilabel') and MCCLoss(), MONAI's FocalLoss() and TverskyLoss(), Keras's Dice().
  test('smp DiceLoss(\'multilabel\') and MCCLoss(), MONAI FocalLoss() and TverskyLoss(), Keras Dice() equal segloss with the flags the catalogue gives', async () => {
    const [B, H, W, C] = [2, 5, 4, 3], n = B * H * W * C;
    const x = Float64Array.from({ length: n }, (_, k) => Math.sin(k * 1.7) * 3);            // logits, nhwc
    const g = Float64Array.from({ length: n }, (_, k) => ((k * 5) % 7 < 3 ? 1 : 0));
    for (let b = 0; b < B; b++) for (let i = 0; i < H * W; i++) g[(b * H * W + i) * C + 2] = 0; // class 2 absent everywhere
    const sig = (v: number) => 1 / (1 + Math.exp(-v));
    // smp: sigmoid; per class over batch and space: 1 - 2 tp / clamp_min(sum p + sum g, eps); classes absent from the batch count 0; mean over classes.
    let smp = 0;
    for (let c = 0; c < C; c++) {
      let tp = 0, sp = 0, sg = 0;
      for (let k = c; k < n; k += C) { const p = sig(x[k]!); tp += p * g[k]!; sp += p; sg += g[k]!; }
      smp += sg > 0 ? 1 - (2 * tp) / Math.max(sp + sg, 1e-7) : 0;
    }
    smp /= C;
    // MONAI sigmoid_focal_loss, alpha None: (1 - p_t)^gamma * BCE-with-logits, gamma 2, mean over every element.
    let focal = 0;
    for (let k = 0; k < n; k++) {
      const p = sig(x[k]!), t = g[k]!, pt = t * p + (1 - t) * (1 - p);
      const bce = Math.max(x[k]!, 0) - x[k]! * t + Math.log1p(Math.exp(-Math.abs(x[k]!)));
      focal += (1 - pt) ** 2 * bce;
    }
    focal /= n;
    const flags = (name: string, call: string) => EQUIVALENTS[name]!.find((e) => e.call === call)!.flags;
    const dice = await load('dice', paramsObject(flags('dice', "smp.losses.DiceLoss('multilabel')")) as Record<string, number>, { backend: 'reference' });
    expect((await dice.value({ p: x, g }, [B, H, W, C])).value).toBeCloseTo(smp, 10);
    const fl = await load('focal', paramsObject(flags('focal', 'monai.losses.FocalLoss()')) as Record<string, number>, { backend: 'reference' });
    expect((await fl.value({ p: x, g }, [B, H, W, C])).value).toBeCloseTo(focal, 10);

    // MONAI TverskyLoss(sigmoid=True, alpha=0.3, beta=0.7): per sample and class over space, fp *= alpha, fn *= beta, smooth 1e-5, mean.
    let tv = 0;
    for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) {
      let tp = 0, fp = 0, fn = 0;
      for (let i = 0; i < H * W; i++) { const k = (b * H * W + i) * C + c, p = sig(x[k]!); tp += p * g[k]!; fp += p * (1 - g[k]!); fn += (1 - p) * g[k]!; }
      tv += 1 - (tp + 1e-5) / (tp + 0.3 * fp + 0.7 * fn + 1e-5);
    }
    tv /= B * C;
    const tl = await load('tversky', paramsObject(flags('tversky', 'TverskyLoss(sigmoid=True, alpha=0.3, beta=0.7)')) as Record<string, number>, { backend: 'reference' });
    expect((await tl.value({ p: x, g }, [B, H, W, C])).value).toBeCloseTo(tv, 10);

    // Keras Dice(): one Dice over every axis, 1 - 2 tp / (sum g + sum p + 1e-7), on probabilities.
    let [ktp, ks] = [0, 1e-7];
    for (let k = 0; k < n; k++) { const p = sig(x[k]!); ktp += p * g[k]!; ks += p + g[k]!; }
    const kd = await load('dice', paramsObject(flags('dice', 'keras.losses.Dice()')) as Record<string, number>, { backend: 'reference' });
    expect((await kd.value({ p: x.map(sig), g }, [B, H, W, C])).value).toBeCloseTo(1 - (2 * ktp) / ks, 10);

    // smp MCCLoss() (binary, probabilities): one MCC over the batch, each count + 1e-5.
    const p1 = Float64Array.from({ length: B * H * W }, (_, k) => sig(x[k * C]!)), g1 = Float64Array.from({ length: B * H * W }, (_, k) => g[k * C]!);
    let [tp, tn, fp, fn] = [1e-5, 1e-5, 1e-5, 1e-5];
    p1.forEach((p, k) => { const t = g1[k]!; tp += p * t; tn += (1 - p) * (1 - t); fp += p * (1 - t); fn += (1 - p) * t; });
    const mcc = 1 - (tp * tn - fp * fn) / Math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn));
    const ml = await load('mcc', paramsObject(flags('mcc', 'smp.losses.MCCLoss()')) as Record<string, number>, { backend: 'reference' });
    expect((await ml.value({ p: p1, g: g1 }, [B, H, W, 1])).value).toBeCloseTo(mcc, 10);
  });

  // MONAI's SoftclDiceLoss and SoftDiceclDiceLoss (monai/losses/cldice.py) written here: soft_erode the min of
  // the (3,1) and (1,3) min-pools, soft_dilate the 3x3 max-pool (in-image elements, as torch's -inf padding),
  // soft_skel with iter_ = 3, every sum over batch, space and the channels from 1 on, smooth 1.
  test('MONAI SoftclDiceLoss() and SoftDiceclDiceLoss() equal segloss with the flags the catalogue gives', async () => {
    const [B, H, W, C] = [2, 9, 8, 3], n = B * H * W * C;
    const p = Float64Array.from({ length: n }, (_, k) => 0.5 + 0.45 * Math.sin(k * 1.3));
    const g = Float64Array.from({ length: n }, (_, k) => ((k * 5) % 7 < 3 ? 1 : 0));
    type Img = number[][];
    const img = (f: (y: number, x: number) => number): Img => Array.from({ length: H }, (_, y) => Array.from({ length: W }, (_, x) => f(y, x)));
    const slice = (a: Float64Array, b: number, c: number) => img((y, x) => a[((b * H + y) * W + x) * C + c]!);
    const pool = (a: Img, dy: number, dx: number, op: (...v: number[]) => number): Img => img((y, x) => {
      const v: number[] = [];
      for (let i = -dy; i <= dy; i++) for (let j = -dx; j <= dx; j++) if (y + i >= 0 && y + i < H && x + j >= 0 && x + j < W) v.push(a[y + i]![x + j]!);
      return op(...v);
    });
    const erode = (a: Img) => { const p1 = pool(a, 1, 0, Math.min), p2 = pool(a, 0, 1, Math.min); return img((y, x) => Math.min(p1[y]![x]!, p2[y]![x]!)); };
    const open = (a: Img) => pool(erode(a), 1, 1, Math.max);
    const relu = (v: number) => Math.max(0, v);
    const skel = (a: Img): Img => {
      let o = open(a), s = img((y, x) => relu(a[y]![x]! - o[y]![x]!));
      for (let t = 0; t < 3; t++) {
        a = erode(a); o = open(a);
        const d = img((y, x) => relu(a[y]![x]! - o[y]![x]!));
        s = img((y, x) => s[y]![x]! + relu(d[y]![x]! - s[y]![x]! * d[y]![x]!));
      }
      return s;
    };
    let [spg, sp, sgp, sg, tp, sum] = [0, 0, 0, 0, 0, 0];
    for (let b = 0; b < B; b++) for (let c = 1; c < C; c++) {
      const P = slice(p, b, c), G = slice(g, b, c), SP = skel(P), SG = skel(G);
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
        spg += SP[y]![x]! * G[y]![x]!; sp += SP[y]![x]!; sgp += SG[y]![x]! * P[y]![x]!; sg += SG[y]![x]!;
        tp += P[y]![x]! * G[y]![x]!; sum += P[y]![x]! + G[y]![x]!;
      }
    }
    const tprec = (spg + 1) / (sp + 1), tsens = (sgp + 1) / (sg + 1);
    const cl = 1 - (2 * tprec * tsens) / (tprec + tsens), dice = 1 - (2 * tp + 1) / (sum + 1);
    const flags = (name: string) => paramsObject(EQUIVALENTS[name]![0]!.flags) as Record<string, number>;
    const a = await load('cldice', flags('cldice'), { backend: 'reference' });
    expect((await a.value({ p, g }, [B, H, W, C])).value).toBeCloseTo(cl, 10);
    const b = await load('dice_cldice', flags('dice_cldice'), { backend: 'reference' });
    expect((await b.value({ p, g }, [B, H, W, C])).value).toBeCloseTo(0.5 * dice + 0.5 * cl, 10);
  });

  // MONAI's HausdorffDTLoss and LogHausdorffDTLoss (monai/losses/hausdorff_loss.py) written here with a
  // brute-force distance transform: per sample and channel, m = x > 0.5; where m is neither empty nor full,
  // d = the distance of a foreground pixel to the nearest background one and vice versa, else 0; the mean of
  // (p - g)^2 (d_p^2 + d_g^2) over the channels from 1 on (include_background=False, MONAI's default).
  test('MONAI HausdorffDTLoss() and LogHausdorffDTLoss() equal segloss with the flags the catalogue gives', async () => {
    const [B, H, W, C] = [2, 7, 6, 3], n = B * H * W * C;
    const p = Float64Array.from({ length: n }, (_, k) => 0.5 + 0.49 * Math.sin(k * 0.37));
    const g = Float64Array.from({ length: n }, (_, k) => (Math.cos(k * 0.21) > 0.2 ? 1 : 0));
    const field = (a: Float64Array, b: number, c: number): number[] => {
      const m = Array.from({ length: H * W }, (_, i) => a[(b * H * W + i) * C + c]! > 0.5);
      if (m.every(Boolean) || !m.some(Boolean)) return m.map(() => 0);
      return m.map((v, i) => {
        let best = Infinity;
        m.forEach((u, j) => { if (u !== v) best = Math.min(best, Math.hypot(Math.floor(i / W) - Math.floor(j / W), (i % W) - (j % W))); });
        return best;
      });
    };
    let sum = 0, count = 0;
    for (let b = 0; b < B; b++) for (let c = 1; c < C; c++) {
      const dp = field(p, b, c), dg = field(g, b, c);
      for (let i = 0; i < H * W; i++) { const k = (b * H * W + i) * C + c; sum += (p[k]! - g[k]!) ** 2 * (dp[i]! ** 2 + dg[i]! ** 2); count++; }
    }
    const flags = (name: string) => paramsObject(EQUIVALENTS[name]![0]!.flags) as Record<string, number>;
    const h = await load('hausdorff_dt', flags('hausdorff_dt'), { backend: 'reference' });
    expect((await h.value({ p, g }, [B, H, W, C])).value).toBeCloseTo(sum / count, 10);
    const lh = await load('log_hausdorff_dt', flags('log_hausdorff_dt'), { backend: 'reference' });
    expect((await lh.value({ p, g }, [B, H, W, C])).value).toBeCloseTo(Math.log(sum / count + 1), 10);
    expect(sum).toBeGreaterThan(0);
  });

  test('the windowed and distance losses get a picture that varies, not a flat one-pixel line', () => {
    for (const name of ['ssim', 'ms_ssim', 'boundary', 'hausdorff_dt', 'log_hausdorff_dt', 'cldice', 'balanced_ce', 'generalized_wasserstein_dice']) {
      const page = readFileSync(join(site, `${name}.html`), 'utf8');
      expect(page, name).toContain('data-figure="shift"');
    }
    for (const name of ['ssim', 'ms_ssim', 'boundary', 'hausdorff_dt', 'log_hausdorff_dt', 'cldice']) {
      const page = readFileSync(join(site, `${name}.html`), 'utf8');
      expect(page, name).not.toContain('data-figure="pixel"');
      expect(page, name).toContain('On a single pixel this loss is constant');
    }
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
            // Each curve's y coordinates (SVG user units), and each heatmap's distinct cell colours.
            plots: [...document.querySelectorAll('svg.plot')].map((s) => [...s.querySelectorAll('path.curve')].map((q) => [...(q.getAttribute('d') ?? '').matchAll(/[ML][\d.-]+,([\d.-]+)/g)].map((m) => Number(m[1])))),
            heatmaps: [...document.querySelectorAll('svg.heatmap')].map((s) => { const r = s.getBoundingClientRect(); const cells = [...s.querySelectorAll('g.cells rect')]; return { cells: cells.length, colours: new Set(cells.map((c) => c.getAttribute('fill'))).size, w: r.width, h: r.height }; }),
            figures: count('figure'),
            written: count('section.formula h3'), displays: count('.katex-display'),
            rows: count('table.losses tr[data-search]'),
          };
        });
        await phone(p);
        if (p === 'index.html') {
          expect(seen.rows, p).toBe(pages.length - 1); // one row per loss
          continue;
        }
        expect(seen.katex, `${p}: KaTeX output`).toBeGreaterThan(0);
        expect(seen.displays, `${p}: the formula as written (one display per def and loss) and the compiled one`).toBe(seen.written + 1);
        expect(seen.errors, `${p}: .katex-error or an unsupported command in KaTeX's error colour`).toBe(0);
        expect(seen.katexFonts, `${p}: KaTeX fonts loaded`).toBeGreaterThan(0);
        expect(seen.imgsBroken, `${p}: broken <img>`).toBe(0);
        expect(seen.figures, `${p}: at least one picture`).toBeGreaterThan(0);
        expect(seen.figures, `${p}: figures are line plots and heatmaps`).toBe(seen.plots.length + seen.heatmaps.length);
        for (const curves of seen.plots) {
          expect(curves, `${p}: two curves per plot`).toHaveLength(2);
          const ys = curves.flat();
          expect(ys.length, `${p}: curves drawn`).toBeGreaterThan(20);
          expect(Math.max(...ys) - Math.min(...ys), `${p}: a plot's data is not constant`).toBeGreaterThan(1);
        }
        for (const h of seen.heatmaps) {
          expect(h.cells, `${p}: 32x32 cells`).toBe(32 * 32);
          expect(h.colours, `${p}: a heatmap's data is not constant`).toBeGreaterThan(1);
          expect(h.w * h.h, `${p}: heatmap laid out`).toBeGreaterThan(0);
        }
      }
      // The search box filters the index's rows.
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.goto(`${base}index.html`, { waitUntil: 'load' });
      await page.fill('#search', 'hausdorff');
      const shown = await page.evaluate(() => [...document.querySelectorAll('tr[data-search]:not([hidden]) a')].map((a) => a.textContent));
      expect(shown.sort()).toEqual(['hausdorff_dt', 'log_hausdorff_dt']);
      const visible = () => page.evaluate(() => [...document.querySelectorAll('tr[data-search]')].filter((r) => r.getBoundingClientRect().height > 0).length);
      expect(await visible(), 'filtered rows are hidden on a desktop').toBe(2);
      await page.setViewportSize({ width: 390, height: 844 });
      expect(await visible(), 'and at phone width, where rows are blocks').toBe(2);
      await page.fill('#search', '');
      expect(await visible(), 'an empty search shows every row').toBe(pages.length - 1);
      // Two pages as a phone shows them, for a person to look at.
      const shots = join('.tmp', 'test-output', 'docs');
      mkdirSync(shots, { recursive: true });
      await page.setViewportSize({ width: 390, height: 844 });
      for (const p of ['dice', 'ssim']) {
        await page.goto(`${base}${p}.html`, { waitUntil: 'load' });
        await page.evaluate(() => document.fonts.ready);
        await page.screenshot({ path: join(shots, `${p}-390px.png`), fullPage: true });
        expect(existsSync(join(shots, `${p}-390px.png`))).toBe(true);
      }
      expect(problems).toEqual([]);

      /** At a phone's width (390 px) the page does not scroll sideways; back to the desktop width after. */
      async function phone(p: string): Promise<void> {
        await page.setViewportSize({ width: 390, height: 844 });
        const width = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth }));
        expect(Math.max(width.doc, width.body), `${p}: no horizontal scroll at 390 px`).toBeLessThanOrEqual(width.view);
        await page.setViewportSize({ width: 1280, height: 900 });
      }
    } finally {
      await browser.close();
    }
  }, 240_000);
});
