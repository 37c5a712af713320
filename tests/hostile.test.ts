// Formulas from strangers (issue 10): a `use` reaches only .loss files inside the
// allowed folders and never prints a refused file; BOM and CRLF parse; cycles are
// located; user names cannot collide with object prototypes or internal buffers.
// Oracles: hand computations and the reference interpreter.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, test } from 'vitest';
import { LIBRARY_DIR, frontend, frontendFile } from '../src/runtime/sources.ts';
import { formatDiagnostics } from '../src/compiler/front/diagnostics.ts';
import { checkSource } from '../src/tools/check.ts';
import { compile } from '../src/index.ts';

const SECRET = 'SECRET_CANARY_7f3a';
const LOSS = 'loss t(p: prob, g: target) = mean(p * g)\n';

/** A fresh folder: root/ (where the checked file lives) beside outside/. */
function sandbox() {
  const dir = mkdtempSync(join(tmpdir(), 'segloss-hostile-'));
  mkdirSync(join(dir, 'root', 'sub'), { recursive: true });
  mkdirSync(join(dir, 'outside'));
  writeFileSync(join(dir, 'outside', 'secret.loss'), `${SECRET} = 1\n`);
  writeFileSync(join(dir, 'root', 'notes.txt'), `${SECRET}\n`);
  return dir;
}

/** Compile root/a.loss saying `use "<target>"`; the diagnostics formatted as the CLI prints them. */
function useOf(dir: string, target: string) {
  const file = join(dir, 'root', 'a.loss');
  writeFileSync(file, `use "${target}"\n${LOSS}`);
  const r = frontendFile(file);
  return { r, text: formatDiagnostics(r.diagnostics, r.sources) };
}

describe('use is confined', () => {
  const dir = sandbox();
  symlinkSync(join(dir, 'outside', 'secret.loss'), join(dir, 'root', 'link.loss'));
  symlinkSync('/dev/zero', join(dir, 'root', 'zero.loss'));
  execFileSync('mkfifo', [join(dir, 'root', 'fifo.loss')]);
  writeFileSync(join(dir, 'root', 'big.loss'), `# ${'x'.repeat(2 << 20)}\n${SECRET}\n`);
  const deep = '../'.repeat(30);

  test.each([
    ['a file outside the root folder', '../outside/secret.loss', 'outside'],
    ['a symlink inside pointing outside', 'link.loss', 'outside'],
    ['/proc/self/environ', `${deep}proc/self/environ`, 'outside'],
    ['/dev/zero by a symlink', 'zero.loss', 'outside'],
    ['a FIFO (would wait forever)', 'fifo.loss', 'not a regular file'],
    ['a file over 1 MiB', 'big.loss', 'larger than'],
    ['a file not ending in .loss', 'notes.txt', 'not a .loss file'],
  ])('%s: a located E210 that prints none of it', (_, target, why) => {
    const { r, text } = useOf(dir, target);
    expect(r.ir).toBeUndefined();
    expect(r.diagnostics.map((d) => [d.code, d.span?.line, d.span?.col])).toEqual([['E210', 1, 1]]);
    expect(r.diagnostics[0]!.message).toContain(why);
    expect(text).toContain(`${join(dir, 'root', 'a.loss')}:1:1: error[E210]`);
    expect(text).not.toContain(SECRET);
    expect(text).not.toMatch(/PATH=|HOME=/);
    expect([...r.sources.keys()]).toEqual([join(dir, 'root', 'a.loss')]);
  });

  test('subfolders, `..` back inside the root folder, and the library are allowed', () => {
    writeFileSync(join(dir, 'root', 'sub', 'h.loss'), 'use "../g.loss"\ndef h(x) = x * 2\n');
    writeFileSync(join(dir, 'root', 'g.loss'), 'def g(x) = x + 1\n');
    const lib = relative(join(dir, 'root'), join(LIBRARY_DIR, 'dice.loss'));
    const file = join(dir, 'root', 'ok.loss');
    writeFileSync(file, `use "sub/h.loss"\nuse "${lib}"\nloss t(p: prob, g: target) = mean(h(g(p)) * g)\n`);
    const r = frontendFile(file);
    expect(r.diagnostics).toEqual([]);
  });

  test("the library's own uses still resolve", () => {
    for (const name of ['dice_focal', 'dice_cldice', 'asym_unified_focal']) {
      expect(frontendFile(join(LIBRARY_DIR, `${name}.loss`)).diagnostics).toEqual([]);
    }
  });

  test('a virtual reader gets the path checks and never sees a refused path', () => {
    const asked: string[] = [];
    const readFile = (p: string) => { asked.push(p); return p.endsWith('h.loss') ? 'def h(x) = x\n' : SECRET; };
    const ok = frontend(`use "sub/h.loss"\n${LOSS}`, 'v/a.loss', { readFile });
    expect(ok.diagnostics).toEqual([]);
    const bad = frontend(`use "../../x.loss"\nuse "sub/y.txt"\n${LOSS}`, 'v/a.loss', { readFile });
    expect(bad.diagnostics.map((d) => [d.code, d.span?.line])).toEqual([['E210', 1], ['E210', 2]]);
    expect(asked).toEqual(['v/sub/h.loss']);
  });

  test('segloss check exits 2, located, printing nothing of the target', () => {
    const file = join(dir, 'root', 'env.loss');
    writeFileSync(file, `use "${deep}proc/self/environ"\n${LOSS}`);
    const r = spawnSync('node', ['bin/segloss.js', 'check', file], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr + r.stdout).toContain(`${file}:1:1: error[E210]`);
    expect(r.stderr + r.stdout).not.toMatch(/PATH=|HOME=/);
  }, 60_000);
});

