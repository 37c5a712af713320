// The library search path for `use` (issue 12): `use "x.loss"` is looked for in the
// using file's folder, the project's losses/ (the nearest ancestor with a package.json),
// each SEGLOSS_PATH directory, then the package's own library; a missing file's E210
// lists the places; the confinement of tests/hostile.test.ts holds on every place.
// Oracle: which file the compiler read (its sources), and the messages.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { formatDiagnostics } from '../src/compiler/front/diagnostics.ts';
import { LIBRARY_DIR, frontendFile, projectDir, searchPath } from '../src/runtime/sources.ts';

const SECRET = 'SECRET_CANARY_c41e';
const LOSS = 'loss mine(p: prob, g: target) = mean(1 - dice_score(p, g))\n';
const PLAIN = 'loss mine(p: prob, g: target) = mean(p * g)\n';
const REPO = process.cwd();

/** A fresh user project: package.json, src/ (where the user's formula lives), losses/, two SEGLOSS_PATH dirs, and outside/. */
function project() {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'segloss-usepath-')));
  const proj = join(dir, 'proj');
  for (const d of ['src', 'losses', 'extra1', 'extra2']) mkdirSync(join(proj, d), { recursive: true });
  mkdirSync(join(dir, 'outside'));
  writeFileSync(join(proj, 'package.json'), '{"name": "user-project", "private": true}\n');
  writeFileSync(join(dir, 'outside', 'secret.loss'), `${SECRET} = 1\n`);
  return { dir, proj, at: (...p: string[]) => join(proj, ...p) };
}

/** A def dice_score of our own, tagged so the test can see which file was used. */
const ownDice = (tag: string) => `# ${tag}\ndef dice_score(p, g) = sum[region](p * g) / (sum[region](p + g) + 1)\n`;

/** Compile `file` saying `use "<target>"`; the files read and the diagnostics as the CLI prints them. */
function useOf(file: string, target: string, body = LOSS) {
  writeFileSync(file, `use "${target}"\n${body}`);
  const r = frontendFile(file);
  return { r, used: [...r.sources.keys()].slice(1), text: formatDiagnostics(r.diagnostics, r.sources) };
}

let savedPath: string | undefined;
beforeEach(() => { savedPath = process.env.SEGLOSS_PATH; delete process.env.SEGLOSS_PATH; });
afterEach(() => { if (savedPath === undefined) delete process.env.SEGLOSS_PATH; else process.env.SEGLOSS_PATH = savedPath; });

