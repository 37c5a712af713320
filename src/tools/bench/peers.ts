// The peers segloss is timed against, each computing the SAME loss value and its
// gradient with respect to the prediction, on nhwc inputs (batch, [z,] y, x, class):
// - hand-written fused JS loops for dice and bce (what a careful person writes
//   without a compiler: float64 accumulators, one pass for BCE, two for Dice);
// - TensorFlow.js `tf.valueAndGrad` of the formula written with tfjs ops by hand,
//   on tfjs-backend-cpu and tfjs-backend-wasm;
// - PyTorch eager on the CPU, through src/tools/bench/torch_peer.py (JSON lines over a pipe).
//
// The formulas follow losses/*.loss with their default parameters:
//   dice    mean over (batch, class) of 1 - (2·Σp·g + 1e-5) / (Σp + Σg + 1e-5), Σ over space
//   bce     mean(-(g·log q + (1-g)·log(1-q))), q = clip(p, 1e-7, 1-1e-7)
//   focal   mean(α(1-q)^γ·g·(-log q) + (1-α)q^γ·(1-g)·(-log(1-q))), α = .25, γ = 2, q as bce
//   tversky mean over (batch, class) of 1 - (tp + s) / (tp + α·fp + β·fn + s), α = β = .5, s = 1e-5

import { edtRef } from '../../compiler/core/ops/f64-loops.ts';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type * as TF from '@tensorflow/tfjs-core';

export const PEER_LOSSES = ['dice', 'bce', 'focal', 'tversky', 'ssim', 'hausdorff_dt', 'lovasz_hinge'] as const;
/** The bench's losses (as --losses names them) that src/tools/bench/torch_peer.py implements, and its name for each. */
export const TORCH_LOSSES: Readonly<Record<string, string>> = {
  dice: 'dice', bce: 'bce', focal: 'focal', tversky: 'tversky', ssim: 'ssim', lovasz_hinge: 'lovasz_hinge', hausdorff_dt: 'hausdorff_dt',
  'generalized_dice:activation=softmax': 'generalized_dice_softmax',
};
export type PeerLoss = (typeof PEER_LOSSES)[number];

/** A benchmark problem: nhwc shape, prediction p in (0, 1), target g. */
export interface Problem {
  shape: readonly number[];
  p: Float32Array;
  g: Float32Array;
}

/** Batch, spatial size (product of the spatial axes) and classes of an nhwc shape. */
export function nhwc(shape: readonly number[]): { B: number; S: number; C: number } {
  const B = shape[0]!;
  const C = shape[shape.length - 1]!;
  const S = shape.slice(1, -1).reduce((a, b) => a * b, 1);
  return { B, S, C };
}

// ------------------------------------------------------------ hand-written JS

/** A fused loop: writes d loss / d p into `grad` (preallocated, length N) and returns the loss. */
export type JsLoop = (p: Float32Array, g: Float32Array, grad: Float32Array) => number;

/** The losses with a hand-written loop. */
export const JS_LOOPS: Partial<Record<string, (shape: readonly number[]) => JsLoop>> = {
  dice: diceLoop,
  bce: () => bceLoop,
};

const DICE_SMOOTH_NR = 1e-5;
const DICE_SMOOTH_DR = 1e-5;

/**
 * Dice per sample and class (losses/dice.loss), value and gradient in two passes.
 * With N = 2·tp + s_nr, D = Σp + Σg + s_dr per (b, c) and G = B·C groups:
 *   loss = mean(1 - N/D),  d loss/d p_i = (N - 2·g_i·D) / (G·D²) = a - b·g_i.
 */
