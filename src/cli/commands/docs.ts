// `segloss docs --out DIR`: the library as a static site (index table, one page
// per loss with typeset math, plan and pictures), self-contained and offline.

import type { Command } from 'commander';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeSite } from '../../tools/site.ts';
import { LIBRARY_DIR } from '../../runtime/sources.ts';

export function register(program: Command): void {
  program
    .command('docs')
    .description('write the loss library as a static site: an index and one page per loss')
    .argument('[files...]', '.loss files (default: every loss in the library)')
    .option('--out <dir>', 'output directory', 'site')
    .addHelpText('after', '\nExamples:\n  segloss docs --out site\n  segloss docs losses/dice.loss losses/bce.loss --out /tmp/site')
    .action(async (files: string[], o: { out: string }) => {
      const list = files.length ? files : readdirSync(LIBRARY_DIR).filter((f) => f.endsWith('.loss')).sort().map((f) => join(LIBRARY_DIR, f));
      const start = performance.now();
      const pages = await writeSite(list, o.out);
      const secs = ((performance.now() - start) / 1000).toFixed(1);
      process.stdout.write(`wrote ${pages.length - 1} loss pages in ${secs} s; open ${resolve(o.out, 'index.html')}\n`);
    });
}
