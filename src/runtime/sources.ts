// The Node edge of the compiler: formula files read from disk. The compiler
// (src/compiler/) reads nothing itself; it asks a SourceHost for each `use`.
// Here: `use "x.loss"` is looked for in the using file's folder, the project's
// losses/, SEGLOSS_PATH and the library (nodeHost), and reaches only regular
// `.loss` files under USE_MAX_BYTES inside those folders (real paths, symlinks followed), and the
// text of a refused file is never read. `frontend`/`frontendFile` are the
// pipeline with this host.

import { closeSync, constants, existsSync, fstatSync, openSync, readFileSync, readSync, readdirSync, realpathSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type LossEntry, describeModule } from '../compiler/front/catalogue.ts';
import { SeglossError, diag, suggest } from '../compiler/front/diagnostics.ts';
import { parse } from '../compiler/front/parse.ts';
import { type FrontendOptions, type FrontendResult, type SourceHost, compileIR } from '../compiler/pipeline.ts';

/**
 * The package's root: the nearest folder above this file with a package.json
 * (src/runtime/ → two up in a checkout; dist/src/runtime/ → three up when built).
 */
function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return join(here, '..', '..');
  }
}

/** The shared library's folder (`losses/` at the package root): a `use` may always reach it. */
export const LIBRARY_DIR = join(packageRoot(), 'losses');
/** The largest file a `use` reads: formulas are small; /dev/zero is not. */
export const USE_MAX_BYTES = 1 << 20;

export interface FileOptions extends Omit<FrontendOptions, 'host'> {
  /**
   * Reads a `use`d file instead of the file system (tests, editors). Returns undefined when absent.
   * A given reader is trusted with the file's checks; the path checks (inside the
   * allowed folders, ending in `.loss`) apply to it too.
   */
  readFile?: (path: string) => string | undefined;
}

/** A file to compile (the root, a CLI argument), read as a `use`d file is (a regular file under USE_MAX_BYTES), from any folder. */
export function readSource(path: string): { text: string } | { why: string } {
  return readConfined(path, undefined, false);
}

const OUTSIDE = "it is outside the using file's folder, the project's losses/, SEGLOSS_PATH and the library";

const inside = (path: string, root: string): boolean => {
  const r = relative(root, path);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
};

function realOr(path: string): string {
  try { return realpathSync(path); } catch { return resolve(path); }
}

/**
 * Why a `use` of `path` is refused, or its text. Without `roots` (the file being
 * compiled), any folder.
 */