describe('use "dice.loss" in a user project', () => {
  test("found in the package's library when nothing nearer has it", () => {
    const p = project();
    const { r, used } = useOf(p.at('src', 'mine.loss'), 'dice.loss');
    expect(r.diagnostics).toEqual([]);
    expect(r.ir?.loss.name).toBe('mine');
    expect(used).toEqual([join(LIBRARY_DIR, 'dice.loss')]);
  });

  test("the project's losses/ shadows the library", () => {
    const p = project();
    writeFileSync(p.at('losses', 'dice.loss'), ownDice('project'));
    const { r, used } = useOf(p.at('src', 'mine.loss'), 'dice.loss');
    expect(r.diagnostics).toEqual([]);
    expect(used).toEqual([p.at('losses', 'dice.loss')]);
  });

  test("a library file's own uses stay in the library, even when the project shadows the name", () => {
    const p = project();
    writeFileSync(p.at('losses', 'dice.loss'), ownDice('project'));
    const file = p.at('src', 'mine.loss');
    writeFileSync(file, 'use "dice_focal.loss"\nloss mine(p: prob, g: target) = mean(p * g)\n');
    const r = frontendFile(file);
    expect(r.diagnostics).toEqual([]);
    expect([...r.sources.keys()]).toContain(join(LIBRARY_DIR, 'dice.loss'));
    expect([...r.sources.keys()]).not.toContain(p.at('losses', 'dice.loss'));
  });

  test('SEGLOSS_PATH with two directories: each is searched, in its order, after the project and before the library', () => {
    const p = project();
    process.env.SEGLOSS_PATH = [p.at('extra1'), p.at('extra2')].join(delimiter);
    writeFileSync(p.at('extra2', 'only2.loss'), ownDice('extra2'));
    expect(useOf(p.at('src', 'mine.loss'), 'only2.loss').used).toEqual([p.at('extra2', 'only2.loss')]);
    // Both SEGLOSS_PATH dirs have it: the first wins; both shadow the library.
    writeFileSync(p.at('extra1', 'dice.loss'), ownDice('extra1'));
    writeFileSync(p.at('extra2', 'dice.loss'), ownDice('extra2'));
    expect(useOf(p.at('src', 'mine.loss'), 'dice.loss').used).toEqual([p.at('extra1', 'dice.loss')]);
    // The project's losses/ comes before SEGLOSS_PATH.
    writeFileSync(p.at('losses', 'dice.loss'), ownDice('project'));
    expect(useOf(p.at('src', 'mine.loss'), 'dice.loss').used).toEqual([p.at('losses', 'dice.loss')]);
    // The using file's own folder comes first of all.
    writeFileSync(p.at('src', 'dice.loss'), ownDice('own'));
    expect(useOf(p.at('src', 'mine.loss'), 'dice.loss').used).toEqual([p.at('src', 'dice.loss')]);
  });

  test('the order, as searchPath gives it: project losses/, SEGLOSS_PATH in order, the library; the project is the nearest package.json', () => {
    const p = project();
    expect(projectDir(p.at('src', 'mine.loss'))).toBe(p.proj);
    expect(searchPath(p.at('src', 'mine.loss'), [p.at('extra2'), '', p.at('extra1')].join(delimiter)))
      .toEqual([p.at('losses'), p.at('extra2'), p.at('extra1'), LIBRARY_DIR]);
    // No package.json above the file: the current directory's project (this repository, whose losses/ is the library).
    expect(projectDir(join(p.dir, 'outside', 'x.loss'))).toBe(REPO);
    expect(searchPath(join(p.dir, 'outside', 'x.loss'), '')).toEqual([LIBRARY_DIR]);
  });

  test('a missing file: E210 at the use, listing every place looked in, relative to the current directory', () => {
    const p = project();
    process.env.SEGLOSS_PATH = [p.at('extra1'), p.at('extra2')].join(delimiter);
    const file = p.at('src', 'mine.loss');
    const { r, text } = useOf(file, 'nowhere.loss', PLAIN);
    expect(r.diagnostics.map((d) => [d.code, d.span?.line, d.span?.col])).toEqual([['E210', 1, 1]]);
    const places = [p.at('src', 'nowhere.loss'), p.at('losses', 'nowhere.loss'), p.at('extra1', 'nowhere.loss'), p.at('extra2', 'nowhere.loss'), join(LIBRARY_DIR, 'nowhere.loss')];
    const shown = (f: string) => { const rel = relative(process.cwd(), f); return rel.startsWith('..') ? f : rel; };
    expect(r.diagnostics[0]!.message).toBe(`cannot use 'nowhere.loss': no such file; looked in ${places.map(shown).join(', ')}`);
    expect(r.diagnostics[0]!.message).toContain('losses/nowhere.loss'); // the library, relative to this repository
    expect(text).toContain(`${file}:1:1: error[E210]`);
  });
});

