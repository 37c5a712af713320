// Training in the page: a small fully convolutional net (tfjs-layers: four 3×3
// convolutions around one 2× max pool and upsampling, then a 1×1 to the classes) learns to segment synthetic
// shapes (discs, squares, bars in noise) with the loss in the editor, on
// TensorFlow.js's WebGL backend when the page has WebGL (its cpu backend, plain
// JavaScript, otherwise). The loss and its gradient run as tfjs ops on that
// backend (runtime/tfjs-device.ts's toTfjsDevice, the compiler's symbolic
// gradient). Every run starts from the same weights and sees the same batches
// (seeded), so two runs with two losses compare: their loss curves (each on its
// own scale) and the IoU of held-out shapes (one scale), drawn as they train.

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import * as tfl from '@tensorflow/tfjs-layers';
import { type BrowserLoss, type LossIR, type Params, compile, libraryNames, librarySource } from '../browser.ts';
import { toTfjsDevice } from '../runtime/tfjs-device.ts';
import { type Curve, drawCurves, drawGrey, fmt } from './draw.ts';

export interface RunResult { name: string; backend: string; losses: number[]; ious: number[]; msPerStep: number; stopped: boolean; /** How the loss ran: 'on the device' (tfjs ops) or through the host (the compiled kernels). */ path: string }
interface Run extends RunResult { color: string; label: string; iouSteps: number[] }

const COLORS = ['#2557d6', '#d9480f', '#2b8a3e', '#862e9c'];
const BATCH = 8;
const HELD = 4;

/** A seeded generator (mulberry32): the same batches for every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` images (noise and one or two shapes, brighter than the background) and their masks, size × size. */
export function shapes(count: number, size: number, seed: number): { x: Float32Array; m: Uint8Array } {
  const r = rng(seed);
  const x = new Float32Array(count * size * size);
  const m = new Uint8Array(count * size * size);
  const gauss = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  for (let i = 0; i < count; i++) {
    const o = i * size * size;
    const k = 1 + Math.floor(r() * 2);
    for (let s = 0; s < k; s++) {
      const kind = Math.floor(r() * 3), cx = size * (0.2 + 0.6 * r()), cy = size * (0.2 + 0.6 * r()), rad = size * (0.08 + 0.14 * r());
      for (let y = 0; y < size; y++) for (let xx = 0; xx < size; xx++) {
        const dx = xx + 0.5 - cx, dy = y + 0.5 - cy;
        const inside = kind === 0 ? dx * dx + dy * dy <= rad * rad : kind === 1 ? Math.abs(dx) <= rad && Math.abs(dy) <= rad : Math.abs(dy) <= Math.max(1, rad / 4) && Math.abs(dx) <= rad * 2;
        if (inside) m[o + y * size + xx] = 1;
      }
    }
    for (let j = 0; j < size * size; j++) x[o + j] = 0.6 * m[o + j]! + 0.2 + 0.18 * gauss();
  }
  return { x, m };
}

function model(size: number, classes: number, logits: boolean): tfl.Sequential {
  const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
  const net = tfl.sequential();
  net.add(tfl.layers.conv2d({ inputShape: [size, size, 1], filters: 12, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1) }));
  net.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  net.add(tfl.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(2) }));
  net.add(tfl.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(3) }));
  net.add(tfl.layers.upSampling2d({ size: [2, 2] }));
  net.add(tfl.layers.conv2d({ filters: 12, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(4) }));
  net.add(tfl.layers.conv2d({ filters: classes, kernelSize: 1, padding: 'same', activation: logits ? 'linear' : classes === 1 ? 'sigmoid' : 'softmax', kernelInitializer: init(5) }));
  return net;
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

/**
 * One step with the loss's compiled kernels on the host (a loss with an op that has no tfjs form): the forward pass,
 * the loss's value and gradient G = dL/dyPred from the js kernels, then the variables' gradient as that of Σ yPred·G
 * (the chain rule: Jᵀ G), applied by the optimizer. Returns the loss before the step.
 */
async function hostStep(loss: BrowserLoss, lowered: LossIR['loss'], optimizer: tf.Optimizer, net: tfl.Sequential, vars: tf.Variable[], x: tf.Tensor, y: tf.Tensor): Promise<number> {
  const yPred = net.predict(x) as tf.Tensor;
  const shape = yPred.shape;
  const [p, g] = [Float32Array.from(await yPred.data()), Float32Array.from(await y.data())];
  yPred.dispose();
  const inputs: Record<string, Float32Array> = {};
  for (const i of lowered.inputs) inputs[i.name] = i === lowered.wrt ? p : i.role === 'target' ? g : new Float32Array(p.length).fill(1);
  const r = await loss.valueAndGrad(inputs, shape);
  const G = tf.tensor(Float32Array.from(r.grad), shape);
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(net.apply(x, { training: true }) as tf.Tensor, G)) as tf.Scalar, vars);
  optimizer.applyGradients(grads);
  tf.dispose([G, value, ...Object.values(grads)]);
  return r.value;
}

