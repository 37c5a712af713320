// `segloss new NAME`: a new loss to fill in: losses/NAME.loss (a header to fill
// and a small formula that compiles, a weighted Dice) and tests/losses/NAME.test.ts
// (the loss vs a TensorFlow.js implementation, pre-filled for the template so it
// passes as generated). Refuses to overwrite anything.

import type { Command } from 'commander';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../options.ts';

const EXAMPLES = `
Writes two files and nothing else; an existing file is never overwritten (exit 2).
The formula is a weighted Dice (F-beta) to replace with yours; the test compares
it, value and gradient, with a TensorFlow.js implementation written in the test:
rewrite that too, from the paper, so that it checks your formula independently.

Examples:
  segloss new my_loss
  segloss new boundary_dice --dir experiments/losses --tests experiments/tests
Then:
  segloss check losses/my_loss.loss
  npx vitest run tests/losses/my_loss.test.ts`;

const KEYWORDS = new Set(['loss', 'def', 'use']);

/** The repository's src/ directory (this file is src/cli/commands/new.ts). */
const SRC_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function register(program: Command): void {
  program
    .command('new')
    .description('start a new loss: a formula skeleton and its test against TensorFlow.js')
    .argument('<name>', 'the loss name: letters, digits and _, not starting with a digit')
    .option('--dir <dir>', 'where the .loss file goes', 'losses')
    .option('--tests <dir>', 'where the test goes', join('tests', 'losses'))
    .option('--json', 'print {loss, files: [the .loss file, the test]}')
    .addHelpText('after', EXAMPLES)
    .action((name: string, o: { dir: string; tests: string; json?: boolean }) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new UsageError(`'${name}' is not a loss name: use letters, digits and _, not starting with a digit (e.g. my_loss)`);
      if (KEYWORDS.has(name)) throw new UsageError(`'${name}' is a keyword of the .loss language; pick another name`);
      const lossFile = join(o.dir, `${name}.loss`);
      const testFile = join(o.tests, `${name}.test.ts`);
      const existing = [lossFile, testFile].filter((f) => existsSync(f));
      if (existing.length) throw new UsageError(`${existing.join(' and ')} already exist${existing.length === 1 ? 's' : ''}; not overwriting anything (pick another name or remove ${existing.length === 1 ? 'it' : 'them'})`);

      const testDir = resolve(o.tests);
      const lossFromTest = toPosix(relative(testDir, resolve(lossFile)));
      const srcFromTest = toPosix(relative(testDir, SRC_DIR));
      for (const [file, text] of [[lossFile, lossTemplate(name)], [testFile, testTemplate(name, lossFromTest, srcFromTest)]] as const) {
        try {
          mkdirSync(dirname(file), { recursive: true });
          writeFileSync(file, text, { flag: 'wx' });
        } catch (e) {
          throw new UsageError(`cannot write '${file}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
        }
      }
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ loss: name, files: [lossFile, testFile] }, null, 2)}\n`);
        return;
      }
      process.stdout.write([
        `created ${lossFile}`,
        `created ${testFile}`,
        '',
        'next:',
        `  1. fill in the header of ${lossFile} (title, citation, use, convention) and write your formula`,
        `  2. segloss check ${lossFile}          # value and gradient vs TensorFlow.js autodiff and finite differences`,
        `  3. rewrite reference() in ${testFile} from the paper, then`,
        `     npx vitest run ${testFile}`,
        '',
      ].join('\n'));
    });
}

/** A relative import specifier: posix separators, starting with ./ or ../. */
const toPosix = (p: string) => {
  const q = p.split(sep).join('/');
  return q.startsWith('.') ? q : `./${q}`;
};

