// Checking and lowering in one pass: AST -> interned IR, with diagnostics.
// They are one pass because `def`s are inlined at each call, so a name's axes
// are only known there. Errors never throw: a failed subexpression lowers to
// `undefined` and the errors above it stay quiet (no cascades).

import type * as A from './ast.ts';
import * as B from './build.ts';
import { type Code, type Diagnostic, diag, suggest } from './diagnostics.ts';
import { type Axes, type Axis, type Node, type Op, minusAxes, sortAxes } from './ir.ts';
import { constOf } from './simplify.ts';
import { boxWeights, gaussianWeights } from './spatial.ts';
import { verify } from './verify.ts';

export type Region = 'sample' | 'batch' | 'global';
export type Dims = 2 | 3;

export interface LowerOptions {
  dims: Dims;
  region: Region;
  /** Overrides of the loss's parameter defaults. */
  params?: Readonly<Record<string, number>>;
  /**
   * The prediction holds logits: the loss's `prob` input becomes σ(x) (or the
   * softmax over `class`) of them, and the gradient is taken with respect to x.
   */
  activation?: Activation;
}

export type Activation = 'none' | 'sigmoid' | 'softmax';

export interface LoweredInput { name: string; role: A.Role; node: Node }
export interface LoweredParam { name: string; value: number; default: number }

export interface LoweredLoss {
  name: string;
  file: string;
  header: string[];
  inputs: LoweredInput[];
  params: LoweredParam[];
  /** The differentiated input (role prob or logits). */
  wrt: LoweredInput;
  value: Node;
  options: LowerOptions;
}

/** Every module a compilation sees: the main one first, then what it `use`s. */
export interface Program { main: A.Module; modules: A.Module[] }

type Value = Node | undefined;

interface Builtin {
  /** Accepted positional argument counts. */
  arity: readonly number[];
  reduction?: boolean;
  /** Runs along the flattened spatial axes: takes `[space]` or no axes. */
  alongSpace?: boolean;
  lower(args: Node[], axes: Axes | undefined, call: A.Call): Value;
}

const unary = (op: Op) => ({ arity: [1], lower: ([x]: Node[]) => B.un(op, x!) });
const LOG2 = Math.LN2;

function allAxes(dims: Dims): Axes {
  return dims === 3 ? ['batch', 'class', 'z', 'y', 'x'] : ['batch', 'class', 'y', 'x'];
}

export class Lowerer {
  readonly diagnostics: Diagnostic[] = [];
  private readonly defs = new Map<string, A.DefDecl | A.LossDecl>();
  private readonly stack: string[] = [];
  private readonly builtins: Map<string, Builtin>;
  /**
   * After a syntax error, names bound on broken lines are missing and results may
   * be cut short: unknown names, a missing loss and a non-scalar result would be noise.
   */
  private readonly quietUnknownNames: boolean;

  constructor(private readonly program: Program, private readonly opts: LowerOptions, hadParseErrors: boolean) {
    this.quietUnknownNames = hadParseErrors;
    this.builtins = this.makeBuiltins();
    for (const m of program.modules) {
      for (const item of m.items) {
        if (item.kind === 'use') continue;
        if (this.builtins.has(item.name)) this.err('E205', item.nameSpan, { name: item.name });
        else if (this.defs.has(item.name) && m === program.main) this.err('E205', item.nameSpan, { name: item.name });
        else if (!this.defs.has(item.name)) this.defs.set(item.name, item);
      }
    }
  }

  private err(code: Code, span: A.Span | undefined, args: Record<string, string | number> = {}): undefined {
    const key = (d: Diagnostic) => `${d.code}@${d.span?.file}:${d.span?.start}`;
    const d = diag(code, span, args);
    if (!this.diagnostics.some((x) => key(x) === key(d))) this.diagnostics.push(d);
    return undefined;
  }

