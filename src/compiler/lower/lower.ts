// Checking and lowering in one pass: AST -> interned IR, with diagnostics.
// They are one pass because `def`s are inlined at each call, so a name's axes
// are only known there. Errors never throw: a failed subexpression lowers to
// `undefined` and the errors above it stay quiet (no cascades).
// Here: scopes, defs and calls, repeat blocks, constant folding. The builtin
// table is builtins.ts, scale levels levels.ts, the knobs' action knobs.ts,
// the binding of inputs and parameters bind.ts; context.ts has the shared types.

import type * as A from '../front/ast.ts';
import * as B from '../core/build.ts';
import { type Code, type Diagnostic, diag, suggest } from '../front/diagnostics.ts';
import { type Axes, type Axis, type Node, type Op, constOf, internCalls, minusAxes, sortAxes } from '../core/ir.ts';
import { representable } from '../core/numbers.ts';
import { simplify } from '../passes/simplify.ts';
import { verify } from '../core/verify.ts';
import { bindInputs, bindParams } from './bind.ts';
import { type Builtin, makeBuiltins } from './builtins.ts';
import { type LowerContext, type LowerOptions, type LoweredLoss, type Program, type Scope, type Value, allAxes } from './context.ts';
import { FinalTracer, type FinalLowering, KNOB_NAMES, type Knobs, KnobWeights, type Region, inputFree, splitParams, toOwnParameter } from './knobs.ts';
import { Levels, clashHint } from './levels.ts';
import { MAX_CALL_DEPTH, MAX_LOWERED, MAX_REPEAT, TooDeep, TooLarge, foldConstant, rangeText } from './limits.ts';
import { toLogSpace } from './logspace.ts';

export type { LowerOptions, LoweredInput, LoweredLoss, LoweredParam, Program } from './context.ts';
export { MAX_WIDTH } from './builtins.ts';
export { constantValue } from './bind.ts';
export { MAX_CALL_DEPTH, MAX_LOWERED } from './limits.ts';

export class Lowerer implements LowerContext, FinalLowering {
  readonly diagnostics: Diagnostic[] = [];

  // ---- State, in one block ----
  /** The options, with the region and activation knobs resolved into them. */
  readonly opts: LowerOptions;
  private readonly knobs: Knobs;
  /** The loss's parameter overrides (numbers), without the knobs. */
  private readonly params: Record<string, number>;
  private readonly knobErrors: { name: string; want: string; got: string }[];
  /** The knobs the caller set (not defaults). */
  private readonly knobsSet: ReadonlySet<string>;
  /**
   * After a syntax error, names bound on broken lines are missing and results may
   * be cut short: unknown names, a missing loss and a non-scalar result would be noise.
   */
  private readonly quietUnknownNames: boolean;
  private readonly defs = new Map<string, A.DefDecl | A.LossDecl>();
  private readonly builtins: Map<string, Builtin>;
  private readonly levels = new Levels();
  /** The knobs' weights and the final-reduction tracing (reduction sum | none): made when the loss's inputs are bound. */
  private weights: KnobWeights | undefined;
  private final: FinalTracer | undefined;
  /** The defs being inlined, outermost first (recursion is E216). */
  private readonly stack: string[] = [];
  /** Per def, its lowered results by arguments (see inline). */
  private readonly inlined = new Map<A.DefDecl | A.LossDecl, Map<string, Value>>();
  /** The scope of the builtin call being lowered (a window's kernel reads its size and sigma there). */
  callScope: Scope = new Map();
  /** Whether the formula names `region`: the region knob acts only then (E229). */
  private usedRegion = false;
  /** The product of the counts of the repeat blocks being lowered (nested blocks multiply). */
  private unrolled = 1;
  /** Per scope, the names that were first bound in a repeat block and ended with it (for E201's hint). */
  private readonly endedIn = new WeakMap<Scope, Set<string>>();
  /** Diagnostics reported, by code and place. */
  private readonly reported = new Set<string>();
  /** internCalls() when lowering began: the formula's size so far is the difference. */
  private readonly startCalls = internCalls();

