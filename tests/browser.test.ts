// The browser build (`segloss/browser`, bin/build-browser.mjs → segloss.js), loaded as an
// ES module in Debian's headless Chromium (playwright-core) from a local server.
// Oracles: the browser itself (console errors, page errors, failed requests), the bundle's
// esbuild metafile (no Node built-in), and this tree's float64 reference interpreter
// (the Node API's `reference` backend) on the same formulas and inputs: every browser
// backend's value and gradient must equal it within float32 error.
//
// Chromium flags: WebGL2 and WebGL run on SwiftShader with any flags; WebGPU needs a secure
// context (http://127.0.0.1 is one), --enable-unsafe-webgpu, and, with no GPU,
// --use-angle=swiftshader --enable-unsafe-swiftshader for an adapter. A second browser with
// --disable-3d-apis has neither WebGL nor a WebGPU adapter: there each mode must say why.
//
// Without /usr/bin/chromium the test fails, naming how to install it, unless
// SEGLOSS_SKIP_BROWSER=1, which skips it with a loud warning.

import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { compile as nodeCompile } from '../src/runtime/loss.ts';
// @ts-expect-error: a plain ES module without types
import { buildBrowser } from '../bin/build-browser.mjs';

const CHROMIUM = '/usr/bin/chromium';
const skipBrowser = !existsSync(CHROMIUM) && process.env.SEGLOSS_SKIP_BROWSER === '1';
if (skipBrowser) console.warn(`\n${'!'.repeat(78)}\n!! SKIPPED: the browser build test (no ${CHROMIUM}, SEGLOSS_SKIP_BROWSER=1)\n${'!'.repeat(78)}\n`);

const BASE_FLAGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--headless'];
const GPU_FLAGS = ['--enable-unsafe-webgpu', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'];
const LIBRARY = readdirSync('losses').filter((f) => f.endsWith('.loss')).map((f) => f.slice(0, -5)).sort();

// A user formula that `use`s a file the page gives and a library file.
const PARTS = 'def tp(p, g) = sum[region](p * g)\n';
const TVERSKY = `use "parts.loss"
use "dice.loss"
loss tversky_page(p: prob, g: target; alpha = 0.3, beta = 0.7)
  = mean(1 - (tp(p, g) + 1) / (tp(p, g) + alpha * sum[region](p * (1 - g)) + beta * sum[region]((1 - p) * g) + 1))
`;

interface Case { name: string; load?: string; source?: string; params?: Record<string, number | string>; shape: number[] }
// nhwc. 2 x 8 x 8 x 3: reductions over several groups, a class axis, logs (bce), a power (focal_tversky)
// and a formula with `use`; logits through softmax (dice_ce, log space); a 3-D volume whose loss runs
// host steps (hausdorff_dt: distance transforms); windows (ssim, 11 x 11 Gaussian).
const CASES: Case[] = [
  { name: 'dice', load: 'dice', shape: [2, 8, 8, 3] },
  { name: 'bce', load: 'bce', shape: [2, 8, 8, 3] },
  { name: 'focal_tversky', load: 'focal_tversky', shape: [2, 8, 8, 3] },
  { name: 'tversky_page', source: TVERSKY, shape: [2, 8, 8, 3] },
  { name: 'dice_ce softmax', load: 'dice_ce', params: { activation: 'softmax' }, shape: [2, 8, 8, 3] },
  { name: 'hausdorff_dt 3-D', load: 'hausdorff_dt', shape: [1, 5, 6, 7, 2] },
  { name: 'ssim', load: 'ssim', shape: [1, 16, 16, 1] },
];

const inputsFor = (n: number) => ({
  // Probabilities away from 0 and 1 (the losses' clips do not act), targets 0/1.
  p: Array.from({ length: n }, (_, i) => 0.05 + 0.9 * (((i * 37) % 101) / 101)),
  g: Array.from({ length: n }, (_, i) => ((i * 13) % 7 < 3 ? 1 : 0)),
});

let dir: string;
let server: Server;
let base: string;
let built: { file: string; bytes: number; inputs: string[]; losses: number };

const PAGE = '<!doctype html><meta charset="utf-8"><title>segloss</title><link rel="icon" href="data:,"><script type="module">import * as s from "./segloss.js"; window.segloss = s; window.ready = true;</script>';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'segloss-browser-'));
  built = await buildBrowser({ outdir: dir });
  const js = readFileSync(built.file);
  server = createServer((req, res) => {
    const path = new URL(req.url!, 'http://x').pathname;
    // index.html is cross-origin isolated (SharedArrayBuffer for the Web Workers); plain.html is not.
    const isolated = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
    if (path === '/index.html') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...isolated }).end(PAGE);
    else if (path === '/plain.html') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    else if (path === '/segloss.js') res.writeHead(200, { 'content-type': 'text/javascript', ...isolated }).end(js);
    else res.writeHead(404).end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
}, 120_000);