  private makeBuiltins(): Map<string, Builtin> {
    const softplus = (x: Node) => B.un('softplus', x);
    const absx = (x: Node) => B.un('abs', x);
    const m = new Map<string, Builtin>([
      ['exp', unary('exp')], ['log', unary('log')], ['log1p', unary('log1p')], ['sqrt', unary('sqrt')],
      ['abs', unary('abs')], ['sign', unary('sign')], ['sigmoid', unary('sigmoid')], ['softplus', unary('softplus')],
      ['tanh', unary('tanh')], ['detach', unary('detach')],
      // log σ(x) = −softplus(−x), stable for every x.
      ['logsigmoid', { arity: [1], lower: ([x]) => B.neg(softplus(B.neg(x!))) }],
      // cosh x = (eˣ + e⁻ˣ)/2
      ['cosh', { arity: [1], lower: ([x]) => B.div(B.add(B.un('exp', x!), B.un('exp', B.neg(x!))), B.K(2)) }],
      // log cosh x = |x| + log(1 + e^(−2|x|)) − log 2, with no overflow.
      ['logcosh', { arity: [1], lower: ([x]) => B.sub(B.add(absx(x!), softplus(B.mul(B.K(-2), absx(x!)))), B.K(LOG2)) }],
      // relu(x) = max(0, x): gradient 0 at x = 0, as tf.relu.
      ['relu', { arity: [1], lower: ([x]) => B.bin('maximum', B.ZERO, x!) }],
      ['pow', { arity: [2], lower: ([a, b]) => B.bin('pow', a!, b!) }],
      ['clip', { arity: [3], lower: ([x, lo, hi]) => B.bin('minimum', B.bin('maximum', x!, lo!), hi!) }],
      ['where', { arity: [3], lower: ([c, a, b]) => B.where(c!, a!, b!) }],
      ['sum', { arity: [1], reduction: true, lower: ([x], axes) => B.sum(x!, axes ?? x!.axes) }],
      ['mean', { arity: [1], reduction: true, lower: ([x], axes) => B.mean(x!, axes ?? x!.axes) }],
      // max(e) reduces; max(a, b) is elementwise.
      ['max', { arity: [1, 2], reduction: true, lower: ([a, b], axes) => (b ? B.bin('maximum', a!, b) : B.rmax(a!, axes ?? a!.axes)) }],
      // min over axes = −max(−e)
      ['min', { arity: [1, 2], reduction: true, lower: ([a, b], axes) => (b ? B.bin('minimum', a!, b) : B.neg(B.rmax(B.neg(a!), axes ?? a!.axes))) }],
      // softmax over `class`, shifted by the (gradient-free) max: exact, and no overflow.
      ['softmax', { arity: [1], lower: ([x]) => { const e = B.un('exp', this.shifted(x!)); return B.div(e, B.sum(e, ['class'])); } }],
      ['logsoftmax', { arity: [1], lower: ([x]) => { const s = this.shifted(x!); return B.sub(s, B.un('log', B.sum(B.un('exp', s), ['class']))); } }],
      // Spatial ops over every spatial axis (y, x, and z in 3-D), stride 1, same size.
      ['window', { arity: [2], lower: ([x], _axes, call) => this.windowOf(x!, call) }],
      ['maxpool', { arity: [2], lower: ([x, k], _a, call) => this.withWidth(k!, call, 1, (w) => B.maxpool(x!, w, this.space())) }],
      // minpool(e) = −maxpool(−e)
      ['minpool', { arity: [2], lower: ([x, k], _a, call) => this.withWidth(k!, call, 1, (w) => B.neg(B.maxpool(B.neg(x!), w, this.space()))) }],
      ['interior', { arity: [1], lower: ([k], _a, call) => this.withWidth(k!, call, 0, (w) => B.interior(w, this.space())) }],
      ['edt', { arity: [1], lower: ([m]) => B.edt(m!, this.space()) }],
      // Along the flattened spatial axes, per (batch, class): a stable descending sort by a key, and prefix sums.
      ['sorted', { arity: [2], alongSpace: true, lower: ([x, by]) => B.sorted(x!, by!, this.space()) }],
      ['cumsum', { arity: [1], alongSpace: true, lower: ([x]) => B.cumsum(x!, this.space()) }],
    ]);
    return m;
  }

  private space(): Axes {
    return this.opts.dims === 3 ? ['z', 'y', 'x'] : ['y', 'x'];
  }

  /** A window width argument: a constant odd integer ≥ 1 (E221 otherwise). */
  private width(k: Node, call: A.Call, i: number): number | undefined {
    const v = constOf(k);
    if (v === undefined || !Number.isInteger(v) || v < 1 || v % 2 === 0) {
      return this.err('E221', (call.args[i] ?? call).span, { name: call.callee, what: 'a window width', want: 'a constant odd integer' });
    }
    return v;
  }

