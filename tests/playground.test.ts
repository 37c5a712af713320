// The playground (src/playground/, bin/playground.mjs) in Debian's headless Chromium
// (playwright-core), served by bin/playground.mjs's server from a folder written by
// writePlayground. Oracles: the browser (console errors, page errors, failed requests);
// this tree's float64 reference interpreter (the Node API's `reference` backend) on the
// formula typed into the editor and the inputs the page built, for each backend the page
// offers; the compiler's diagnostics' positions (the marks must sit on the mistakes);
// the training curve (the loss after N steps is lower than at the start).
// Screenshots go to .tmp/test-output/playground/ (git-ignored) for a person to look at.
//
// Chromium flags as tests/browser.test.ts: WebGL2 on SwiftShader with any flags; WebGPU with
// --enable-unsafe-webgpu --use-angle=swiftshader --enable-unsafe-swiftshader (http://127.0.0.1
// is a secure context). Without /usr/bin/chromium the test fails naming how to install it,
// unless SEGLOSS_SKIP_BROWSER=1, which skips it with a loud warning.

import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writePlayground } from '../src/playground/write.ts';
import { compile as nodeCompile } from '../src/runtime/loss.ts';
// @ts-expect-error: a plain ES module without types
import { serve } from '../bin/playground.mjs';

const CHROMIUM = '/usr/bin/chromium';
const skipBrowser = !existsSync(CHROMIUM) && process.env.SEGLOSS_SKIP_BROWSER === '1';
if (skipBrowser) console.warn(`\n${'!'.repeat(78)}\n!! SKIPPED: the playground test (no ${CHROMIUM}, SEGLOSS_SKIP_BROWSER=1)\n${'!'.repeat(78)}\n`);

const FLAGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--headless',
  '--enable-unsafe-webgpu', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'];
const SHOTS = join('.tmp', 'test-output', 'playground');

// A formula of the user's own: Dice plus a focal cross-entropy, with two parameters.
const MINE = `loss mine(p: prob, g: target; gamma = 2, w = 0.5)
  tp = sum[region](p * g)
  dice = (2 * tp + 1) / (sum[region](p) + sum[region](g) + 1)
  ce = mean[space](-(g * (1 - p)^gamma * log(p) + (1 - g) * p^gamma * log(1 - p)))
  = mean(w * (1 - dice) + (1 - w) * ce)
`;
// Three mistakes: three unknown names, on lines 2, 3 and 4.
const WRONG = `loss mine(p: prob, g: target; smooth = 1)
  tp = sum[region](p * gg)
  fp = sum[region](p * (1 - g)) + foo
  = mean(1 - (tp + smooth) / (tp + fp + bar))
`;

let dir: string;
let server: Server;
let url: string;
let bytes: number;
let browser: Browser;