  constructor(private readonly program: Program, options: LowerOptions, hadParseErrors: boolean) {
    this.quietUnknownNames = hadParseErrors;
    const split = splitParams(options.params ?? {});
    this.knobs = split.knobs;
    this.params = split.params;
    this.knobErrors = split.errors;
    this.knobsSet = new Set(Object.keys(options.params ?? {}).filter((k) => KNOB_SET.has(k)));
    this.opts = { ...options, region: split.knobs.region ?? options.region, activation: split.knobs.activation ?? options.activation };
    this.builtins = makeBuiltins(this);
    for (const m of program.modules) {
      for (const item of m.items) {
        if (item.kind === 'use') continue;
        if (this.builtins.has(item.name)) this.err('E205', item.nameSpan, { name: item.name });
        else if (this.defs.has(item.name) && m === program.main) this.err('E205', item.nameSpan, { name: item.name });
        else if (!this.defs.has(item.name)) this.defs.set(item.name, item);
      }
    }
  }

  err(code: Code, span: A.Span | undefined, args: Record<string, string | number> = {}): undefined {
    // One diagnostic per code and place (a def inlined at many calls reports its mistake once); a set, so that
    // 20,000 mistakes cost 20,000 lookups, not 20,000².
    const key = `${code}@${span?.file}:${span?.start}`;
    if (!this.reported.has(key)) { this.reported.add(key); this.diagnostics.push(diag(code, span, args)); }
    return undefined;
  }

  // ---- What the builtins, the knobs and the binding ask (LowerContext, FinalLowering) ----

  levelOf(n: Node): number | undefined {
    return this.levels.of(n);
  }

  reduce(x: Node, axes: Axes, mean: boolean): Node {
    return this.weights!.reduce(x, axes, mean);
  }

  wasserstein(p: Node, g: Node): Node {
    return this.weights!.wasserstein(p, g);
  }

  defOf(name: string): A.DefDecl | A.LossDecl | undefined {
    return this.builtins.has(name) ? undefined : this.defs.get(name);
  }

  inlineFinal(def: A.DefDecl | A.LossDecl, call: A.Call, args: Value[], scope: Scope): Value {
    return this.inline(def, call, args, scope, true);
  }

  /** Throws past MAX_LOWERED nodes (lowerLoss turns it into E232 at `span`). */
  budget(span: A.Span): void {
    if (internCalls() - this.startCalls > MAX_LOWERED) throw new TooLarge(span);
  }

  /** `v`, or E223 at `e` when it mixes scale levels (no cascade: undefined then). */
  private leveled(v: Value, e: A.Expr, name: string): Value {
    const l = v && this.levels.orClash(v);
    if (!v || typeof l !== 'object') return v;
    return this.err('E223', e.span, { name, a: l.a, b: l.b, hint: clashHint(l) });
  }

  // ---- Expressions, calls, defs ----

  /** Resolve `[batch, space]` to axes; `undefined` with a diagnostic when one is unknown. */
  resolveAxes(refs: A.AxisRef[]): Axes | undefined {
    const out: Axis[] = [];
    const space: Axis[] = this.opts.dims === 3 ? ['z', 'y', 'x'] : ['y', 'x'];
    const region: Record<Region, Axis[]> = { sample: space, batch: ['batch', ...space], global: ['batch', 'class', ...space] };
    let ok = true;
    for (const r of refs) {
      let add: Axis[];
      switch (r.name) {
        case 'space': add = space; break;
        case 'region': add = region[this.opts.region]; this.usedRegion = true; break;
        case 'batch': case 'class': case 'y': case 'x': add = [r.name]; break;
        case 'z':
          if (this.opts.dims !== 3) { this.err('E304', r.span, { name: 'z', dims: this.opts.dims }); ok = false; continue; }
          add = ['z'];
          break;
        default:
          this.err('E206', r.span, { name: r.name, hint: [suggest(r.name, AXIS_NAMES), `known axes: ${AXIS_NAMES.join(', ')}`].filter(Boolean).join(' ') }); ok = false; continue;
      }
      for (const a of add) {
        if (out.includes(a)) { this.err('E303', r.span, { name: a }); ok = false; }
        out.push(a);
      }
    }
    return ok ? sortAxes(out) : undefined;
  }