  private withWidth(k: Node, call: A.Call, i: number, f: (w: number) => Node): Value {
    const w = this.width(k, call, i);
    return w === undefined ? undefined : f(w);
  }

  /** window(e, gaussian(size, sigma)) or window(e, box(size)): the kernel is a constant. */
  private windowOf(x: Node, call: A.Call): Value {
    const k = call.args[1]!;
    if (k.kind !== 'call' || (k.callee !== 'gaussian' && k.callee !== 'box')) {
      return this.err('E221', k.span, { name: 'window', what: 'its kernel', want: 'gaussian(size, sigma) or box(size)' });
    }
    const want = k.callee === 'gaussian' ? 2 : 1;
    if (k.args.length !== want) return this.err('E203', k.span, { name: k.callee, expected: `${want} argument${want === 1 ? '' : 's'}`, got: k.args.length });
    const vals = k.args.map((a) => this.lowerExpr(a, new Map()));
    if (vals.some((v) => !v)) return undefined;
    const size = this.width(vals[0]!, k, 0);
    if (size === undefined) return undefined;
    if (k.callee === 'box') return B.window(x, boxWeights(size), this.space());
    const sigma = constOf(vals[1]!);
    if (sigma === undefined || !(sigma > 0)) return this.err('E221', k.args[1]!.span, { name: 'gaussian', what: 'sigma', want: 'a positive constant' });
    return B.window(x, gaussianWeights(size, sigma), this.space());
  }

  private shifted(x: Node): Node {
    return B.sub(x, B.un('detach', B.rmax(x, ['class'])));
  }

  /** Resolve `[batch, space]` to axes; `undefined` with a diagnostic when one is unknown. */
  private resolveAxes(refs: A.AxisRef[]): Axes | undefined {
    const out: Axis[] = [];
    const space: Axis[] = this.opts.dims === 3 ? ['z', 'y', 'x'] : ['y', 'x'];
    const region: Record<Region, Axis[]> = { sample: space, batch: ['batch', ...space], global: ['batch', 'class', ...space] };
    let ok = true;
    for (const r of refs) {
      let add: Axis[];
      switch (r.name) {
        case 'space': add = space; break;
        case 'region': add = region[this.opts.region]; break;
        case 'batch': case 'class': case 'y': case 'x': add = [r.name]; break;
        case 'z':
          if (this.opts.dims !== 3) { this.err('E304', r.span, { name: 'z', dims: this.opts.dims }); ok = false; continue; }
          add = ['z'];
          break;
        default:
          this.err('E206', r.span, { name: r.name }); ok = false; continue;
      }
      for (const a of add) {
        if (out.includes(a)) { this.err('E303', r.span, { name: a }); ok = false; }
        out.push(a);
      }
    }
    return ok ? sortAxes(out) : undefined;
  }

  lowerExpr(e: A.Expr, scope: Map<string, Value>): Value {
    switch (e.kind) {
      case 'num': return B.K(e.value);
      case 'name': {
        if (scope.has(e.name)) return scope.get(e.name);
        if (this.builtins.has(e.name) || this.defs.has(e.name)) return this.err('E217', e.span, { name: e.name });
        if (this.quietUnknownNames) return undefined;
        return this.err('E201', e.span, { name: e.name, hint: suggest(e.name, scope.keys()) });
      }
      case 'neg': {
        const x = this.lowerExpr(e.arg, scope);
        return x && B.neg(x);
      }
      case 'binary': {
        const a = this.lowerExpr(e.lhs, scope);
        const b = this.lowerExpr(e.rhs, scope);
        if (!a || !b) return undefined;
        const op = ({ '+': 'add', '-': 'sub', '*': 'mul', '/': 'div', '^': 'pow', '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge', '==': 'eq', '!=': 'ne' } as const)[e.op];
        return B.bin(op, a, b);
      }
      case 'call': return this.lowerCall(e, scope);
    }
  }