export function diceLoop(shape: readonly number[]): JsLoop {
  const { B, S, C } = nhwc(shape);
  const G = B * C;
  if (C === 1) {
    return (p, g, grad) => {
      let loss = 0;
      for (let b = 0; b < B; b++) {
        const lo = b * S;
        const hi = lo + S;
        let tp = 0;
        let sp = 0;
        let sg = 0;
        for (let i = lo; i < hi; i++) {
          const pi = p[i]!;
          const gi = g[i]!;
          tp += pi * gi;
          sp += pi;
          sg += gi;
        }
        const n = 2 * tp + DICE_SMOOTH_NR;
        const d = sp + sg + DICE_SMOOTH_DR;
        loss += 1 - n / d;
        const a = n / (G * d * d);
        const k = 2 / (G * d);
        for (let i = lo; i < hi; i++) grad[i] = a - k * g[i]!;
      }
      return loss / G;
    };
  }
  const tp = new Float64Array(C);
  const sp = new Float64Array(C);
  const sg = new Float64Array(C);
  const ca = new Float64Array(C);
  const ck = new Float64Array(C);
  return (p, g, grad) => {
    let loss = 0;
    for (let b = 0; b < B; b++) {
      const lo = b * S * C;
      const hi = lo + S * C;
      tp.fill(0);
      sp.fill(0);
      sg.fill(0);
      for (let i = lo; i < hi; i += C) {
        for (let c = 0; c < C; c++) {
          const pi = p[i + c]!;
          const gi = g[i + c]!;
          tp[c]! += pi * gi;
          sp[c]! += pi;
          sg[c]! += gi;
        }
      }
      for (let c = 0; c < C; c++) {
        const n = 2 * tp[c]! + DICE_SMOOTH_NR;
        const d = sp[c]! + sg[c]! + DICE_SMOOTH_DR;
        loss += 1 - n / d;
        ca[c] = n / (G * d * d);
        ck[c] = 2 / (G * d);
      }
      for (let i = lo; i < hi; i += C) for (let c = 0; c < C; c++) grad[i + c] = ca[c]! - ck[c]! * g[i + c]!;
    }
    return loss / G;
  };
}

const BCE_EPS = 1e-7;

/**
 * Binary cross-entropy (losses/bce.loss), Keras's clipping, one pass:
 *   loss = mean(-(g·log q + (1-g)·log(1-q))), q = clip(p, eps, 1-eps);
 *   d loss/d p_i = ((1-g_i)/(1-q_i) - g_i/q_i) / N inside the clip range, 0 outside.
 */
export const bceLoop: JsLoop = (p, g, grad) => {
  const n = p.length;
  const inv = 1 / n;
  const lo = BCE_EPS;
  const hi = 1 - BCE_EPS;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const pi = p[i]!;
    const gi = g[i]!;
    const inside = pi >= lo && pi <= hi;
    const q = inside ? pi : pi < lo ? lo : hi;
    const r = 1 - q;
    sum -= gi * Math.log(q) + (1 - gi) * Math.log(r);
    grad[i] = inside ? ((1 - gi) / r - gi / q) * inv : 0;
  }
  return sum * inv;
};

// ------------------------------------------------------------- TensorFlow.js

type Tf = typeof TF;