beforeAll(async () => {
  if (skipBrowser) return;
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}: run 'apt-get install -y chromium', or set SEGLOSS_SKIP_BROWSER=1 to skip this test`);
  dir = mkdtempSync(join(tmpdir(), 'segloss-playground-'));
  bytes = (await writePlayground(dir)).bytes;
  ({ server, url } = await serve(dir, { port: 0 }));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  mkdirSync(SHOTS, { recursive: true });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type W = { playground: any };

/** The playground, with every console error, page error and failed request collected in `problems`. */
async function open(problems: string[], hash = ''): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
  await page.goto(url + hash, { waitUntil: 'load' });
  await page.waitForFunction(() => document.body.dataset.ready === 'true', undefined, { timeout: 60_000 });
  await page.evaluate(async () => { const p = (window as unknown as W).playground; await p.probe(); await p.settled(); });
  return page;
}

/** Type a formula into the editor as a user does: focus it, select all, type. */
async function type(page: Page, text: string): Promise<void> {
  await page.click('.cm-content');
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  // insertText: the text as one input event, as a paste or an IME gives it (typing key by key would add CodeMirror's auto-indentation).
  await page.keyboard.insertText(text);
  await page.waitForTimeout(300);
  await page.evaluate(() => (window as unknown as W).playground.settled());
}

interface Got { value: number; grad: number[]; backend: string; shape: number[]; inputs: Record<string, number[]>; params: Record<string, number>; text: string; ms: number }
const lastOf = (page: Page): Promise<Got | undefined> => page.evaluate(() => {
  const s = (window as unknown as W).playground.state();
  const l = s.last;
  return l && { value: l.value, grad: Array.from(l.grad as Float32Array), backend: l.backend, shape: l.shape, params: l.params, text: l.text, ms: l.ms,
    inputs: Object.fromEntries(Object.entries(l.inputs as Record<string, Float32Array>).map(([k, v]) => [k, Array.from(v)])) };
});

const errors: string[] = [];
/**
 * Equal to the float64 reference within float32 error: the page's inputs are float32 for both sides; the kernels
 * compute in f32 (partial sums then summed in float64 by the executor). Measured here (48 x 48 and 5 x 48 x 48, every
 * backend): value within 5e-10 relative, each gradient element within 2.1e-7 of the gradient's largest; the bounds
 * (3e-6 of each) leave a 15-fold margin and still catch a wrong term.
 */
async function expectReference(got: Got, what: string): Promise<void> {
  const loss = await nodeCompile(got.text, { backend: 'reference', params: got.params, file: 'playground.loss' });
  const inputs = Object.fromEntries(Object.entries(got.inputs).map(([k, v]) => [k, Float32Array.from(v)]));
  const want = await loss.valueAndGrad(inputs, got.shape);
  const dv = Math.abs(got.value - want.value) / Math.max(1, Math.abs(want.value));
  let scale = 0, worst = 0;
  for (const v of want.grad) scale = Math.max(scale, Math.abs(v));
  got.grad.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - want.grad[i]!)); });
  errors.push(`${what} on ${got.backend} (${got.shape.join('x')}): value ${dv.toExponential(1)}, gradient ${(worst / scale).toExponential(1)} of its largest; ${got.ms.toFixed(1)} ms`);
  expect(got.grad.length, what).toBe(want.grad.length);
  expect(dv, `${what}: value ${got.value} vs ${want.value}`).toBeLessThanOrEqual(3e-6);
  expect(worst, `${what}: gradient (largest |grad| ${scale})`).toBeLessThanOrEqual(3e-6 * scale + 1e-12);
}

describe('bin/playground.mjs serve', () => {
  test('a port in use is a clear error naming it and --port', async () => {
    const first = await serve(tmpdir(), { port: 0 });
    const port = Number(new URL(first.url).port);
    await expect(serve(tmpdir(), { port })).rejects.toThrow(new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use: .*--port`));
    first.server.close();
  });
});

