// The playground page: a .loss formula in an editor, checked as you type
// (diagnostics as marks), its value and gradient on a prediction/target pair the
// user changes, the simplified gradient typeset with KaTeX, the plan, a backend
// switch with the time per call, parameters as sliders, the library, a download,
// and training a small model with the loss (train.ts). Everything runs in the page:
// the compiler (compileIR), the browser runtime (segloss/browser's compile) and
// TensorFlow.js. `window.playground` exposes the state for tests and the console.

import katex from 'katex';
import {
  type BrowserBackend, type BrowserLoss, type Diagnostic, type LossIR, type Params, BackendUnavailable,
  compile, compileIR, libraryNames, librarySource, printPlan, printRoots, probeBackends,
} from '../browser.ts';
import { browserHost } from '../runtime/browser/library.ts';
import { drawGrey, drawHeat, fmt } from './draw.ts';
import { type Editor, type Mark, createEditor } from './editor.ts';
import { SAMPLES, type Sample, type Scene, paint, sampleScene, shapeOf, slice, tensors } from './samples.ts';
import { setupTraining } from './train.ts';

const FILE = 'playground.loss';
const DEFAULT = `# Tversky loss: alpha weighs false positives, beta false negatives.
# citation: Salehi et al. 2017, arXiv:1706.05721
loss tversky(p: prob, g: target; alpha = 0.3, beta = 0.7, smooth = 1e-5)
  tp = sum[region](p * g)
  fp = sum[region](p * (1 - g))
  fn = sum[region]((1 - p) * g)
  = mean(1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth))
`;
const OFFERED: BrowserBackend[] = ['js', 'webgl2', 'webgpu', 'webgl'];

