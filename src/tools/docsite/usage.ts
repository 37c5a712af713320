// The "use it" block of a loss page: what the inputs must hold, the load call,
// the CLI call, and the equivalent calls of MONAI, segmentation_models.pytorch
// (smp) and Keras/TensorFlow with the flags that make segloss compute the same
// loss. Each equivalent below was read off that library's source (defaults,
// activation, where it sums and how it averages) and the loss file's own
// convention line; a loss without a row here has no call listed, not a guess.

import type { LoweredLoss } from '../../compiler/lower/lower.ts';
import { esc } from './text.ts';

/** One equivalent call: the library, its call, and segloss's flags for the same loss (CLI spelling). */
interface Equivalent { lib: 'MONAI' | 'smp' | 'Keras' | 'TensorFlow' | 'PyTorch'; call: string; flags: string; note?: string }

const SMP_REGION = '--activation sigmoid --region batch';
const NCHW = 'PyTorch arrays are (B, C, H, W): add --layout nchw (load: { layout: \'nchw\' }).';

export const EQUIVALENTS: Record<string, Equivalent[]> = {
  dice: [
    { lib: 'MONAI', call: 'monai.losses.DiceLoss()', flags: '', note: NCHW },
    { lib: 'MONAI', call: 'DiceLoss(sigmoid=True)', flags: '--activation sigmoid' },
    { lib: 'MONAI', call: 'DiceLoss(softmax=True, to_onehot_y=True)', flags: '--activation softmax --classes C', note: 'the target a label map' },
    { lib: 'MONAI', call: 'DiceLoss(batch=True, include_background=False)', flags: '--region batch --param include_background=false' },
    { lib: 'smp', call: "smp.losses.DiceLoss('multilabel')", flags: `${SMP_REGION} --param smooth_nr=0 --param smooth_dr=0 --param zero_absent=1`, note: 'smp takes logits by default (from_logits=True), sums over batch and space per class, and zeroes the classes absent from the batch.' },
    { lib: 'Keras', call: 'keras.losses.Dice()', flags: '--region global --param smooth_nr=0 --param smooth_dr=1e-7', note: 'one Dice over every axis, epsilon 1e-7 in the denominator only.' },
    { lib: 'Keras', call: 'keras.losses.Dice(axis=(1, 2))', flags: '--param smooth_nr=0 --param smooth_dr=1e-7', note: '2-D, (B, H, W, C): per sample and class, then the mean.' },
    { lib: 'smp', call: "smp.losses.DiceLoss('multiclass')", flags: '--activation softmax --classes C --region batch --param smooth_nr=0 --param smooth_dr=0 --param zero_absent=1', note: 'the target a label map' },
  ],
  jaccard: [
    { lib: 'smp', call: "smp.losses.JaccardLoss('multilabel')", flags: `${SMP_REGION} --param smooth=0 --param zero_absent=1`, note: NCHW },
  ],
  tversky: [
    { lib: 'MONAI', call: 'monai.losses.TverskyLoss()', flags: '', note: 'alpha weighs false positives, beta false negatives, as here.' },
    { lib: 'MONAI', call: 'TverskyLoss(sigmoid=True, alpha=0.3, beta=0.7)', flags: '--activation sigmoid --param alpha=0.3 --param beta=0.7' },
    { lib: 'smp', call: "smp.losses.TverskyLoss('multilabel')", flags: `${SMP_REGION} --param smooth=0 --param zero_absent=1` },
  ],
  generalized_dice: [
    { lib: 'MONAI', call: 'monai.losses.GeneralizedDiceLoss()', flags: '', note: 'w_type square, per sample; batch=True is --region batch.' },
  ],
  dice_ce: [
    { lib: 'MONAI', call: 'monai.losses.DiceCELoss(softmax=True, to_onehot_y=True)', flags: '--activation softmax --classes C', note: 'the target a label map; both terms from the logits.' },
    { lib: 'MONAI', call: 'DiceCELoss(sigmoid=True)', flags: '--activation sigmoid', note: 'one channel: BCE with logits.' },
  ],
  dice_focal: [
    { lib: 'MONAI', call: 'monai.losses.DiceFocalLoss(sigmoid=True)', flags: '--activation sigmoid', note: 'MONAI feeds the logits to its focal term and their sigmoid to Dice; here both come from the logits.' },
  ],
  focal: [
    { lib: 'MONAI', call: 'monai.losses.FocalLoss()', flags: '--activation sigmoid --param alpha=-1', note: 'MONAI takes logits and has no alpha by default.' },
    { lib: 'MONAI', call: 'FocalLoss(alpha=0.25)', flags: '--activation sigmoid' },
    { lib: 'smp', call: "smp.losses.FocalLoss('binary')", flags: '--activation sigmoid --param alpha=-1' },
    { lib: 'Keras', call: 'keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True)', flags: '', note: 'on probabilities (alpha 0.25, gamma 2); without apply_class_balancing: --param alpha=-1. Keras reads p unclipped in the modulator, so the two differ only where p is within 1e-7 of 0 or 1. Its from_logits=True takes the sigmoid before the log; --activation sigmoid stays in log space.' },
  ],
  categorical_focal: [
    { lib: 'MONAI', call: 'monai.losses.FocalLoss(use_softmax=True, to_onehot_y=True)', flags: '--activation softmax --classes C', note: 'the target a label map' },
  ],
  bce: [
    { lib: 'Keras', call: 'keras.losses.BinaryCrossentropy()', flags: '', note: 'Keras 3; tf.keras 2.x adds eps inside the log: --param log_eps=1e-7.' },
    { lib: 'Keras', call: 'BinaryCrossentropy(from_logits=True)', flags: '--activation sigmoid' },
    { lib: 'PyTorch', call: 'torch.nn.BCEWithLogitsLoss()', flags: '--activation sigmoid' },
    { lib: 'smp', call: 'smp.losses.SoftBCEWithLogitsLoss(smooth_factor=0.05)', flags: '--activation sigmoid --param label_smoothing=0.1', note: "smp's smooth_factor f is label_smoothing 2f." },
  ],
  ce: [
    { lib: 'PyTorch', call: 'torch.nn.CrossEntropyLoss()', flags: '--activation softmax --classes C', note: `the target a label map. ${NCHW}` },
    { lib: 'Keras', call: 'keras.losses.CategoricalCrossentropy(from_logits=True)', flags: '--activation softmax' },
  ],
  hausdorff_dt: [
    { lib: 'MONAI', call: 'monai.losses.HausdorffDTLoss()', flags: '--param include_background=false', note: "MONAI leaves the background channel out by default (with several channels; with one it keeps it, as here without the flag)." },
  ],
  log_hausdorff_dt: [
    { lib: 'MONAI', call: 'monai.losses.LogHausdorffDTLoss()', flags: '--param include_background=false', note: 'as HausdorffDTLoss: no background channel by default.' },
  ],
  ssim: [
    { lib: 'TensorFlow', call: '1 - tf.image.ssim(g, p, max_val=1.0)', flags: '', note: 'averaged over the batch; tf.image.ssim needs images of at least 11×11.' },
    { lib: 'MONAI', call: 'monai.losses.SSIMLoss(spatial_dims=2)', flags: '', note: 'Gaussian 11×11 window, sigma 1.5, as here; win_size=7 is --param win_size=7.' },
  ],
  ms_ssim: [
    { lib: 'TensorFlow', call: '1 - tf.image.ssim_multiscale(g, p, max_val=1.0)', flags: '', note: 'tf needs images of at least 161 pixels along each axis.' },
  ],
  weighted_ce: [
    { lib: 'TensorFlow', call: 'tf.reduce_mean(tf.nn.weighted_cross_entropy_with_logits(g, logit(clip(p)), pos_weight=1/3))', flags: '', note: 'pos_weight = beta / (1 - beta), beta = 0.25; p clipped to [1e-7, 1 - 1e-7].' },
  ],
  mcc: [
    { lib: 'smp', call: 'smp.losses.MCCLoss()', flags: '--region global --param smooth=0 --param count_smooth=1e-5', note: 'binary, on probabilities.' },
  ],
  lovasz_hinge: [
    { lib: 'smp', call: "smp.losses.LovaszLoss('binary')", flags: '--region batch', note: 'per_image=False, on logits; per_image=True is the default region.' },
  ],
  lovasz_softmax: [
    { lib: 'smp', call: "smp.losses.LovaszLoss('multiclass')", flags: '--activation softmax --classes C --region batch', note: 'the target a label map; smp applies the softmax.' },
  ],
  cldice: [
    { lib: 'MONAI', call: 'monai.losses.SoftclDiceLoss()', flags: '--region global --param include_background=false', note: 'one sum over the batch and every channel but the first (two or more channels); MONAI\'s forward takes (y_true, y_pred), target first.' },
  ],
  dice_cldice: [
    { lib: 'MONAI', call: 'monai.losses.SoftDiceclDiceLoss()', flags: '--region global --param include_background=false', note: 'as SoftclDiceLoss: global sums without the first channel, target first.' },
  ],
  generalized_wasserstein_dice: [
    { lib: 'MONAI', call: 'monai.losses.GeneralizedWassersteinDiceLoss(dist_matrix=M)', flags: "--classes C --param 'class_distances=0,1;1,0'", note: 'the target a label map; M given row by row.' },
  ],
};