/** The formula file: canonical (`segloss fmt` leaves it as it is) and compiling. */
export function lossTemplate(name: string): string {
  return `# TITLE: one line, the catalogue's title (e.g. "Weighted Dice loss")
# citation: AUTHORS. TITLE OF THE PAPER. VENUE YEAR. arXiv:XXXX.XXXXX
# use: WHEN TO USE IT: the data or problem it suits (e.g. imbalanced foreground).
# convention: WHAT THIS FILE CHOOSES WHERE LIBRARIES DIFFER: axes reduced, smoothing, defaults.
loss ${name}(p: prob, g: target; beta = 1, smooth = 1e-5)
  # A starting point to replace: a weighted Dice, the F-beta score
  # (beta > 1 weighs false negatives up; beta = 1 is the Dice loss), per sample
  # and class over \`region\` (see grammar/README.md), then the mean.
  tp = sum[region](p * g)
  fp = sum[region](p * (1 - g))
  fn = sum[region]((1 - p) * g)
  b2 = beta^2
  = mean(1 - ((1 + b2) * tp + smooth) / ((1 + b2) * tp + b2 * fn + fp + smooth))
`;
}

/** The test: the loss (float64 reference interpreter) vs a tfjs implementation, as tests/library.test.ts does. */
export function testTemplate(name: string, lossPath: string, src: string): string {
  return `// ${name}: the formula in ${lossPath.split('/').pop()}, run by the float64 reference interpreter,
// against an independent TensorFlow.js implementation (reference() below): value and
// gradient with respect to the prediction. Oracle: TensorFlow.js autodiff of reference().
//
// Generated by \`segloss new ${name}\`, pre-filled with the template's weighted Dice so
// that it passes as generated. When you change the formula, rewrite reference() from
// the paper (not from the .loss file) and DEFAULTS to the paper's constants.

import { join } from 'node:path';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import { type Dims, type Region, canonicalAxes, evaluate, fromCanonical, frontendFile, indexMap, sizesOf, toCanonical } from '${src}/index.ts';
// The test's own tools: a seeded generator and TensorFlow.js on its CPU backend.
import { rng } from '${src}/tools/check.ts';
import { tfjs } from '${src}/tools/tfjs.ts';

const tf = await tfjs('cpu');
const LOSS_FILE = join(import.meta.dirname, ${JSON.stringify(lossPath)});

type Params = Readonly<Record<string, number>>;
interface Ctx { dims: Dims; region: Region; params: Params }

/** The file's parameter defaults: the paper's constants. */
const DEFAULTS: Params = { beta: 1, smooth: 1e-5 };
/** Other parameter values to test. */
const OVERRIDES: Params[] = [{ beta: 2 }, { beta: 0.5, smooth: 1 }];
/** float32 (tfjs) vs float64 (ours): see tests/library.test.ts for the budget. */
const REL_TOL = 1e-5;

/** NHWC axes: batch 0, space 1..dims, class dims + 1; \`region\` per sample and class, per class, or all. */
function regionAxes(c: Ctx): number[] {
  const space = c.dims === 3 ? [1, 2, 3] : [1, 2];
  return c.region === 'sample' ? space : c.region === 'batch' ? [0, ...space] : [0, ...space, c.dims + 1];
}

/** The reference, in TensorFlow.js: (1 - F_beta) per sample and class, then the mean. */
function reference(c: Ctx, p: Tensor, g: Tensor): Scalar {
  const beta = c.params['beta']!, smooth = c.params['smooth']!;
  const ax = regionAxes(c);
  const tp = tf.sum(tf.mul(p, g), ax);
  const fp = tf.sum(tf.mul(p, tf.sub(1, g)), ax);
  const fn = tf.sum(tf.mul(tf.sub(1, p), g), ax);
  const b2 = beta * beta;
  const num = tf.add(tf.mul(1 + b2, tp), smooth);
  const den = tf.add(tf.add(tf.add(tf.mul(1 + b2, tp), tf.mul(b2, fn)), fp), smooth);
  return tf.mean(tf.sub(1, tf.div(num, den)));
}

// ---------------------------------------------------------------- the comparison (no need to edit)

const CASES = [
  { name: 'binary-2d', shape: [2, 8, 7, 1], onehot: false },
  { name: 'multiclass-2d', shape: [2, 6, 5, 3], onehot: true },
  { name: 'binary-3d', shape: [1, 4, 5, 6, 1], onehot: false },
];

/** NHWC inputs rounded to float32, so both sides see the same numbers. */
function inputs(shape: number[], onehot: boolean, seed: number) {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1), C = shape.at(-1)!;
  const p = Float64Array.from({ length: n }, () => Math.fround(0.02 + 0.96 * r()));
  const g = new Float64Array(n);
  if (onehot) for (let px = 0; px < n / C; px++) g[px * C + Math.floor(r() * C)] = 1;
  else for (let i = 0; i < n; i++) g[i] = r() < 0.4 ? 1 : 0;
  return { p, g };
}

function compile(dims: Dims, region: Region, params: Params) {
  const fe = frontendFile(LOSS_FILE, { dims, region, params });
  expect(fe.diagnostics.map((d) => \`\${d.code} \${d.message}\`)).toEqual([]);
  return fe.ir!;
}

/** Ours: the float64 reference interpreter on the compiled IR; the gradient back in NHWC. */
function ours(dims: Dims, region: Region, params: Params, shape: number[], p: Float64Array, g: Float64Array) {
  const ir = compile(dims, region, params);
  const { sizes } = sizesOf(shape, 'nhwc');
  const byRole = (role: string) => ir.loss.inputs.find((i) => i.role === role)!.name;
  const [v, dp] = evaluate([ir.value, ir.grad], { [byRole('prob')]: toCanonical(p, 'nhwc', sizes, dims), [byRole('target')]: toCanonical(g, 'nhwc', sizes, dims) }, sizes);
  const map = indexMap(canonicalAxes(dims), dp!.axes, sizes);
  const canon = Float64Array.from(map, (i) => dp!.data[i]!);
  return { value: v!.data[0]!, grad: fromCanonical(canon, 'nhwc', sizes, dims, (k) => new Float64Array(k)) };
}

/** The oracle: tfjs autodiff of reference() on float32 tensors. */
function oracle(ctx: Ctx, shape: number[], p: Float64Array, g: Float64Array) {
  const pt = tf.tensor(Float32Array.from(p), shape), gt = tf.tensor(Float32Array.from(g), shape);
  const { value, grad } = tf.valueAndGrad((x: Tensor) => reference(ctx, x, gt))(pt);
  const out = { value: value.dataSync()[0]!, grad: grad.dataSync() };
  tf.dispose([pt, gt, value, grad]);
  return out;
}

function run(shape: number[], onehot: boolean, region: Region, params: Params, seed: number) {
  const dims: Dims = shape.length === 5 ? 3 : 2;
  const { p, g } = inputs(shape, onehot, seed);
  const a = ours(dims, region, params, shape, p, g);
  const b = oracle({ dims, region, params: { ...DEFAULTS, ...params } }, shape, p, g);
  expect(Number.isFinite(a.value) && a.grad.every(Number.isFinite), 'ours is finite').toBe(true);
  expect(Math.abs(a.value - b.value) / Math.max(Math.abs(a.value), 1e-12), \`value: ours \${a.value}, tfjs \${b.value}\`).toBeLessThanOrEqual(REL_TOL);
  let err = 0, scale = 0;
  for (let i = 0; i < a.grad.length; i++) { err = Math.max(err, Math.abs(a.grad[i]! - b.grad[i]!)); scale = Math.max(scale, Math.abs(a.grad[i]!)); }
  expect(err / Math.max(scale, 1e-12), 'gradient (norm-wise)').toBeLessThanOrEqual(REL_TOL);
}

describe(${JSON.stringify(`${name} vs TensorFlow.js`)}, () => {
  test('declares the paper\\'s defaults', () => {
    const ir = compile(2, 'sample', {});
    expect(Object.fromEntries(ir.loss.params.map((q) => [q.name, q.default]))).toEqual(DEFAULTS);
  });
  for (const [k, c] of CASES.entries()) {
    for (const region of ['sample', 'batch', 'global'] as const) test(\`\${c.name} / region \${region}\`, () => run(c.shape, c.onehot, region, {}, 101 + k));
    for (const params of OVERRIDES) test(\`\${c.name} / \${JSON.stringify(params)}\`, () => run(c.shape, c.onehot, 'sample', params, 201 + k));
  }
});
`;
}
