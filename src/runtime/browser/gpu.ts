// gpu.js in a browser (its browser build, bundled): a GPU pinned to webgl2,
// webgl, webgpu or cpu, opened only after this page is shown to have what the
// mode needs and a probe kernel ran on that mode, and no other. A mode that
// cannot start throws BackendUnavailable saying why; gpu.js's own silent
// fallbacks (a kernel it cannot translate runs on cpu) are caught per kernel
// by `checkRan`.
//
// Facts (Chromium 156, Debian 12, no GPU; docs/browser.md): WebGL2 and WebGL
// run on SwiftShader with any flags; WebGPU needs a secure context (https or
// http://localhost), `--enable-unsafe-webgpu` on Linux, and, without a GPU,
// `--use-angle=swiftshader --enable-unsafe-swiftshader` for an adapter.

import GPUModule from 'gpu.js';
import type { KernelSpec } from '../../compiler/codegen/kernel.ts';
import type { KernelOutput, Runner } from '../executor.ts';
import { gpuKernelOptions } from '../checks.ts';
import { BackendUnavailable, firstLine } from '../backends/unavailable.ts';

export type BrowserGpuMode = 'webgl2' | 'webgl' | 'webgpu' | 'cpu';
export const BROWSER_GPU_MODES: readonly BrowserGpuMode[] = ['webgl2', 'webgl', 'webgpu', 'cpu'];

type KernelClass = abstract new (...args: never[]) => unknown;
interface GpuKernel { (...args: unknown[]): unknown; kernel?: { constructor?: unknown }; destroy?: (removeCanvasReferences?: boolean) => void }
interface BrowserGpu { createKernel(source: string, options: object): GpuKernel; destroy(): Promise<void> | void }
interface WebGpuAdapter { info?: { vendor?: string; architecture?: string; description?: string } }
interface GpuJsBrowser {
  new (options: { mode: string }): BrowserGpu;
  WebGL2Kernel: KernelClass;
  WebGLKernel: KernelClass;
  WebGPUKernel: KernelClass;
  CPUKernel: KernelClass;
  WebGPUContext: { acquire(): Promise<{ adapter: WebGpuAdapter }> };
}
// gpu.js's browser build is CommonJS exporting the GPU class with every other class on it.
const lib = GPUModule as unknown as GpuJsBrowser;

const KERNEL_CLASS: Record<BrowserGpuMode, KernelClass> = {
  webgl2: lib.WebGL2Kernel,
  webgl: lib.WebGLKernel,
  webgpu: lib.WebGPUKernel,
  cpu: lib.CPUKernel,
};

export interface BrowserGpuHandle {
  mode: BrowserGpuMode;
  /** What runs underneath: the WebGL renderer, the WebGPU adapter. */
  detail: string;
  /** A runner per kernel spec: gpu.js's kernel; on webgpu each call returns a Promise. */
  runner(spec: KernelSpec): { run: Runner; release(): void; ran(): string | undefined };
  close(): void;
}

interface BrowserGlobals {
  isSecureContext?: boolean;
  location?: { origin?: string };
  navigator?: { gpu?: { requestAdapter(): Promise<WebGpuAdapter | null> } };
  document?: { createElement(tag: 'canvas'): { getContext(kind: string): unknown } };
  OffscreenCanvas?: new (w: number, h: number) => { getContext(kind: string): unknown };
}
const g = globalThis as unknown as BrowserGlobals;

interface GlContext { getParameter(p: number): unknown; getExtension(name: string): { UNMASKED_RENDERER_WEBGL: number } | null; RENDERER: number }

/** The WebGL renderer's name, or why this page has no such context. */
function glRenderer(mode: 'webgl2' | 'webgl'): string {
  const canvas = g.document ? g.document.createElement('canvas') : g.OffscreenCanvas ? new g.OffscreenCanvas(1, 1) : undefined;
  if (!canvas) throw new BackendUnavailable(mode, 'this page has neither document nor OffscreenCanvas: no canvas to draw WebGL on');
  const gl = canvas.getContext(mode) as GlContext | null;
  if (!gl) {
    throw new BackendUnavailable(mode, `the browser gives no ${mode === 'webgl2' ? 'WebGL2' : 'WebGL'} context (WebGL disabled or blocklisted here; ` +
      'headless Chromium without a GPU needs SwiftShader: do not pass --disable-gpu with --disable-software-rasterizer, or pass --use-angle=swiftshader --enable-unsafe-swiftshader)');
  }
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  return String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
}

