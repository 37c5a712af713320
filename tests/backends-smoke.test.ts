// Smoke test of every gpu.js backend this project targets in Node: cpu,
// webasm, headlessgl (gl + Xvfb + Mesa llvmpipe) and webgpu (Dawn +
// SwiftShader Vulkan). Each backend runs two real kernels over 4096 f32
// elements and is compared with a float64 oracle.
//
// Oracle: plain float64 JavaScript over the SAME f32 inputs (the inputs are
// exact in f64, so every difference is the backend's f32 arithmetic), using
// Math.log1p for the stable softplus.
//
// A backend that cannot start never passes silently: it fails when
// SEGLOSS_REQUIRE_BACKENDS (e.g. "headlessgl,webgpu") names it, and is
// reported as skipped, with the reason, otherwise.
import { spawnSync } from 'node:child_process';
import type { GPU, GPUVariableType, IGPUKernelSettings } from 'gpu.js';
import { afterAll, describe, expect, test } from 'vitest';
import {
  BackendUnavailable,
  GPU_BACKENDS,
  kernelBackend,
  openGpu,
  requiredBackends,
  type GpuBackend,
  type GpuHandle,
} from '../src/runtime/backends/gpujs.ts';

const N = 4096;
const CHUNK = 256; // elements summed by one thread; a constant, not an argument (loopMaxIterations trap)
const PARTS = N / CHUNK;
const X_MAX = 12; // logits drawn from [-X_MAX, X_MAX]
const U = 2 ** -24; // f32 unit roundoff

const required = requiredBackends();
const handles = new Map<GpuBackend, GpuHandle>();
const unavailable = new Map<GpuBackend, { why: string; unexpected: boolean }>();
for (const backend of GPU_BACKENDS) {
  try {
    handles.set(backend, await openGpu(backend));
  } catch (e) {
    const unexpected = !(e instanceof BackendUnavailable);
    unavailable.set(backend, { why: unexpected ? String((e as Error).stack ?? e) : e.why, unexpected });
  }
}
const skipped = [...unavailable].filter(([b, u]) => !required.has(b) && !u.unexpected);
if (skipped.length > 0) {
  console.warn(
    [
      '',
      '!'.repeat(78),
      `!! SKIPPED BACKENDS: ${skipped.map(([b, u]) => `${b} (${u.why})`).join('; ')}`,
      '!! Set SEGLOSS_REQUIRE_BACKENDS=headlessgl,webgpu to make these failures.',
      '!'.repeat(78),
      '',
    ].join('\n'),
  );
}
afterAll(() => {
  for (const h of handles.values()) h.close();
});

/** The open handle, or fail (required / unexpected error) or skip with the reason. */
/** The handle, its GPU with gpu.js's own typings (segloss's declarations keep gpu.js's types out). */
function handleOrSkip(backend: GpuBackend, ctx: { skip(note?: string): never }): { gpu: GPU } {
  const h = handles.get(backend);
  if (h) return { gpu: h.gpu as unknown as GPU };
  const u = unavailable.get(backend)!;
  if (u.unexpected) throw new Error(`${backend}: openGpu failed unexpectedly: ${u.why}`);
  if (required.has(backend)) {
    throw new Error(`${backend} is required by SEGLOSS_REQUIRE_BACKENDS but cannot start: ${u.why}`);
  }
  return ctx.skip(`SKIPPED: ${u.why}`);
}

// Deterministic inputs (LCG), the same for every backend.
let seed = 0x5e610551;
const rand = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
const p = new Float32Array(N); // probabilities in [0, 1)
const g = new Float32Array(N); // binary targets
const x = new Float32Array(N); // logits in [-X_MAX, X_MAX)
for (let i = 0; i < N; i++) {
  p[i] = rand();
  g[i] = rand() < 0.3 ? 1 : 0;
  x[i] = (rand() * 2 - 1) * X_MAX;
}