describe('text oddities', () => {
  test('a leading byte-order mark and CRLF line ends parse, in the root and in a used file', () => {
    const dir = sandbox();
    writeFileSync(join(dir, 'root', 'u.loss'), '\uFEFFdef u(x) = x * 2\r\n');
    const file = join(dir, 'root', 'bom.loss');
    writeFileSync(file, '\uFEFFuse "u.loss"\r\nloss t(p: prob, g: target)\r\n  = mean(u(p) * g)\r\n');
    const r = frontendFile(file);
    expect(r.diagnostics).toEqual([]);
    expect(r.ir).toBeDefined();
  });

  test('a use cycle among used files is located at the use that closes it, with the chain from the checked file', () => {
    const dir = sandbox();
    const at = (f: string) => join(dir, 'root', f);
    writeFileSync(at('a.loss'), `use "b.loss"\n${LOSS}`);
    writeFileSync(at('b.loss'), 'use "c.loss"\n');
    writeFileSync(at('c.loss'), '\n\nuse "b.loss"\n');
    const r = frontendFile(at('a.loss'));
    expect(r.diagnostics.map((d) => [d.code, d.span?.file, d.span?.line, d.span?.col])).toEqual([['E211', at('c.loss'), 3, 1]]);
    expect(r.diagnostics[0]!.message).toContain('a.loss -> b.loss -> c.loss -> b.loss');
  });
});

