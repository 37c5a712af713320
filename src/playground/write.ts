// The playground's build (Node): src/playground/main.ts bundled by esbuild for a
// browser into one ES module (playground.js) with the library's formulas
// registered before the page starts, next to index.html, style.css and KaTeX's
// stylesheet and fonts. `writePlayground(dir)` writes that folder: bin/playground.mjs
// serves it, and `segloss docs` can write it beside the catalogue (the site links
// `../playground/index.html#loss=NAME` when it exists, src/tools/site.ts).
// The page fetches nothing but these files.

import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

/** The package root: the nearest folder above this file with a package.json. */
function packageRoot(): string {
  let d = HERE;
  for (;;) {
    try { readFileSync(join(d, 'package.json')); return d; } catch { /* up */ }
    const up = dirname(d);
    if (up === d) throw new Error(`no package.json above ${HERE}`);
    d = up;
  }
}

export interface PlaygroundBuild {
  dir: string;
  /** The files written, relative to `dir`. */
  files: string[];
  /** The size of playground.js in bytes. */
  bytes: number;
  losses: number;
}

/** Where an installed package keeps the playground built by `node bin/playground.mjs --out dist/playground`. */
export const PREBUILT = join('dist', 'playground');

/**
 * Write the built playground (index.html, playground.js, style.css, KaTeX's assets) into `dir`: bundled from
 * src/playground/ in a checkout, copied from PREBUILT in an installed package (which has no TypeScript sources).
 */
export async function writePlayground(dir: string, opts: { minify?: boolean } = {}): Promise<PlaygroundBuild> {
  const root = packageRoot();
  const src = join(root, 'src', 'playground');
  if (!existsSync(join(src, 'main.ts'))) {
    const pre = join(root, PREBUILT);
    if (!existsSync(join(pre, 'index.html'))) throw new Error(`the playground is neither in ${src} (sources) nor in ${pre} (built): build it with \`node bin/playground.mjs --out ${PREBUILT}\``);
    cpSync(pre, resolve(dir), { recursive: true });
    const bytes = statSync(join(pre, 'playground.js')).size;
    return { dir: resolve(dir), files: ['index.html', 'playground.js', 'style.css', 'katex/katex.min.css', 'katex/fonts/'], bytes, losses: readdirSync(join(root, 'losses')).filter((f) => f.endsWith('.loss')).length };
  }
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    throw new Error('the playground is bundled with esbuild, a development dependency: `npm install -D esbuild`');
  }
  const losses = join(root, 'losses');
  const library = Object.fromEntries(readdirSync(losses).filter((f) => f.endsWith('.loss')).sort()
    .map((f) => [f.slice(0, -'.loss'.length), readFileSync(join(losses, f), 'utf8')]));
  // The entry registers the library, then starts the page (its modules ran first, without touching the library).
  const entry = `import { registerLibrary } from './src/runtime/browser/library.ts';\n` +
    `import { start } from './src/playground/main.ts';\n` +
    `registerLibrary(${JSON.stringify(library)});\n` +
    `start();\n`;
  const result = await esbuild.build({
    stdin: { contents: entry, resolveDir: root, sourcefile: 'playground-entry.ts', loader: 'ts' },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: opts.minify ?? true,
    legalComments: 'eof',
    metafile: true,
    write: false,
    logLevel: 'silent',
  });
  const nodeImports = Object.keys(result.metafile.inputs).filter((p) => p.startsWith('node:') || builtinModules.includes(p.split('/')[0]!));
  if (nodeImports.length) throw new Error(`the playground imports Node built-ins: ${nodeImports.join(', ')}`);
  const out = resolve(dir);
  mkdirSync(join(out, 'katex'), { recursive: true });
  const code = result.outputFiles[0]!.text;
  writeFileSync(join(out, 'playground.js'), code);
  cpSync(join(src, 'index.html'), join(out, 'index.html'));
  cpSync(join(src, 'style.css'), join(out, 'style.css'));
  const katexDist = dirname(createRequire(join(root, 'package.json')).resolve('katex'));
  cpSync(join(katexDist, 'katex.min.css'), join(out, 'katex', 'katex.min.css'));
  cpSync(join(katexDist, 'fonts'), join(out, 'katex', 'fonts'), { recursive: true });
  return { dir: out, files: ['index.html', 'playground.js', 'style.css', 'katex/katex.min.css', 'katex/fonts/'], bytes: Buffer.byteLength(code), losses: Object.keys(library).length };
}