function readConfined(path: string, roots: readonly string[] | undefined, lossOnly = true): { text: string } | { why: string } {
  let real: string;
  try { real = realpathSync(path); } catch { return { why: 'no such file' }; }
  if (roots && !roots.some((r) => inside(real, r))) return { why: OUTSIDE };
  if (lossOnly && !real.endsWith('.loss')) return { why: 'it is not a .loss file' };
  let fd: number;
  // Non-blocking, so that a FIFO that slipped in after realpath cannot hang the open.
  try { fd = openSync(real, constants.O_RDONLY | constants.O_NONBLOCK); } catch { return { why: 'it cannot be opened' }; }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { why: 'it is not a regular file' };
    if (st.size > USE_MAX_BYTES) return { why: `it is larger than ${USE_MAX_BYTES} bytes` };
    const buf = Buffer.alloc(USE_MAX_BYTES + 1);
    let n = 0;
    for (let k; n < buf.length && (k = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += k;
    if (n > USE_MAX_BYTES) return { why: `it is larger than ${USE_MAX_BYTES} bytes` };
    return { text: buf.toString('utf8', 0, n) };
  } catch {
    return { why: 'it cannot be read' };
  } finally {
    closeSync(fd);
  }
}

/**
 * The project of a root file: the nearest ancestor of its folder that holds a package.json,
 * else the nearest ancestor of the current directory that does, else none.
 */
export function projectDir(rootFile: string, cwd: string = process.cwd()): string | undefined {
  for (const start of [dirname(resolve(rootFile)), resolve(cwd)]) {
    for (let d = start; ; d = dirname(d)) {
      if (existsSync(join(d, 'package.json'))) return d;
      if (dirname(d) === d) break;
    }
  }
  return undefined;
}

/**
 * Where `use "x.loss"` looks, after the using file's own folder, for a root file: the
 * project's `losses/` (projectDir), each directory of SEGLOSS_PATH (path.delimiter-separated,
 * empty entries skipped), then the package's own library (LIBRARY_DIR); duplicates dropped.
 */
export function searchPath(rootFile: string, env: string | undefined = process.env.SEGLOSS_PATH): string[] {
  const project = projectDir(rootFile);
  const dirs = [
    ...(project ? [join(project, 'losses')] : []),
    ...(env ?? '').split(delimiter).filter((d) => d !== ''),
    LIBRARY_DIR,
  ].map((d) => resolve(d));
  return [...new Set(dirs)];
}

/** A path as the E210 message lists it: relative to the current directory when inside it. */
const shown = (path: string): string => {
  const r = relative(process.cwd(), path);
  return r && !r.startsWith('..') && !isAbsolute(r) ? r : path;
};

/**
 * The file system as the compiler's SourceHost for a root file. `use "path"` in a file F names
 * the first of these that exists: F's folder/path, then path in each searchPath directory
 * (the project's losses/, SEGLOSS_PATH, the library). A file that exists but is refused is
 * refused (the search does not go on past it). Whichever place it is found in, a `use` reaches
 * only regular .loss files inside the allowed folders: the root file's folder, the search
 * path's directories, and their subfolders (real paths, symlinks followed). When no place
 * holds the file, E210 lists every place looked in.
 */
export function nodeHost(rootFile: string, given?: (path: string) => string | undefined): SourceHost {
  const dirs = searchPath(rootFile);
  const roots = [dirname(rootFile), ...dirs].map((d) => (given ? resolve(d) : realOr(d)));
  const allowed = (path: string) => roots.some((r) => inside(resolve(path), r)) && path.endsWith('.loss');
  // A given reader's texts, read once (locate asks whether a file exists; read wants its text).
  const texts = new Map<string, string | undefined>();
  const readGiven = (path: string) => {
    if (!texts.has(path)) texts.set(path, given!(path));
    return texts.get(path);
  };
  const exists = (path: string) => (given ? allowed(path) && readGiven(path) !== undefined : existsSync(path));
  // The places looked in for a file found nowhere, by the file locate named (the first place).
  const looked = new Map<string, string[]>();
  return {
    locate: (path, from) => {
      if (from === undefined) return { file: path, key: resolve(path) };
      const places = [join(dirname(from), path), ...dirs.map((d) => join(d, path))]
        .filter((p, i, all) => all.findIndex((q) => resolve(q) === resolve(p)) === i);
      const found = places.find(exists);
      const file = found ?? places[0]!;
      if (!found && places.length > 1) looked.set(file, places);
      return { file, key: resolve(file) };
    },
    read: (path) => {
      const got = readOne(path);
      const where = looked.get(path);
      if ('why' in got && got.why === 'no such file' && where) return { why: `no such file; looked in ${where.map(shown).join(', ')}` };
      return got;
    },
    show: (key, root) => relative(resolve(dirname(root)), key) || key,
  };

  function readOne(path: string): { text: string } | { why: string } {
    if (!given) return readConfined(path, roots);
    if (!roots.some((r) => inside(resolve(path), r))) return { why: OUTSIDE };
    if (!path.endsWith('.loss')) return { why: 'it is not a .loss file' };
    const text = readGiven(path);
    return text === undefined ? { why: 'no such file' } : { text };
  }
}

/** The pipeline (src/compiler/pipeline.ts's compileIR, every stage kept) on `source`, with `use`d files from the file system. */
export function frontend(source: string, file: string, opts: FileOptions = {}): FrontendResult {
  const { readFile, ...rest } = opts;
  return compileIR(source, file, { ...rest, host: nodeHost(file, readFile) });
}

export function frontendFile(path: string, opts: FileOptions = {}): FrontendResult {
  // The root file too: /dev/zero, a FIFO or a 2 GB file is refused, not read.
  const got = opts.readFile ? { text: opts.readFile(path) } : readSource(path);
  if (!('text' in got) || got.text === undefined) return { ir: undefined, diagnostics: [diag('E210', undefined, { path, why: 'why' in got ? got.why : 'no such file' })], sources: new Map() };
  return frontend(got.text, path, opts);
}

/**
 * The catalogue entry of one `.loss` file: a SeglossError for a file that does not parse
 * or a file without a `loss`, and an Error with the path when it cannot be read.
 */
export function describeLoss(file: string, source?: string): LossEntry {
  const text = source ?? readFileSync(file, 'utf8');
  const { module, diagnostics } = parse(text, file);
  const sources = new Map([[file, text]]);
  if (diagnostics.length) throw new SeglossError(diagnostics, sources);
  const entry = describeModule(module, file);
  if (!entry) throw new SeglossError([diag('E212', { file, line: 1, col: 1, start: 0, end: 0 }, { file })], sources);
  return entry;
}

/** Every `*.loss` in `dir`, sorted by file name. */
export function catalogue(dir: string): LossEntry[] {
  return readdirSync(dir).filter((f) => f.endsWith('.loss')).sort().map((f) => describeLoss(join(dir, f)));
}

/** The names of the library's losses, sorted. */
export function libraryNames(): string[] {
  try { return readdirSync(LIBRARY_DIR).filter((f) => f.endsWith('.loss')).map((f) => f.slice(0, -5)).sort(); } catch { return []; }
}

/** "did you mean 'dice'?" for a mistyped library loss name (a swap of two neighbours is one slip), or ''. */
export function suggestLoss(name: string, names: readonly string[] = libraryNames()): string {
  return suggest(name, names);
}