/** The WebGPU adapter's description, or why there is none. */
async function webgpuAdapter(): Promise<string> {
  if (g.isSecureContext === false) {
    throw new BackendUnavailable('webgpu', `WebGPU needs a secure context (https, or http://localhost / 127.0.0.1); this page is ${g.location?.origin ?? 'not one'}`);
  }
  if (!g.navigator?.gpu) {
    throw new BackendUnavailable('webgpu', 'this browser has no WebGPU (navigator.gpu is absent): Chromium on Linux needs --enable-unsafe-webgpu, Firefox dom.webgpu.enabled');
  }
  let adapter: WebGpuAdapter | null;
  try { adapter = await g.navigator.gpu.requestAdapter(); } catch (e) { throw new BackendUnavailable('webgpu', `requestAdapter failed: ${firstLine(String((e as Error).message ?? e))}`); }
  if (!adapter) {
    throw new BackendUnavailable('webgpu', 'navigator.gpu gives no adapter (no usable GPU or driver; headless Chromium without a GPU finds the SwiftShader adapter with ' +
      '--enable-unsafe-webgpu --use-angle=swiftshader --enable-unsafe-swiftshader)');
  }
  try { await lib.WebGPUContext.acquire(); } catch (e) { throw new BackendUnavailable('webgpu', `could not open a device: ${firstLine(String((e as Error).message ?? e))}`); }
  const i = adapter.info ?? {};
  return `WebGPU ${[i.vendor, i.architecture, i.description].filter(Boolean).join(' ') || 'adapter'}`;
}

/** The mode a built kernel ran on (after its first call), by its class. */
function ranOn(k: GpuKernel): string | undefined {
  const ctor = k.kernel?.constructor;
  if (!ctor) return undefined;
  for (const m of BROWSER_GPU_MODES) if (ctor === KERNEL_CLASS[m]) return m;
  return (ctor as { name?: string }).name ?? 'other';
}

// 1.25 * 2 + 0.5 = 3 exactly in f32 on every mode.
const PROBE = 'function (a) { return a[0] * 2 + 0.5; }';

/** A gpu.js GPU pinned to `mode`, proven by a probe kernel; BackendUnavailable otherwise. */
export async function openBrowserGpu(mode: BrowserGpuMode): Promise<BrowserGpuHandle> {
  if (!BROWSER_GPU_MODES.includes(mode)) throw new BackendUnavailable(mode, `unknown gpu.js mode; use one of ${BROWSER_GPU_MODES.join(', ')}`);
  const detail = mode === 'cpu' ? 'JavaScript (gpu.js cpu: float64 inside, float32 out)' : mode === 'webgpu' ? await webgpuAdapter() : glRenderer(mode);
  let gpu: BrowserGpu;
  try { gpu = new lib({ mode }); } catch (e) { throw new BackendUnavailable(mode, `gpu.js refused the mode: ${firstLine(String((e as Error).message ?? e))}`); }
  const probe = gpu.createKernel(PROBE, { output: [1] });
  try {
    let out: unknown;
    try { out = await (probe(new Float32Array([1.25])) as unknown); } catch (e) { throw new BackendUnavailable(mode, `the probe kernel failed: ${firstLine(String((e as Error).message ?? e))}`); }
    const ran = ranOn(probe);
    if (ran !== mode) throw new BackendUnavailable(mode, `gpu.js ran the probe on ${ran} instead: it fell back silently`);
    const v = (out as ArrayLike<number>)[0];
    if (v !== 3) throw new BackendUnavailable(mode, `the probe kernel returned ${String(v)} instead of 3`);
  } catch (e) {
    void gpu.destroy();
    throw e;
  } finally {
    probe.destroy?.();
  }
  let closed = false;
  return {
    mode,
    detail,
    runner(spec) {
      const k = gpu.createKernel(spec.source, gpuKernelOptions(spec));
      let checked = false;
      // gpu.js builds a kernel on its first call, and may build it on cpu instead: refuse that, once, after the call.
      const check = (out: KernelOutput): KernelOutput => {
        if (checked) return out;
        const ran = ranOn(k);
        if (ran !== mode) throw new BackendUnavailable(mode, `gpu.js ran a kernel on ${ran} instead of ${mode} (it fell back silently; the loss has a kernel this mode cannot translate)`);
        checked = true;
        return out;
      };
      const run: Runner = (args) => {
        const out = k(...args) as KernelOutput | PromiseLike<KernelOutput>;
        return typeof (out as PromiseLike<KernelOutput>).then === 'function' ? Promise.resolve(out).then(check) : check(out as KernelOutput);
      };
      return { run, release: () => k.destroy?.(), ran: () => ranOn(k) };
    },
    close() {
      if (closed) return;
      closed = true;
      void Promise.resolve(gpu.destroy()).catch(() => undefined);
    },
  };
}
