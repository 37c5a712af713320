// The layer rule (docs/ARCHITECTURE.md): each layer imports only from itself and the layers
// below it, no file takes part in an import cycle, and the compiler (grammar/ and src/compiler/)
// imports no Node built-in, so it bundles for a browser as it is. Oracle: the import
// statements of every source file, read as text; the checker is itself tested on a small
// made-up tree with an upward import, a cycle and a Node import.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';

/** Lowest first. A file's layer is the first rule whose prefix its path starts with. */
export const LAYERS: readonly (readonly [name: string, prefixes: readonly string[]])[] = [
  ['core', ['src/compiler/core/']],
  ['front', ['grammar/', 'src/compiler/front/']],
  ['passes', ['src/compiler/passes/']],
  ['lower', ['src/compiler/lower/']],
  ['plan', ['src/compiler/plan/']],
  ['codegen', ['src/compiler/codegen/']],
  ['compiler', ['src/compiler/']],
  ['runtime', ['src/runtime/']],
  ['tools', ['src/tools/']],
  ['api', ['src/index.ts', 'src/tfjs.ts', 'src/browser.ts']],
  ['cli', ['src/cli/', 'bench/', 'src/playground/']],
];
const BROWSER_SAFE = ['grammar/', 'src/compiler/'];

export interface Import { from: string; to: string; typeOnly: boolean; line: number }

const IMPORT = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;

export function importsOf(file: string, text: string): Import[] {
  const out: Import[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[3] ?? m[4];
    if (!spec) continue;
    const line = text.slice(0, m.index).split('\n').length;
    const to = spec.startsWith('.') ? relative('.', resolve(dirname(file), spec)).split('\\').join('/') : spec;
    out.push({ from: file, to, typeOnly: Boolean(m[2]), line });
  }
  return out;
}

export const layerOf = (path: string): number => LAYERS.findIndex(([, ps]) => ps.some((p) => path.startsWith(p)));

const isNodeBuiltin = (spec: string) => spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0]!);

/** Every broken rule, as `file:line: why`. */
export function violations(files: ReadonlyMap<string, string>): string[] {
  const bad: string[] = [];
  const graph = new Map<string, string[]>();
  for (const [file, text] of files) {
    const mine = layerOf(file);
    if (mine < 0) { bad.push(`${file}: in no layer (add it to LAYERS)`); continue; }
    const edges: string[] = [];
    for (const imp of importsOf(file, text)) {
      if (BROWSER_SAFE.some((p) => file.startsWith(p)) && isNodeBuiltin(imp.to)) bad.push(`${file}:${imp.line}: the compiler imports the Node built-in '${imp.to}'`);
      if (!files.has(imp.to)) continue;
      edges.push(imp.to);
      const theirs = layerOf(imp.to);
      if (theirs > mine) bad.push(`${file}:${imp.line}: ${LAYERS[mine]![0]} imports ${imp.to} from the higher layer ${LAYERS[theirs]![0]}`);
    }
    graph.set(file, edges);
  }
  // Cycles: a depth-first search that reports each back edge with the cycle it closes.
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 1);
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === 1) bad.push(`import cycle: ${[...stack.slice(stack.indexOf(g)), g].join(' -> ')}`);
      else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of [...graph.keys()].sort()) if (!state.has(f)) visit(f);
  return bad;
}

function sources(dir: string, out = new Map<string, string>()): Map<string, string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (/\.(ts|mjs)$/.test(name)) out.set(p.split('\\').join('/'), readFileSync(p, 'utf8'));
  }
  return out;
}

describe('layers', () => {
  test('every file of grammar/, src/ and bench/ keeps the layer rule; no cycles; the compiler imports no Node built-in', () => {
    const files = new Map([...sources('grammar'), ...sources('src'), ...sources('bench')]);
    expect(files.size).toBeGreaterThan(50);
    expect(violations(files)).toEqual([]);
  });

  test('the checker finds an upward import, a cycle and a Node built-in in the compiler', () => {
    const files = new Map([
      ['src/compiler/core/a.ts', "import { b } from './b.ts';\nimport { r } from '../../runtime/r.ts';\n"],
      ['src/compiler/core/b.ts', "import type { A } from './a.ts';\n"],
      ['src/compiler/front/p.ts', "import { readFileSync } from 'node:fs';\nimport { a } from '../core/a.ts';\n"],
      ['src/runtime/r.ts', "import { p } from '../compiler/front/p.ts';\nimport { cpus } from 'os';\n"],
    ]);
    expect(violations(files)).toEqual([
      'src/compiler/core/a.ts:2: core imports src/runtime/r.ts from the higher layer runtime',
      "src/compiler/front/p.ts:1: the compiler imports the Node built-in 'node:fs'",
      'import cycle: src/compiler/core/a.ts -> src/compiler/core/b.ts -> src/compiler/core/a.ts',
      'import cycle: src/compiler/core/a.ts -> src/runtime/r.ts -> src/compiler/front/p.ts -> src/compiler/core/a.ts',
    ]);
  });
});
