// A printer of a kernel's statements (core/kernel-ir.ts) to WebAssembly text
// (WAT), for the `wasm` backend (runtime/backends/wasm.ts assembles it with
// wabt). The statements' expressions are JavaScript text (the records' emits
// write them): a small parser (codegen/wat-expr.ts) reads the subset codegen
// writes (names, literals, + - * / %, comparisons, && || !, ?:, a[i],
// Math.f(...)) into a tree, and the tree is printed as WAT.
//
// Scalar form: every value is an f64 (as in the plain-JS loop: JavaScript
// numbers), so index arithmetic, Math.floor and the results agree with the js
// backend; arrays are f32 in linear memory, read with f32.load and promoted.
// Math functions WebAssembly lacks (exp, log, pow) are the module's imports
// (`math.exp`..., the host's Math).
//
// SIMD form (codegen/wat-simd.ts): a map pass's threads, or a reduce pass's
// innermost loop, 4 at a time in f32x4 with the vectorized math of
// codegen/wat-math.ts; whatever it cannot take stays in the scalar form,
// which also runs the tails and the lanes whose conditions part.
//
// The module: `(import "env" "mem" (memory ...))`, a function `$thread` (one
// thread, scalar), and the exported `run(p_a0, ..., p_out, start, end)` taking
// byte offsets of each argument array, of the output, and the thread range
// [start, end).

import type { Stmt } from '../core/kernel-ir.ts';
import { WAT_MATH } from './wat-math.ts';
import { Fn, asBool, asF64, expr, parseExpr } from './wat-expr.ts';
import { vectorLoop, VRegion, region, Unvectorizable } from './wat-simd.ts';

// The expression reader, for the tests.
export { parseExpr } from './wat-expr.ts';

/** Statements as WAT instructions; a result stores `width` f32 values at out[t·width + j] and ends the thread. */
function stmts(f: Fn, body: readonly Stmt[], width: number, out: string[]): void {
  for (const s of body) {
    switch (s.kind) {
      case 'const': case 'let': {
        const v = asF64(expr(f, parseExpr(s.value)));
        out.push(`(local.set ${f.declare(s.name)} ${v})`);
        break;
      }
      case 'assign': {
        const l = f.lookup(s.name);
        const v = asF64(expr(f, parseExpr(s.value)));
        out.push(`(local.set ${l} ${s.add ? `(f64.add (local.get ${l}) ${v})` : v})`);
        break;
      }
      case 'if': {
        const c = asBool(expr(f, parseExpr(s.cond)));
        f.scopes.push(new Map());
        const inner: string[] = [];
        stmts(f, s.body, width, inner);
        f.scopes.pop();
        out.push(`(if ${c} (then ${inner.join(' ')}))`);
        break;
      }
      case 'for': {
        f.scopes.push(new Map());
        const v = f.declare(s.v);
        const inner: string[] = [];
        stmts(f, s.body, width, inner);
        f.scopes.pop();
        out.push(`(local.set ${v} (f64.const 0))`);
        // The innermost loops of reduce passes: f32x4 over 4 iterations at a time, the rest as below (a
        // `scalar` loop of blocks stays scalar: the loop in it is vectorized and folds into f64 per block).
        if (f.simd && !s.scalar) { const vl = vectorLoop(f, s, v, inner); if (vl) out.push(vl); }
        out.push(`(block $fb${v} (loop $fl${v} (br_if $fb${v} (f64.ge (local.get ${v}) (f64.const ${s.count}))) ${inner.join(' ')} (local.set ${v} (f64.add (local.get ${v}) (f64.const 1))) (br $fl${v})))`);
        break;
      }
      case 'return': {
        if (s.values.length !== width) throw new Error(`wasm: a result of ${s.values.length} values in a kernel of width ${width}`);
        s.values.forEach((x, j) => {
          const v = asF64(expr(f, parseExpr(x)));
          out.push(`(f32.store offset=${4 * j} (i32.add (local.get $p_out) (i32.shl (i32.mul (local.get $ti) (i32.const ${width})) (i32.const 2))) (f32.demote_f64 ${v}))`);
        });
        out.push('(br $next)');
        break;
      }
    }
  }
}

const HEAD = [
  '  (import "math" "exp" (func $exp (param f64) (result f64)))',
  '  (import "math" "log" (func $log (param f64) (result f64)))',
  '  (import "math" "pow" (func $pow (param f64 f64) (result f64)))',
];

