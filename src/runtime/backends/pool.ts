// The process's one worker pool per backend, sized by the threads a loss asks
// for: built on first use, rebuilt (the old one closed) when a loss asks for
// another size, none for a single thread.

import { availableParallelism } from 'node:os';

export interface SizedPool<P> {
  /** The pool of `threads` workers (default: the machine's cores), or undefined for one thread. */
  (threads?: number): P | undefined;
  /** The pool built last, if any (to reach its workers without starting one). */
  readonly current: P | undefined;
}

export function sizedPool<P extends { readonly size: number; close(): void }>(make: (threads: number) => P): SizedPool<P> {
  let pool: P | undefined;
  const get = (threads = availableParallelism()) => {
    if (threads < 2) return undefined;
    if (!pool || pool.size !== threads) {
      pool?.close();
      pool = make(threads);
    }
    return pool;
  };
  return Object.defineProperty(get, 'current', { get: () => pool }) as SizedPool<P>;
}

/**
 * The Node flags a pool's workers start with: the process's, less `--input-type` (a program run by
 * `node --input-type=module -e ...` would pass it on, and a worker started from a file or an eval'd
 * script then fails to start: ERR_INPUT_TYPE_NOT_ALLOWED, or its CommonJS read as a module).
 */
export function workerExecArgv(argv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--input-type') { i++; continue; }
    if (argv[i]!.startsWith('--input-type=')) continue;
    out.push(argv[i]!);
  }
  return out;
}

