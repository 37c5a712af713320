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
