// Lists that used to drift, now written once: the knob names (src/compiler/front/knob-names.ts)
// and the operator precedence (src/compiler/core/precedence.ts), and the one header reader
// (the catalogue's parseHeader, which the docs site uses). Oracles: the README's knob table,
// each command's help, the knob parser's own verdicts, and the grammar itself (every pair of
// operators parsed and its tree compared with the table).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, test } from 'vitest';
import * as checkCmd from '../src/cli/commands/check.ts';
import * as evalCmd from '../src/cli/commands/eval.ts';
import * as gradCmd from '../src/cli/commands/grad.ts';
import * as planCmd from '../src/cli/commands/plan.ts';
import * as showCmd from '../src/cli/commands/show.ts';
import { CODES } from '../src/compiler/front/diagnostics.ts';
import { KNOB_NAMES } from '../src/compiler/front/knob-names.ts';
import { parseHeader } from '../src/compiler/front/catalogue.ts';
import type { BinaryOp, Expr } from '../src/compiler/front/ast.ts';
import { parse } from '../src/compiler/front/parse.ts';
import { BINARY_PREC } from '../src/compiler/core/precedence.ts';
import { printExpr } from '../src/compiler/front/print-ast.ts';
import { splitParams } from '../src/compiler/lower/knobs.ts';
import { readHeader } from '../src/tools/site.ts';

const ROOT = join(import.meta.dirname, '..');

describe('knob names: one list', () => {
  test('E225 names every knob', () => {
    for (const k of KNOB_NAMES) expect(CODES.E225.hint).toContain(k);
  });

  test('the knob parser knows every knob: a bad value is a knob error, not a non-number parameter', () => {
    for (const k of KNOB_NAMES) {
      const { errors } = splitParams({ [k]: 'not-a-value' });
      expect(errors.map((e) => e.name), k).toEqual([k]);
      expect(errors[0]!.want, k).not.toBe('a finite number');
    }
  });

  test("--param's help names every knob (plan, grad, check, eval, show)", () => {
    for (const cmd of [planCmd, gradCmd, checkCmd, evalCmd, showCmd]) {
      let text = '';
      const p = new Command('segloss').configureOutput({ writeOut: (s) => { text += s; }, writeErr: () => {} }).exitOverride();
      cmd.register(p);
      p.commands[0]!.outputHelp();
      for (const k of KNOB_NAMES) expect(text.replace(/\s+/g, ' '), `${p.commands[0]!.name()}: ${k}`).toContain(k);
    }
  });

  test("the README's knob table has a row per knob, and no other", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Knobs'));
    const rows = [...section.slice(0, section.indexOf('\n\n', section.indexOf('| knob |'))).matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
    expect(rows).toEqual([...KNOB_NAMES]);
  });
});

describe('operator precedence: one table', () => {
  const OPS = Object.keys(BINARY_PREC) as BinaryOp[];
  const exprOf = (src: string): Expr => {
    const r = parse(`loss t(p: prob) = ${src}\n`, 't.loss');
    expect(r.diagnostics, src).toEqual([]);
    const item = r.module.items[0]!;
    if (item.kind !== 'loss') throw new Error('no loss');
    return item.result;
  };

  test('the grammar binds every pair of operators as the table says', () => {
    for (const a of OPS) {
      for (const b of OPS) {
        const la = BINARY_PREC[a];
        const lb = BINARY_PREC[b];
        // Comparisons do not chain: `x < y < z` is a syntax error.
        if (la === 1 && lb === 1) continue;
        const e = exprOf(`x ${a} y ${b} z`);
        if (e.kind !== 'binary') throw new Error('not binary');
        // Tighter b (or equal, right-associative ^): x a (y b z); else (x a y) b z.
        const rightFirst = lb > la || (la === lb && a === '^');
        expect(e.op, `x ${a} y ${b} z`).toBe(rightFirst ? a : b);
      }
    }
  });

  test('unary minus sits between * and ^: -x^2 is -(x^2), -x*y is (-x)*y', () => {
    const pow = exprOf('-x^2');
    expect(pow.kind === 'neg' && pow.arg.kind === 'binary' && pow.arg.op === '^').toBe(true);
    const mul = exprOf('-x*y');
    expect(mul.kind === 'binary' && mul.op === '*' && mul.lhs.kind === 'neg').toBe(true);
    expect(printExpr(exprOf('(-x)^2'))).toBe('(-x)^2');
    expect(printExpr(exprOf('(x + y) * z'))).toBe('(x + y) * z');
  });
});

describe('loss headers: one reader', () => {
  test("the docs site reads a header with the catalogue's parseHeader (continued lines included)", () => {
    const lines = ['Dice loss', 'citation: Milletari et al. 2016,', '  V-Net', 'use: overlap', 'convention: 1 - dice'];
    const h = parseHeader(lines);
    expect(readHeader(lines)).toEqual({ title: 'Dice loss', citation: h.citation, use: h.use, convention: h.convention });
    expect(readHeader(lines).citation).toBe('Milletari et al. 2016, V-Net');
    expect(readHeader(['Untitled'])).toEqual({ title: 'Untitled', citation: '', use: '', convention: '' });
  });
});
