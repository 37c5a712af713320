// vitest globalSetup: probe every gpu.js backend once, before any test file
// runs, and print loudly which ones are unavailable and why. The probe runs
// in a child process (through tsx), so neither gl nor Dawn is loaded into
// vitest's main process, and whatever Dawn writes to stdout stays out of the
// reporter's output.
//
// Test files can read the answer with `inject('seglossBackends')`.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { GPU_BACKENDS, requiredBackends, type BackendProbe, type GpuBackend } from '../src/runtime/backends/gpujs.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    seglossBackends: Record<GpuBackend, BackendProbe>;
  }
}

const MARK = 'SEGLOSS_PROBE ';

function probeInChild(): Record<GpuBackend, BackendProbe> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const code =
    "import { probeBackends } from './src/runtime/backends/gpujs.ts';" +
    `process.stdout.write('\\n${MARK}' + JSON.stringify(await probeBackends()) + '\\n');`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith(MARK));
  if (line) return JSON.parse(line.slice(MARK.length)) as Record<GpuBackend, BackendProbe>;
  const why = `the probe process failed (status ${r.status}${r.error ? `, ${r.error.message}` : ''}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`;
  return Object.fromEntries(GPU_BACKENDS.map((b) => [b, { ok: false, why }])) as Record<GpuBackend, BackendProbe>;
}

export default function setup(project: TestProject): void {
  const probes = probeInChild();
  project.provide('seglossBackends', probes);

  let required: Set<GpuBackend>;
  try {
    required = requiredBackends();
  } catch (e) {
    console.warn(`!! ${(e as Error).message}`);
    required = new Set();
  }
  const ok = GPU_BACKENDS.filter((b) => probes[b].ok);
  const bad = GPU_BACKENDS.flatMap((b) => {
    const p = probes[b];
    return p.ok ? [] : [{ backend: b, why: p.why }];
  });
  if (bad.length === 0) {
    console.warn(`gpu.js backends: all available (${ok.join(', ')})`);
    return;
  }
  const skipped = bad.filter((x) => !required.has(x.backend));
  const missing = bad.filter((x) => required.has(x.backend));
  const bar = '!'.repeat(78);
  const lines = ['', bar, `!! gpu.js backends available: ${ok.join(', ') || 'none'}`];
  if (skipped.length > 0) {
    lines.push(`!! SKIPPED BACKENDS: ${skipped.map((x) => x.backend).join(', ')}`);
    for (const x of skipped) lines.push(`!!   ${x.backend}: ${x.why}`);
  }
  if (missing.length > 0) {
    lines.push(`!! REQUIRED BY SEGLOSS_REQUIRE_BACKENDS BUT UNAVAILABLE (their tests will fail):`);
    for (const x of missing) lines.push(`!!   ${x.backend}: ${x.why}`);
  }
  lines.push(bar, '');
  console.warn(lines.join('\n'));
}
