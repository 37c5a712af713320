// `segloss fmt [paths...]`: rewrite .loss files in canonical form (printModule:
// fewest parentheses, one statement per line, comments kept). Idempotent.
// --check writes nothing and exits 1 listing the files that would change.
// A file with a syntax error is reported and left as it is (exit 2).

import type { Command } from 'commander';
import { readSource } from '../../runtime/sources.ts';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Module } from '../../compiler/front/ast.ts';
import { type Diagnostic, SeglossError } from '../../compiler/front/diagnostics.ts';
import { parse } from '../../compiler/front/parse.ts';
import { printModule } from '../../compiler/front/print-ast.ts';
import { UsageError, colorErr } from '../options.ts';

const EXAMPLES = `
Directories are searched for *.loss (skipping node_modules and dot-directories);
with no path, losses/. The canonical form: the header, then each item with one
blank line between; one binding per line, indented two spaces; the fewest
parentheses; spaces around binary operators except ^. Comments stay next to the
statement they were written at; meaning never changes (the output parses to the
same formula, which fmt checks before writing).

Exit codes: 0 ok (or nothing to change), 1 --check found files to reformat,
2 a file has a syntax error (reported, left untouched) or a path is unreadable.

Examples:
  segloss fmt losses/my_loss.loss
  segloss fmt                      # every .loss under losses/
  segloss fmt --check losses       # in CI: list what is not formatted, exit 1`;

export function register(program: Command): void {
  program
    .command('fmt')
    .description('format .loss files canonically; --check lists the files that would change')
    .argument('[paths...]', '.loss files or directories (default: losses)')
    .option('--check', 'write nothing; list the files that would change and exit 1 if any')
    .option('--json', 'print {files, changed: [file], check} (changed: reformatted, or under --check would be)')
    .addHelpText('after', EXAMPLES)
    .action((paths: string[], o: { check?: boolean; json?: boolean }) => {
      const files = lossFiles(paths.length ? paths : ['losses']);
      const changed: string[] = [];
      const errors: Diagnostic[] = [];
      const sources = new Map<string, string>();
      for (const file of files) {
        const got = readSource(file);
        if ('why' in got) throw new UsageError(`cannot read '${file}': ${got.why}`);
        const source = got.text;
        const r = formatSource(source, file);
        if ('diagnostics' in r) {
          errors.push(...r.diagnostics);
          sources.set(file, source);
          continue;
        }
        if (r.text === source) continue;
        changed.push(file);
        if (!o.check) writeFileSync(file, r.text);
      }
      if (o.json) process.stdout.write(`${JSON.stringify({ files: files.length, changed, check: o.check === true }, null, 2)}\n`);
      if (o.check) {
        if (changed.length && !o.json) process.stdout.write(changed.map((f) => `${f}\n`).join(''));
        note(changed.length ? `${changed.length} of ${files.length} file${files.length === 1 ? '' : 's'} would be reformatted (run segloss fmt on ${changed.length === 1 ? 'it' : 'them'})` : `${files.length} file${files.length === 1 ? '' : 's'} already formatted`);
        if (changed.length) process.exitCode = 1;
      } else {
        if (changed.length && !o.json) process.stdout.write(changed.map((f) => `formatted ${f}\n`).join(''));
        note(`${changed.length} of ${files.length} file${files.length === 1 ? '' : 's'} reformatted`);
      }
      if (errors.length) {
        const bad = new Set(errors.map((d) => d.span?.file)).size;
        note(`${bad} file${bad === 1 ? '' : 's'} with syntax errors left untouched`);
        throw new SeglossError(errors, sources);
      }
    });
}

function note(s: string): void {
  process.stderr.write(colorErr ? `\x1b[2m${s}\x1b[0m\n` : `${s}\n`);
}

/**
 * The canonical text of a .loss source, or its syntax errors. Throws if the
 * printed text would not parse back to the same formula (a printer bug: better
 * to refuse than to write it).
 */
export function formatSource(source: string, file: string): { text: string } | { diagnostics: Diagnostic[] } {
  const first = parse(source, file);
  if (first.diagnostics.length) return { diagnostics: first.diagnostics };
  const text = printModule(first.module);
  const again = parse(text, file);
  if (again.diagnostics.length || shape(again.module) !== shape(first.module)) {
    throw new Error(`fmt: the canonical form of ${file} does not parse back to the same formula; the file is left as it is`);
  }
  return { text };
}

/** A module without positions and source text, as JSON: equal iff the formulas are the same. */
function shape(m: Module): string {
  const drop = new Set(['span', 'calleeSpan', 'nameSpan', 'roleSpan', 'source', 'file']);
  return JSON.stringify(m, (k, v: unknown) => (drop.has(k) ? undefined : v));
}

/** The .loss files of `paths` (files as given, directories walked), in order, each once. */
function lossFiles(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith('.loss')) out.push(p);
    }
  };
  for (const p of paths) {
    let st;
    try { st = statSync(p); } catch { throw new UsageError(`cannot read '${p}'`); }
    if (st.isDirectory()) walk(p);
    else out.push(p);
  }
  return [...new Set(out)];
}