export interface Evaluation {
  text: string; shape: number[]; inputs: Record<string, Float32Array>; params: Params;
  value: number; grad: Float32Array | Float64Array; backend: string; detail: string; ms: number;
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const paramKey = (ir: LossIR): string => ir.loss.params.map((p) => `${p.name}=${p.default}`).join(',');

export function start(): void {
  const state = {
    text: '', ir: undefined as LossIR | undefined, diagnostics: [] as Diagnostic[], params: {} as Params,
    /** The last formula that compiled, with the parameters and IR it compiled with: what is evaluated and trained. */
    good: undefined as { text: string; params: Params; ir: LossIR } | undefined,
    paramNames: '', backend: 'js' as BrowserBackend,
    scene: sampleScene('disc vs shifted disc', 48, 1, 1), sample: 'disc vs shifted disc' as Sample, z: 0, channel: 0,
    last: undefined as Evaluation | undefined, error: '', seq: 0, timing: '',
  };
  let editor: Editor;
  let settled: Promise<void> = Promise.resolve();
  let markSettled = () => {};

  // --- the formula: check as you type --------------------------------------------------------------------------
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** Check the formula again after `delay` ms; settled() resolves when that check has evaluated. */
  const recheck = (delay: number) => {
    settled = new Promise((ok) => { markSettled = ok; });
    clearTimeout(timer);
    timer = setTimeout(() => void check(), delay);
  };
  const onText = (text: string) => {
    state.text = text;
    recheck(200);
  };
  const check = async () => {
    // This check's own resolver: a later edit's promise is resolved by its own check, never by this one.
    const done = markSettled;
    const text = state.text;
    const dims = state.scene.depth > 1 ? 3 : 2;
    let r = compileIR(text, FILE, { dims, params: state.params, host: browserHost() });
    // Parameters set by the sliders of another formula (another set of names) do not apply: compile with none.
    if (Object.keys(state.params).length && (!r.ir || paramKey(r.ir) !== state.paramNames)) {
      const bare = compileIR(text, FILE, { dims, params: {}, host: browserHost() });
      if (bare.ir || !r.ir) r = bare;
    }
    state.diagnostics = r.diagnostics;
    state.ir = r.ir;
    showDiagnostics(r.diagnostics);
    $('right').classList.toggle('stale', !r.ir);
    if (!r.ir) {
      $('value').textContent = 'the formula has mistakes (marked in the editor): below is the last formula that compiled';
      done();
      return;
    }
    showParams(r.ir);
    // showParams resets the parameters for a new set of names (r was then compiled without them).
    state.good = { text, params: state.params, ir: r.ir };
    showMath(r.ir);
    if (await evaluate()) retime();
    done();
  };

  const showDiagnostics = (ds: readonly Diagnostic[]) => {
    const marks: Mark[] = ds.map((d) => {
      const own = !d.span || d.span.file === FILE;
      const where = d.span ? `${d.span.file === FILE ? '' : `${d.span.file}:`}${d.span.line}:${d.span.col}` : '';
      return { start: own && d.span ? d.span.start : 0, end: own && d.span ? d.span.end : 0, message: `${d.code}: ${d.message}${d.hint ? `\n${d.hint}` : ''}${own ? '' : ` (in ${where})`}` };
    });
    editor.mark(marks);
    const list = $('diagnostics');
    list.replaceChildren(...ds.map((d, i) => {
      const li = document.createElement('li');
      li.textContent = `${d.span ? `${d.span.line}:${d.span.col} ` : ''}${d.code}: ${d.message}${d.hint ? ` (${d.hint})` : ''}`;
      li.onclick = () => editor.reveal(marks[i]!.start);
      return li;
    }));
    if (!ds.length) { const li = document.createElement('li'); li.className = 'ok'; li.textContent = 'no mistakes'; list.append(li); }
  };

  // --- parameters as sliders -------------------------------------------------------------------------------------
  const showParams = (ir: LossIR) => {
    const ps = ir.loss.params;
    const names = paramKey(ir);
    if (names === state.paramNames) return;
    state.paramNames = names;
    state.params = {};
    const box = $('params');
    if (!ps.length) { box.textContent = 'this loss has no parameters'; return; }
    box.replaceChildren(...ps.map((p) => {
      const d = p.default;
      const int = Number.isInteger(d) && Math.abs(d) >= 2;
      // A small positive default (a smoothing term, an epsilon) moves on a log scale, three decades either side.
      const log = d > 0 && d < 0.01;
      const e = log ? Math.log10(d) : 0;
      const [min, max] = log ? [e - 3, e + 3] : [d < 0 ? d : 0, int ? Math.max(4, 3 * d) : d > 1 ? 4 * d : 1];
      const label = document.createElement('label');
      const name = document.createElement('span'); name.textContent = p.name;
      const range = document.createElement('input');
      Object.assign(range, { type: 'range', min: String(min), max: String(max), step: String(int ? 1 : (max - min) / 500), value: String(log ? e : d) });
      range.dataset.param = p.name;
      if (log) range.title = 'log scale';
      const num = document.createElement('input');
      Object.assign(num, { type: 'number', value: String(d), step: 'any' });
      const set = (v: number) => {
        if (!Number.isFinite(v)) return;
        state.params = { ...state.params, [p.name]: v };
        num.value = String(v);
        if (log ? v > 0 : true) range.value = String(log ? Math.log10(v) : v);
        recheck(0);
      };
      range.oninput = () => set(log ? Number((10 ** Number(range.value)).toPrecision(3)) : Number(range.value));
      num.onchange = () => set(Number(num.value));
      label.append(name, range, num);
      return label;
    }));
  };

  // --- the gradient in KaTeX, and the plan -----------------------------------------------------------------------
  const tex = (name: string) => `\\mathrm{${name.replace(/_/g, '\\_')}}`;
  const showMath = (ir: LossIR) => {
    const wrt = ir.loss.wrt.name;
    $('wrt').textContent = wrt;
    const latex = printRoots([{ name: tex(ir.loss.name), node: ir.value }, { name: `\\frac{\\partial\\,${tex(ir.loss.name)}}{\\partial ${wrt.length === 1 ? wrt : tex(wrt)}}`, node: ir.grad }], 'latex');
    $('math').innerHTML = katex.renderToString(latex, { displayMode: true, throwOnError: false });
    $('plan').textContent = printPlan(ir.plan, { loss: ir.loss.name, wrt });
  };

  // --- value and gradient on the scene ---------------------------------------------------------------------------
  const inputsFor = (ir: LossIR, s: Scene): Record<string, Float32Array> => {
    const { p, g } = tensors(s);
    const out: Record<string, Float32Array> = {};
    for (const input of ir.loss.inputs) {
      if (input === ir.loss.wrt) out[input.name] = input.role === 'logits' ? p.map((v) => Math.log(v / (1 - v))) : p;
      else if (input.role === 'target') out[input.name] = g;
      else out[input.name] = new Float32Array(p.length).fill(1);
    }
    return out;
  };

  /** The compiled loss for a formula, its parameters and the backend: one at a time (the previous one is released). */
  let compiling: { key: string; loss: Promise<BrowserLoss> } | undefined;
  const lossFor = (good: { text: string; params: Params }): Promise<BrowserLoss> => {
    const key = JSON.stringify([good.text, good.params, state.backend]);
    if (compiling?.key === key) return compiling.loss;
    const previous = compiling;
    compiling = { key, loss: compile(good.text, { file: FILE, backend: state.backend, params: good.params, threads: 1 }) };
    void previous?.loss.then((l) => l.dispose(), () => {});
    return compiling.loss;
  };

  const evaluate = async (): Promise<Evaluation | undefined> => {
    const good = state.good;
    if (!good) return undefined;
    const { ir, text, params } = good;
    const seq = ++state.seq;
    const s = state.scene;
    const shape = shapeOf(s);
    const inputs = inputsFor(ir, s);
    try {
      const loss = await lossFor(good);
      const t0 = performance.now();
      const r = await loss.valueAndGrad(inputs, shape);
      const ms = performance.now() - t0;
      if (seq !== state.seq) return undefined;
      state.error = '';
      state.last = { text, shape, inputs, params, value: r.value, grad: r.grad, backend: r.backend, detail: loss.detail, ms };
      draw();
      return state.last;
    } catch (e) {
      if (seq !== state.seq) return undefined;
      state.error = e instanceof BackendUnavailable ? `${e.backend} cannot start: ${e.why}` : (e as Error).message ?? String(e);
      state.last = undefined;
      draw();
      return undefined;
    }
  };

  let timingTimer: ReturnType<typeof setTimeout> | undefined;
  /** Time the calls again once the formula, its parameters or the shape have settled. */
  const retime = () => { clearTimeout(timingTimer); timingTimer = setTimeout(() => void time(), 600); };
  /** The median time per call over `calls` calls after a warm one (the timing line). */
  const time = async (calls = 7): Promise<number | undefined> => {
    const good = state.good;
    if (!good) return undefined;
    const shape = shapeOf(state.scene), inputs = inputsFor(good.ir, state.scene);
    const ts: number[] = [];
    let loss: BrowserLoss;
    try {
      loss = await lossFor(good);
      await loss.valueAndGrad(inputs, shape);
      for (let i = 0; i < calls; i++) { const t0 = performance.now(); await loss.valueAndGrad(inputs, shape); ts.push(performance.now() - t0); }
    } catch {
      return undefined; // the evaluation shows the error
    }
    ts.sort((a, b) => a - b);
    const med = ts[ts.length >> 1]!;
    state.timing = `${fmt(med)} ms per call (median of ${calls}, value and gradient, ${shape.join('×')}) on ${loss.backend}: ${loss.detail}`;
    $('timing').textContent = state.timing;
    return med;
  };

  const draw = () => {
    const s = state.scene, n = s.size;
    const { p, g } = tensors(s);
    const ch = Math.min(state.channel, s.classes - 1);
    const gSlice = slice(s, g, state.z, ch);
    drawGrey($('target'), n, gSlice);
    drawGrey($('prediction'), n, slice(s, p, state.z, ch), gSlice);
    const v = $('value');
    if (state.error) { v.innerHTML = ''; const e = document.createElement('span'); e.className = 'err'; e.textContent = state.error; v.append(e); return; }
    if (!state.last) return;
    const grad = slice(s, state.last.grad, state.z, ch);
    const m = drawHeat($('gradient'), n, grad);
    $('gscale').textContent = `(±${fmt(m)})`;
    v.textContent = `loss = ${state.last.value.toPrecision(6)}   (${state.last.backend}, ${fmt(state.last.ms)} ms this call; shape ${state.last.shape.join('×')})`;
  };

  // --- the scene's controls --------------------------------------------------------------------------------------
  const num = (id: string) => Number(($(id) as HTMLInputElement).value);
  const rebuild = () => {
    const size = Math.max(8, Math.min(256, Math.round(num('size')) || 48));
    const depth = Math.max(1, Math.min(32, Math.round(num('depth')) || 1));
    const classes = Math.max(1, Math.min(4, Math.round(num('classes')) || 1));
    const dimsChanged = (depth > 1) !== (state.scene.depth > 1);
    state.scene = sampleScene(state.sample, size, depth, classes);
    state.z = Math.floor((depth - 1) / 2);
    Object.assign($('slice') as HTMLInputElement, { max: String(depth - 1), value: String(state.z), disabled: depth === 1 });
    Object.assign($('channel') as HTMLInputElement, { max: String(classes - 1) });
    state.channel = Math.min(state.channel, classes - 1);
    if (dimsChanged) recheck(0); else void evaluate().then((r) => { if (r) retime(); });
  };
  const sampleSel = $<HTMLSelectElement>('sample');
  sampleSel.append(...SAMPLES.map((s) => new Option(s, s)));
  sampleSel.onchange = () => { state.sample = sampleSel.value as Sample; rebuild(); };
  for (const id of ['size', 'depth', 'classes']) $(id).onchange = rebuild;
  $('slice').oninput = () => { state.z = num('slice'); draw(); };
  $('channel').oninput = () => { state.channel = num('channel'); draw(); };

  let pending = false;
  const soon = () => { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; void evaluate(); }); } };
  const pixel = (c: HTMLCanvasElement, e: PointerEvent) => {
    const r = c.getBoundingClientRect();
    return { x: ((e.clientX - r.left) / r.width) * state.scene.size, y: ((e.clientY - r.top) / r.height) * state.scene.size };
  };
  const target = $<HTMLCanvasElement>('target');
  const brush = (e: PointerEvent) => {
    const { x, y } = pixel(target, e);
    paint(state.scene, state.z, x, y, Math.max(1, state.scene.size / 20), e.shiftKey ? 0 : Math.max(1, Math.min(state.channel, state.scene.classes - 1)));
    draw();
    soon();
  };
  target.onpointerdown = (e) => { target.setPointerCapture(e.pointerId); brush(e); };
  target.onpointermove = (e) => { if (e.buttons) brush(e); };
  const pred = $<HTMLCanvasElement>('prediction');
  const move = (e: PointerEvent) => { Object.assign(state.scene.blob, pixel(pred, e), state.scene.depth > 1 ? { z: state.z } : {}); draw(); soon(); };
  pred.onpointerdown = (e) => { pred.setPointerCapture(e.pointerId); move(e); };
  pred.onpointermove = (e) => { if (e.buttons) move(e); };
  pred.onwheel = (e) => { e.preventDefault(); const b = state.scene.blob; b.r = Math.max(0.5, Math.min(state.scene.size, b.r * (e.deltaY > 0 ? 0.92 : 1.08))); draw(); soon(); };

  // --- library, download, backend --------------------------------------------------------------------------------
  const lib = $<HTMLSelectElement>('library');
  lib.append(...libraryNames().map((n) => new Option(n, n)));
  const open = (name: string) => { const t = librarySource(name); if (t !== undefined) { state.paramNames = ''; editor.setText(t); lib.value = name; } };
  lib.onchange = () => { if (lib.value) { open(lib.value); history.replaceState(null, '', `#loss=${encodeURIComponent(lib.value)}`); } };
  $('download').onclick = () => {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([state.text], { type: 'text/plain' }));
    a.download = `${state.ir?.loss.name ?? 'loss'}.loss`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };
  const backendSel = $<HTMLSelectElement>('backend');
  backendSel.append(...OFFERED.map((b) => new Option(b, b)));
  backendSel.onchange = () => { void setBackend(backendSel.value as BrowserBackend); };
  const setBackend = async (b: BrowserBackend) => {
    state.backend = b;
    backendSel.value = b;
    $('timing').textContent = 'timing…';
    const r = await evaluate();
    if (r) await time(); else $('timing').textContent = '';
  };
  const probed = probeBackends().then((probe) => {
    for (const o of Array.from(backendSel.options)) {
      const p = probe[o.value as BrowserBackend];
      if (p && !p.ok) { o.disabled = true; o.textContent = `${o.value} (unavailable)`; o.title = p.why; } else if (p?.ok) o.title = p.detail;
    }
    // The GPU when the browser has one (WebGL2, then WebGPU), plain JavaScript otherwise.
    const pick = (['webgl2', 'webgpu'] as const).find((b) => probe[b]?.ok) ?? 'js';
    if (pick !== state.backend) void settled.then(() => setBackend(pick));
    return probe;
  });

  // --- start -----------------------------------------------------------------------------------------------------
  const hash = decodeURIComponent(location.hash.match(/loss=([^&]+)/)?.[1] ?? '');
  const first = (hash && librarySource(hash)) || DEFAULT;
  if (hash && librarySource(hash)) lib.value = hash;
  state.text = first;
  editor = createEditor($('editor'), first, onText);
  addEventListener('hashchange', () => { const h = decodeURIComponent(location.hash.match(/loss=([^&]+)/)?.[1] ?? ''); if (h && h !== lib.value) open(h); });
  onText(first);
  const training = setupTraining(() => ({ text: state.good?.text ?? '', params: state.good?.params ?? {}, ok: Boolean(state.ir && state.good) }));

  // The page's API for tests and the console.
  (window as unknown as { playground: unknown }).playground = {
    /** Resolves when the last edit has been checked and evaluated. */
    settled: () => settled,
    state: () => ({ text: state.text, diagnostics: state.diagnostics.map((d) => ({ code: d.code, message: d.message, line: d.span?.line, col: d.span?.col, start: d.span?.start, end: d.span?.end, file: d.span?.file })), last: state.last, error: state.error, backend: state.backend, timing: state.timing }),
    setText: (t: string) => { editor.setText(t); return settled; },
    setBackend, time, evaluate, probe: () => probed, open,
    training,
  };
  document.body.dataset.ready = 'true';
}