/** `--param k=v --activation a --region r` as load()'s params; `--classes`/`--layout` are not params. */
export function paramsObject(flags: string): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  const re = /--(param|activation|region) '?([^ ']+)'?/g;
  for (let m; (m = re.exec(flags));) {
    if (m[1] !== 'param') { out[m[1]!] = m[2]!; continue; }
    const [k, v] = [m[2]!.slice(0, m[2]!.indexOf('=')), m[2]!.slice(m[2]!.indexOf('=') + 1)];
    out[k] = /^-?[\d.]+(e-?\d+)?$/.test(v) ? Number(v) : v === 'true' || v === 'false' ? v === 'true' : v;
  }
  return out;
}

/** paramsObject as the text of a JavaScript object literal. */
export function paramsOf(flags: string): string {
  const e = Object.entries(paramsObject(flags));
  return e.length ? `{ ${e.map(([k, v]) => `${k}: ${typeof v === 'string' ? `'${v}'` : v}`).join(', ')} }` : '{}';
}

/** What the loss reads: one line per input. `twoClasses`: the figures found it constant on one channel. */
export function inputsHtml(loss: LoweredLoss, source: string, twoClasses: boolean): string {
  const softmax = /\b(softmax|logsoftmax|wasserstein)\s*\(/.test(source);
  const items = loss.inputs.map((i) => {
    const n = `<code>${esc(i.name)}</code>`;
    switch (i.role) {
      case 'prob': return `${n}: probabilities in [0, 1], one channel per class (sigmoid outputs, or a softmax over the class axis). A network's logits: load with <code>activation: 'sigmoid'</code> or <code>'softmax'</code> (CLI <code>--activation</code>); the loss is then computed from them in log space.`;
      case 'logits': return `${n}: logits, raw scores; ${softmax ? 'the formula applies the softmax over the class axis itself' : 'the formula reads them as they are'} (no <code>--activation</code>).`;
      case 'target': return `${n}: the target, one-hot (or soft) masks of the prediction's shape. A label map of integers 0..C−1: <code>--classes C</code> on the command line, <code>toTfjs(loss)</code> one-hot encodes it per call, <code>oneHot</code> for the API.`;
      default: return `${n} (${esc(i.role)}): one more per-pixel input of the prediction's shape (CLI <code>--input ${esc(i.name)}=FILE</code>).`;
    }
  });
  if (twoClasses || softmax) items.push('It needs at least two class channels (background included): on one channel its softmax is constant.');
  items.push('Arrays are <code>nhwc</code> (TensorFlow.js, Keras) by default; PyTorch\'s <code>nchw</code> with <code>layout: \'nchw\'</code> (CLI <code>--layout nchw</code>). 2-D or 3-D.');
  return `<ul class="inputs">${items.map((s) => `<li>${s}</li>`).join('')}</ul>`;
}

/** The load call, the CLI call and the equivalents, as HTML. */
export function useItHtml(loss: LoweredLoss): string {
  const names = loss.inputs.map((i) => i.name);
  const pred = loss.inputs.find((i) => i.role === 'prob' || i.role === 'logits')?.name ?? names[0];
  const target = loss.inputs.find((i) => i.role === 'target')?.name;
  const extras = loss.inputs.filter((i) => i.name !== pred && i.name !== target);
  const shown = loss.params.filter((p) => !/^(eps|log_eps)$/.test(p.name)).slice(0, 2);
  const load = [
    `import { load } from 'segloss';`,
    `const loss = await load('${loss.name}'${shown.length ? `, { ${shown.map((p) => `${p.name}: ${p.default}`).join(', ')} }` : ''});   // parameters and knobs; defaults shown`,
    `const { value, grad } = await loss.valueAndGrad({ ${names.join(', ')} }, [B, H, W, C]);   // Float32Arrays, nhwc`,
  ].join('\n');
  const cli = `npx segloss eval ${loss.name} --pred ${pred}.npy${target ? ` --target ${target}.npy` : ''}${extras.map((i) => ` --input ${i.name}=${i.name}.npy`).join('')} --grad d${pred}.npy`;
  const eq = EQUIVALENTS[loss.name] ?? [];
  const items = eq.map((e) => `<li><span class="lib">${e.lib}</span> <code>${esc(e.call)}</code><br>segloss: ${e.flags ? `<code>${esc(e.flags)}</code>` : 'the defaults'}${e.flags && paramsOf(e.flags) !== '{}' ? `; in <code>load</code>: <code>${esc(paramsOf(e.flags))}</code>` : ''}${e.note ? `<br><span class="eqnote">${esc(e.note)}</span>` : ''}</li>`);
  return [
    `<h3>In code</h3><pre class="use">${esc(load)}</pre>`,
    `<h3>On the command line</h3><pre class="use">${esc(cli)}</pre>`,
    `<h3>The same loss elsewhere</h3>`,
    items.length
      ? `<p>Each call below computes the same loss as segloss with the flags shown.</p><ul class="eq">${items.join('')}</ul>`
      : '<p>No MONAI, segmentation_models.pytorch or Keras call is listed for this loss; its convention above says which paper or code it follows.</p>',
  ].join('\n');
}