describe('the search path does not widen what a use can reach', () => {
  test.each([
    ['.. out of the own folder', () => '../../outside/secret.loss', 'outside'],
    ['.. out of a deeper SEGLOSS_PATH dir (nothing there from the own folder)', (p: ReturnType<typeof project>) => {
      mkdirSync(p.at('deep', 'a', 'b'), { recursive: true });
      process.env.SEGLOSS_PATH = p.at('deep', 'a', 'b');
      return '../../../../outside/secret.loss';
    }, 'outside'],
    ['an absolute-looking path stays under the own folder', () => '/etc/passwd', 'no such file'],
    ['a symlink in the project losses/ pointing outside', (p: ReturnType<typeof project>) => { symlinkSync(join(p.dir, 'outside', 'secret.loss'), p.at('losses', 'link.loss')); return 'link.loss'; }, 'outside'],
    ['a symlink in a SEGLOSS_PATH dir pointing outside', (p: ReturnType<typeof project>) => { symlinkSync(join(p.dir, 'outside', 'secret.loss'), p.at('extra1', 'link2.loss')); return 'link2.loss'; }, 'outside'],
    ['a non-.loss file in the project losses/', (p: ReturnType<typeof project>) => { writeFileSync(p.at('losses', 'notes.txt'), SECRET); return 'notes.txt'; }, 'not a .loss file'],
  ])('%s: refused, printing none of it', (_, target, why) => {
    const p = project();
    process.env.SEGLOSS_PATH = p.at('extra1');
    const { r, text } = useOf(p.at('src', 'mine.loss'), target(p), PLAIN);
    expect(r.ir).toBeUndefined();
    expect(r.diagnostics.map((d) => d.code)).toEqual(['E210']);
    expect(r.diagnostics[0]!.message).toContain(why);
    expect(text).not.toContain(SECRET);
    expect([...r.sources.keys()]).toEqual([p.at('src', 'mine.loss')]);
  });

  test('a refused file in the own folder is not passed over for a later place', () => {
    const p = project();
    symlinkSync(join(p.dir, 'outside', 'secret.loss'), p.at('src', 'dice.loss'));
    const { r } = useOf(p.at('src', 'mine.loss'), 'dice.loss', PLAIN);
    expect(r.diagnostics.map((d) => d.code)).toEqual(['E210']);
    expect(r.diagnostics[0]!.message).toContain('outside');
  });
});