/** The loss as tfjs ops on an nhwc prediction `p` (the gradient's input) and a constant target `g`. */
export function tfLoss(tf: Tf, loss: PeerLoss, g: TF.Tensor, rank: number): (p: TF.Tensor) => TF.Scalar {
  const space = Array.from({ length: rank - 2 }, (_, i) => i + 1);
  const clip = (p: TF.Tensor) => tf.clipByValue(p, 1e-7, 1 - 1e-7);
  switch (loss) {
    case 'dice':
      return (p) => {
        const tp = tf.sum(tf.mul(p, g), space);
        const score = tf.div(tf.add(tf.mul(2, tp), DICE_SMOOTH_NR), tf.add(tf.add(tf.sum(p, space), tf.sum(g, space)), DICE_SMOOTH_DR));
        return tf.mean(tf.sub(1, score));
      };
    case 'bce':
      return (p) => {
        const q = clip(p);
        return tf.mean(tf.neg(tf.add(tf.mul(g, tf.log(q)), tf.mul(tf.sub(1, g), tf.log(tf.sub(1, q))))));
      };
    case 'focal': {
      const alpha = 0.25;
      const gamma = 2;
      return (p) => {
        const q = clip(p);
        const pos = tf.mul(tf.mul(tf.mul(alpha, tf.pow(tf.sub(1, q), gamma)), g), tf.neg(tf.log(q)));
        const neg = tf.mul(tf.mul(tf.mul(1 - alpha, tf.pow(q, gamma)), tf.sub(1, g)), tf.neg(tf.log(tf.sub(1, q))));
        return tf.mean(tf.add(pos, neg));
      };
    }
    case 'ssim': {
      // tf.image.ssim's definition (max_val 1): 11x11 Gaussian σ 1.5, valid window, biased variances; 2-D only.
      if (rank !== 4) throw new Error('the ssim peer is 2-D (tf.image.ssim)');
      const w = Array.from({ length: 11 }, (_, i) => Math.exp(-((i - 5) ** 2) / (2 * 1.5 * 1.5)));
      const sw = w.reduce((a, b) => a + b, 0);
      const k = tf.tensor4d(w.flatMap((a) => w.map((b) => (a * b) / (sw * sw))), [11, 11, 1, 1]);
      const C = g.shape[3]!;
      const win = (x: TF.Tensor) => {
        // Each channel alone: channels to the batch axis, one-channel valid convolution, back.
        const [B, H, W] = x.shape as number[];
        const xs = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [B! * C, H!, W!, 1]) as TF.Tensor4D;
        return tf.conv2d(xs, k, 1, 'valid');
      };
      const c1 = 0.01 ** 2, c2 = 0.03 ** 2;
      return (p) => {
        const mp = win(p), mg = win(g);
        const vp = tf.sub(win(tf.mul(p, p)), tf.mul(mp, mp));
        const vg = tf.sub(win(tf.mul(g, g)), tf.mul(mg, mg));
        const cov = tf.sub(win(tf.mul(p, g)), tf.mul(mp, mg));
        const num = tf.mul(tf.add(tf.mul(2, tf.mul(mp, mg)), c1), tf.add(tf.mul(2, cov), c2));
        const den = tf.mul(tf.add(tf.add(tf.mul(mp, mp), tf.mul(mg, mg)), c1), tf.add(tf.add(vp, vg), c2));
        return tf.sub(1, tf.mean(tf.div(num, den)));
      };
    }
    case 'hausdorff_dt': {
      // Karimi & Salcudean: mean((p − g)²·(d_p² + d_g²)), d = edt(m) + edt(¬m) of the masks at 0.5, recomputed per call (no gradient).
      const dist = (m: Float32Array) => {
        const shape = g.shape as number[];
        const C = shape[shape.length - 1]!;
        const sp = shape.slice(1, -1);
        const n = m.length / C;
        const out = new Float32Array(m.length);
        // Per (batch, class): gather the slice, exact EDT of the mask and of its complement.
        for (let b = 0; b < shape[0]!; b++) for (let c = 0; c < C; c++) {
          const per = n / shape[0]!;
          const slice = new Float64Array(per);
          for (let i = 0; i < per; i++) slice[i] = m[(b * per + i) * C + c]!;
          const inv = slice.map((v) => 1 - v);
          const d1 = edtRef(slice, 1, sp), d2 = edtRef(inv, 1, sp);
          for (let i = 0; i < per; i++) out[(b * per + i) * C + c] = d1[i]! + d2[i]!;
        }
        return out;
      };
      const gm = g.dataSync() as Float32Array;
      const dg = tf.tensor(dist(gm.map((v) => (v > 0.5 ? 1 : 0))), g.shape);
      return (p) => {
        const pm = (p.dataSync() as Float32Array).map((v) => (v > 0.5 ? 1 : 0));
        const dp = tf.tensor(dist(pm), g.shape);
        const e = tf.square(tf.sub(p, g));
        return tf.mean(tf.mul(e, tf.add(tf.square(dp), tf.square(dg))));
      };
    }
    case 'lovasz_hinge': {
      // Berman et al., per image and class, on logits: relu(sorted hinge errors) · lovasz_grad(sorted truth).
      const C = g.shape[rank - 1]!;
      const rows = (t: TF.Tensor) => tf.reshape(tf.transpose(t, [0, rank - 1, ...space]), [g.shape[0]! * C, -1]);
      const gr = rows(g);
      return (x) => {
        const e = tf.sub(1, tf.mul(rows(x), tf.sub(tf.mul(2, gr), 1)));
        const { indices } = tf.topk(e, e.shape[1]!, true);
        const order = tf.tensor(Int32Array.from(indices.dataSync()), indices.shape, 'int32');
        const es = tf.gather(e, order, 1, 1), gs = tf.gather(gr, order, 1, 1);
        const gts = tf.sum(gs, 1, true);
        const jac = tf.sub(1, tf.div(tf.sub(gts, tf.cumsum(gs, 1)), tf.add(gts, tf.cumsum(tf.sub(1, gs), 1))));
        const n = jac.shape[1]!;
        const w = tf.sub(jac, tf.concat([tf.zeros([jac.shape[0]!, 1]), tf.slice(jac, [0, 0], [-1, n - 1])], 1));
        return tf.mean(tf.sum(tf.mul(tf.relu(es), w), 1));
      };
    }
    case 'tversky': {
      const alpha = 0.5;
      const beta = 0.5;
      const smooth = 1e-5;
      return (p) => {
        const tp = tf.sum(tf.mul(p, g), space);
        const fp = tf.sum(tf.mul(p, tf.sub(1, g)), space);
        const fn = tf.sum(tf.mul(tf.sub(1, p), g), space);
        const ti = tf.div(tf.add(tp, smooth), tf.add(tf.add(tf.add(tp, tf.mul(alpha, fp)), tf.mul(beta, fn)), smooth));
        return tf.mean(tf.sub(1, ti));
      };
    }
  }
}