// Kernels are source strings, as the compiler emits them (and so no
// transpiler helper can leak into the function text).
const PARTIAL_SUMS = `function (p, g) {
  let sPG = 0;
  let sP = 0;
  let sG = 0;
  const base = this.thread.x * this.constants.chunk;
  for (let i = 0; i < this.constants.chunk; i++) {
    const pi = p[base + i];
    const gi = g[base + i];
    sPG += pi * gi;
    sP += pi;
    sG += gi;
  }
  return [sPG, sP, sG];
}`;
// Binary cross-entropy on logits, the stable form: max(x,0) - x*g + log(1 + exp(-|x|)).
const BCE_LOGITS = `function (x, g) {
  const v = x[this.thread.x];
  return Math.max(v, 0) - v * g[this.thread.x] + Math.log(1 + Math.exp(-Math.abs(v)));
}`;
// Its gradient: sigmoid(x) - g.
const BCE_GRAD = `function (x, g) {
  return 1 / (1 + Math.exp(-x[this.thread.x])) - g[this.thread.x];
}`;

// Tolerances (WGSL's accuracy table is the bar for every backend: GLSL ES 1.00,
// which headlessgl compiles to, specifies none; cpu rounds f64 to f32):
//
// Partial sums: every term is >= 0, so any summation order of n rounded f32
// terms (each product itself rounded) is within gamma_n = n*u/(1-n*u) of the
// exact sum, relative (Higham, Accuracy and Stability, 2nd ed., §4.2). n = 256.
// Measured: 4.4e-7 relative on webasm/headlessgl/webgpu; the bound is 1.5e-5.
const SUM_REL_TOL = (CHUNK * U) / (1 - CHUNK * U);
// BCE map: exp is within (3 + 2|x|) ulp, i.e. relative (3 + 2*X_MAX)*2^-23 on
// t = exp(-|x|) <= 1, which moves log(1+t) by at most that times t/(1+t) <= 1/2;
// log is within 2^-21 absolute on [0.5, 2]; 1+t and the final add round by u
// relative (max(v,0) - v*g is exact for g in {0,1}). Measured: 5.3e-7 (half an
// ulp of values up to 12, the cpu backend included).
const bceTol = (ref: number): number => (3 + 2 * X_MAX) * 2 ** -23 * 0.5 + 2 ** -21 + U * (2 + Math.abs(ref));
// Gradient: a relative exp error e moves sigmoid by s(1-s)*e <= e/4; 1+exp
// rounds by u, the division is within 2.5 ulp, the subtraction rounds by u.
// Measured: 9.4e-8.
const GRAD_TOL = ((3 + 2 * X_MAX) * 2 ** -23) / 4 + U + 2.5 * 2 ** -23 + U;

function rows(result: unknown): ArrayLike<number>[] {
  // an Array(3)-returning kernel gives one 3-vector per thread
  return Array.from(result as ArrayLike<ArrayLike<number>>);
}

