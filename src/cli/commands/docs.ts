// `segloss docs --out DIR`: the library as a static site (index table, one page
// per loss with typeset math, plan and pictures), self-contained and offline.

import type { Command } from 'commander';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InputError } from '../../compiler/core/errors.ts';
import { LIBRARY_DIR } from '../../runtime/sources.ts';
import { resolveLoss } from '../options.ts';

export function register(program: Command): void {
  program
    .command('docs')
    .description('write the loss library as a static site: an index and one page per loss')
    .argument('[losses...]', 'loss names (dice, bce, ...) or .loss files (default: every loss in the library)')
    .option('--out <dir>', 'output directory', 'site')
    .option('--no-playground', 'leave out the playground (DIR/playground/, which every page links to)')
    .option('--json', 'print {out, pages, index, playground} (pages: the loss pages written)')
    .addHelpText('after', '\nThe playground (an editor, the gradient as a heatmap, training in the page) is written\ninto DIR/playground/, and every loss page links to it.\n\nExamples:\n  segloss docs --out site\n  segloss docs dice losses/bce.loss --out /tmp/site --no-playground')
    .action(async (files: string[], o: { out: string; json?: boolean; playground: boolean }) => {
      const list = files.length ? files.map((f) => resolveLoss(f).file) : readdirSync(LIBRARY_DIR).filter((f) => f.endsWith('.loss')).sort().map((f) => join(LIBRARY_DIR, f));
      const start = performance.now();
      const { writeSite } = await loadSite();
      let playground: string | undefined;
      if (o.playground) {
        const { writePlayground } = await import('../../playground/write.ts');
        playground = resolve((await writePlayground(join(o.out, 'playground'))).dir, 'index.html');
      }
      const pages = await writeSite(list, o.out, playground ? { playground: 'playground/index.html' } : {});
      const secs = ((performance.now() - start) / 1000).toFixed(1);
      if (o.json) process.stdout.write(`${JSON.stringify({ out: o.out, pages: pages.length - 1, index: resolve(o.out, 'index.html'), playground: playground ?? null }, null, 2)}\n`);
      else process.stdout.write(`wrote ${pages.length - 1} loss pages${playground ? ' and the playground' : ''} in ${secs} s; open ${resolve(o.out, 'index.html')}\n`);
    });
}

/** The site writer, after KaTeX (an optional peer dependency: only the catalogue typesets math). */
async function loadSite(): Promise<typeof import('../../tools/site.ts')> {
  try {
    await import('katex');
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw e;
    throw new InputError('segloss docs typesets the formulas with KaTeX, an optional package: `npm install katex@^0.19.1`');
  }
  return import('../../tools/site.ts');
}
