// One place to obtain a gpu.js GPU pinned to a backend, with the backend
// proven to be the one that actually runs.
//
// Facts this module is built on (measured on Debian 12, Node 20, gpu.js 2.24.1;
// see docs/backends.md):
// - `cpu` and `webasm` always start. gpu.js names the WebAssembly backend
//   `webasm` (`new GPU({ mode: 'webasm' })`); it can degrade single kernels to
//   cpu (kernel maps, textures, graphical), so callers check `kernelBackend()`.
// - `headlessgl` needs the optional `gl` package built by node-gyp and an X
//   display (`xvfb-run -a`). With `mode: 'gpu'` gpu.js silently falls back to
//   webasm when GL is missing; with `mode: 'headlessgl'` it throws a bare
//   "not supported". We diagnose which of the two is missing.
// - `webgpu` needs `navigator.gpu` from the `webgpu` package (Dawn), the Vulkan
//   loader `libvulkan.so.1` (Debian `libvulkan1`; Chromium's bundled copy is
//   not on the library path) and a Vulkan driver Dawn accepts: SwiftShader
//   from Debian's `chromium-common` (`/usr/lib/chromium/vk_swiftshader_icd.json`
//   via VK_ICD_FILENAMES). Dawn writes uncaptured device errors to stdout from
//   native code unless an `uncapturederror` listener calls preventDefault().
// - `mode: 'async'` is never used: it would move kernels to any adapter.
import { createRequire } from 'node:module';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackendUnavailable, firstLine } from './unavailable.ts';

export type GpuBackend = 'cpu' | 'webasm' | 'headlessgl' | 'webgpu';

// gpu.js's GPU and kernels as segloss uses them. gpu.js is an optional peer
// dependency, so segloss's declarations name none of its types: a project that
// compiles against segloss without gpu.js installed still type-checks.

/** A kernel gpu.js built (its IKernelRunShortcut): called with the kernel's arguments. */
export interface GpuJsKernel {
  (...args: unknown[]): unknown;
  /** The backend's kernel object (its class tells the backend that really runs it). */
  kernel?: unknown;
  destroy?(removeCanvasReferences?: boolean): void;
}

/** gpu.js's GPU: builds kernels from a function's source, and is destroyed with them. */
export interface GpuJsGpu {
  createKernel(source: string, settings: Record<string, unknown>): GpuJsKernel;
  destroy(): Promise<void> | void;
}

export const GPU_BACKENDS: readonly GpuBackend[] = ['cpu', 'webasm', 'headlessgl', 'webgpu'];

export interface GpuHandle {
  /** A gpu.js GPU pinned to `backend`. On `webgpu` every kernel call returns a Promise. */
  gpu: GpuJsGpu;
  backend: GpuBackend;
  /** What runs underneath, e.g. "SwiftShader driver 5.0.0 (Vulkan)". */
  detail: string;
  /** Whether kernel calls return Promises (always on webgpu). */
  async: boolean;
  /** Destroys the GPU's kernels; on the last open webgpu handle also the Dawn device. Idempotent. */
  close(): void;
}

export type BackendProbe = { ok: true } | { ok: false; why: string };

// A backend that cannot start throws BackendUnavailable (backends/unavailable.ts, shared with the browser's modes).
export { BackendUnavailable };

/** Debian 12's chromium-common ships SwiftShader's Vulkan ICD here. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

// gpu.js is CommonJS; its typings omit the webgpu classes, so reach them loosely.
type KernelClass = abstract new (...args: never[]) => unknown;
interface WebGPUContextLike {
  acquire(): Promise<{ adapter: GPUAdapterLike; device: GPUDeviceLike }>;
  destroy(): Promise<void>;
}
interface GPUAdapterLike {
  info?: { vendor?: string; architecture?: string; description?: string };
}
interface GPUDeviceLike {
  addEventListener(type: 'uncapturederror', listener: (event: { preventDefault(): void }) => void): void;
}
interface GpuJs {
  GPU: new (settings: { mode: GpuBackend }) => GpuJsGpu;
  CPUKernel: KernelClass;
  WebAssemblyKernel: KernelClass;
  HeadlessGLKernel: KernelClass & { isSupported: boolean };
  WebGPUContext: WebGPUContextLike;
  WebGPUKernel: KernelClass;
}

const require = createRequire(import.meta.url);

/**
 * gpu.js, loaded on first use: an optional peer dependency that only the
 * cpu, webasm, headlessgl and webgpu backends need (the default js backend and
 * the compiler do not). Missing, every one of those backends says how to get it.
 */