describe.skipIf(skipBrowser)('the playground in headless Chromium', () => {
  afterAll(() => { if (errors.length) console.log(`playground vs the float64 reference (relative):\n  ${errors.join('\n  ')}`); });

  test('it loads with no console error, picks a GPU backend when there is one, and shows value, gradient, KaTeX and the plan', async () => {
    const problems: string[] = [];
    const page = await open(problems, '#loss=dice');
    const seen = await page.evaluate(() => ({
      text: (window as unknown as W).playground.state().text as string,
      backend: (window as unknown as W).playground.state().backend as string,
      katex: document.querySelectorAll('#math .katex').length,
      plan: document.getElementById('plan')!.textContent,
      library: document.querySelectorAll('#library option').length,
      sliders: document.querySelectorAll('#params input[type=range]').length,
      value: document.getElementById('value')!.textContent,
    }));
    console.log(`playground.js: ${(bytes / 1024).toFixed(0)} KiB; backend picked: ${seen.backend}`);
    expect(seen.text).toMatch(/^# Dice loss/);
    expect(['webgl2', 'webgpu']).toContain(seen.backend);
    expect(seen.katex).toBe(1);
    expect(seen.plan).toMatch(/2 passes over the full tensor/);
    expect(seen.library).toBeGreaterThan(40);
    expect(seen.sliders).toBe(5);
    expect(seen.value).toMatch(/^loss = 0\.\d+/);
    await page.screenshot({ path: join(SHOTS, 'dice.png'), fullPage: true });
    // The user moves the blob and draws on the target: the loss follows, and still equals the reference.
    const before = (await lastOf(page))!;
    const at = async (id: string, fx: number, fy: number) => { const b = (await page.locator(id).boundingBox())!; return [b.x + fx * b.width, b.y + fy * b.height] as const; };
    await page.mouse.move(...(await at('#prediction', 0.58, 0.55)));
    await page.mouse.down();
    await page.mouse.move(...(await at('#prediction', 0.3, 0.3)), { steps: 4 });
    await page.mouse.up();
    await page.mouse.move(...(await at('#target', 0.2, 0.8)));
    await page.mouse.down();
    await page.mouse.move(...(await at('#target', 0.8, 0.8)), { steps: 6 });
    await page.mouse.up();
    await page.waitForTimeout(500);
    await page.evaluate(() => (window as unknown as W).playground.evaluate());
    const after = (await lastOf(page))!;
    expect(after.value).not.toBeCloseTo(before.value, 3);
    expect(after.inputs.g!.reduce((a, b) => a + b, 0)).toBeGreaterThan(before.inputs.g!.reduce((a, b) => a + b, 0));
    await expectReference(after, 'dice after moving the blob and drawing');
    await page.screenshot({ path: join(SHOTS, 'dice-drawn.png'), fullPage: true });
    // "download the .loss file" saves the editor's text under the loss's name.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    expect(download.suggestedFilename()).toBe('dice.loss');
    await page.close();
    expect(problems).toEqual([]);
  }, 180_000);

  test('a formula typed into the editor gives the Node reference\'s value and gradient on js, webgl2 and webgpu; a slider and a 3-D volume too', async () => {
    const problems: string[] = [];
    const page = await open(problems);
    await type(page, MINE);
    const times: string[] = [];
    for (const backend of ['js', 'webgl2', 'webgpu']) {
      await page.evaluate((b) => (window as unknown as W).playground.setBackend(b), backend);
      const got = (await lastOf(page))!;
      expect(got, `${backend}: an evaluation`).toBeDefined();
      expect(got.text).toBe(MINE);
      expect(got.backend).toBe(backend);
      await expectReference(got, `typed formula`);
      times.push(`${backend}: ${await page.evaluate(() => (window as unknown as W).playground.state().timing)}`);
    }
    console.log(`time per call, value and gradient, 1x48x48x1:\n  ${times.join('\n  ')}`);
    // A parameter moved with its slider.
    await page.evaluate(() => {
      const r = document.querySelector<HTMLInputElement>('#params input[data-param="gamma"]')!;
      r.value = '3';
      r.dispatchEvent(new Event('input'));
    });
    await page.evaluate(() => (window as unknown as W).playground.settled());
    await page.waitForFunction(() => (window as unknown as W).playground.state().last?.params?.gamma === 3, undefined, { timeout: 30_000 });
    await expectReference((await lastOf(page))!, 'gamma = 3 by its slider');
    // A 3-D volume, shown slice by slice.
    await page.fill('#depth', '5');
    await page.dispatchEvent('#depth', 'change');
    await page.waitForFunction(() => (window as unknown as W).playground.state().last?.shape?.length === 5, undefined, { timeout: 60_000 });
    const vol = (await lastOf(page))!;
    expect(vol.shape).toEqual([1, 5, 48, 48, 1]);
    await expectReference(vol, '3-D volume');
    await page.screenshot({ path: join(SHOTS, 'typed-formula-3d.png'), fullPage: true });
    await page.close();
    expect(problems).toEqual([]);
  }, 300_000);

  test('a formula with three mistakes shows three marks, each on its mistake', async () => {
    const problems: string[] = [];
    const page = await open(problems);
    await type(page, WRONG);
    await page.waitForSelector('.cm-lintRange-error');
    const marks = await page.evaluate(() => Array.from(document.querySelectorAll('.cm-lintRange-error')).map((e) => {
      const line = e.closest('.cm-line')!;
      return { text: e.textContent, line: Array.from(line.parentElement!.children).indexOf(line) + 1 };
    }));
    expect(marks).toEqual([{ text: 'gg', line: 2 }, { text: 'foo', line: 3 }, { text: 'bar', line: 4 }]);
    const listed = await page.$$eval('#diagnostics li', (lis) => lis.map((l) => l.textContent));
    expect(listed).toEqual([expect.stringMatching(/^2:24 E201: unknown name 'gg'/), expect.stringMatching(/^3:35 E201: unknown name 'foo'/), expect.stringMatching(/^4:41 E201: unknown name 'bar'/)]);
    expect(await page.locator('.cm-gutter-lint .cm-lint-marker-error').count()).toBe(3);
    await page.screenshot({ path: join(SHOTS, 'three-mistakes.png'), fullPage: true });
    await page.close();
    expect(problems).toEqual([]);
  }, 120_000);

  test('training in the page lowers the loss on the WebGL backend; a second loss trains from the same start, drawn beside the first', async () => {
    const problems: string[] = [];
    const page = await open(problems, '#loss=dice');
    const steps = 40;
    const run = (): Promise<{ name: string; backend: string; losses: number[]; ious: number[]; msPerStep: number; path: string }> =>
      page.evaluate((n) => (window as unknown as W).playground.training.run({ steps: n, size: 32, lr: 0.01 }), steps);
    const dice = await run();
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    const report = (r: typeof dice) => `${r.name} on ${r.backend}: loss ${mean(r.losses.slice(0, 5)).toFixed(4)} (first 5 steps) -> ${mean(r.losses.slice(-5)).toFixed(4)} (last 5), IoU ${r.ious.map((v) => v.toFixed(2)).join(' ')}; ${r.msPerStep.toFixed(0)} ms per step`;
    console.log(report(dice));
    expect(dice.backend).toBe('webgl');
    expect(dice.losses).toHaveLength(steps);
    expect(mean(dice.losses.slice(-5))).toBeLessThan(0.8 * mean(dice.losses.slice(0, 5)));
    await page.evaluate(() => (window as unknown as W).playground.open('bce'));
    await page.evaluate(async () => { await new Promise((ok) => setTimeout(ok, 300)); await (window as unknown as W).playground.settled(); });
    const bce = await run();
    console.log(report(bce));
    expect(bce.name).toBe('bce');
    expect(mean(bce.losses.slice(-5))).toBeLessThan(0.8 * mean(bce.losses.slice(0, 5)));
    expect(await page.locator('#masks figure').count()).toBe(2);
    expect([dice.path, bce.path]).toEqual(['on the device', 'on the device']);
    await page.screenshot({ path: join(SHOTS, 'training-two-losses.png'), fullPage: true });
    await page.close();
    expect(problems).toEqual([]);
  }, 600_000);

  test('without WebGL and WebGPU in the page (--disable-3d-apis) it runs on js and says why the GPU modes cannot start; training runs on tfjs\'s cpu backend', async () => {
    const bare = await chromium.launch({ executablePath: CHROMIUM, args: [...FLAGS.filter((f) => !f.includes('webgpu') && !f.includes('swiftshader')), '--disable-3d-apis'] });
    try {
      const problems: string[] = [];
      const page = await bare.newPage();
      page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      await page.goto(url + '#loss=jaccard');
      await page.waitForFunction(() => document.body.dataset.ready === 'true', undefined, { timeout: 60_000 });
      await page.evaluate(async () => { const p = (window as unknown as W).playground; await p.probe(); await p.settled(); });
      const seen = await page.evaluate(() => ({
        backend: (window as unknown as W).playground.state().backend,
        options: Array.from(document.querySelectorAll<HTMLOptionElement>('#backend option')).map((o) => ({ value: o.value, disabled: o.disabled, why: o.title })),
      }));
      expect(seen.backend).toBe('js');
      for (const o of seen.options) {
        if (o.value === 'js') expect(o.disabled).toBe(false);
        else expect(o.disabled, o.value).toBe(true);
        if (o.value !== 'js') expect(o.why, o.value).toMatch(/\w+/);
      }
      const got = (await lastOf(page))!;
      expect(got.backend).toBe('js');
      await expectReference(got, 'jaccard without a GPU');
      // tfjs's WebGL backend may still start there, on an OffscreenCanvas (--disable-3d-apis leaves those); the cpu one is asked for.
      const r = await page.evaluate(() => (window as unknown as W).playground.training.run({ steps: 3, size: 16, backend: 'cpu' }));
      expect(r.backend).toBe('cpu');
      expect(r.losses.every(Number.isFinite)).toBe(true);
      // A loss with a distance transform (no tfjs form) trains through the host: its compiled js kernels.
      await page.evaluate(async () => { const p = (window as unknown as W).playground; p.open('hausdorff_dt'); await new Promise((ok) => setTimeout(ok, 300)); await p.settled(); });
      const hd = await page.evaluate(() => (window as unknown as W).playground.training.run({ steps: 3, size: 16, backend: 'cpu' }));
      expect(hd.name).toBe('hausdorff_dt');
      expect(hd.path).toMatch(/^through the host \(edt has no on-device form\)/);
      expect(hd.losses.every(Number.isFinite)).toBe(true);
      await page.screenshot({ path: join(SHOTS, 'no-gpu.png'), fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await bare.close();
    }
  }, 180_000);
});