for (const backend of GPU_BACKENDS) {
  describe(backend, () => {
    test('fused partial sums (sum p*g, sum p, sum g) match float64', async (ctx) => {
      const { gpu } = handleOrSkip(backend, ctx);
      // gpu.js honours returnType on kernels; its typings list it for functions only
      const settings: IGPUKernelSettings & { returnType: GPUVariableType } = {
        output: [PARTS],
        constants: { chunk: CHUNK },
        returnType: 'Array(3)',
      };
      const kernel = gpu.createKernel(PARTIAL_SUMS, settings);
      const got = rows(await kernel(p, g));
      expect(kernelBackend(kernel), 'the kernel ran on another backend').toBe(backend);
      expect(got).toHaveLength(PARTS);
      for (let part = 0; part < PARTS; part++) {
        let spg = 0;
        let sp = 0;
        let sg = 0;
        for (let i = part * CHUNK; i < (part + 1) * CHUNK; i++) {
          spg += p[i]! * g[i]!;
          sp += p[i]!;
          sg += g[i]!;
        }
        const want = [spg, sp, sg];
        for (let q = 0; q < 3; q++) {
          const err = Math.abs(got[part]![q]! - want[q]!);
          expect(err, `${backend} part ${part} sum ${q}: got ${got[part]![q]}, want ${want[q]}`).toBeLessThanOrEqual(
            SUM_REL_TOL * want[q]!,
          );
        }
      }
      kernel.destroy();
    });

    test('elementwise exp/log map (BCE on logits and its gradient) matches float64', async (ctx) => {
      const { gpu } = handleOrSkip(backend, ctx);
      const value = gpu.createKernel(BCE_LOGITS, { output: [N] });
      const grad = gpu.createKernel(BCE_GRAD, { output: [N] });
      const v = (await value(x, g)) as Float32Array;
      const d = (await grad(x, g)) as Float32Array;
      expect(kernelBackend(value), 'the kernel ran on another backend').toBe(backend);
      expect(kernelBackend(grad), 'the kernel ran on another backend').toBe(backend);
      expect(v).toHaveLength(N);
      expect(d).toHaveLength(N);
      let worstV = 0;
      let worstD = 0;
      for (let i = 0; i < N; i++) {
        const xi = x[i]!;
        const wantV = Math.max(xi, 0) - xi * g[i]! + Math.log1p(Math.exp(-Math.abs(xi)));
        const wantD = 1 / (1 + Math.exp(-xi)) - g[i]!;
        const errV = Math.abs(v[i]! - wantV);
        const errD = Math.abs(d[i]! - wantD);
        if (!(errV <= bceTol(wantV))) expect.fail(`${backend} bce[${i}] x=${xi}: got ${v[i]}, want ${wantV}`);
        if (!(errD <= GRAD_TOL)) expect.fail(`${backend} grad[${i}] x=${xi}: got ${d[i]}, want ${wantD}`);
        worstV = Math.max(worstV, errV);
        worstD = Math.max(worstD, errD);
      }
      expect(worstV).toBeLessThan(1e-5);
      expect(worstD).toBeLessThan(1e-5);
      value.destroy();
      grad.destroy();
    });
  });
}

// The diagnostics themselves, in a child process whose environment lacks what
// a backend needs: the failure must name the cause and the fix, never fall back.
describe('diagnostics when a backend cannot start', () => {
  function probeIn(env: NodeJS.ProcessEnv): Record<string, { ok: boolean; why?: string }> {
    const code =
      "import { probeBackends } from './src/runtime/backends/gpujs.ts';" +
      "process.stdout.write('\\nSEGLOSS_PROBE ' + JSON.stringify(await probeBackends()) + '\\n');";
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    const line = r.stdout.split('\n').find((l) => l.startsWith('SEGLOSS_PROBE '));
    if (!line) throw new Error(`probe child failed (status ${r.status}): ${r.stderr}`);
    return JSON.parse(line.slice('SEGLOSS_PROBE '.length));
  }

  test('headlessgl without an X display says to use xvfb-run', () => {
    const env = { ...process.env };
    delete env.DISPLAY;
    const probes = probeIn(env);
    expect(probes.cpu).toEqual({ ok: true });
    expect(probes.headlessgl!.ok).toBe(false);
    // either the display or (on a machine where gl is not built) the build is named
    expect(probes.headlessgl!.why).toMatch(/xvfb-run -a|npm rebuild gl/);
  });

  test('webgpu with a missing Vulkan driver names VK_ICD_FILENAMES', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json' };
    delete env.VK_DRIVER_FILES;
    const probes = probeIn(env);
    expect(probes.webgpu!.ok).toBe(false);
    expect(probes.webgpu!.why).toMatch(/VK_ICD_FILENAMES|libvulkan1|webgpu/);
  });
});
