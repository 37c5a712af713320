// `segloss list`: the losses a name reaches, from each file's header (title,
// citation, use, convention) and its `loss` line (inputs, parameters): the
// places of the search path in order (the project's losses/, SEGLOSS_PATH, the
// library), a name listed once, where it is found first; or one --dir.

import type { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { type LossEntry } from '../../compiler/front/catalogue.ts';
import { catalogue, searchPath } from '../../runtime/sources.ts';
import { UsageError, colorOut } from '../options.ts';

const EXAMPLES = `
Each library file starts with a header: its title on the first line, then
"# citation: ...", "# use: ..." and "# convention: ..." lines.

Examples:
  segloss list
  segloss list --long
  segloss list --json | jq '.[] | select(.inputs[].role == "logits")'
  segloss list --dir my-losses

Without --dir: the project's losses/ (the nearest folder above with a
package.json), the directories of SEGLOSS_PATH, then the library; a name in
an earlier place hides the same name later (as \`segloss show NAME\` finds it).`;

export function register(program: Command): void {
  program
    .command('list')
    .description('the loss library: name, title, citation, parameters with defaults, input roles')
    .option('--dir <dir>', 'only this directory of .loss files (default: the search path: losses/, SEGLOSS_PATH, the library)')
    .option('-l, --long', 'also print what each loss is for (use) and its convention')
    .option('--json', 'print [{name, title, citation, use, convention, notes, params: [{name, default}], inputs: [{name, role}], file}]')
    .addHelpText('after', EXAMPLES)
    .action((o: { dir?: string; long?: boolean; json?: boolean }) => {
      if (o.dir && (!existsSync(o.dir) || !statSync(o.dir).isDirectory())) throw new UsageError(`--dir: '${o.dir}' is not a directory`);
      const dirs = o.dir ? [o.dir] : searchPath(join(process.cwd(), 'loss')).filter((d) => existsSync(d) && statSync(d).isDirectory());
      const seen = new Set<string>();
      const places = dirs.map((dir) => {
        const all = catalogue(shortPath(dir));
        const entries = all.filter((e) => !seen.has(e.name));
        for (const e of entries) seen.add(e.name);
        return { dir: shortPath(dir), entries, hidden: all.length - entries.length };
      });
      const entries = places.flatMap((p) => p.entries);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
        return;
      }
      if (entries.length === 0) {
        process.stdout.write(`no .loss files in ${dirs.map(shortPath).join(', ')}\n`);
        return;
      }
      const text = places.filter((p) => p.entries.length > 0 || p.hidden > 0).map((p) =>
        `${p.entries.map((e) => entryText(e, o.long === true)).join('\n')}${p.entries.length ? '\n' : ''}` +
        `${p.entries.length} losses in ${p.dir}${p.hidden ? ` (${p.hidden} more hidden by the same names above)` : ''}\n`);
      process.stdout.write(text.join('\n'));
    });
}

const style = (code: string) => (s: string) => (colorOut ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = style('1');
const dim = style('2');

/** A number as a person writes it: 1e-5 rather than 0.00001. */
export function fmtNumber(v: number): string {
  return v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential() : String(v);
}

/** `(p: prob, g: target; alpha = 0.5)`: the loss's signature. */
export function signature(e: LossEntry): string {
  const inputs = e.inputs.map((i) => `${i.name}: ${i.role}`).join(', ');
  const params = e.params.map((p) => `${p.name} = ${fmtNumber(p.default)}`).join(', ');
  return `(${inputs}${params ? `; ${params}` : ''})`;
}

function entryText(e: LossEntry, long: boolean): string {
  const lines = [`${bold(e.name)}  ${e.title}`, `  ${e.name}${signature(e)}`];
  if (e.citation) lines.push(dim(`  ${e.citation}`));
  if (long) {
    if (e.use) lines.push(`  use: ${e.use}`);
    if (e.convention) lines.push(`  convention: ${e.convention}`);
    for (const n of e.notes) lines.push(`  ${n}`);
  }
  return `${lines.join('\n')}\n`;
}

function shortPath(p: string): string {
  const r = relative(process.cwd(), p);
  return r && !r.startsWith('..') ? r : p;
}