  lowerExpr(e: A.Expr, scope: Scope): Value {
    this.budget(e.span);
    switch (e.kind) {
      case 'num': return representable(e.value) ? B.K(e.value) : this.err('E231', e.span, { what: `the number ${e.text}`, value: rangeText(e.value) });
      case 'name': {
        if (scope.has(e.name)) return scope.get(e.name);
        if (this.builtins.has(e.name) || this.defs.has(e.name)) return this.err('E217', e.span, { name: e.name });
        if (this.quietUnknownNames) return undefined;
        const ended = this.endedIn.get(scope)?.has(e.name);
        return this.err('E201', e.span, { name: e.name, hint: ended ? `'${e.name}' is bound in a repeat block and ends with it; bind it before the block to keep its last value` : suggest(e.name, scope.keys()) });
      }
      case 'neg': {
        const x = this.lowerExpr(e.arg, scope);
        return this.folded(x && B.neg(x), e);
      }
      case 'binary': {
        // A long chain (a + b + c + …) is a deep left spine: walked with a loop, not recursion.
        const spine: A.Binary[] = [];
        let lhs: A.Expr = e;
        while (lhs.kind === 'binary') { spine.push(lhs); lhs = lhs.lhs; }
        let acc = this.lowerExpr(lhs, scope);
        for (let i = spine.length - 1; i >= 0; i--) {
          const x = spine[i]!;
          const b = this.lowerExpr(x.rhs, scope);
          acc = acc && b && this.folded(this.leveled(B.bin(BINARY_OPS[x.op], acc, b), x, x.op), x);
        }
        return acc;
      }
      case 'call': return this.lowerCall(e, scope);
    }
  }

  private lowerCall(e: A.Call, scope: Scope): Value {
    const builtin = this.builtins.get(e.callee);
    const def = this.defs.get(e.callee);
    if (!builtin && !def) {
      return this.err('E202', e.calleeSpan, { name: e.callee, hint: suggest(e.callee, [...this.builtins.keys(), ...this.defs.keys()]) });
    }
    let along: Axes | undefined;
    if (e.axes && builtin?.alongSpace) {
      along = this.resolveAxes(e.axes);
      if (!along) return undefined;
    } else if (e.axes && !builtin?.reduction) {
      return this.err('E215', e.calleeSpan, { name: e.callee });
    }
    // A window's kernel (gaussian/box) and a pool's cross(k) are read by the op itself, not lowered as values.
    const shape = (a: A.Expr, i: number) => i === 1 && (e.callee === 'window' || ((e.callee === 'maxpool' || e.callee === 'minpool') && a.kind === 'call' && a.callee === 'cross'));
    const args = e.args.map((a, i) => (shape(a, i) ? B.ZERO : this.lowerExpr(a, scope)));
    if (builtin) {
      if (e.named.length) return this.err('E204', e.named[0]!.span, { name: e.callee, arg: e.named[0]!.name, hint: `'${e.callee}' takes only positional arguments` });
      if (!builtin.arity.includes(e.args.length)) {
        return this.err('E203', e.span, { name: e.callee, expected: arityText(builtin.arity), got: e.args.length });
      }
      if (args.some((a) => !a)) return undefined;
      if (builtin.needs && !args[0]!.axes.includes(builtin.needs)) {
        return this.err('E305', e.span, { name: e.callee, axis: builtin.needs, have: args[0]!.axes.join(', ') || 'none: a scalar' });
      }
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
      this.callScope = scope;
      const v = this.leveled(builtin.lower(args as Node[], axes ?? along, e), e, e.callee);
      return args.every((a) => constOf(a!) !== undefined) ? this.foldedCall(v, e) : v;
    }
    return this.inline(def!, e, args, scope);
  }

  /** Inline a `def` (or a `use`d loss called as a function) at a call site. */
  private inline(def: A.DefDecl | A.LossDecl, call: A.Call, args: Value[], scope: Scope, final = false): Value {
    if (this.stack.includes(def.name)) {
      return this.err('E216', call.calleeSpan, { name: def.name, chain: [...this.stack.slice(this.stack.indexOf(def.name)), def.name].join(' -> ') });
    }
    // Each call inlined is a level of recursion here, as a bracket is in the parser.
    if (this.stack.length >= MAX_CALL_DEPTH) throw new TooDeep(call.calleeSpan, def.name);
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
    // A def called again with the same arguments is the same value: lowered once (a chain of defs that each
    // call the previous one twice is linear, not exponential).
    const key = `${final ? 'F' : 'V'}|${[...local].map(([k, v]) => `${k}=${v?.id ?? '?'}`).join(',')}`;
    let memo = this.inlined.get(def);
    if (!memo) this.inlined.set(def, (memo = new Map()));
    if (memo.has(key)) return memo.get(key);
    this.stack.push(def.name);
    const out = this.lowerBody(def, local, final);
    this.stack.pop();
    memo.set(key, out);
    return out;
  }

  /** A node whose sources are all constants, folded; a located E231 when it folds to a non-finite or out-of-range value. */
  private folded(v: Value, e: A.Expr): Value {
    if (!v || v.op === 'const' || v.op === 'expand' || v.src.some((x) => constOf(x) === undefined)) return v;
    const c = foldConstant(v);
    return c === undefined ? v : this.constant(c, v, e);
  }

