// The error a backend that cannot start throws, on every platform: Node's gpu.js
// modes (backends/gpujs.ts) and the browser's (browser/gpu.ts, browser/workers.ts).
// No silent fallback: the caller learns which backend and why.

import { InputError } from '../../compiler/core/errors.ts';

/** A backend cannot start here. `message` names what is missing and how to get it. */
export class BackendUnavailable extends InputError {
  override readonly name = 'BackendUnavailable';
  constructor(
    readonly backend: string,
    readonly why: string,
  ) {
    super(`${backend}: ${why}`);
  }
}

export function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}
