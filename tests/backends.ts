// Which backends the runtime tests run on. The global setup probed them; an
// unavailable backend is skipped with its reason printed, or fails when
// SEGLOSS_REQUIRE_BACKENDS names it (as .ci/run does for headlessgl, webgpu).

import { inject } from 'vitest';
import { type Backend, BACKENDS } from '../src/index.ts';
import { requiredBackends } from '../src/runtime/backends/gpujs.ts';

export interface BackendCase { backend: Backend; skip: boolean; why: string }

export function backendCases(): BackendCase[] {
  const probes = inject('seglossBackends');
  const required = requiredBackends();
  return BACKENDS.map((backend) => {
    if (backend === 'reference' || backend === 'js' || backend === 'wasm') return { backend, skip: false, why: '' };
    const p = probes[backend];
    if (p.ok) return { backend, skip: false, why: '' };
    // A required backend runs anyway, so that its failure to start fails the test.
    return { backend, skip: !required.has(backend), why: p.why };
  });
}