  private lowerCall(e: A.Call, scope: Map<string, Value>): Value {
    const builtin = this.builtins.get(e.callee);
    const def = this.defs.get(e.callee);
    if (!builtin && !def) {
      return this.err('E202', e.calleeSpan, { name: e.callee, hint: suggest(e.callee, [...this.builtins.keys(), ...this.defs.keys()]) });
    }
    if (e.axes && builtin?.alongSpace) {
      const axes = this.resolveAxes(e.axes);
      if (!axes) return undefined;
      if (axes.join() !== this.space().join()) return this.err('E222', e.span, { name: e.callee, axes: axes.join(', ') });
    } else if (e.axes && !builtin?.reduction) {
      return this.err('E215', e.calleeSpan, { name: e.callee });
    }
    // A window's kernel (gaussian/box) is read by the window itself, not lowered as a value.
    const args = e.args.map((a, i) => (e.callee === 'window' && i === 1 ? B.ZERO : this.lowerExpr(a, scope)));
    if (builtin) {
      if (e.named.length) return this.err('E204', e.named[0]!.span, { name: e.callee, arg: e.named[0]!.name, hint: `'${e.callee}' takes only positional arguments` });
      if (!builtin.arity.includes(e.args.length)) {
        return this.err('E203', e.span, { name: e.callee, expected: arityText(builtin.arity), got: e.args.length });
      }
      if (args.some((a) => !a)) return undefined;
      let axes: Axes | undefined;
      if (e.axes && !builtin.alongSpace) {
        axes = this.resolveAxes(e.axes);
        if (!axes) return undefined;
        const x = args[0]!;
        const missing = minusAxes(axes, x.axes);
        if (missing.length && args.length === 1) {
          const lost = missing.every((a) => allAxes(this.opts.dims).includes(a));
          return this.err('E301', e.span, {
            op: e.callee, axes: e.axes.map((a) => a.name).join(', '), missing: missing.join(', '), have: x.axes.join(', '),
            hint: lost ? `an earlier reduction already removed ${missing.join(', ')}` : '',
          });
        }
        if (args.length === 2) return this.err('E203', e.span, { name: `${e.callee}[...]`, expected: '1 argument', got: 2 });
      }
      return builtin.lower(args as Node[], axes, e);
    }
    return this.inline(def!, e, args, scope);
  }

  /** Inline a `def` (or a `use`d loss called as a function) at a call site. */
  private inline(def: A.DefDecl | A.LossDecl, call: A.Call, args: Value[], scope: Map<string, Value>): Value {
    if (this.stack.includes(def.name)) {
      return this.err('E216', call.calleeSpan, { name: def.name, chain: [...this.stack.slice(this.stack.indexOf(def.name)), def.name].join(' -> ') });
    }
    // Positional slots: a def's parameters in order; a loss's inputs.
    const slots = def.kind === 'def' ? def.params.map((p) => ({ name: p.name, value: p.value })) : def.inputs.map((i) => ({ name: i.name, value: undefined as A.Expr | undefined }));
    const named = def.kind === 'def' ? slots : def.params.map((p) => ({ name: p.name, value: p.value as A.Expr | undefined }));
    if (args.length > slots.length) {
      return this.err('E203', call.span, { name: def.name, expected: `${slots.length} positional argument${slots.length === 1 ? '' : 's'}`, got: args.length });
    }
    const local = new Map<string, Value>();
    let ok = args.every((a) => a !== undefined);
    slots.forEach((s, i) => { if (i < args.length) local.set(s.name, args[i]); });
    for (const n of call.named) {
      if (!named.some((s) => s.name === n.name) || local.has(n.name)) {
        this.err('E204', n.span, { name: def.name, arg: n.name, hint: suggest(n.name, named.map((s) => s.name)) });
        ok = false;
        continue;
      }
      const v = this.lowerExpr(n.value, scope);
      if (!v) ok = false;
      local.set(n.name, v);
    }
    for (const s of [...slots, ...named]) {
      if (local.has(s.name)) continue;
      if (!s.value) {
        this.err('E203', call.span, { name: def.name, expected: `a value for '${s.name}'`, got: `${args.length} positional` });
        ok = false;
        continue;
      }
      this.stack.push(def.name);
      local.set(s.name, this.lowerExpr(s.value, new Map()));
      this.stack.pop();
    }
    if (!ok) return undefined;
    this.stack.push(def.name);
    const out = this.lowerBody(def, local);
    this.stack.pop();
    return out;
  }

  lowerBody(body: A.Body, scope: Map<string, Value>): Value {
    const local = new Map(scope);
    for (const b of body.bindings) {
      if (local.has(b.name) && !scope.has(b.name)) this.err('E205', b.nameSpan, { name: b.name });
      local.set(b.name, this.lowerExpr(b.value, local));
    }
    return this.lowerExpr(body.result, local);
  }

