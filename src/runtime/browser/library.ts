// The library in a browser: losses/*.loss as texts, registered once by the
// bundle (bin/build-browser.mjs writes them into its entry), and the compiler's
// SourceHost over them and a page's own files. A `use "x.loss"` looks in the
// files the caller gave, then in the library, as Node looks in the using file's
// folder, then the library (runtime/sources.ts); nothing is fetched.

import type { SourceHost } from '../../compiler/pipeline.ts';

const LIBRARY = new Map<string, string>();

/** The library's texts by loss name (`dice` → the text of losses/dice.loss). The bundle calls this before any user code. */
export function registerLibrary(texts: Readonly<Record<string, string>>): void {
  for (const [name, text] of Object.entries(texts)) LIBRARY.set(name, text);
}

/** The names of the library's losses, sorted. */
export function libraryNames(): string[] {
  return [...LIBRARY.keys()].sort();
}

/** The text of a library loss, or undefined. */
export function librarySource(name: string): string | undefined {
  return LIBRARY.get(name);
}

/** Where a library file shows in diagnostics (the package's path to it). */
export const libraryFile = (name: string): string => `segloss/losses/${name}.loss`;

/**
 * `use "path"`: the caller's `files` (by the path as written, `./` dropped), then the
 * library (by file name). Keys are those names, so one file used twice is one file.
 */
export function browserHost(files: Readonly<Record<string, string>> = {}): SourceHost {
  const own = new Map(Object.entries(files).map(([k, v]) => [clean(k), v]));
  const lib = (path: string) => (path.endsWith('.loss') && !path.includes('/') ? path.slice(0, -'.loss'.length) : undefined);
  return {
    locate: (path, from) => {
      const p = clean(path);
      if (from === undefined || own.has(p)) return { file: p, key: p };
      const name = lib(p);
      return name !== undefined && LIBRARY.has(name) ? { file: libraryFile(name), key: libraryFile(name) } : { file: p, key: p };
    },
    read: (file) => {
      if (own.has(file)) return { text: own.get(file)! };
      const name = file.startsWith('segloss/losses/') ? file.slice('segloss/losses/'.length, -'.loss'.length) : undefined;
      if (name !== undefined && LIBRARY.has(name)) return { text: LIBRARY.get(name)! };
      return { why: `no such file among the files given (${[...own.keys()].join(', ') || 'none'}) or in the library` };
    },
    show: (key) => key,
  };
}

const clean = (p: string): string => p.replace(/^(\.\/)+/, '');
