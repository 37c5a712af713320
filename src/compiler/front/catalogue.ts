// The library's catalogue, read from each .loss file's header comment and its
// `loss` declaration (parsed only, not compiled): for `segloss list` and the
// docs site.
//
// Header convention (losses/*.loss): the first line is the title, then
// `# citation: ...`, `# use: ...`, `# convention: ...`. A line without a
// `key:` continues the keyed line above it; before any keyed line it is a note.

import type { Expr, LossDecl, Module } from './ast.ts';

export interface LossEntry {
  /** The `loss` declaration's name (the file's base name, by the library's convention). */
  name: string;
  /** The header's first line; '' when the file has no header. */
  title: string;
  citation: string | null;
  use: string | null;
  convention: string | null;
  /** Unkeyed header lines after the title and before the first keyed line. */
  notes: string[];
  params: { name: string; default: number }[];
  inputs: { name: string; role: string }[];
  /** The path it was read from, as given. */
  file: string;
}

const KEYS = ['citation', 'use', 'convention'] as const;
type Key = (typeof KEYS)[number];

/** Title, citation, use and convention from a header (one entry per `#` line, `#` removed). */
export function parseHeader(header: readonly string[]): Pick<LossEntry, 'title' | Key | 'notes'> {
  const out: Pick<LossEntry, 'title' | Key | 'notes'> = { title: header[0]?.trim() ?? '', citation: null, use: null, convention: null, notes: [] };
  let last: Key | undefined;
  for (const raw of header.slice(1)) {
    const line = raw.trim();
    const m = /^([a-z]+)\s*:\s*(.*)$/i.exec(line);
    const key = m && (KEYS as readonly string[]).includes(m[1]!.toLowerCase()) ? (m[1]!.toLowerCase() as Key) : undefined;
    if (key) {
      out[key] = out[key] ? `${out[key]} ${m![2]!}` : m![2]!;
      last = key;
    } else if (!line) {
      last = undefined;
    } else if (last) {
      out[last] = `${out[last]} ${line}`;
    } else {
      out.notes.push(line);
    }
  }
  return out;
}

/** A parameter default as written: a number, possibly negated. */
function numberOf(e: Expr): number {
  if (e.kind === 'num') return e.value;
  if (e.kind === 'neg') return -numberOf(e.arg);
  return NaN;
}

/** The entry of a parsed module; undefined when it declares no loss. */
export function describeModule(m: Module, file = m.file): LossEntry | undefined {
  const losses = m.items.filter((i): i is LossDecl => i.kind === 'loss');
  const stem = file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1).replace(/\.loss$/, '');
  const loss = losses.find((l) => l.name === stem) ?? losses[0];
  if (!loss) return undefined;
  return {
    name: loss.name,
    ...parseHeader(m.header),
    params: loss.params.map((p) => ({ name: p.name, default: numberOf(p.value) })),
    inputs: loss.inputs.map((i) => ({ name: i.name, role: i.role })),
    file,
  };
}
