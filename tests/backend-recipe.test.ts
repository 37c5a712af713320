// docs/ARCHITECTURE.md's backend recipe, done in this file for a backend that is not gpu.js:
// a printer of each pass's kernel statements (KernelSpec.args and .body, codegen/kernel-ir.ts),
// runners made from the printed kernels (Runner, runtime/executor.ts), the Program for a shape
// (shapeProgram, runtime/program.ts), and the executor's run. The printer here writes one
// function per thread, `function(a0, ..., t) { ...; return [v0, v1]; }` (neither gpu.js's
// `this.thread.x` nor the plain-JS thread loop), and its runner loops over the threads.
// Oracles: the float64 reference interpreter (core/reference.ts, CompiledLoss's 'reference'
// backend) and CompiledLoss on the js backend (the same executor on the plain-JS printer).

import { describe, expect, test } from 'vitest';
import type { Stmt } from '../src/compiler/codegen/kernel-ir.ts';
import { sizesOf } from '../src/compiler/core/layout.ts';
import { type Memory, type Runner, run } from '../src/runtime/executor.ts';
import { shapeProgram } from '../src/runtime/program.ts';
import { type CompiledLoss, load } from '../src/index.ts';
import type { KernelSpec } from '../src/compiler/index.ts';

// ---- The backend: a printer and its runners ----

/** Statements as JavaScript, a thread's result returned (an array when it has several values). */
function printStmts(body: readonly Stmt[], ind: string): string[] {
  return body.flatMap((s): string[] => {
    switch (s.kind) {
      case 'const': return [`${ind}const ${s.name} = ${s.value};`];
      case 'let': return [`${ind}let ${s.name} = ${s.value};`];
      case 'assign': return [`${ind}${s.name} ${s.add ? '+=' : '='} ${s.value};`];
      case 'return': return [`${ind}return ${s.values.length === 1 ? s.values[0]! : `[${s.values.join(', ')}]`};`];
      case 'if': return [`${ind}if (${s.cond}) {`, ...printStmts(s.body, `${ind}  `), `${ind}}`];
      case 'for': return [`${ind}for (let ${s.v} = 0; ${s.v} < ${s.count}; ${s.v}++) {`, ...printStmts(s.body, `${ind}  `), `${ind}}`];
    }
  });
}

/** The printer: one thread as a function of the kernel's arguments and the thread index. */
export function printPerThread(args: readonly string[], body: readonly Stmt[]): string {
  return [`function(${[...args, 't'].join(', ')}) {`, ...printStmts(body, '  '), '}'].join('\n');
}

/** A printed kernel as a Runner: every thread in order, `width` values each, into the target or a scratch array. */
function perThreadRunner(spec: KernelSpec): Runner {
  const fn = new Function(`return ${printPerThread(spec.args, spec.body)}`)() as (...a: unknown[]) => number | number[];
  let scratch: Float32Array | undefined;
  return (args, target) => {
    const out = target ?? (scratch ??= new Float32Array(spec.output * spec.width));
    for (let t = 0; t < spec.output; t++) {
      const r = fn(...args, t);
      if (spec.width === 1) out[t] = r as number;
      else for (let j = 0; j < spec.width; j++) out[t * spec.width + j] = (r as number[])[j]!;
    }
    return out;
  };
}

/** The backend's valueAndGrad: the loss's plan, its Program for this shape, runners for its kernels, the executor. */
function valueAndGrad(loss: CompiledLoss, inputs: Record<string, number[]>, shape: readonly number[]) {
  const { sizes, dims } = sizesOf(shape, 'nhwc');
  // A CPU backend: the CPU reduce layout, as the js backend compared with below takes.
  const { program, specs } = shapeProgram(loss.plan(dims, 'grad'), undefined, sizes, dims, 'nhwc', { cpu: true });
  // Host steps (distance transforms, sorts) have no kernel: the executor runs them itself.
  const runners = specs.map((s) => (s ? perThreadRunner(s) : undefined));
  const memory: Memory = { input: (name) => Float32Array.from(inputs[name]!), alloc: (n) => new Float32Array(n) };
  const r = run(program, runners, memory, true);
  if (r instanceof Promise) throw new Error('these runners are synchronous');
  return { ...r, specs, steps: program.steps };
}

// ---- The losses, against the reference and the js backend ----

const SHAPE = [2, 16, 16, 2];
const N = SHAPE.reduce((a, b) => a * b, 1);
/** Deterministic smooth probabilities and a blobby one-hot target (two classes). */
const P = Array.from({ length: N }, (_, i) => 0.05 + 0.9 * (0.5 + 0.5 * Math.sin(i * 0.37 + Math.cos(i * 0.11))));
const G = Array.from({ length: N }, (_, i) => {
  const c = i % 2, px = Math.floor(i / 2) % 256, y = Math.floor(px / 16), x = px % 16;
  const fg = (x - 8) ** 2 + (y - 7) ** 2 < 20 ? 1 : 0;
  return c === 1 ? fg : 1 - fg;
});

describe('a backend of its own printer, run by the executor', () => {
  test('the printer prints the statements codegen emitted', async () => {
    const loss = await load('dice', {}, { backend: 'js', layout: 'nhwc' });
    const { sizes, dims } = sizesOf(SHAPE, 'nhwc');
    const { specs } = shapeProgram(loss.plan(dims, 'grad'), undefined, sizes, dims, 'nhwc', { cpu: true });
    const spec = specs.find((s) => s !== undefined)!;
    const src = printPerThread(spec.args, spec.body);
    expect(src.startsWith(`function(${[...spec.args, 't'].join(', ')}) {`)).toBe(true);
    expect(src).not.toContain('this.thread');
  });

  test.each(['dice', 'bce', 'ssim', 'hausdorff_dt'])('%s: value and gradient equal the float64 reference and CompiledLoss on js', async (name) => {
    const [ref, js] = await Promise.all([load(name, {}, { backend: 'reference', layout: 'nhwc' }), load(name, {}, { backend: 'js', layout: 'nhwc' })]);
    const mine = valueAndGrad(js, { p: P, g: G }, SHAPE);
    if (name === 'hausdorff_dt') expect(mine.steps.some((s) => s.kind === 'host'), 'a host step').toBe(true);
    const r = await ref.valueAndGrad({ p: P, g: G }, SHAPE);
    const j = await js.valueAndGrad({ p: P, g: G }, SHAPE);
    // float32 kernels against float64: 1e-5 relative on the value, 1e-4 of the largest gradient entry.
    expect(Math.abs(mine.value - r.value), `${mine.value} vs ${r.value}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(r.value)));
    const scale = Math.max(...Array.from(r.grad, Math.abs));
    expect(scale).toBeGreaterThan(0);
    Array.from(mine.grad!).forEach((v, i) => expect(Math.abs(v - r.grad[i]!), `element ${i}`).toBeLessThanOrEqual(1e-4 * scale));
    // The same statements, the same executor: the js backend's result bit for bit.
    expect(mine.value).toBe(j.value);
    expect(Array.from(mine.grad!)).toEqual(Array.from(j.grad));
    js.dispose();
  });
});
