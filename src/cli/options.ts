// Shared option parsing for the segloss commands: parameters, region, dims,
// layout, backend; UsageError for bad flags (exit 2, no stack trace).

import type { Command } from 'commander';
import { KNOB_NAMES, type ParamValue, type Params } from '../compiler/lower/knobs.ts';
import type { Dims } from '../compiler/core/layout.ts';
import type { Activation, Region } from '../compiler/lower/knobs.ts';
import type { Layout } from '../compiler/core/layout.ts';
import { BACKENDS, type Backend } from '../runtime/loss.ts';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { LIBRARY_DIR, libraryNames, readSource, searchPath, suggestLoss } from '../runtime/sources.ts';

export class UsageError extends Error {}

export const collect = (v: string, prev: string[]) => [...prev, v];

/**
 * `--param name=value`: a loss parameter (a number) or a knob (words and lists:
 * reduction=sum, include_background=false, class_weights=1,2,0.5); the compiler
 * checks each value and reports a bad one (E219, E225).
 */
export function parseParams(list: readonly string[]): Params {
  const out: Record<string, ParamValue> = {};
  for (const kv of list) {
    const m = /^([A-Za-z_]\w*)=(.+)$/.exec(kv);
    if (!m) throw new UsageError(`--param takes name=value, got '${kv}'`);
    const v = m[2]!.trim();
    out[m[1]!] = v !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
  }
  return out;
}

export function region(s: string): Region {
  if (s === 'sample' || s === 'batch' || s === 'global') return s;
  throw new UsageError(`--region is sample, batch or global, got '${s}'`);
}

export function activation(s: string): Activation {
  if (s === 'none' || s === 'sigmoid' || s === 'softmax') return s;
  throw new UsageError(`--activation is none, sigmoid or softmax, got '${s}'`);
}

export function dims(s: string): Dims {
  if (s === '2' || s === '3') return Number(s) as Dims;
  throw new UsageError(`--dims is 2 or 3, got '${s}'`);
}

export function layout(s: string): Layout {
  if (s === 'nhwc' || s === 'nchw') return s;
  throw new UsageError(`--layout is nhwc or nchw, got '${s}'`);
}

export function backend(s: string): Backend | 'auto' {
  if (s === 'auto' || (BACKENDS as readonly string[]).includes(s)) return s as Backend | 'auto';
  throw new UsageError(`--backend is one of auto, ${BACKENDS.join(', ')}; got '${s}'`);
}

/** Whether stdout/stderr get colour: a terminal, and NO_COLOR unset. */
export const colorOut = process.stdout.isTTY === true && !process.env.NO_COLOR;
export const colorErr = process.stderr.isTTY === true && !process.env.NO_COLOR;

/** `--param`'s help: the knobs by name (from KNOB_NAMES, the one list), then `examples` of settings. */
export function paramHelp(lead: string, examples: string): string {
  return `${lead}, or set a knob (${KNOB_NAMES.join(', ')}), e.g. ${examples} (repeatable)`;
}

/** The options every command that compiles a formula takes: --region and repeatable --param. */
export function formulaOptions(cmd: Command): Command {
  return cmd
    .option('--region <region>', 'what `region` binds to: sample | batch | global', 'sample')
    .option('--param <name=value>', paramHelp('override a parameter default', 'reduction=sum, include_background=false, class_weights=1,2, mask=true, ignore_index=255, class_distances=0,1;1,0'), collect, []);
}

/** The help text of a command's loss argument. */
export const LOSS_ARG_HELP = 'a loss name (dice, bce, ...; see segloss list) or a .loss file';

/**
 * A command's loss argument (every command that takes a loss: grad, plan, check, compile, show,
 * eval): an existing file as it is; anything else with a / or \ or ending in .loss is a file that
 * cannot be read (a UsageError saying why); else a name, looked up as NAME.loss along `use`'s search
 * path from the current directory: the project's losses/, each SEGLOSS_PATH directory, the library
 * (src/runtime/sources.ts's searchPath). `file` is relative to the current directory when inside it;
 * `library` says whether it is the package's own. An unknown name gets a did-you-mean.
 */
export function resolveLoss(arg: string): { file: string; library: boolean } {
  if (existsSync(arg) && statSync(arg).isFile()) return { file: arg, library: false };
  if (/[/\\]/.test(arg) || arg.endsWith('.loss')) {
    const got = readSource(arg);
    throw new UsageError(`cannot read '${arg}'${'why' in got ? `: ${got.why}` : ''}`);
  }
  const dirs = searchPath(join(process.cwd(), 'loss'));
  for (const dir of dirs) {
    const file = join(dir, `${arg}.loss`);
    if (existsSync(file) && statSync(file).isFile()) {
      const rel = relative(process.cwd(), file);
      return { file: rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file, library: dir === LIBRARY_DIR };
    }
  }
  const names = libraryNames();
  const all = [...new Set(dirs.flatMap((d) => { try { return readdirSync(d).filter((f) => f.endsWith('.loss')).map((f) => f.slice(0, -5)); } catch { return []; } }))].sort();
  const dym = suggestLoss(arg, all);
  throw new UsageError(`'${arg}' is neither a file nor a library loss; library losses: ${names.join(', ')}${dym ? `\n  hint: ${dym}` : ''}`);
}