let loaded: GpuJs | undefined;
function gpujs(backend: GpuBackend): GpuJs {
  if (loaded) return loaded;
  try {
    loaded = require('gpu.js') as GpuJs;
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    if ((e as { code?: string }).code === 'MODULE_NOT_FOUND' && /'gpu\.js'/.test(msg)) {
      throw new BackendUnavailable(
        backend,
        'the optional package `gpu.js` is not installed (the cpu, webasm, headlessgl and webgpu backends run on it; ' +
          'the default js backend does not): `npm install gpu.js@^2.24.1`',
      );
    }
    throw new BackendUnavailable(backend, `gpu.js does not load (${firstLine(msg)}); reinstall it: \`npm install gpu.js@^2.24.1\``);
  }
  return loaded;
}

const kernelClass = (lib: GpuJs, b: GpuBackend): KernelClass =>
  ({ cpu: lib.CPUKernel, webasm: lib.WebAssemblyKernel, headlessgl: lib.HeadlessGLKernel, webgpu: lib.WebGPUKernel })[b];

/** The backend a built kernel really runs on (a webasm kernel may have degraded to cpu). */
export function kernelBackend(kernel: { kernel?: unknown }): GpuBackend | 'other' {
  const inner = (kernel as { kernel?: unknown }).kernel;
  const ctor = inner && typeof inner === 'object' ? (inner as object).constructor : undefined;
  if (!loaded || !ctor) return 'other';
  for (const b of GPU_BACKENDS) if (ctor === kernelClass(loaded, b)) return b;
  return 'other';
}

function gpujsRequire(): NodeJS.Require {
  // resolve `gl` exactly as gpu.js does: from gpu.js's own location
  return createRequire(require.resolve('gpu.js'));
}

// ---------------------------------------------------------------- headlessgl

const GL_DEBS = 'libxi-dev libx11-dev libxext-dev pkg-config python3 make g++';

function checkHeadlessGl(lib: GpuJs): string {
  let getContext: unknown;
  try {
    getContext = gpujsRequire()('gl');
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    if ((e as { code?: string }).code === 'MODULE_NOT_FOUND' && /'gl'/.test(msg)) {
      throw new BackendUnavailable(
        'headlessgl',
        'the optional `gl` package is not installed (npm drops it silently when its native build fails); ' +
          `apt-get install ${GL_DEBS}, then run \`npm ci\` (\`npm install gl@8.1.6 --no-save --foreground-scripts\` shows the build log)`,
      );
    }
    if (/did not self-register/.test(msg)) {
      throw new BackendUnavailable(
        'headlessgl',
        'the `gl` addon is already loaded by another worker thread of this process and cannot load twice; ' +
          "use child processes instead of worker threads (vitest: pool 'forks')",
      );
    }
    throw new BackendUnavailable(
      'headlessgl',
      `the \`gl\` package is not built (${firstLine(msg)}); apt-get install ${GL_DEBS}, then run \`npm rebuild gl --foreground-scripts\``,
    );
  }
  if (typeof getContext !== 'function') {
    throw new BackendUnavailable('headlessgl', 'the `gl` package loaded but exports no context factory; run `npm rebuild gl`');
  }
  const display = process.env.DISPLAY;
  if (!display) {
    throw new BackendUnavailable(
      'headlessgl',
      'no X display (DISPLAY is unset); run under `xvfb-run -a` (apt-get install xvfb xauth libgl1-mesa-dri libglx-mesa0)',
    );
  }
  // gpu.js creates its own test context (and caches the answer per process)
  if (!lib.HeadlessGLKernel.isSupported) {
    throw new BackendUnavailable(
      'headlessgl',
      `\`gl\` could not create a WebGL context on DISPLAY=${display} (gpu.js decides once per process): is the X server alive? ` +
        'Run under `xvfb-run -a` with Mesa installed (apt-get install xvfb xauth libgl1-mesa-dri libglx-mesa0)',
    );
  }
  let version = '';
  try {
    version = (gpujsRequire()('gl/package.json') as { version: string }).version;
  } catch {
    /* only for the detail string */
  }
  return `gl${version ? ` ${version}` : ''} (ANGLE over GLX, DISPLAY=${display})`;
}

// -------------------------------------------------------------------- webgpu

interface DawnModule {
  create(flags: string[]): unknown;
  globals: Record<string, unknown>;
}

let dawnGpu: unknown = null; // the object returned by webgpu's create(); keeps Dawn alive
let openWebGpu = 0;
const quietedDevices = new WeakSet<object>();

const VULKAN_LOADER_PATHS = [
  '/usr/lib/x86_64-linux-gnu/libvulkan.so.1',
  '/usr/lib/aarch64-linux-gnu/libvulkan.so.1',
  '/usr/lib64/libvulkan.so.1',
  '/usr/lib/libvulkan.so.1',
];