afterAll(() => {
  if (errors.length) console.log(`errors against the float64 reference (relative):\n  ${errors.join('\n  ')}`);
  server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A page of the build, with every console error, page error and failed request collected in `problems`. */
async function open(browser: Browser, path: string, problems: string[]): Promise<Page> {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
  await page.goto(base + path, { waitUntil: 'load' });
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, undefined, { timeout: 30_000 });
  return page;
}

interface PageResult { value: number; grad: number[]; backend: string; ran: string[]; detail: string; ms: number }

/** One case on one backend, in the page. */
function runInPage(page: Page, c: Case, backend: string, threads: number, n: number): Promise<PageResult> {
  return page.evaluate(async ({ c, backend, threads, inputs, parts }) => {
    const s = (window as unknown as { segloss: any }).segloss;
    const options = { backend, threads, files: { 'parts.loss': parts } };
    const loss = c.load ? await s.load(c.load, c.params ?? {}, options) : await s.compile(c.source, options);
    const x = { p: Float32Array.from(inputs.p), g: Float32Array.from(inputs.g) };
    const t0 = performance.now();
    const r = await loss.valueAndGrad(x, c.shape);
    const ms = performance.now() - t0;
    // value() runs the value-only plan: the same loss.
    const v = await loss.value(x, c.shape);
    if (Math.abs(v.value - r.value) > 1e-6 * Math.max(1, Math.abs(r.value)) || v.backend !== r.backend) throw new Error(`value() ${v.value} on ${v.backend} differs from valueAndGrad's ${r.value} on ${r.backend}`);
    const out = { value: r.value, grad: Array.from(r.grad as Float32Array), backend: r.backend, ran: loss.kernelBackends(), detail: loss.detail, ms };
    loss.dispose();
    return out;
  }, { c, backend, threads, inputs: inputsFor(n), parts: PARTS });
}

/** The float64 reference in Node: the compiler's reference interpreter through the Node API. */
async function reference(c: Case): Promise<{ value: number; grad: Float64Array }> {
  const source = c.load ? readFileSync(`losses/${c.load}.loss`, 'utf8') : c.source!;
  const parts = (f: string) => (f.endsWith('/parts.loss') ? PARTS : existsSync(f) ? readFileSync(f, 'utf8') : undefined);
  const loss = await nodeCompile(source, { backend: 'reference', params: c.params ?? {}, ...(c.load ? { file: `losses/${c.load}.loss` } : { file: 'tversky_page.loss', readFile: parts }) });
  const n = c.shape.reduce((a, b) => a * b, 1);
  const { p, g } = inputsFor(n);
  const r = await loss.valueAndGrad({ p: Float32Array.from(p), g: Float32Array.from(g) }, c.shape);
  return { value: r.value, grad: r.grad as Float64Array };
}

/**
 * Within float32 error: inputs are rounded to f32 for both sides; the kernels compute in f32
 * (about 6e-8 relative per operation; partial sums of at most 64 terms, then summed in float64
 * by the executor), and SwiftShader's log/exp are within a few ulp for p in [0.05, 0.95] (GPUJS.md:
 * f32 log(1-p) loses up to 6e-5 only for tiny p). Measured here, on every backend: value within
 * 6e-8 relative, each gradient element within 3e-7 of the gradient's largest magnitude (ssim, whose
 * variances are differences of windowed means, the worst; 2e-7 for softmax logits; under 7e-8 for the
 * rest). The bounds below (1e-6 of each) leave at least a 3-fold margin and still catch a wrong term.
 */
const errors: string[] = [];
function expectClose(got: PageResult, want: { value: number; grad: Float64Array }, what: string): void {
  expect(Math.abs(got.value - want.value), `${what}: value ${got.value} vs ${want.value}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(want.value)));
  expect(got.grad.length, what).toBe(want.grad.length);
  let scale = 0;
  for (const v of want.grad) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  let at = -1;
  got.grad.forEach((v, i) => { const d = Math.abs(v - want.grad[i]!); if (!(d <= worst)) { worst = d; at = i; } });
  errors.push(`${what}: value ${(Math.abs(got.value - want.value) / Math.max(1, Math.abs(want.value))).toExponential(1)}, gradient ${(worst / scale).toExponential(1)} of its largest`);
  expect(worst, `${what}: gradient element ${at}: ${got.grad[at]} vs ${want.grad[at]} (largest |grad| ${scale})`).toBeLessThanOrEqual(1e-6 * scale + 1e-12);
}

describe.skipIf(skipBrowser)('the browser build in headless Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}: run 'apt-get install -y chromium', or set SEGLOSS_SKIP_BROWSER=1 to skip this test`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: [...BASE_FLAGS, ...GPU_FLAGS] });
  }, 60_000);
  afterAll(async () => { await browser?.close(); });

  test('the bundle holds no Node built-in and the library; it loads with no console error, and every mode starts', async () => {
    expect(built.inputs.filter((p) => p.startsWith('node:') || /^(fs|path|os|url|module|worker_threads|child_process)$/.test(p))).toEqual([]);
    expect(built.inputs.some((p) => p.includes('gpu.js'))).toBe(true);
    expect(built.losses).toBe(LIBRARY.length);
    const problems: string[] = [];
    const page = await open(browser, 'index.html', problems);
    const seen = await page.evaluate(async () => {
      const s = (window as unknown as { segloss: any }).segloss;
      return { names: s.libraryNames(), backends: s.BROWSER_BACKENDS, probe: await s.probeBackends(), isolated: crossOriginIsolated };
    });
    console.log(`browser build: ${(built.bytes / 1024).toFixed(0)} KiB; backends here: ${JSON.stringify(seen.probe)}`);
    expect(seen.names).toEqual(LIBRARY);
    expect(seen.backends).toEqual(['js', 'webgl2', 'webgl', 'webgpu', 'cpu', 'reference']);
    for (const b of ['webgl2', 'webgl', 'webgpu', 'cpu']) expect(seen.probe[b], b).toMatchObject({ ok: true });
    expect(seen.isolated).toBe(true);
    await page.close();
    expect(problems).toEqual([]);
  }, 120_000);

  const BACKENDS = ['js', 'webgl2', 'webgpu', 'webgl'] as const;
  for (const backend of BACKENDS) {
    test(`${backend}: value and gradient equal the Node float64 reference within float32 error`, async () => {
      const problems: string[] = [];
      const page = await open(browser, 'index.html', problems);
      for (const c of CASES) {
        const n = c.shape.reduce((a, b) => a * b, 1);
        const got = await runInPage(page, c, backend, 1, n);
        expect(got.backend).toBe(backend);
        expect(new Set(got.ran), `${c.name}: the kernels ran on ${backend}`).toEqual(new Set([backend]));
        expectClose(got, await reference(c), `${backend} ${c.name}`);
      }
      await page.close();
      expect(problems).toEqual([]);
    }, 180_000);
  }

  test('js on Web Workers: shared memory (cross-origin isolated page) and copies (plain page) give the page thread\'s result', async () => {
    // 2 x 64 x 64 x 4 = 32768 threads: the size from which kernels go to the workers.
    const c: Case = { name: 'dice', load: 'dice', shape: [2, 64, 64, 4] };
    const n = c.shape.reduce((a, b) => a * b, 1);
    const want = await reference(c);
    for (const path of ['index.html', 'plain.html']) {
      const problems: string[] = [];
      const page = await open(browser, path, problems);
      const one = await runInPage(page, c, 'js', 1, n);
      const two = await runInPage(page, c, 'js', 2, n);
      expect(two.detail, path).toContain('2 Web Workers');
      expect(two.detail, path).toContain(path === 'index.html' ? 'shared memory' : 'copies');
      // The same f32 kernels over the same thread ranges: bit for bit the page thread's result.
      expect(two.value, path).toBe(one.value);
      expect(two.grad, path).toEqual(one.grad);
      expectClose(two, want, `js workers ${path}`);
      await page.close();
      expect(problems).toEqual([]);
    }
  }, 180_000);

  test('a mode that cannot start says why: no secure context, no WebGL, no WebGPU adapter, an unknown name', async () => {
    const why = (page: Page, backend: string) => page.evaluate(async (backend) => {
      const s = (window as unknown as { segloss: any }).segloss;
      try { await s.load('dice', {}, { backend }); return 'started'; } catch (e) {
        return `${(e as Error).name}: ${(e as Error).message}`;
      }
    }, backend);
    // An insecure origin (http, not localhost): WebGPU is not exposed there.
    const problems: string[] = [];
    const context = await browser.newContext();
    await context.route('http://segloss.test/**', async (route) => {
      const path = new URL(route.request().url()).pathname;
      const res = await route.fetch({ url: base + path.slice(1) });
      await route.fulfill({ response: res });
    });
    const insecure = await context.newPage();
    insecure.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    await insecure.goto('http://segloss.test/plain.html');
    await insecure.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    expect(await why(insecure, 'webgpu')).toMatch(/^BackendUnavailable: webgpu: WebGPU needs a secure context .*http:\/\/segloss\.test/);
    expect(await why(insecure, 'metal')).toMatch(/^BackendUnavailable: metal: not a browser backend; use one of js, webgl2, webgl, webgpu, cpu, reference/);
    await context.close();
    expect(problems).toEqual([]);

    // A browser with the 3-D APIs off: no WebGL context, no WebGPU adapter.
    const off = await chromium.launch({ executablePath: CHROMIUM, args: [...BASE_FLAGS, '--disable-3d-apis'] });
    try {
      const page = await open(off, 'index.html', problems);
      expect(await why(page, 'webgl2')).toMatch(/^BackendUnavailable: webgl2: the browser gives no WebGL2 context/);
      expect(await why(page, 'webgl')).toMatch(/^BackendUnavailable: webgl: the browser gives no WebGL context/);
      expect(await why(page, 'webgpu')).toMatch(/^BackendUnavailable: webgpu: navigator.gpu gives no adapter/);
      // js always starts, and says so.
      expect(await why(page, 'js')).toBe('started');
    } finally {
      await off.close();
    }
  }, 180_000);

  test('formula mistakes are located as in Node; an unknown library name gets a did-you-mean; a missing `use` says where it looked', async () => {
    const problems: string[] = [];
    const page = await open(browser, 'index.html', problems);
    const got = await page.evaluate(async () => {
      const s = (window as unknown as { segloss: any }).segloss;
      const fail = async (f: () => Promise<unknown>) => { try { await f(); return 'no error'; } catch (e) { return `${(e as Error).name}: ${(e as Error).message}`; } };
      return {
        typo: await fail(() => s.compile('loss x(p: prob, g: target)\n  = mean(sigmoidd(p) * g)\n', { file: 'x.loss' })),
        name: await fail(() => s.load('dcie')),
        use: await fail(() => s.compile('use "nope.loss"\nloss x(p: prob, g: target) = mean(p * g)\n', { file: 'x.loss' })),
      };
    });
    expect(got.typo).toMatch(/^SeglossError: x\.loss:2:10: error\[E202\]: unknown function 'sigmoidd'[\s\S]*did you mean 'sigmoid'/);
    expect(got.name).toMatch(/^InputError: no loss named 'dcie' in the library; did you mean 'dice'/);
    expect(got.use).toMatch(/E210[\s\S]*nope\.loss[\s\S]*no such file among the files given \(none\) or in the library/);
    await page.close();
    expect(problems).toEqual([]);
  }, 60_000);

  test('times per call (printed, not asserted): dice and bce, 4 x 128 x 128 x 1, value and gradient', async () => {
    const problems: string[] = [];
    const page = await open(browser, 'index.html', problems);
    const rows = await page.evaluate(async () => {
      const s = (window as unknown as { segloss: any }).segloss;
      const shape = [4, 128, 128, 1];
      const n = 4 * 128 * 128;
      const p = Float32Array.from({ length: n }, (_, i) => 0.05 + 0.9 * (((i * 37) % 101) / 101));
      const g = Float32Array.from({ length: n }, (_, i) => ((i * 13) % 7 < 3 ? 1 : 0));
      const out: string[] = [];
      for (const name of ['dice', 'bce']) {
        for (const [backend, threads] of [['js', 1], ['js', 2], ['webgl2', 1], ['webgl', 1], ['webgpu', 1]] as const) {
          const loss = await s.load(name, {}, { backend, threads });
          const t0 = performance.now();
          await loss.valueAndGrad({ p, g }, shape);
          const first = performance.now() - t0;
          const times: number[] = [];
          for (let i = 0; i < 7; i++) { const t = performance.now(); await loss.valueAndGrad({ p, g }, shape); times.push(performance.now() - t); }
          times.sort((a, b) => a - b);
          out.push(`${name} ${backend}${backend === 'js' ? ` threads=${threads}` : ''}: first call ${first.toFixed(1)} ms, median ${times[3]!.toFixed(2)} ms`);
          loss.dispose();
        }
      }
      return out;
    });
    console.log(`browser times per call (Chromium, SwiftShader):\n  ${rows.join('\n  ')}`);
    await page.close();
    expect(problems).toEqual([]);
  }, 300_000);
});
