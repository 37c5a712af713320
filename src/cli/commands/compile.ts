// `segloss compile NAME|FILE --target js|glsl|wgsl`: the kernels a backend runs for
// one shape. js is our gpu.js kernel source; glsl and wgsl are what gpu.js
// translates it to, read back from a kernel built on headlessgl or webgpu.
// With --out, a standalone ES module that runs the loss (src/tools/module.ts).

import type { Command } from 'commander';
import { readSource } from '../../runtime/sources.ts';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { type ModuleTarget, emitModule } from '../../tools/module.ts';
import { type Backend, compile } from '../../runtime/loss.ts';
import { LOSS_ARG_HELP, UsageError, activation, formulaOptions, layout, parseParams, region, resolveLoss } from '../options.ts';

/** The backend whose kernels each target shows (a module for js needs none: the reference compiles the IR). */
const TARGETS: Record<ModuleTarget, Backend> = { js: 'cpu', glsl: 'headlessgl', wgsl: 'webgpu' };

interface CompileOptions { target: string; shape: string; layout: string; region: string; param: string[]; activation: string; out?: string; json?: boolean }

const HELP = `
glsl needs headlessgl (the gl package and an X display: run under xvfb-run -a);
wgsl needs WebGPU through Dawn (see docs/backends.md).

--out FILE writes one ES module with no dependencies for that shape: the
kernels and the plan as data, with the runtime's executor bundled in (it runs
the passes, the small values between them and the host steps). Inputs are
Float32Arrays (or arrays of numbers) in the layout, by name. A js module exports
value(inputs) and valueAndGrad(inputs, out?) -> { value, grad } (and values
under --param reduction=none: per sample and class, or per element); glsl and wgsl
modules export createLoss(gpu), which builds the kernels on a gpu.js GPU, and
the translated shaders as strings. Every module exports name, shape, layout,
inputs, wrt and params.

Examples:
  segloss compile dice
  segloss compile dice --json
  segloss compile losses/bce.loss --target wgsl --shape 2,128,128,4
  segloss compile losses/dice.loss --shape 4,64,64,1 --out dice.mjs
    node -e "import('./dice.mjs').then((m) => console.log(m.value({ p: new Float32Array(16384).fill(0.5), g: new Float32Array(16384) })))"
  xvfb-run -a segloss compile losses/ssim.loss --target glsl --shape 2,96,96,1 --out ssim.mjs`;

export function register(program: Command): void {
  formulaOptions(program
    .command('compile')
    .description('print the kernels a backend runs for one shape, or write them as a standalone module (--out)')
    .argument('<loss>', LOSS_ARG_HELP))
    .option('--target <target>', 'js (gpu.js kernel source) | glsl (headlessgl) | wgsl (webgpu)', 'js')
    .option('--shape <dims>', 'tensor shape in the layout, comma-separated', '1,64,64,1')
    .option('--layout <layout>', 'nhwc | nchw', 'nhwc')
    .option('--activation <act>', 'the prediction holds logits; the loss applies none | sigmoid | softmax first', 'none')
    .option('--out <file>', 'write a standalone ES module (.mjs) that runs the loss for this shape')
    .option('--json', 'print {loss, target, shape, layout, kernels: [{threads, accumulators, inputs, source}]}; with --out, {loss, target, shape, layout, out, kernels: n}')
    .addHelpText('after', HELP)
    .action(async (arg: string, o: CompileOptions) => {
      if (!(o.target in TARGETS)) throw new UsageError(`--target is js, glsl or wgsl, got '${o.target}'`);
      const target = o.target as ModuleTarget;
      const shape = o.shape.split(',').map((s) => Number(s.trim()));
      if (shape.some((n) => !Number.isInteger(n) || n < 1) || (shape.length !== 4 && shape.length !== 5)) {
        throw new UsageError(`--shape takes 4 or 5 positive integers, got '${o.shape}'`);
      }
      const { file } = resolveLoss(arg);
      let source: string;
      { const got = readSource(file); if ('why' in got) throw new UsageError(`cannot read '${file}': ${got.why}`); source = got.text; }
      const backend = o.out && target === 'js' ? 'reference' : TARGETS[target];
      const loss = await compile(source, { file, backend, layout: layout(o.layout), region: region(o.region), params: parseParams(o.param), activation: activation(o.activation) });
      try {
        if (o.out) {
          const m = await emitModule(loss, shape, target);
          writeAtomically(o.out, m.source);
          if (o.json) process.stdout.write(`${JSON.stringify({ loss: loss.name, target, shape, layout: o.layout, out: o.out, kernels: m.kernels }, null, 2)}\n`);
          else process.stdout.write(`wrote ${o.out}: ${loss.name}, ${m.kernels} kernel${m.kernels === 1 ? '' : 's'} (${target}) for shape [${shape.join(', ')}] (${o.layout})\n`);
          return;
        }
        const kernels = await loss.builtKernels(shape);
        const textOf = (k: (typeof kernels)[number], i: number) => {
          const text = o.target === 'js' ? k.spec.source : o.target === 'glsl' ? k.native.glsl : k.native.wgsl;
          if (!text) throw new Error(`gpu.js did not expose the ${o.target} of kernel ${i + 1}`);
          return text;
        };
        if (o.json) {
          const list = kernels.map((k, i) => ({ threads: k.spec.output, accumulators: k.spec.reduce ? k.spec.reduce.reductions.length : 0, inputs: k.spec.inputs, source: textOf(k, i) }));
          process.stdout.write(`${JSON.stringify({ loss: loss.name, target, shape, layout: o.layout, kernels: list }, null, 2)}\n`);
          return;
        }
        const out: string[] = [`// ${loss.name}: ${kernels.length} kernel${kernels.length === 1 ? '' : 's'} for shape [${shape.join(', ')}] (${o.layout}), target ${o.target}`];
        kernels.forEach((k, i) => {
          const text = textOf(k, i);
          out.push('', `// kernel ${i + 1}: ${k.spec.output} threads${k.spec.reduce ? `, ${k.spec.reduce.reductions.length} accumulators` : ''}${k.spec.terms.length ? ', gradient and value terms' : ''}; inputs ${k.spec.inputs.join(', ')}`, text.trimEnd());
        });
        process.stdout.write(`${out.join('\n')}\n`);
      } finally {
        loss.dispose();
      }
    });
}


/** Write through a temporary file in the same directory and rename: a reader never sees half a module. */
function writeAtomically(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new UsageError(`cannot write '${path}': ${(e as Error).message}`);
  }
}