function prepareVulkanEnv(): void {
  if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && existsSync(SWIFTSHADER_ICD)) {
    // read by the Vulkan loader when Dawn creates its instance, i.e. after this
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  if (!process.env.XDG_RUNTIME_DIR) {
    const dir = join(tmpdir(), `segloss-xdg-${process.getuid?.() ?? 'user'}`);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      process.env.XDG_RUNTIME_DIR = dir;
    } catch {
      /* Dawn 0.6.2 ran without it on Debian 12 */
    }
  }
}

function noAdapterWhy(): string {
  const icd = process.env.VK_DRIVER_FILES || process.env.VK_ICD_FILENAMES;
  if (!VULKAN_LOADER_PATHS.some((p) => existsSync(p))) {
    return 'no adapter: the Vulkan loader libvulkan.so.1 is missing; apt-get install libvulkan1 (Chromium bundles its own copy, which Dawn does not find)';
  }
  if (!icd) {
    return `no adapter: no Vulkan driver; apt-get install chromium (it ships SwiftShader) and set VK_ICD_FILENAMES=${SWIFTSHADER_ICD}`;
  }
  const missing = icd.split(':').filter((f) => f && !existsSync(f));
  if (missing.length > 0) {
    return `no adapter: VK_ICD_FILENAMES names a missing file (${missing.join(', ')}); apt-get install chromium and set VK_ICD_FILENAMES=${SWIFTSHADER_ICD}`;
  }
  return `no adapter on the Vulkan driver(s) ${icd}; Dawn finds none on Mesa lavapipe, use SwiftShader: VK_ICD_FILENAMES=${SWIFTSHADER_ICD} (apt-get install chromium)`;
}

async function startWebGpu(lib: GpuJs): Promise<string> {
  prepareVulkanEnv();
  if (!dawnGpu) {
    let dawn: DawnModule;
    try {
      dawn = (await import('webgpu')) as unknown as DawnModule;
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      const missing = (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && /'webgpu'/.test(msg);
      throw new BackendUnavailable(
        'webgpu',
        missing
          ? 'the optional package `webgpu` (Dawn) is not installed: `npm install webgpu@0.6.2` (0.2.x needs a newer glibc than Debian 12 has)'
          : `the \`webgpu\` package (Dawn) does not load (${firstLine(msg)}); reinstall it: \`npm install webgpu@0.6.2\``,
      );
    }
    // Dawn's interface classes (GPUBufferUsage, ...) as the browser has them; never overwrite
    const g = globalThis as Record<string, unknown>;
    for (const [k, v] of Object.entries(dawn.globals)) if (!(k in g)) g[k] = v;
    dawnGpu = dawn.create([]);
  }
  installNavigatorGpu(dawnGpu);

  let adapter: GPUAdapterLike;
  let device: GPUDeviceLike;
  try {
    ({ adapter, device } = await lib.WebGPUContext.acquire());
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    if (/no adapter/i.test(msg)) throw new BackendUnavailable('webgpu', noAdapterWhy());
    throw new BackendUnavailable('webgpu', `could not open a device: ${firstLine(msg)}`);
  }
  if (!quietedDevices.has(device)) {
    // Without a listener that prevents the default, Dawn prints every uncaptured
    // error to stdout from native code. gpu.js's own onuncapturederror handler
    // still reports it on stderr.
    device.addEventListener('uncapturederror', (event) => event.preventDefault());
    quietedDevices.add(device);
  }
  const info = adapter.info ?? {};
  return `${info.description || info.architecture || 'unknown adapter'} (Dawn, Vulkan${
    process.env.VK_ICD_FILENAMES ? `, VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES}` : ''
  })`;
}

function installNavigatorGpu(gpu: unknown): void {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator && typeof g.navigator === 'object') {
    if (g.navigator.gpu === gpu) return;
    try {
      Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
      return;
    } catch {
      /* a non-extensible navigator: replace the global below */
    }
  }
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
}

/** Tears Dawn down once no webgpu handle is open (re-checked after each await). */
async function teardownWebGpuIfIdle(): Promise<void> {
  if (openWebGpu > 0 || !dawnGpu || !loaded) return;
  await loaded.WebGPUContext.destroy();
  if (openWebGpu > 0) return; // reopened meanwhile: the next acquire made a new device
  // Dawn keeps the process alive while the object returned by create() is reachable
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator && g.navigator.gpu === dawnGpu) {
    try {
      delete g.navigator.gpu;
    } catch {
      /* ignore */
    }
  }
  dawnGpu = null;
}

// ------------------------------------------------------------------- common