test('segloss grad, run in the user project, compiles a formula that says use "dice.loss"', () => {
  const p = project();
  writeFileSync(p.at('mine.loss'), `use "dice.loss"\n${LOSS}`);
  const r = spawnSync('node', [join(REPO, 'bin', 'segloss.js'), 'grad', 'mine.loss'], { cwd: p.proj, encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('mine');
}, 60_000);

describe('names and files on the command line (every command that takes a loss)', () => {
  const cli = (args: string[], cwd: string, env: Record<string, string> = {}) =>
    spawnSync('node', [join(REPO, 'bin', 'segloss.js'), ...args], { cwd, encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1', ...env } });

  test("a name is looked for in the project's losses/, SEGLOSS_PATH, then the library; grad --json", () => {
    const p = project();
    writeFileSync(p.at('losses', 'mine.loss'), `use "dice.loss"\n${LOSS}`);
    writeFileSync(p.at('extra1', 'theirs.loss'), 'loss theirs(p: prob, g: target) = mean(p * g)\n');
    const mine = cli(['grad', 'mine', '--json'], p.at('src'));
    expect(mine.stderr).toBe('');
    const out = JSON.parse(mine.stdout);
    expect(out).toMatchObject({ loss: 'mine', wrt: 'p', file: p.at('losses', 'mine.loss'), format: 'text' });
    expect(out.gradient).toMatch(/^dmine\/dp = /m);
    const theirs = cli(['plan', 'theirs', '--json'], p.proj, { SEGLOSS_PATH: p.at('extra1') });
    expect(theirs.stderr).toBe('');
    expect(JSON.parse(theirs.stdout).loss).toBe('theirs');
    const lib = cli(['compile', 'dice', '--json'], p.proj);
    expect(lib.stderr).toBe('');
    const c = JSON.parse(lib.stdout);
    expect(c).toMatchObject({ loss: 'dice', target: 'js', shape: [1, 64, 64, 1], layout: 'nhwc' });
    expect(c.kernels.length).toBeGreaterThan(0);
    expect(typeof c.kernels[0].source).toBe('string');
  }, 120_000);

  test("segloss list: the project's losses/, SEGLOSS_PATH, then the library, a name listed where a name finds it", () => {
    // Oracle: the files themselves (names, the file each name resolves to by the search order) and the library's folder.
    const p = project();
    writeFileSync(p.at('losses', 'mine.loss'), '# My loss\nloss mine(p: prob, g: target) = mean(p * g)\n');
    writeFileSync(p.at('losses', 'dice.loss'), '# Our dice\nloss dice(p: prob, g: target) = mean(p + g)\n');
    writeFileSync(p.at('extra1', 'theirs.loss'), '# Theirs\nloss theirs(p: prob, g: target) = mean(p * g)\n');
    const library = readdirSync(join(REPO, 'losses')).filter((f) => f.endsWith('.loss')).map((f) => f.slice(0, -5)).sort();
    const r = cli(['list', '--json'], p.at('src'), { SEGLOSS_PATH: p.at('extra1') });
    expect(r.stderr).toBe('');
    const got = (JSON.parse(r.stdout) as { name: string; file: string }[]).map((e) => [e.name, e.file]);
    // Paths print relative to the current directory when inside it; these are all outside src/.
    const rel = (f: string) => f;
    expect(got).toEqual([
      ['dice', rel(p.at('losses', 'dice.loss'))], ['mine', rel(p.at('losses', 'mine.loss'))],
      ['theirs', p.at('extra1', 'theirs.loss')],
      ...library.filter((n) => n !== 'dice').map((n) => [n, join(REPO, 'losses', `${n}.loss`)]),
    ]);
    const t = cli(['list'], p.at('src'), { SEGLOSS_PATH: p.at('extra1') });
    expect(t.stdout).toContain(`2 losses in ${rel(p.at('losses'))}\n`);
    expect(t.stdout).toContain(`1 losses in ${p.at('extra1')}\n`);
    expect(t.stdout).toContain(`${library.length - 1} losses in ${join(REPO, 'losses')} (1 more hidden by the same names above)\n`);
  }, 120_000);

  test('a mistyped name: exit 2 and a did-you-mean, from the project too; a missing path says why', () => {
    const p = project();
    writeFileSync(p.at('losses', 'my_loss.loss'), PLAIN);
    const lib = cli(['check', 'tverksy'], p.proj);
    expect(lib.status).toBe(2);
    expect(lib.stderr).toContain("'tverksy' is neither a file nor a library loss");
    expect(lib.stderr).toContain("did you mean 'tversky'?");
    const own = cli(['grad', 'my_lsos'], p.proj);
    expect(own.status).toBe(2);
    expect(own.stderr).toContain("did you mean 'my_loss'?");
    const path = cli(['compile', 'nope/x.loss'], p.proj);
    expect(path.status).toBe(2);
    expect(path.stderr).toContain("cannot read 'nope/x.loss': no such file");
  }, 120_000);

  test('--json on new, fmt and docs (docs takes a name too)', () => {
    const p = project();
    const made = cli(['new', 'my_loss', '--json'], p.proj);
    expect(made.stderr).toBe('');
    expect(JSON.parse(made.stdout)).toEqual({ loss: 'my_loss', files: [join('losses', 'my_loss.loss'), join('tests', 'losses', 'my_loss.test.ts')] });
    writeFileSync(p.at('losses', 'ugly.loss'), 'loss ugly(p: prob, g: target)   =   mean(p*g)\n');
    const fmt = cli(['fmt', '--check', '--json', 'losses'], p.proj);
    expect(fmt.status).toBe(1);
    expect(JSON.parse(fmt.stdout)).toEqual({ files: 2, changed: [join('losses', 'ugly.loss')], check: true });
    const docs = cli(['docs', 'dice', '--out', 'site', '--json'], p.proj);
    expect(docs.stderr).toBe('');
    expect(JSON.parse(docs.stdout)).toEqual({ out: 'site', pages: 1, index: join(p.proj, 'site', 'index.html'), playground: join(p.proj, 'site', 'playground', 'index.html') });
    // Every page links to the playground written beside it.
    expect(existsSync(join(p.proj, 'site', 'playground', 'playground.js'))).toBe(true);
    expect(readFileSync(join(p.proj, 'site', 'dice.html'), 'utf8')).toContain('href="playground/index.html#loss=dice"');
    const bare = cli(['docs', 'dice', '--out', 'bare', '--json', '--no-playground'], p.proj);
    expect(JSON.parse(bare.stdout)).toMatchObject({ pages: 1, playground: null });
    expect(existsSync(join(p.proj, 'bare', 'playground'))).toBe(false);
    expect(readFileSync(join(p.proj, 'bare', 'dice.html'), 'utf8')).not.toContain('playground');
  }, 180_000);
});