/** Wire the training panel; `formula()` gives the editor's text and parameters. Returns the panel's API (for tests). */
export function setupTraining(formula: () => { text: string; params: Params; ok: boolean }) {
  const runs: Run[] = [];
  let stop = false;
  let busy = false;
  // TensorFlow.js's WebGL backend when it starts (it may use an OffscreenCanvas where the page's canvases have no
  // WebGL), its cpu backend (plain JavaScript) otherwise; the select switches between them.
  const sel = $<HTMLSelectElement>('tfb');
  const backend = (async () => {
    let gl = false;
    try { gl = await tf.setBackend('webgl'); if (gl) await tf.ready(); } catch { gl = false; }
    if (!gl) {
      const o = sel.querySelector<HTMLOptionElement>('option[value=webgl]')!;
      o.disabled = true;
      o.textContent = 'webgl (unavailable)';
      await tf.setBackend('cpu');
    }
    sel.value = tf.getBackend();
    return tf.getBackend();
  })();
  const label = (b: string) => (b === 'webgl' ? 'TensorFlow.js\'s WebGL backend' : 'TensorFlow.js\'s cpu backend (plain JavaScript)');
  void backend.then((b) => { $('tfbackend').textContent = label(b); });
  sel.onchange = () => { void backend.then(() => tf.setBackend(sel.value)).then((ok) => { sel.value = tf.getBackend(); $('tfbackend').textContent = label(tf.getBackend()) + (ok ? '' : ' (webgl did not start)'); }); };

  const status = (t: string) => { $('trainstatus').textContent = t; };
  const redraw = () => {
    const curves = (f: (r: Run) => number[], xs?: (r: Run) => number[]): Curve[] => runs.map((r) => ({ label: r.label, color: r.color, points: f(r), ...(xs ? { xs: xs(r) } : {}) }));
    drawCurves($('losscurve'), curves((r) => r.losses), { own: true });
    drawCurves($('ioucurve'), curves((r) => r.ious, (r) => r.iouSteps), { yMin: 0, yMax: 1 });
  };

  const run = async (o: { steps?: number; lr?: number; size?: number; classes?: number; backend?: 'webgl' | 'cpu'; formula?: { text: string; params: Params } } = {}): Promise<RunResult> => {
    if (busy) throw new Error('a run is in progress');
    const f = o.formula ? { ...o.formula, ok: true } : formula();
    if (!f.ok) throw new Error('the formula has mistakes: fix them first');
    busy = true;
    stop = false;
    $<HTMLButtonElement>('train').disabled = true;
    $<HTMLButtonElement>('both').disabled = true;
    $<HTMLButtonElement>('stop').disabled = false;
    const steps = o.steps ?? Number(($('steps') as HTMLInputElement).value);
    const lr = o.lr ?? Number(($('lr') as HTMLInputElement).value);
    const size = o.size ?? Number(($('tsize') as HTMLInputElement).value);
    const classes = o.classes ?? Math.min(2, Math.max(1, Number(($('classes') as HTMLInputElement).value) || 1));
    await backend;
    if (o.backend && o.backend !== tf.getBackend()) { await tf.setBackend(o.backend); sel.value = tf.getBackend(); }
    const tfBackend = tf.getBackend();
    const made: tf.Tensor[] = [];
    let net: tfl.Sequential | undefined;
    let fn: ReturnType<typeof toTfjsDevice> | undefined;
    let host: BrowserLoss | undefined;
    try {
      const loss = await compile(f.text, { params: f.params, backend: 'reference', file: 'playground.loss' });
      const lowered = loss.ir(2).loss;
      const logits = lowered.wrt.role === 'logits';
      let path = 'on the device';
      try {
        fn = toTfjsDevice(loss);
      } catch (e) {
        // An op with no tfjs form (a distance transform): the compiled js kernels through the host instead.
        path = `through the host (${(e as Error).message.match(/op '(\w+)'/)?.[1] ?? 'an op'} has no on-device form)`;
        host = await compile(f.text, { params: f.params, backend: 'js', threads: 1, file: 'playground.loss' });
      }
      net = model(size, classes, logits);
      const vars = net.trainableWeights.map((w) => w.read() as tf.Variable);
      const optimizer = tf.train.adam(lr);
      const target = (m: Uint8Array, n: number) => tf.tidy(() => {
        const g = tf.tensor4d(Float32Array.from(m), [n, size, size, 1]);
        return classes === 1 ? g : tf.concat([tf.sub(1, g), g], 3);
      });
      const held = shapes(HELD * 4, size, 999);
      const hx = tf.tensor4d(held.x, [HELD * 4, size, size, 1]);
      made.push(hx);
      const r: Run = { name: loss.name, backend: tfBackend, losses: [], ious: [], iouSteps: [], msPerStep: 0, stopped: false, color: COLORS[runs.length % COLORS.length]!, label: `${loss.name}${Object.keys(f.params).length ? ` ${JSON.stringify(f.params)}` : ''}`, path };
      if (runs.length >= 2) runs.shift();
      runs.push(r);
      runs.forEach((x, i) => { x.color = COLORS[i]!; });
      const evalHeld = (): Float32Array => tf.tidy(() => {
        let out = net!.predict(hx) as tf.Tensor;
        if (logits) out = classes === 1 ? tf.sigmoid(out) : tf.softmax(out);
        return (classes === 1 ? out : tf.slice(out, [0, 0, 0, 1], [-1, -1, -1, 1])).dataSync() as Float32Array;
      });
      const iou = (p: Float32Array) => {
        let inter = 0, union = 0;
        for (let i = 0; i < p.length; i++) { const a = p[i]! > 0.5, b = held.m[i]! > 0; if (a && b) inter++; if (a || b) union++; }
        return union ? inter / union : 1;
      };
      const t0 = performance.now();
      for (let step = 0; step < steps && !stop; step++) {
        const b = shapes(BATCH, size, step + 1);
        const x = tf.tensor4d(b.x, [BATCH, size, size, 1]);
        const y = target(b.m, BATCH);
        const v = fn ? await fn.trainStep(optimizer, () => net!.apply(x, { training: true }) as tf.Tensor, y, vars) : await hostStep(host!, lowered, optimizer, net, vars, x, y);
        x.dispose(); y.dispose();
        r.losses.push(v);
        if (step % 5 === 0 || step === steps - 1) {
          const p = evalHeld();
          r.ious.push(iou(p));
          r.iouSteps.push(step);
          if (step % 20 === 0 || step === steps - 1) showMasks(r, held, p, size);
          redraw();
          status(`${r.label}: step ${step + 1}/${steps}, loss ${fmt(v)}, IoU ${r.ious[r.ious.length - 1]!.toFixed(3)}`);
          await new Promise((ok) => setTimeout(ok, 0));
        }
      }
      r.msPerStep = (performance.now() - t0) / Math.max(1, r.losses.length);
      r.stopped = stop;
      optimizer.dispose();
      redraw();
      status(`${r.label}: ${r.losses.length} steps on ${tfBackend}, the loss ${r.path}, ${fmt(r.msPerStep)} ms per step; loss ${fmt(r.losses[0] ?? NaN)} → ${fmt(r.losses[r.losses.length - 1] ?? NaN)}, IoU ${r.ious[r.ious.length - 1]?.toFixed(3)}`);
      return { name: r.name, backend: r.backend, losses: r.losses, ious: r.ious, msPerStep: r.msPerStep, stopped: r.stopped, path: r.path };
    } catch (e) {
      status(`cannot train: ${(e as Error).message ?? String(e)}`);
      throw e;
    } finally {
      made.forEach((t) => t.dispose());
      net?.dispose();
      fn?.dispose();
      host?.dispose();
      busy = false;
      $<HTMLButtonElement>('train').disabled = false;
      $<HTMLButtonElement>('both').disabled = false;
      $<HTMLButtonElement>('stop').disabled = true;
    }
  };

  /** A row per run: held-out images, their targets and the run's predictions. */
  const showMasks = (r: Run, held: { x: Float32Array; m: Uint8Array }, p: Float32Array, size: number) => {
    const box = $('masks');
    let fig = box.querySelector<HTMLElement>(`figure[data-run="${runs.indexOf(r)}"]`);
    if (!fig) {
      fig = document.createElement('figure');
      fig.dataset.run = String(runs.indexOf(r));
      box.append(fig);
    }
    const n = size * size;
    const rows = [0, 1, 2].map((kind) => {
      const row = document.createElement('div');
      row.className = 'row';
      for (let i = 0; i < HELD; i++) {
        const c = document.createElement('canvas');
        c.width = c.height = 96;
        const at = (a: ArrayLike<number>) => Array.prototype.slice.call(a, i * n, (i + 1) * n) as number[];
        drawGrey(c, size, kind === 0 ? at(held.x) : kind === 1 ? at(held.m) : at(p), kind === 2 ? at(held.m) : undefined);
        row.append(c);
      }
      return row;
    });
    const cap = document.createElement('figcaption');
    cap.style.color = r.color;
    cap.textContent = `${r.label}: images, targets, predictions (step ${r.losses.length})`;
    fig.replaceChildren(...rows, cap);
  };

  $('train').onclick = () => { void run().catch(() => {}); };
  // The survey's comparison: the editor's loss, then a library loss, from the same start on the same batches.
  const other = $<HTMLSelectElement>('compare');
  other.append(...libraryNames().map((n) => new Option(n, n)));
  other.value = 'bce';
  $('both').onclick = () => {
    void (async () => {
      await run();
      if (!stop) await run({ formula: { text: librarySource(other.value) ?? '', params: {} } });
    })().catch(() => {});
  };
  $('stop').onclick = () => { stop = true; };
  $('clear').onclick = () => { runs.length = 0; $('masks').replaceChildren(); redraw(); status(''); };
  return { run, backend: () => backend, memory: () => tf.memory().numTensors };
}
