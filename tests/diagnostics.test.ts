// One fixture per diagnostic code (tests/fixtures/diagnostics/E*.loss). Each
// fixture states its expected code and location in its first line; the oracle
// is that line, written by hand. A code without a fixture fails the suite.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { frontendFile } from '../src/runtime/sources.ts';
import { CODES, formatDiagnostics } from '../src/compiler/front/diagnostics.ts';

const DIR = 'tests/fixtures/diagnostics';
const fixtures = readdirSync(DIR).filter((f) => /^E\d+\.loss$/.test(f));

describe('diagnostics', () => {
  test('every code in the table has a fixture, and every fixture a code', () => {
    expect(fixtures.map((f) => f.replace('.loss', '')).sort()).toEqual(Object.keys(CODES).sort());
  });

  test.each(fixtures)('%s', (f) => {
    const path = join(DIR, f);
    const text = readFileSync(path, 'utf8');
    const [, code, line, col] = /^# expect: (E\d+) at (\d+):(\d+)/.exec(text)!;
    // Values as the CLI passes them: text, read by the compiler (knobs take words and lists).
    const params = Object.fromEntries([...text.matchAll(/^# params: (\w+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    const activation = /^# activation: (\w+)$/m.exec(text)?.[1] as 'sigmoid' | undefined;
    const r = frontendFile(path, { params, activation });
    expect(r.ir).toBeUndefined();
    const d = r.diagnostics.find((x) => x.code === code);
    expect(d, `diagnostics: ${r.diagnostics.map((x) => x.code).join(', ')}`).toBeDefined();
    expect([d!.span?.line, d!.span?.col]).toEqual([Number(line), Number(col)]);
    // The formatted form: file:line:col, the source line, a caret.
    const out = formatDiagnostics([d!], r.sources);
    expect(out).toContain(`${path}:${line}:${col}: error[${code}]`);
    expect(out).toMatch(/\n\s*\| *\^+/);
  });
});

test('a file with three mistakes gets three located diagnostics', () => {
  const src = [
    'loss three(p: prob, g: target)',
    '  tp = sum[space](p * g',
    '  fp = sum[space](sigmoidd(p) * (1 - g))',
    '  fn = sum[space]((1 - p) * g)',
    '  = mean(sum[space](fn) + tp + fp)',
  ].join('\n');
  const path = '.tmp/three.loss';
  const r = frontendFile(path, { readFile: () => src });
  expect(r.diagnostics.map((d) => [d.code, d.span?.line])).toEqual([['E102', 3], ['E202', 3], ['E301', 5]]);
});

test('unknown names suggest the closest known one', () => {
  const r = frontendFile('x.loss', { readFile: () => 'loss t(p: prob, target: target)\n  = mean(p * taget)' });
  expect(r.diagnostics[0]!.hint).toBe("did you mean 'target'?");
});
