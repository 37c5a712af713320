// `segloss list`: the catalogue of the loss library, from each file's header
// (title, citation, use, convention) and its `loss` line (inputs, parameters).

import type { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { relative } from 'node:path';
import { type LossEntry } from '../../compiler/front/catalogue.ts';
import { catalogue } from '../../runtime/sources.ts';
import { LIBRARY_DIR } from '../../runtime/sources.ts';
import { UsageError, colorOut } from '../options.ts';

const EXAMPLES = `
Each library file starts with a header: its title on the first line, then
"# citation: ...", "# use: ..." and "# convention: ..." lines.

Examples:
  segloss list
  segloss list --long
  segloss list --json | jq '.[] | select(.inputs[].role == "logits")'
  segloss list --dir my-losses`;

export function register(program: Command): void {
  program
    .command('list')
    .description('the loss library: name, title, citation, parameters with defaults, input roles')
    .option('--dir <dir>', 'a directory of .loss files instead of the library')
    .option('-l, --long', 'also print what each loss is for (use) and its convention')
    .option('--json', 'print [{name, title, citation, use, convention, notes, params: [{name, default}], inputs: [{name, role}], file}]')
    .addHelpText('after', EXAMPLES)
    .action((o: { dir?: string; long?: boolean; json?: boolean }) => {
      const dir = o.dir ?? LIBRARY_DIR;
      if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--dir: '${dir}' is not a directory`);
      const entries = catalogue(shortPath(dir));
      if (o.json) {
        process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
        return;
      }
      if (entries.length === 0) {
        process.stdout.write(`no .loss files in ${dir}\n`);
        return;
      }
      process.stdout.write(`${entries.map((e) => entryText(e, o.long === true)).join('\n')}\n${entries.length} losses in ${shortPath(dir)}\n`);
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
