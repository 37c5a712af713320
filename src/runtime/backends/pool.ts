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

/** Flags a worker takes that load its code (a source checkout under tsx passes its loader so), with their value. */
const LOADING = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader', '--conditions', '-C']);
/** Flags without a value a worker takes and that change what its code sees. */
const PLAIN = new Set(['--enable-source-maps', '--no-warnings', '--no-deprecation', '--experimental-vm-modules', '--experimental-import-meta-resolve']);

/**
 * The Node flags a pool's workers start with: of the process's, those that load code (tsx's loader) and a
 * few that change what code sees. Not the others: `--input-type` (a program run by `node --input-type=module
 * -e ...` passed it on, and a worker started from a file or an eval'd script then failed to start:
 * ERR_INPUT_TYPE_NOT_ALLOWED, or its CommonJS read as a module), nor V8's and the process's own flags
 * (`--expose-gc`, `--max-old-space-size`): given to a Worker they refuse it ("invalid execArgv flags").
 */
export function workerExecArgv(argv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const name = eq < 0 ? a : a.slice(0, eq);
    if (LOADING.has(name)) {
      if (eq >= 0) out.push(a);
      else if (i + 1 < argv.length) out.push(a, argv[++i]!);
    } else if (PLAIN.has(name)) out.push(a);
  }
  return out;
}