/**
 * The kernel as a WAT module: `run(p_<arg>..., p_out, start, end)` writes `width` f32 values per
 * thread t in [start, end) at p_out + 4·(t·width + j). `args` are the kernel's array arguments.
 * `simd`: threads (a map pass) or innermost loops (a reduce pass) 4 at a time in f32x4 where the
 * kernel allows, the rest scalar in f64. `shared`: the memory is a shared one (worker threads).
 */
export function printWat(args: readonly string[], body: readonly Stmt[], width: number, simd = true, shared = false): string {
  const arrays = new Map(args.map((a, i) => [a, `$p${i}`]));
  const ps = args.map((_, i) => `(param $p${i} i32)`).join(' ');
  // One thread, scalar (the loops in it vectorized where they can be).
  const f = new Fn(arrays, simd);
  const t = f.declare('t');
  const inner: string[] = [];
  stmts(f, body, width, inner);
  const thread = [
    `  (func $thread ${ps} (param $p_out i32) (param $ti i32) ${f.locals.join(' ')}`,
    `    (local.set ${t} (f64.convert_i32_s (local.get $ti)))`,
    `    (block $next ${inner.join('\n      ')}))`,
  ].join('\n');
  const call = (ti: string) => `(call $thread ${args.map((_, i) => `(local.get $p${i})`).join(' ')} (local.get $p_out) ${ti})`;
  const scalarRun = [
    `  (func (export "run") ${ps} (param $p_out i32) (param $start i32) (param $end i32) (local $ti i32)`,
    '    (local.set $ti (local.get $start))',
    `    (block $done (loop $l (br_if $done (i32.ge_s (local.get $ti) (local.get $end))) ${call('(local.get $ti)')} (local.set $ti (i32.add (local.get $ti) (i32.const 1))) (br $l))))`,
  ].join('\n');
  let run = scalarRun;
  if (simd) {
    // The threads 4 at a time: within each run of threads sharing the outermost coordinate, when there is one.
    const vf = new Fn(arrays, false);
    const outer = body.find((s): s is Stmt & { kind: 'const' } => s.kind === 'const' && s.run !== undefined);
    const tA = vf.local('t_v');
    const rc = outer ? vf.local(outer.name) : undefined;
    const fallback = `${[0, 1, 2, 3].map((k) => call(`(i32.add (local.get $ti) (i32.const ${k}))`)).join(' ')} (br $nextq)`;
    try {
      const { code, hoisted } = region((p) => new VRegion(vf, p, 'thread', fallback, new Set(), width), body.filter((s) => s !== outer), (r) => {
        r.scopes[0]!.set('t', { l: tA, c: 'A' });
        if (outer) r.scopes[0]!.set(outer.name, { l: rc!, c: 'U', inv: true });
      });
      run = [
        `  (func (export "run") ${ps} (param $p_out i32) (param $start i32) (param $end i32) (local $ti i32) (local $re i32) ${vf.locals.join(' ')}`,
        '    (local.set $ti (local.get $start))',
        '    (block $done (loop $runs (br_if $done (i32.ge_s (local.get $ti) (local.get $end)))',
        outer
          ? `      (local.set ${rc} (f64.floor (f64.div (f64.convert_i32_s (local.get $ti)) (f64.const ${outer.run!}))))
      (local.set $re (i32.mul (i32.add (i32.trunc_f64_s (local.get ${rc})) (i32.const 1)) (i32.const ${outer.run!})))
      (if (i32.gt_s (local.get $re) (local.get $end)) (then (local.set $re (local.get $end))))`
          : '      (local.set $re (local.get $end))',
        // What does not change over the run (its outermost coordinate, constants, small values), splatted once.
        `      ${hoisted.join('\n      ')}`,
        '      (block $qd (loop $q (br_if $qd (i32.gt_s (i32.add (local.get $ti) (i32.const 4)) (local.get $re)))',
        `        (local.set ${tA} (f64.convert_i32_s (local.get $ti)))`,
        `        (block $nextq ${code.join('\n          ')})`,
        '        (local.set $ti (i32.add (local.get $ti) (i32.const 4))) (br $q)))',
        `      (block $td (loop $tl (br_if $td (i32.ge_s (local.get $ti) (local.get $re))) ${call('(local.get $ti)')} (local.set $ti (i32.add (local.get $ti) (i32.const 1))) (br $tl)))`,
        '      (br $runs))))',
      ].join('\n');
    } catch (e) {
      if (!(e instanceof Unvectorizable)) throw e;
    }
  }
  // A shared memory (worker threads run ranges of the threads on it) declares its largest size: 4 GiB.
  const mem = `  (import "env" "mem" (memory 1${shared ? ' 65536 shared' : ''}))`;
  return ['(module', mem, ...HEAD, ...(simd ? [WAT_MATH] : []), thread, run, ')'].join('\n');
}