// The probe: 1 output, one argument read, arithmetic that every backend must
// get exactly right in f32 (1.25 * 2 + 0.5 = 3).
const PROBE_SOURCE = 'function (a) { return a[0] * 2 + 0.5; }';

async function verify(gpu: GpuJsGpu, backend: GpuBackend): Promise<void> {
  const kernel = gpu.createKernel(PROBE_SOURCE, { output: [1] });
  let out: unknown;
  try {
    out = await (kernel(new Float32Array([1.25])) as unknown);
  } catch (e) {
    throw new BackendUnavailable(backend, `the probe kernel failed: ${firstLine((e as Error).message ?? String(e))}`);
  }
  const ran = kernelBackend(kernel);
  if (ran !== backend) {
    const ctor = ((kernel as { kernel?: { constructor?: { name?: string } } }).kernel?.constructor?.name) ?? '?';
    throw new BackendUnavailable(backend, `gpu.js ran the probe on ${ran} (${ctor}) instead: it fell back silently`);
  }
  const v = (out as ArrayLike<number>)[0];
  if (v !== 3) {
    throw new BackendUnavailable(backend, `the probe kernel returned ${String(v)} instead of 3`);
  }
  kernel.destroy?.();
}

/**
 * A gpu.js GPU pinned to `backend`, after proving with a probe kernel that
 * this backend (and no fallback) runs. Throws BackendUnavailable otherwise.
 */
export async function openGpu(backend: GpuBackend): Promise<GpuHandle> {
  if (!GPU_BACKENDS.includes(backend)) {
    throw new BackendUnavailable(backend, `unknown backend; use one of ${GPU_BACKENDS.join(', ')}`);
  }
  const lib = gpujs(backend);
  let detail: string;
  switch (backend) {
    case 'cpu':
      detail = 'JavaScript (computes in float64, rounds outputs to f32)';
      break;
    case 'webasm':
      if (typeof WebAssembly !== 'object') throw new BackendUnavailable('webasm', 'this runtime has no WebAssembly');
      detail = 'WebAssembly f32 + SIMD';
      break;
    case 'headlessgl':
      detail = checkHeadlessGl(lib);
      break;
    case 'webgpu':
      openWebGpu += 1;
      try {
        detail = await startWebGpu(lib);
      } catch (e) {
        openWebGpu -= 1;
        await teardownWebGpuIfIdle();
        throw e;
      }
      break;
  }

  let gpu: GpuJsGpu;
  try {
    gpu = new lib.GPU({ mode: backend });
  } catch (e) {
    if (backend === 'webgpu') {
      openWebGpu -= 1;
      await teardownWebGpuIfIdle();
    }
    throw new BackendUnavailable(backend, `gpu.js refused the mode: ${firstLine((e as Error).message ?? String(e))}`);
  }
  try {
    await verify(gpu, backend);
  } catch (e) {
    await destroyQuietly(gpu);
    if (backend === 'webgpu') {
      openWebGpu -= 1;
      await teardownWebGpuIfIdle();
    }
    throw e;
  }

  let closed = false;
  return {
    gpu,
    backend,
    detail,
    async: backend === 'webgpu',
    close() {
      if (closed) return;
      closed = true;
      if (backend === 'webgpu') openWebGpu -= 1;
      void destroyQuietly(gpu).then(() => (backend === 'webgpu' ? teardownWebGpuIfIdle() : undefined));
    },
  };
}

/** Starts and closes each backend once; never throws. */
export async function probeBackends(): Promise<Record<GpuBackend, BackendProbe>> {
  const result = {} as Record<GpuBackend, BackendProbe>;
  for (const backend of GPU_BACKENDS) {
    try {
      const h = await openGpu(backend);
      h.close();
      result[backend] = { ok: true };
    } catch (e) {
      result[backend] = {
        ok: false,
        why: e instanceof BackendUnavailable ? e.why : `unexpected error: ${(e as Error).message ?? String(e)}`,
      };
    }
  }
  return result;
}

/** Parses SEGLOSS_REQUIRE_BACKENDS ("headlessgl,webgpu"); throws on unknown names. */
export function requiredBackends(value: string | undefined = process.env.SEGLOSS_REQUIRE_BACKENDS): Set<GpuBackend> {
  const names = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const wrong = names.filter((n) => !GPU_BACKENDS.includes(n as GpuBackend));
  if (wrong.length > 0) {
    throw new Error(`SEGLOSS_REQUIRE_BACKENDS names unknown backend(s) ${wrong.join(', ')}; known: ${GPU_BACKENDS.join(', ')}`);
  }
  return new Set(names as GpuBackend[]);
}

async function destroyQuietly(gpu: GpuJsGpu): Promise<void> {
  try {
    await gpu.destroy();
  } catch {
    /* best effort */
  }
}
