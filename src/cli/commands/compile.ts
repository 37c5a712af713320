// `segloss compile FILE --target js|glsl|wgsl`: the kernels a backend runs for
// one shape. js is our gpu.js kernel source; glsl and wgsl are what gpu.js
// translates it to, read back from a kernel built on headlessgl or webgpu.

import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { type Backend, compile } from '../../runtime/loss.ts';
import { UsageError, formulaOptions, layout, parseParams, region } from '../options.ts';

const TARGETS: Record<string, Backend> = { js: 'cpu', glsl: 'headlessgl', wgsl: 'webgpu' };

export function register(program: Command): void {
  formulaOptions(program
    .command('compile')
    .description('print the kernels a backend runs for one shape')
    .argument('<file>', 'a .loss file'))
    .option('--target <target>', 'js (gpu.js kernel source) | glsl (headlessgl) | wgsl (webgpu)', 'js')
    .option('--shape <dims>', 'tensor shape in the layout, comma-separated', '1,64,64,1')
    .option('--layout <layout>', 'nhwc | nchw', 'nhwc')
    .addHelpText('after', '\nglsl needs headlessgl (the gl package and an X display: run under xvfb-run -a);\nwgsl needs WebGPU through Dawn (see docs/backends.md).\n\nExamples:\n  segloss compile losses/dice.loss\n  segloss compile losses/bce.loss --target wgsl --shape 2,128,128,4')
    .action(async (file: string, o: { target: string; shape: string; layout: string; region: string; param: string[] }) => {
      const backend = TARGETS[o.target];
      if (!backend) throw new UsageError(`--target is js, glsl or wgsl, got '${o.target}'`);
      const shape = o.shape.split(',').map((s) => Number(s.trim()));
      if (shape.some((n) => !Number.isInteger(n) || n < 1) || (shape.length !== 4 && shape.length !== 5)) {
        throw new UsageError(`--shape takes 4 or 5 positive integers, got '${o.shape}'`);
      }
      let source: string;
      try { source = readFileSync(file, 'utf8'); } catch { throw new UsageError(`cannot read '${file}'`); }
      const loss = await compile(source, { file, backend, layout: layout(o.layout), region: region(o.region), params: parseParams(o.param) });
      try {
        const kernels = await loss.builtKernels(shape);
        const out: string[] = [`// ${loss.name}: ${kernels.length} kernel${kernels.length === 1 ? '' : 's'} for shape [${shape.join(', ')}] (${o.layout}), target ${o.target}`];
        kernels.forEach((k, i) => {
          const text = o.target === 'js' ? k.spec.source : o.target === 'glsl' ? k.native.glsl : k.native.wgsl;
          if (!text) throw new Error(`gpu.js did not expose the ${o.target} of kernel ${i + 1}`);
          out.push('', `// kernel ${i + 1}: ${k.spec.output} threads${k.spec.reduce ? `, ${k.spec.reduce.reductions.length} accumulators` : ''}${k.spec.terms.length ? ', gradient and value terms' : ''}; inputs ${k.spec.inputs.join(', ')}`, text.trimEnd());
        });
        process.stdout.write(`${out.join('\n')}\n`);
      } finally {
        loss.dispose();
      }
    });
}