/**
 * A tfjs value-and-gradient runner on pre-created tensors: each call runs
 * `tf.valueAndGrad` and reads value and gradient back with `dataSync()`.
 * Call `dispose()` before switching the tfjs backend.
 */
export function tfRunner(tf: Tf, loss: PeerLoss, prob: Problem): { run: () => { value: number; grad: Float32Array }; dispose: () => void } {
  const shape = [...prob.shape];
  const p = tf.tensor(prob.p, shape, 'float32');
  const g = tf.tensor(prob.g, shape, 'float32');
  const vg = tf.valueAndGrad(tfLoss(tf, loss, g, shape.length));
  return {
    run: () =>
      tf.tidy(() => {
        const { value, grad } = vg(p);
        const v = value.dataSync()[0]!;
        return { value: v, grad: grad.dataSync() as Float32Array };
      }),
    dispose: () => {
      p.dispose();
      g.dispose();
    },
  };
}

// ------------------------------------------------------------------- PyTorch

/** A loss set up in the Python process: its first call, the handle for the calls after it. */
export interface TorchSetup {
  ok: boolean;
  why?: string;
  id?: number;
  firstMs?: number;
  value?: number;
}

/** One request to the Python process (see torch_peer.py's protocol); its reply. */
type TorchRequest =
  | { op: 'setup'; loss: string; shape: number[]; p: string; g: string; warmup: number; warmupS: number }
  | { op: 'call'; id: number }
  | { op: 'grad'; id: number; gradOut: string }
  | { op: 'drop'; id: number };
type TorchReply = { ok: boolean; why?: string; [k: string]: unknown };

export interface TorchInfo { ok: boolean; why?: string; torch?: string; threads?: number; python?: string; pid?: number }

const TORCH_SCRIPT = fileURLToPath(new URL('./torch_peer.py', import.meta.url));

/**
 * The PyTorch peer: one long-lived Python process per thread count
 * (torch.set_num_threads at its start). `python3` first, then Debian's own
 * /usr/bin/python3 (where `apt-get install python3-torch` puts torch when a
 * pyenv or venv python3 shadows it); SEGLOSS_PYTHON overrides both. Each call
 * is timed inside Python (perf_counter around backward + item), so the pipe's
 * round trip is not in it.
 */