  /** Lower the main module's loss. */
  lowerLoss(): LoweredLoss | undefined {
    const main = this.program.main;
    const losses = main.items.filter((i): i is A.LossDecl => i.kind === 'loss');
    // A loss that failed to parse is missing, not absent.
    if (losses.length === 0 && this.quietUnknownNames) return undefined;
    if (losses.length === 0) return this.err('E212', { file: main.file, line: 1, col: 1, start: 0, end: 0 }, { file: main.file });
    for (const extra of losses.slice(1)) this.err('E218', extra.nameSpan, { name: extra.name });
    const loss = losses[0]!;
    const scope = new Map<string, Value>();
    const inputs: LoweredInput[] = [];
    const names = new Set<string>();
    for (const i of loss.inputs) {
      if (names.has(i.name)) this.err('E205', i.span, { name: i.name });
      names.add(i.name);
      if (!(['prob', 'logits', 'target', 'weight', 'map'] as string[]).includes(i.role)) {
        this.err('E207', i.roleSpan, { name: i.role });
        scope.set(i.name, undefined);
        continue;
      }
      const node = B.input(i.name, allAxes(this.opts.dims));
      const act = this.opts.activation ?? 'none';
      if (act !== 'none' && (i.role === 'prob' || i.role === 'logits')) {
        if (i.role === 'logits') this.err('E220', i.roleSpan, { name: i.name, activation: act });
        inputs.push({ name: i.name, role: 'logits', node });
        scope.set(i.name, act === 'sigmoid' ? B.un('sigmoid', node) : this.builtins.get('softmax')!.lower([node], undefined, undefined as never));
        continue;
      }
      inputs.push({ name: i.name, role: i.role as A.Role, node });
      scope.set(i.name, node);
    }
    const preds = inputs.filter((i) => i.role === 'prob' || i.role === 'logits');
    if (preds.length === 0 && inputs.length === loss.inputs.length) this.err('E208', loss.nameSpan, { name: loss.name });
    if (preds.length > 1) this.err('E209', loss.nameSpan, { name: loss.name, names: preds.map((p) => p.name).join(', ') });

    const overrides = this.opts.params ?? {};
    for (const k of Object.keys(overrides)) {
      if (!loss.params.some((p) => p.name === k)) {
        this.err('E214', loss.nameSpan, { loss: loss.name, name: k, hint: suggest(k, loss.params.map((p) => p.name)) || `parameters: ${loss.params.map((p) => p.name).join(', ') || 'none'}` });
      }
    }
    const params: LoweredParam[] = [];
    for (const p of loss.params) {
      if (names.has(p.name)) this.err('E205', p.span, { name: p.name });
      names.add(p.name);
      const dflt = constantValue(p.value);
      const value = overrides[p.name] ?? dflt;
      if (dflt === undefined) this.err('E213', p.value.span, { name: p.name });
      else if (!Number.isFinite(value)) this.err('E219', p.span, { name: p.name, value: String(value) });
      if (value === undefined || !Number.isFinite(value) || dflt === undefined) { scope.set(p.name, undefined); continue; }
      params.push({ name: p.name, value, default: dflt });
      scope.set(p.name, B.K(value));
    }
    if (this.diagnostics.length) {
      // Still check the body, so one run reports every mistake.
      this.lowerBody(loss, scope);
      return undefined;
    }
    this.stack.push(loss.name);
    const value = this.lowerBody(loss, scope);
    this.stack.pop();
    if (!value) return undefined;
    // After a syntax error the result may be cut short: its axes prove nothing.
    if (value.axes.length && !this.quietUnknownNames) {
      return this.err('E302', loss.result.span, { have: value.axes.join(', ') });
    }
    verify([value], 'lower');
    return { name: loss.name, file: main.file, header: main.header, inputs, params, wrt: preds[0]!, value, options: this.opts };
  }
}

function arityText(arity: readonly number[]): string {
  const n = arity.join(' or ');
  return `${n} argument${arity.length === 1 && arity[0] === 1 ? '' : 's'}`;
}

/** The value of a literal default (`0.5`, `-1`, `--2`), or undefined. */
export function constantValue(e: A.Expr): number | undefined {
  if (e.kind === 'num') return e.value;
  if (e.kind === 'neg') {
    const v = constantValue(e.arg);
    return v === undefined ? undefined : -v;
  }
  return undefined;
}