  /** A builtin call on constants (cosh(1000), log(0)): its constant, or E231 when float32 cannot hold it. */
  private foldedCall(v: Value, e: A.Expr): Value {
    const c = v && v.op !== 'const' ? foldConstant(v) : undefined;
    return c === undefined || !v ? v : this.constant(c, v, e);
  }

  private constant(c: number, v: Node, e: A.Expr): Value {
    if (!representable(c)) return this.err('E231', e.span, { what: 'this constant expression', value: rangeText(c, true) });
    return B.expand(B.K(c), v.axes);
  }

  lowerBody(body: A.Body, scope: Scope, final = false): Value {
    const local = new Map(scope);
    const bound = new Map<string, { expr: A.Expr; scope: Scope }>();
    for (const b of body.bindings) {
      if (b.kind === 'repeat') {
        // A name a loop rebinds holds the loop's last value: not traced as final.
        for (const name of this.lowerRepeat(b, local)) bound.delete(name);
        continue;
      }
      if (local.has(b.name) && !scope.has(b.name)) this.err('E205', b.nameSpan, { name: b.name });
      // A binding the result uses may hold a final reduction (combo's wce = −mean(…)).
      if (final) bound.set(b.name, { expr: b.value, scope: new Map(local) });
      local.set(b.name, this.lowerExpr(b.value, local));
    }
    if (!final) return this.lowerExpr(body.result, local);
    const tracer = this.final!;
    return tracer.within(bound, () => tracer.lower(body.result, local));
  }

  /**
   * `repeat n { … }` unrolled into `local`: its statements n times in order. In
   * the block a binding may rebind a name (the loop's state, carried from one
   * iteration to the next and out of the block); a name first bound in the block
   * ends with each iteration. The block is lowered once even when it runs zero
   * times or its count is wrong, so its mistakes are reported. Returns the names
   * of `local` it rebinds.
   */
  private lowerRepeat(r: A.Repeat, local: Scope): string[] {
    const n = this.repeatCount(r.count, local);
    const names = boundIn(r.body);
    const rebound = [...names].filter((name) => local.has(name));
    const outer = this.unrolled;
    this.unrolled = outer * Math.max(n ?? 0, 1);
    try {
      for (let i = 0; i < Math.max(n ?? 0, 1); i++) {
        const inner = new Map(local);
        for (const s of r.body) {
          if (s.kind === 'repeat') this.lowerRepeat(s, inner);
          else inner.set(s.name, this.lowerExpr(s.value, inner));
        }
        if (i < (n ?? 0)) for (const name of rebound) local.set(name, inner.get(name));
      }
    } finally { this.unrolled = outer; }
    // A wrong count leaves the loop's state unknown: undefined, so no errors cascade from it.
    if (n === undefined) for (const name of rebound) local.set(name, undefined);
    const ended = [...names].filter((name) => !local.has(name));
    if (ended.length) this.endedIn.set(local, new Set([...(this.endedIn.get(local) ?? []), ...ended]));
    return rebound;
  }

  /**
   * A repeat count: a constant whole number from 0 to MAX_REPEAT, divided by the
   * counts of the blocks around it (E227, E228 otherwise).
   */
  private repeatCount(e: A.Expr, scope: Scope): number | undefined {
    const v = this.lowerExpr(e, scope);
    if (!v) return undefined;
    // Folded, so that `iterations - 1` counts; nothing that depends on an input does.
    const c = inputFree(v) ? foldConstant(v) : undefined;
    if (c === undefined) return this.err('E227', e.span);
    const max = Math.floor(MAX_REPEAT / this.unrolled);
    if (!Number.isInteger(c) || c < 0 || c > max) {
      const hint = c <= max ? '' : this.unrolled > 1 ? `nested repeats multiply: at most ${MAX_REPEAT} iterations in all` : 'each iteration is unrolled into the compiled formula';
      return this.err('E228', e.span, { max, value: String(c), hint });
    }
    return c;
  }

  /** Lower the main module's loss; E232 (and nothing more) when the formula grows past MAX_LOWERED nodes. */
  lowerLoss(): LoweredLoss | undefined {
    try {
      return this.lowerMain();
    } catch (err) {
      if (err instanceof TooDeep) return this.err('E233', err.span, { name: err.def, max: MAX_CALL_DEPTH });
      if (!(err instanceof TooLarge)) throw err;
      return this.err('E232', err.span, { max: MAX_LOWERED });
    }
  }

  // ---- The loss ----