describe('user names', () => {
  const shape = [1, 2, 2, 1];
  const c = Float32Array.from([0.1, 0.4, 0.7, 0.9]);
  const t = Float32Array.from([1, 0, 1, 1]);
  // mean(c * t * 2), by hand in float64.
  const hand = ((0.1 * 1 + 0.4 * 0 + 0.7 * 1 + 0.9 * 1) * 2) / 4;

  const proto = 'loss t(constructor: prob, toString: target; valueOf = 2) = mean(constructor * toString * valueOf)\n';
  test.each(['reference', 'js'] as const)('prototype names as inputs and parameters evaluate on %s', async (backend) => {
    const loss = await compile(proto, { backend, threads: 1 });
    const { value } = await loss.value({ constructor: c, toString: t }, shape);
    expect(value).toBeCloseTo(hand, 6);
    loss.dispose();
  });

  test('segloss check passes on prototype names', async () => {
    const r = await checkSource(proto, 'proto.loss');
    expect(r.diagnostics).toEqual([]);
    expect(r.rows.length).toBeGreaterThan(0);
    expect(r.rows.every((row) => row.ok)).toBe(true);
  }, 120_000);

  const own = 'loss t(__proto__: prob, hasOwnProperty: target; constructor = 2) = mean(__proto__ * hasOwnProperty * constructor)\n';
  test.each(['reference', 'js'] as const)('__proto__ and hasOwnProperty as inputs evaluate on %s; a missing one is named', async (backend) => {
    const loss = await compile(own, { backend, threads: 1 });
    // A computed key makes an own property named __proto__ (a plain one would set the prototype).
    expect((await loss.value({ ['__proto__']: c, hasOwnProperty: t }, shape)).value).toBeCloseTo(hand, 6);
    await expect(loss.value({ ['__proto__']: c }, shape)).rejects.toThrow("needs input 'hasOwnProperty'");
    loss.dispose();
  });

  test('segloss check passes on an input named __proto__', async () => {
    const r = await checkSource(own, 'own.loss');
    expect(r.diagnostics).toEqual([]);
    expect(r.rows.every((row) => row.ok)).toBe(true);
  }, 120_000);

  test('a { __proto__: 1 } override read from text is an unknown parameter', () => {
    const r = frontend(LOSS, 'x.loss', { params: Object.fromEntries([['__proto__', '1']]) });
    expect(r.diagnostics.map((d) => d.code)).toEqual(['E214']);
  });

  test.each(['__proto__', 'constructor', 'hasOwnProperty', 'toString'])('a parameter override named %s is an unknown parameter', (name) => {
    const params = Object.create(null) as Record<string, string | number>;
    params[name] = 1;
    const r = frontend(LOSS, 'x.loss', { params });
    expect(r.diagnostics.map((d) => d.code)).toEqual(['E214']);
  });

  test('an input named small equals the reference on js', async () => {
    const src = 'loss t(small: prob, g: target) = mean(small * g)\n';
    const ref = await compile(src, { backend: 'reference' });
    const js = await compile(src, { backend: 'js', threads: 1 });
    const inputs = { small: c, g: t };
    const want = (await ref.value(inputs, shape)).value;
    expect(want).toBeCloseTo((0.1 + 0.7 + 0.9) / 4, 6);
    expect((await js.value(inputs, shape)).value).toBeCloseTo(want, 6);
    const g = await js.valueAndGrad(inputs, shape);
    const gRef = await ref.valueAndGrad(inputs, shape);
    expect([...g.grad].map((x) => Number(x.toFixed(6)))).toEqual([...gRef.grad].map((x) => Number(x.toFixed(6))));
    ref.dispose();
    js.dispose();
  });
});

describe('the file named on the command line is read like a used one', () => {
  test.each(['check', 'show', 'compile', 'fmt'])('segloss %s /dev/zero and a FIFO: exit 2, "not a regular file", no hang', (cmd) => {
    const dir = mkdtempSync(join(tmpdir(), 'segloss-root-'));
    const fifo = join(dir, 'pipe.loss');
    execFileSync('mkfifo', [fifo]);
    for (const file of ['/dev/zero', fifo]) {
      const r = spawnSync('node', ['bin/segloss.js', cmd, file], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`cannot read '${file}': it is not a regular file`);
    }
  });

  test('a root file over 1 MiB is refused by frontendFile (E210), not read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'segloss-root-'));
    const big = join(dir, 'big.loss');
    writeFileSync(big, `${LOSS}${'#'.repeat(1 << 20)}\n`);
    const r = frontendFile(big);
    expect(r.diagnostics.map((d) => [d.code, d.message])).toEqual([['E210', `cannot use '${big}': it is larger than ${1 << 20} bytes`]]);
  });
});