export class TorchPeer {
  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly lines: Interface,
    readonly info: TorchInfo,
  ) {}

  static async start(threads: number): Promise<TorchPeer | TorchInfo> {
    const candidates = process.env.SEGLOSS_PYTHON ? [process.env.SEGLOSS_PYTHON] : ['python3', ...(existsSync('/usr/bin/python3') ? ['/usr/bin/python3'] : [])];
    const whys: string[] = [];
    for (const python of candidates) {
      const started = await TorchPeer.tryStart(python, threads);
      if (started instanceof TorchPeer) return started;
      whys.push(`${python}: ${started.why}`);
    }
    return { ok: false, why: whys.join('; ') };
  }

  private static tryStart(python: string, threads: number): Promise<TorchPeer | TorchInfo> {
    return new Promise((resolve) => {
      let child: ChildProcessWithoutNullStreams;
      try {
        child = spawn(python, [TORCH_SCRIPT, String(threads)], { stdio: ['pipe', 'pipe', 'pipe'] });
      } catch (e) {
        resolve({ ok: false, why: (e as Error).message });
        return;
      }
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      const lines = createInterface({ input: child.stdout });
      let settled = false;
      const done = (r: TorchPeer | TorchInfo) => { if (!settled) { settled = true; resolve(r); } };
      child.on('error', (e) => done({ ok: false, why: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : e.message }));
      child.on('exit', (code) => done({ ok: false, why: `exited with ${code}${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}` }));
      lines.once('line', (line) => {
        let info: TorchInfo;
        try { info = JSON.parse(line) as TorchInfo; } catch { info = { ok: false, why: `bad hello: ${line.slice(0, 80)}` }; }
        if (!info.ok) {
          child.stdin.end();
          done({ ok: false, why: info.why ?? 'unknown' });
        } else {
          child.removeAllListeners('exit');
          done(new TorchPeer(child, lines, { ...info, python, pid: child.pid }));
        }
      });
    });
  }

  private request(req: TorchRequest): Promise<TorchReply> {
    return new Promise((resolve) => {
      const onExit = () => resolve({ ok: false, why: 'the python process exited' });
      this.child.once('exit', onExit);
      this.lines.once('line', (line) => {
        this.child.off('exit', onExit);
        try { resolve(JSON.parse(line) as TorchReply); } catch { resolve({ ok: false, why: `bad reply: ${line.slice(0, 80)}` }); }
      });
      this.child.stdin.write(`${JSON.stringify(req)}\n`);
    });
  }

  /**
   * Loads p and g (raw little-endian float32 files, nhwc), builds the loss, makes the first call, `warmup` more,
   * and more while the warm-up has taken under `warmupS` seconds (at most 200), as the segloss contenders do.
   */
  async setup(loss: string, shape: number[], p: string, g: string, warmup: number, warmupS = 0): Promise<TorchSetup> {
    return (await this.request({ op: 'setup', loss, shape, p, g, warmup, warmupS })) as TorchSetup;
  }

  /** One timed call of a set-up loss: the ms Python measured. */
  async call(id: number): Promise<number> {
    const r = await this.request({ op: 'call', id });
    if (!r.ok || typeof r.ms !== 'number') throw new Error(`torch: ${r.why ?? 'no time in the reply'}`);
    return r.ms;
  }

  /** Writes the gradient of the last call (raw float32; needs numpy); the Python process's peak RSS growth since setup. */
  async grad(id: number, gradOut: string): Promise<{ wrote: boolean; maxRssDeltaMB: number }> {
    const r = await this.request({ op: 'grad', id, gradOut });
    return { wrote: r.ok && r.grad === true, maxRssDeltaMB: typeof r.maxRssDeltaMB === 'number' ? r.maxRssDeltaMB : NaN };
  }

  async drop(id: number): Promise<void> {
    await this.request({ op: 'drop', id });
  }

  close(): void {
    this.lines.close();
    this.child.stdin.end();
  }
}
