// The commands for people (list, show, new, fmt) and eval on images and
// volumes, started the way a user starts them (bin/segloss.js). Each spawn
// costs a few seconds, so each test groups its assertions. Every test names its
// oracle.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Command } from 'commander';
import { encode as pngEncode } from 'fast-png';
import { dump } from 'npyjs';
import { afterAll, describe, expect, test } from 'vitest';
import * as fmtCmd from '../src/cli/commands/fmt.ts';
import * as listCmd from '../src/cli/commands/list.ts';
import * as newCmd from '../src/cli/commands/new.ts';
import * as showCmd from '../src/cli/commands/show.ts';
import { UsageError } from '../src/cli/options.ts';
import { frontendFile } from '../src/runtime/sources.ts';
import { parse } from '../src/compiler/front/parse.ts';
import { plan } from '../src/compiler/plan/plan.ts';
import { printPlan } from '../src/compiler/plan/print-plan.ts';
import { printModule } from '../src/compiler/front/print-ast.ts';
import { printRoots } from '../src/compiler/passes/print.ts';
import { readArray, writeArray } from '../src/tools/io/index.ts';
import { load } from '../src/index.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'segloss.js');
const LOSSES = join(ROOT, 'losses');
const dir = mkdtempSync(join(tmpdir(), 'segloss-people-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The four commands in this process, for usage errors and help text; output captured. */
function program(out: (s: string) => void = () => {}): Command {
  const p = new Command('segloss').configureOutput({ writeOut: out, writeErr: out }).exitOverride();
  for (const c of [listCmd, showCmd, newCmd, fmtCmd]) c.register(p);
  return p;
}
const run = (args: string[]) => program().parseAsync(args, { from: 'user' });

function segloss(args: string[], cwd = ROOT) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const libraryFiles = () => readdirSync(LOSSES).filter((f) => f.endsWith('.loss')).sort();

// ------------------------------------------------------------------ list

describe('segloss list', () => {
  // Oracle: the files themselves (their first line and `# citation:` line, read
  // here as text) and the compiler's lowering of each (parameter defaults as the
  // runtime uses them, input roles), not the catalogue's own parsing.
  test('--json has every library file with its title, citation, defaults and roles; the text lists every name', () => {
    const r = segloss(['list', '--json']);
    expect(r.code, r.err).toBe(0);
    const entries = JSON.parse(r.out) as { name: string; title: string; citation: string | null; params: { name: string; default: number }[]; inputs: { name: string; role: string }[]; file: string }[];
    const files = libraryFiles();
    expect(entries.map((e) => basename(e.file)).sort()).toEqual(files);
    for (const e of entries) {
      const text = readFileSync(join(LOSSES, basename(e.file)), 'utf8');
      const lines = text.split('\n');
      expect(e.title, e.name).toBe(lines[0]!.replace(/^# ?/, ''));
      expect(e.title.length, e.name).toBeGreaterThan(0);
      expect(e.citation, e.name).toBe(lines.find((l) => l.startsWith('# citation: '))!.slice('# citation: '.length));
      const ir = frontendFile(join(LOSSES, basename(e.file))).ir!;
      expect(e.name).toBe(ir.loss.name);
      expect(e.params, e.name).toEqual(ir.loss.params.map((p) => ({ name: p.name, default: p.default })));
      expect(e.inputs, e.name).toEqual(ir.loss.inputs.map((i) => ({ name: i.name, role: i.role })));
    }

    const t = segloss(['list', '--long']);
    expect(t.code, t.err).toBe(0);
    for (const f of files) expect(t.out).toMatch(new RegExp(`^${f.slice(0, -5)}  `, 'm'));
    expect(t.out).toContain('dice(p: prob, g: target; smooth_nr = 1e-5, smooth_dr = 1e-5)');
    expect(t.out).toContain('use: imbalanced foreground');
    expect(t.out).toContain(`${files.length} losses in losses`);
    expect(t.out).not.toContain('\x1b['); // no colour off a terminal
  }, 60_000);
});

// ------------------------------------------------------------------ show

describe('segloss show', () => {
  // Issue 11, point 6: a value that is itself a pass reduction (reduction none: the sum of the per-pixel values)
  // crashed the plan printer; and the printed plan was not the one that runs (1 pass printed, 3 run). Oracle: the
  // plan the runtime runs (CompiledLoss.plan, compileIR's plan), read here in process: its pass count, the pass
  // that writes the per-element values (a line `values = tN`) and the pass that sums them (the value's line, the
  // sum over every axis of that same tN).
  test('plan and show of bce with reduction=none print the plan that runs: the values where written, the value in the pass that sums them', async () => {
    const ir = frontendFile(join(LOSSES, 'bce.loss'), { params: { reduction: 'none' } }).ir!;
    const runs = (await load('bce', { reduction: 'none' }, { backend: 'js' }));
    const ran = runs.plan(2);
    runs.dispose();
    expect(ran.passes.map((p) => p.kind)).toEqual(ir.plan.passes.map((p) => p.kind));
    const n = ran.passes.length;
    const writes = ir.plan.passes.findIndex((p) => (p.kind === 'materialize' || p.kind === 'host') && p.nodes.includes(ir.values!));
    const sums = ir.plan.passes.findIndex((p) => p.reductions.includes(ir.value));
    expect(writes).toBeGreaterThanOrEqual(0);
    expect(sums).toBeGreaterThan(writes);
    expect(ir.values!.axes).toEqual(['batch', 'class', 'y', 'x']);
    for (const args of [['plan', 'losses/bce.loss'], ['show', 'bce']]) {
      const r = segloss([...args, '--param', 'reduction=none']);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain(`bce: ${n} passes over the full tensor\n`);
      const sections = r.out.slice(r.out.indexOf('bce: ')).split(/\n(?= {2}pass \d+: )/).slice(1);
      expect(sections.length).toBe(n);
      sections.forEach((sec, i) => expect(sec).toMatch(new RegExp(`^ {2}pass ${i + 1}: `)));
      const name = /\n {4}values = (t\d+)\n/.exec(`${sections[writes]!}\n`)?.[1];
      expect(name, sections[writes]).toBeDefined();
      expect(sections[writes]).toMatch(new RegExp(`\n {4}${name} = .+`));
      expect(sections[sums]).toContain(`\n    bce = sum[batch, class, y, x](${name})`);
      expect(sections[sums]).toMatch(new RegExp(`^ {2}pass ${sums + 1}: reduce, reads ${name}\n`));
      expect(r.out.match(/values = /g)?.length).toBe(1);
    }
  });

  // Oracle: the compiler's printers and planner called here, in process, on the
  // same file (show only assembles them), and DESIGN.md's pass count for Dice.
  test('NAME: formula, gradient and plan sections, as the printers give them', () => {
    const r = segloss(['show', 'dice']);
    expect(r.code, r.err).toBe(0);
    const ir = frontendFile(join(LOSSES, 'dice.loss')).ir!;
    const source = readFileSync(join(LOSSES, 'dice.loss'), 'utf8');
    const gradient = printRoots([{ name: 'dice', node: ir.value }, { name: 'ddice/dp', node: ir.grad }]);
    const planText = printPlan(plan(ir.value, ir.grad), { loss: 'dice', wrt: 'p' });
    expect(r.out).toBe(`== formula (losses/dice.loss)\n${printModule(parse(source, 'dice.loss').module).trimEnd()}\n\n== gradient with respect to p\n${gradient}\n\n== plan\n${planText}\n`);
    expect(r.out).toContain('dice: 2 passes over the full tensor');
  });

  test('--dump=... --json: the IR after each pass, in pipeline order; --region and --param reach the compiler', () => {
    const r = segloss(['show', 'losses/tversky.loss', '--dump=plan,lower,diff,simplify', '--region', 'batch', '--param', 'alpha=0.7', '--json']);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as { name: string; file: string; dump: Record<string, string>; formula: string; gradient: string };
    expect(j.name).toBe('tversky');
    expect(Object.keys(j.dump)).toEqual(['lower', 'diff', 'simplify', 'plan']);
    const ir = frontendFile(join(LOSSES, 'tversky.loss'), { region: 'batch', params: { alpha: 0.7 } }).ir!;
    expect(j.dump['lower']).toBe(printRoots([{ name: 'tversky', node: ir.passes.lower[0]! }]));
    expect(j.dump['diff']).toBe(printRoots([{ name: 'tversky', node: ir.passes.diff[0]! }, { name: 'dtversky/dp', node: ir.passes.diff[1]! }]));
    expect(j.dump['simplify']).toBe(printRoots([{ name: 'tversky', node: ir.value }, { name: 'dtversky/dp', node: ir.grad }]));
    expect(j.dump['plan']).toBe(printPlan(plan(ir.value, ir.grad), { loss: 'tversky', wrt: 'p' }));
    expect(j.dump['lower']).toContain('sum[batch, y, x]'); // region = batch
    expect(j.dump['lower']).toContain('0.7');
    expect(j.formula).toBe(readFileSync(join(LOSSES, 'tversky.loss'), 'utf8').trimEnd());
  });

  test('--latex: the lowered formula and the gradient in LaTeX; an unknown name is a usage error listing the library', async () => {
    const r = segloss(['show', 'dice', '--latex']);
    expect(r.code, r.err).toBe(0);
    const ir = frontendFile(join(LOSSES, 'dice.loss')).ir!;
    expect(r.out).toContain(`== formula (LaTeX, as lowered)\n${printRoots([{ name: 'dice', node: ir.passes.lower[0]! }], 'latex')}\n`);
    expect(r.out).toContain(printRoots([{ name: 'dice', node: ir.value }, { name: 'ddice/dp', node: ir.grad }], 'latex'));
    expect(r.out).toMatch(/\\begin\{aligned\}[^]*\\frac/);

    // in process (main.ts turns a UsageError into exit 2, as tests/cli.test.ts checks)
    await expect(run(['show', 'dicee'])).rejects.toThrow(/'dicee' is neither a file nor a library loss; library losses: .*dice/);
    await expect(run(['show', 'dice', '--dump=lower,foo'])).rejects.toThrow(/--dump takes passes among lower, diff, simplify, plan/);
  });
});

// ------------------------------------------------------------------ new

describe('segloss new', () => {
  // Oracle: check's own comparisons (TensorFlow.js autodiff, finite
  // differences and the compiled kernels) on an edited copy of the template; the file system for
  // "nothing overwritten"; fmt for "the template is canonical".
  test('new NAME writes a loss and a test; check passes on an edited formula; it never overwrites', async () => {
    const work = join(dir, 'new');
    mkdirSync(work);
    const r = segloss(['new', 'my_loss'], work);
    expect(r.code, r.err).toBe(0);
    const lossFile = join(work, 'losses', 'my_loss.loss');
    const testFile = join(work, 'tests', 'losses', 'my_loss.test.ts');
    expect(r.out).toContain('created losses/my_loss.loss');
    expect(r.out).toContain('segloss check losses/my_loss.loss');
    const template = readFileSync(lossFile, 'utf8');
    expect(template).toMatch(/^# .*\n# citation: .*\n# use: .*\n# convention: .*\nloss my_loss\(p: prob, g: target; /);
    expect(printModule(parse(template, 'my_loss.loss').module)).toBe(template); // canonical
    expect(readFileSync(testFile, 'utf8')).toMatch(/import \{[^}]*\bfrontendFile\b[^}]*\} from '(\.\.\/)+.*src\/index\.ts';/);

    // an edit a person would make: false positives weigh half
    const edited = template.replace('b2 * fn + fp + smooth', 'b2 * fn + 0.5 * fp + smooth');
    expect(edited).not.toBe(template);
    writeFileSync(lossFile, edited);
    const c = segloss(['check', 'losses/my_loss.loss', '--json'], work);
    expect(c.code, c.err).toBe(0);
    const rows = JSON.parse(c.out) as { loss: string; ok: boolean }[];
    expect(rows.length).toBe(9);
    expect(rows.every((x) => x.loss === 'my_loss' && x.ok)).toBe(true);

    // refuses: both exist, or only one of them (then writes neither)
    const again = segloss(['new', 'my_loss'], work);
    expect(again.code).toBe(2);
    expect(again.err).toContain('already exist');
    expect(readFileSync(lossFile, 'utf8')).toBe(edited);
    rmSync(testFile);
    const half = segloss(['new', 'my_loss'], work);
    expect(half.code).toBe(2);
    expect(existsSync(testFile)).toBe(false);
    await expect(run(['new', 'my-loss', '--dir', join(work, 'x')])).rejects.toThrow(UsageError);
    await expect(run(['new', 'use', '--dir', join(work, 'x')])).rejects.toThrow(/keyword/);
    expect(existsSync(join(work, 'x'))).toBe(false);
  }, 60_000);

  // Oracle: the generated test's own TensorFlow.js reference. It is generated
  // under the repository (in the git-ignored .tmp/, outside vitest's include) so
  // that its imports resolve, and imported here: its tests run in this file.
  describe('the generated test passes as generated', async () => {
    mkdirSync(join(ROOT, '.tmp'), { recursive: true });
    const gen = mkdtempSync(join(ROOT, '.tmp', 'new-'));
    afterAll(() => rmSync(gen, { recursive: true, force: true }));
    const r = segloss(['new', 'gen_loss', '--dir', join(gen, 'losses'), '--tests', join(gen, 'tests')]);
    test('new exits 0', () => expect(r.code, r.err).toBe(0));
    if (r.code === 0) await import(pathToFileURL(join(gen, 'tests', 'gen_loss.test.ts')).href);
  });
});

// ------------------------------------------------------------------ fmt

describe('segloss fmt', () => {
  // Oracle: the library as committed (already canonical), and canonical text
  // written here by hand for a badly formatted file.
  test('--check passes on the library', () => {
    const r = segloss(['fmt', '--check', 'losses']);
    expect(r.code, `${r.out}${r.err}`).toBe(0);
    expect(r.out).toBe('');
  });

  test('--check exits 1 and lists a badly formatted file; fmt fixes it, keeps comments; again changes nothing; a syntax error is exit 2, untouched', () => {
    const work = join(dir, 'fmt');
    mkdirSync(work);
    const ugly = join(work, 'ugly.loss');
    const broken = join(work, 'broken.loss');
    writeFileSync(ugly, [
      '# Ugly loss',
      '# citation: nobody',
      'use   "other.loss"',
      'loss ugly(p:prob,g:target;k=2,eps=-1e-3)   # the head',
      '   # the overlap',
      '   tp=sum[region]((p*g))',
      'repeat k{tp=tp*(tp)   # squared',
      '      # each time',
      '  }',
      '  =mean( (1-tp) ^ k )+((eps))',
      '',
    ].join('\n'));
    const brokenText = 'loss broken(p: prob)\n  = mean(p *\n';
    writeFileSync(broken, brokenText);
    const canonical = [
      '# Ugly loss',
      '# citation: nobody',
      'use "other.loss"',
      '',
      'loss ugly(p: prob, g: target; k = 2, eps = -1e-3)  # the head',
      '  # the overlap',
      '  tp = sum[region](p * g)',
      '  repeat k {',
      '    tp = tp * tp  # squared',
      '    # each time',
      '  }',
      '  = mean((1 - tp)^k) + eps',
      '',
    ].join('\n');

    const check1 = segloss(['fmt', '--check', ugly]);
    expect(check1.code).toBe(1);
    expect(check1.out).toBe(`${ugly}\n`);
    expect(check1.err).toContain('1 of 1 file would be reformatted');

    const fix = segloss(['fmt', work]); // a directory: both files
    expect(fix.code).toBe(2);
    expect(fix.out).toBe(`formatted ${ugly}\n`);
    expect(fix.err).toContain(`${broken}:2:13: error[E103]`);
    expect(readFileSync(ugly, 'utf8')).toBe(canonical);
    expect(readFileSync(broken, 'utf8')).toBe(brokenText);

    const check2 = segloss(['fmt', '--check', ugly]);
    expect(check2.code, check2.err).toBe(0);
    expect(check2.out).toBe('');
    expect(printModule(parse(canonical, 'ugly.loss').module)).toBe(canonical); // idempotent
  });
});

// ------------------------------------------------------------------ help

describe('--help', () => {
  // Oracle: what a person needs from each command's help: what it does, its options, examples.
  test.each([
    ['list', ['--json', '--long', '--dir']],
    ['show', ['--dump <passes>', '--latex', '--json', '(lower: the loss as IR']],
    ['new', ['--dir <dir>', '--tests <dir>', 'never overwritten']],
    ['fmt', ['--check', 'Exit codes']],
  ] as const)('%s --help has options and examples', (name, wanted) => {
    let text = '';
    program((s) => { text += s; }).commands.find((c) => c.name() === name)!.outputHelp();
    expect(text).toContain(`Usage: segloss ${name}`);
    expect(text).toMatch(new RegExp(`Examples:\\n  segloss ${name}`));
    for (const w of wanted) expect(text).toContain(w);
  });
});

// ------------------------------------------------------------------ eval on images and volumes

/** A NIfTI-1 file (little-endian, vox_offset 352), x fastest, gzipped when the name ends in .gz. */
function writeNifti(path: string, dims: number[], datatype: 'uint8' | 'int16' | 'float32', values: ArrayLike<number>, scl: [number, number] = [0, 0]): void {
  const code = { uint8: 2, int16: 4, float32: 16 }[datatype];
  const size = { uint8: 1, int16: 2, float32: 4 }[datatype];
  const buf = new ArrayBuffer(352 + values.length * size);
  const v = new DataView(buf);
  v.setInt32(0, 348, true);
  v.setInt16(40, dims.length, true);
  dims.forEach((d, i) => v.setInt16(42 + 2 * i, d, true));
  v.setInt16(70, code, true);
  v.setInt16(72, size * 8, true);
  for (let i = 0; i < 8; i++) v.setFloat32(76 + 4 * i, 1, true); // pixdim (qfac 1, 1 mm)
  v.setFloat32(108, 352, true);
  v.setFloat32(112, scl[0], true);
  v.setFloat32(116, scl[1], true);
  new Uint8Array(buf, 344, 4).set([0x6e, 0x2b, 0x31, 0]); // "n+1\0"
  for (let i = 0; i < values.length; i++) {
    const at = 352 + i * size;
    if (datatype === 'uint8') v.setUint8(at, values[i]!);
    else if (datatype === 'int16') v.setInt16(at, values[i]!, true);
    else v.setFloat32(at, values[i]!, true);
  }
  const bytes = new Uint8Array(buf);
  writeFileSync(path, path.endsWith('.gz') ? gzipSync(bytes) : bytes);
}

let seed = 4242;
function rand(): number {
  seed = (seed * 16807) % 2147483647;
  return seed / 2147483647;
}

/** The float64 reference in this process, on nhwc arrays: the oracle of every eval below. */
async function reference(name: string, pred: ArrayLike<number>, target: ArrayLike<number>, shape: number[]) {
  const loss = await load(name, {}, { backend: 'reference' });
  try {
    const inputs: Record<string, Float64Array> = { [loss.wrt]: Float64Array.from(pred), [loss.inputs.find((i) => i.role === 'target')!.name]: Float64Array.from(target) };
    return await loss.valueAndGrad(inputs, shape);
  } finally {
    loss.dispose();
  }
}

function evalJson(args: string[]) {
  const r = segloss(['eval', ...args, '--backend', 'reference', '--json']);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as { loss: string; backend: string; value: number; values?: number[]; shape: number[] };
}

describe('segloss eval on .png and .nii.gz', () => {
  // Oracle: the float64 reference interpreter run here on the arrays the files
  // were made from (PNG: v/65535 for the 16-bit probability map, 0/255 → 0/1 for
  // the mask; NIfTI: x fastest, the 4th dimension as classes). Same interpreter,
  // same numbers, so value and gradient must agree exactly.
  test('a 16-bit probability PNG and an 8-bit 0/255 mask PNG: shape [1, H, W, 1]', async () => {
    const H = 12, W = 9;
    const raw = Uint16Array.from({ length: H * W }, () => Math.round(65535 * (0.02 + 0.96 * rand())));
    const mask = Uint8Array.from({ length: H * W }, () => (rand() < 0.4 ? 255 : 0));
    writeFileSync(join(dir, 'p16.png'), pngEncode({ width: W, height: H, data: raw, depth: 16, channels: 1 }));
    writeFileSync(join(dir, 'g8.png'), pngEncode({ width: W, height: H, data: mask, depth: 8, channels: 1 }));
    const out = join(dir, 'dp.npy');
    const j = evalJson(['dice', '--pred', join(dir, 'p16.png'), '--target', join(dir, 'g8.png'), '--grad', out]);
    const p = Float32Array.from(raw, (v) => v / 65535);
    const g = Float32Array.from(mask, (v) => v / 255);
    const want = await reference('dice', p, g, [1, H, W, 1]);
    expect(j.shape).toEqual([1, H, W, 1]);
    expect(j.value).toBe(want.value);
    expect(Array.from(readArray(out).data)).toEqual(Array.from(want.grad));
  });

  test('a 4-D float32 .nii.gz (x, y, z, class) and a 3-D uint8 label .nii.gz with --classes 2: shape [1, Z, Y, X, 2]', async () => {
    const X = 6, Y = 5, Z = 4, C = 2, vol = X * Y * Z;
    // file order: x fastest, then y, z, then the class
    const fileP = new Float32Array(vol * C);
    const labels = new Uint8Array(vol);
    for (let i = 0; i < vol; i++) {
      const u = Math.fround(0.02 + 0.96 * rand());
      fileP[i] = u;
      fileP[vol + i] = Math.fround(1 - u);
      labels[i] = rand() < 0.3 ? 1 : 0;
    }
    writeNifti(join(dir, 'p.nii.gz'), [X, Y, Z, C], 'float32', fileP);
    writeNifti(join(dir, 'labels.nii.gz'), [X, Y, Z], 'uint8', labels);
    // nhwc [1, Z, Y, X, C] by explicit index arithmetic
    const p = new Float32Array(vol * C), g = new Float32Array(vol * C);
    for (let z = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++) {
      const file = x + X * (y + Y * z);
      const ours = ((z * Y + y) * X + x) * C;
      for (let c = 0; c < C; c++) p[ours + c] = fileP[c * vol + file]!;
      g[ours + labels[file]!] = 1;
    }
    const out = join(dir, 'dp-vol.npy');
    const j = evalJson(['dice', '--pred', join(dir, 'p.nii.gz'), '--target', join(dir, 'labels.nii.gz'), '--classes', '2', '--grad', out]);
    const want = await reference('dice', p, g, [1, Z, Y, X, C]);
    expect(j.shape).toEqual([1, Z, Y, X, C]);
    expect(j.value).toBe(want.value);
    const grad = readArray(out);
    expect(grad.shape).toEqual([1, Z, Y, X, C]);
    expect(Array.from(grad.data)).toEqual(Array.from(want.grad));
  });

  test('--classes 3 one-hots a PNG label map for a 3-class .npy prediction; a label out of range is exit 2', async () => {
    const H = 7, W = 8, C = 3, n = H * W;
    const labels = Uint8Array.from({ length: n }, () => Math.floor(rand() * C));
    const p = new Float32Array(n * C);
    for (let i = 0; i < n; i++) {
      const e = [rand(), rand(), rand()].map((x) => Math.exp(2 * x));
      const s = e[0]! + e[1]! + e[2]!;
      for (let c = 0; c < C; c++) p[i * C + c] = e[c]! / s;
    }
    writeFileSync(join(dir, 'labels.png'), pngEncode({ width: W, height: H, data: labels, depth: 8, channels: 1 }));
    writeFileSync(join(dir, 'p3.npy'), new Uint8Array(dump(p, [1, H, W, C])));
    const g = new Float32Array(n * C);
    for (let i = 0; i < n; i++) g[i * C + labels[i]!] = 1;
    const j = evalJson(['tversky', '--pred', join(dir, 'p3.npy'), '--target', join(dir, 'labels.png'), '--classes', '3']);
    expect(j.shape).toEqual([1, H, W, C]);
    expect(j.value).toBe((await reference('tversky', p, g, [1, H, W, C])).value);

    const r = segloss(['eval', 'tversky', '--pred', join(dir, 'p3.npy'), '--target', join(dir, 'labels.png'), '--classes', '2', '--backend', 'reference']);
    expect(r.code).toBe(2);
    // --classes must match the prediction's class count before any label is read.
    expect(r.err).toMatch(/--classes 2 but --pred .*p3\.npy.* has 3 classes/);
  });

  test('--param ignore_index=255 with --classes: pixels labelled 255 are left out (the loss equals the loss on the rest); knobs by --param', async () => {
    const H = 6, W = 7, C = 3, n = H * W;
    // A PNG label map where some pixels say 255 (unlabelled).
    const labels = Uint8Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 255 : Math.floor(rand() * C)));
    const p = Float32Array.from({ length: n * C }, () => 0.05 + 0.9 * rand());
    writeFileSync(join(dir, 'ign.png'), pngEncode({ width: W, height: H, data: labels, depth: 8, channels: 1 }));
    writeFileSync(join(dir, 'pign.npy'), new Uint8Array(dump(p, [1, H, W, C])));
    const j = evalJson(['dice', '--pred', join(dir, 'pign.npy'), '--target', join(dir, 'ign.png'), '--classes', '3', '--param', 'ignore_index=255', '--param', 'include_background=false', '--param', 'reduction=none']);
    // Oracle: MONAI's masked Dice by hand: only kept pixels, classes 1 and 2, one value per class.
    const kept = [...labels.keys()].filter((i) => labels[i] !== 255);
    const want = [1, 2].map((c) => {
      let tp = 0, sp = 0, sg = 0;
      for (const i of kept) { const gv = labels[i] === c ? 1 : 0; tp += p[i * C + c]! * gv; sp += p[i * C + c]!; sg += gv; }
      return 1 - (2 * tp + 1e-5) / (sp + sg + 1e-5);
    });
    expect(j.values!.length).toBe(3);
    expect(j.values![0]).toBe(0);
    for (const c of [1, 2]) expect(Math.abs(j.values![c]! - want[c - 1]!)).toBeLessThan(1e-6);
    expect(Math.abs(j.value - (want[0]! + want[1]!))).toBeLessThan(1e-6);

    const bad = segloss(['eval', 'dice', '--pred', join(dir, 'pign.npy'), '--target', join(dir, 'ign.png'), '--classes', '3']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/element 0 is 255, not a class number 0\.\.2/);
    const knob = segloss(['eval', 'bce', '--pred', join(dir, 'pign.npy'), '--target', join(dir, 'ign.png'), '--classes', '3', '--param', 'reduction=median', '--param', 'ignore_index=255']);
    expect(knob.code).toBe(2);
    expect(knob.err).toMatch(/error\[E225\]: knob 'reduction' must be mean, sum or none, got 'median'/);
  });
});

describe('readArray / writeArray for .png and .nii (in process)', () => {
  // Oracle: values written here by hand, and the documented scalings.
  test('PNG: 1-bit and 0/1 masks keep 0/1, palettes give indices, labels mode keeps integers, 8-bit write round trip', () => {
    // 1-bit gray, width 10: rows packed MSB first, each row on whole bytes
    const W = 10, H = 2, bits = [1, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1];
    const packed = new Uint8Array(2 * H);
    bits.forEach((b, i) => { const y = Math.floor(i / W), x = i % W; if (b) packed[y * 2 + (x >> 3)]! |= 0x80 >> (x & 7); });
    writeFileSync(join(dir, 'm1.png'), pngEncode({ width: W, height: H, data: packed, depth: 1, channels: 1 }));
    const m1 = readArray(join(dir, 'm1.png'), { intensity: 'mask' });
    expect(m1.shape).toEqual([1, H, W, 1]);
    expect(Array.from(m1.data)).toEqual(bits);

    const raw01 = Uint8Array.from([0, 1, 1, 0, 1, 0]);
    writeFileSync(join(dir, 'm01.png'), pngEncode({ width: 3, height: 2, data: raw01, depth: 8, channels: 1 }));
    expect(Array.from(readArray(join(dir, 'm01.png'), { intensity: 'mask' }).data)).toEqual([0, 1, 1, 0, 1, 0]);
    expect(Array.from(readArray(join(dir, 'm01.png')).data)).toEqual(Array.from(raw01, (v) => Math.fround(v / 255)));

    const idx = Uint8Array.from([0, 2, 1, 2]);
    writeFileSync(join(dir, 'pal.png'), pngEncode({ width: 2, height: 2, data: idx, depth: 8, channels: 1, palette: [[0, 0, 0], [255, 0, 0], [0, 255, 0]] }));
    expect(Array.from(readArray(join(dir, 'pal.png')).data)).toEqual([0, 2, 1, 2]);

    const labels = Uint8Array.from([0, 3, 7, 2]);
    writeFileSync(join(dir, 'lab.png'), pngEncode({ width: 4, height: 1, data: labels, depth: 8, channels: 1 }));
    expect(Array.from(readArray(join(dir, 'lab.png'), { intensity: 'labels' }).data)).toEqual([0, 3, 7, 2]);

    const probs = Float32Array.from([0, 0.25, 0.5, 1, 0.1, 0.9]);
    writeArray(join(dir, 'w.png'), probs, [1, 2, 3, 1]);
    const back = readArray(join(dir, 'w.png'));
    expect(back.shape).toEqual([1, 2, 3, 1]);
    back.data.forEach((v, i) => expect(Math.abs(v - probs[i]!)).toBeLessThanOrEqual(0.5 / 255 + 1e-7));
    expect(() => writeArray(join(dir, 'neg.png'), Float32Array.from([-0.1, 0]), [1, 1, 2, 1])).toThrow(/values in \[0, 1\]/);
  });

  test('NIfTI: .nii (uncompressed) int16 with scl_slope/scl_inter; shape [1, Z, Y, X, 1], x fastest', () => {
    const X = 3, Y = 2, Z = 2;
    const raw = Int16Array.from({ length: X * Y * Z }, (_, i) => i - 5);
    writeNifti(join(dir, 's.nii'), [X, Y, Z], 'int16', raw, [2, 1]);
    const a = readArray(join(dir, 's.nii'));
    expect(a.shape).toEqual([1, Z, Y, X, 1]);
    expect(a.dtype).toBe('int16');
    expect(Array.from(a.data)).toEqual(Array.from(raw, (v) => 2 * v + 1));
    writeFileSync(join(dir, 'junk.nii.gz'), gzipSync(Buffer.from('not a nifti')));
    expect(() => readArray(join(dir, 'junk.nii.gz'))).toThrow(/junk\.nii\.gz: not a NIfTI/);
  });
});