  private lowerMain(): LoweredLoss | undefined {
    const main = this.program.main;
    const losses = main.items.filter((i): i is A.LossDecl => i.kind === 'loss');
    // A loss that failed to parse is missing, not absent.
    if (losses.length === 0 && this.quietUnknownNames) return undefined;
    if (losses.length === 0) return this.err('E212', { file: main.file, line: 1, col: 1, start: 0, end: 0 }, { file: main.file });
    for (const extra of losses.slice(1)) this.err('E218', extra.nameSpan, { name: extra.name });
    const loss = losses[0]!;
    const { scope, inputs, names } = bindInputs(this, loss);
    const preds = inputs.filter((i) => i.role === 'prob' || i.role === 'logits');
    for (const e of this.knobErrors) {
      this.err(KNOB_SET.has(e.name) ? 'E225' : 'E219', loss.nameSpan, { name: e.name, value: e.got, want: e.want });
    }
    if (this.knobs.mask && names.has('mask')) this.err('E205', loss.nameSpan, { name: 'mask' });
    const weights = (this.weights = new KnobWeights(this.knobs, this.opts.dims, (n) => this.levels.of(n)));
    const final = (this.final = new FinalTracer(this, weights));
    toOwnParameter(this.knobs, this.params, loss.params.map((p) => p.name));
    weights.smoothTargets(scope, inputs, this.opts.activation ?? 'none');
    const params = bindParams(this, loss, this.params, scope, names);
    if (this.diagnostics.length) {
      // Still check the body, so one run reports every mistake.
      this.lowerBody(loss, scope);
      return undefined;
    }
    this.stack.push(loss.name);
    const value = this.lowerBody(loss, scope, this.knobs.reduction !== 'mean');
    this.stack.pop();
    if (!value) return undefined;
    if (this.knobs.reduction !== 'mean') {
      const why = final.finals === 0 || final.opaque > 0 ? 'its result is not a mean or sum of the formula (or a sum of losses, each times a constant)'
        : this.knobs.reduction === 'none' && final.finals > 1 ? `it adds ${final.finals} final reductions (one per loss it combines); 'none' needs one`
        : undefined;
      if (why) return this.err('E226', loss.result.span, { name: loss.name, reduction: this.knobs.reduction, why });
    }
    // After a syntax error the result may be cut short: its axes prove nothing.
    if (value.axes.length && !this.quietUnknownNames && this.knobs.reduction !== 'none') {
      return this.err('E302', loss.result.span, { have: value.axes.join(', ') });
    }
    if (this.knobs.classDistances && !weights.usedDistances) {
      return this.err('E225', loss.nameSpan, { name: 'class_distances', want: `used by a loss that calls wasserstein(p, g), which '${loss.name}' does not`, value: JSON.stringify(this.knobs.classDistances) });
    }
    const unused = weights.unused(loss.name, this.knobsSet, this.opts.region, this.usedRegion);
    if (unused) return this.err('E229', loss.nameSpan, unused);
    let out = value;
    const act = this.opts.activation ?? 'none';
    if (act !== 'none') {
      // Logits: every log and power of the activated prediction in log space, through its eps-clips (logspace.ts).
      const r = toLogSpace(simplify([value])[0]!);
      if (r.epsInLog) return this.err('E230', loss.nameSpan, { name: loss.name, activation: act });
      out = r.root;
    }
    if (weights.maskInput) inputs.push(weights.maskInput);
    verify([out], 'lower');
    return { name: loss.name, nameSpan: loss.nameSpan, file: main.file, header: main.header, inputs, params, wrt: preds[0]!, value: out, options: this.opts, knobs: this.knobs };
  }
}

const KNOB_SET: ReadonlySet<string> = new Set(KNOB_NAMES);
/** The axis names a formula may write in `f[...]`. */
const AXIS_NAMES = ['batch', 'class', 'z', 'y', 'x', 'space', 'region'];

const BINARY_OPS = { '+': 'add', '-': 'sub', '*': 'mul', '/': 'div', '^': 'pow', '<': 'lt', '<=': 'le', '>': 'gt', '>=': 'ge', '==': 'eq', '!=': 'ne' } as const satisfies Record<A.BinaryOp, Op>;

/** The names bound in `stmts`, nested repeat blocks included. */
function boundIn(stmts: readonly A.Statement[]): Set<string> {
  return new Set(stmts.flatMap((s) => (s.kind === 'repeat' ? [...boundIn(s.body)] : [s.name])));
}

function arityText(arity: readonly number[]): string {
  const n = arity.join(' or ');
  return `${n} argument${arity.length === 1 && arity[0] === 1 ? '' : 's'}`;
}

