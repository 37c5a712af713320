// The .loss grammar: parser, AST printer, parse diagnostics.
// Oracles: hand-written ASTs (as s-expressions) and printed forms; print→parse
// round trips of random ASTs; hand-placed errors with their line and column.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BinaryOp, DefDecl, Expr, LossDecl, Module, Span, Statement } from '../src/compiler/front/ast.ts';
import { parse } from '../src/compiler/front/parse.ts';
import { printExpr, printModule } from '../src/compiler/front/print-ast.ts';

/** The result expression of `loss t(p: prob) = <src>`, which must parse cleanly. */
function expr(src: string): Expr {
  const { module, diagnostics } = parse(`loss t(p: prob) = ${src}`, 't.loss');
  expect(diagnostics).toEqual([]);
  return (module.items[0] as LossDecl).result;
}

/** An independent view of the tree: `(op lhs rhs)`, `(neg x)`, `(f[axes] args k=v)`. */
function sexp(e: Expr): string {
  switch (e.kind) {
    case 'num': return e.text;
    case 'name': return e.name;
    case 'neg': return `(neg ${sexp(e.arg)})`;
    case 'binary': return `(${e.op} ${sexp(e.lhs)} ${sexp(e.rhs)})`;
    case 'call': {
      const axes = e.axes ? `[${e.axes.map((a) => a.name).join(',')}]` : '';
      const args = [...e.args.map(sexp), ...e.named.map((a) => `${a.name}=${sexp(a.value)}`)];
      return `(${e.callee}${axes}${args.map((a) => ` ${a}`).join('')})`;
    }
  }
}

const SPAN_KEYS = new Set(['span', 'calleeSpan', 'nameSpan', 'roleSpan', 'source']);
const stripSpans = <T>(x: T): unknown => JSON.parse(JSON.stringify(x, (k, v: unknown) => (SPAN_KEYS.has(k) ? undefined : v)));

describe('expression precedence and associativity', () => {
  // Oracle: the tree each line must give, written by hand.
  const cases: [string, string][] = [
    ['-x^2', '(neg (^ x 2))'],
    ['2^-3', '(^ 2 (neg 3))'],
    ['a-b-c', '(- (- a b) c)'],
    ['a/b/c', '(/ (/ a b) c)'],
    ['a^b^c', '(^ a (^ b c))'],
    ['(a^b)^c', '(^ (^ a b) c)'],
    ['(-x)^2', '(^ (neg x) 2)'],
    ['--x', '(neg (neg x))'],
    ['a*b+c*d', '(+ (* a b) (* c d))'],
    ['a - -b * c', '(- a (* (neg b) c))'],
    ['a < b + 1', '(< a (+ b 1))'],
    ['a == b', '(== a b)'],
    ['x != 0.5 * y', '(!= x (* 0.5 y))'],
    ['sum[batch, space](p*g)', '(sum[batch,space] (* p g))'],
    ['mean(p)', '(mean p)'],
    ['clip(v, 0, 1)', '(clip v 0 1)'],
    ['f(a, b, k = 1, eps = 1e-5)', '(f a b k=1 eps=1e-5)'],
    ['f()', '(f)'],
    ['.5 + 2. + 1e-5 + 3E+2', '(+ (+ (+ .5 2.) 1e-5) 3E+2)'],
    ['lossy + user + define', '(+ (+ lossy user) define)'],
  ];
  it.each(cases)('%s parses as %s', (src, tree) => {
    expect(sexp(expr(src))).toBe(tree);
  });

  it('keeps number text and value', () => {
    expect(expr('1e-5')).toMatchObject({ kind: 'num', text: '1e-5', value: 1e-5 });
    expect(expr('.5')).toMatchObject({ kind: 'num', text: '.5', value: 0.5 });
  });

  it('gives a call its axes, or undefined when none are written', () => {
    const call = expr('sum[batch, space](p)');
    expect(call.kind === 'call' && call.axes?.map((a) => a.name)).toEqual(['batch', 'space']);
    const bare = expr('sum(p)');
    expect(bare.kind === 'call' && bare.axes).toBeUndefined();
  });

  it('spans a binary from its lhs through its rhs, parentheses included', () => {
    // t.loss is `loss t(p: prob) = ` (18 characters) then the expression.
    const e = expr('(a + b) * c');
    expect(e.span).toMatchObject({ line: 1, col: 19, start: 18, end: 29 });
    expect(e.kind === 'binary' && e.lhs.span).toMatchObject({ col: 20, start: 19, end: 24 });
  });
});

// Hand-built trees, for the printer's parentheses.
const at: Span = { file: '', line: 0, col: 0, start: 0, end: 0 };
const n = (name: string): Expr => ({ kind: 'name', name, span: at });
const num = (text: string): Expr => ({ kind: 'num', text, value: Number(text), span: at });
const neg = (arg: Expr): Expr => ({ kind: 'neg', arg, span: at });
const bin = (op: BinaryOp, lhs: Expr, rhs: Expr): Expr => ({ kind: 'binary', op, lhs, rhs, span: at });

describe('printExpr', () => {
  const cases: [string, Expr][] = [
    ['a - (b - c)', bin('-', n('a'), bin('-', n('b'), n('c')))],
    ['a - b - c', bin('-', bin('-', n('a'), n('b')), n('c'))],
    ['(-x)^2', bin('^', neg(n('x')), num('2'))],
    ['-x^2', neg(bin('^', n('x'), num('2')))],
    ['2^-3', bin('^', num('2'), neg(num('3')))],
    ['(a^b)^c', bin('^', bin('^', n('a'), n('b')), n('c'))],
    ['a^b^c', bin('^', n('a'), bin('^', n('b'), n('c')))],
    ['(a + b) * c', bin('*', bin('+', n('a'), n('b')), n('c'))],
    ['(a < b) < c', bin('<', bin('<', n('a'), n('b')), n('c'))],
    ['a == (b < c)', bin('==', n('a'), bin('<', n('b'), n('c')))],
    ['(a * b)^(c + d)', bin('^', bin('*', n('a'), n('b')), bin('+', n('c'), n('d')))],
    ['--x', neg(neg(n('x')))],
  ];
  it.each(cases)('prints %s', (text, e) => {
    expect(printExpr(e)).toBe(text);
    expect(stripSpans(expr(text))).toEqual(stripSpans(e));
  });
});

describe('print → parse round trip of random expressions and bodies', () => {
  const OPS: BinaryOp[] = ['+', '-', '*', '/', '^', '<', '<=', '>', '>=', '==', '!='];
  const KEYWORDS = new Set(['loss', 'def', 'use', 'repeat']);
  const name = fc.oneof(
    fc.constantFrom('p', 'g', 'tp', 'alpha', 'lossy', 'user', 'define', '_x1'),
    fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,4}$/).filter((s) => !KEYWORDS.has(s)),
  );
  const number = fc.oneof(fc.constantFrom('0', '1', '0.5', '1e-5', '.5', '2.', '3E+2'), fc.nat(1000).map(String));
  const leaf = fc.oneof(number.map(num), name.map(n));
  const { tree } = fc.letrec<{ tree: Expr }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small', maxDepth: 5 },
      leaf,
      tie('tree').map(neg),
      fc.tuple(fc.constantFrom(...OPS), tie('tree'), tie('tree')).map(([op, l, r]) => bin(op, l, r)),
      fc.record({
        callee: name,
        axes: fc.option(fc.array(name, { minLength: 1, maxLength: 3 }), { nil: undefined }),
        args: fc.array(tie('tree'), { maxLength: 3 }),
        named: fc.array(fc.tuple(name, tie('tree')), { maxLength: 2 }),
      }).map(({ callee, axes, args, named }): Expr => ({
        kind: 'call', callee, calleeSpan: at, args, span: at,
        axes: axes?.map((a) => ({ name: a, span: at })),
        named: named.map(([k, value]) => ({ name: k, value, span: at })),
      })),
    ),
  }));

  it('parse(printExpr(e)) equals e up to spans', () => {
    fc.assert(fc.property(tree, (e) => {
      expect(stripSpans(expr(printExpr(e)))).toEqual(stripSpans(e));
    }), { numRuns: 400 });
  });

  // Bodies: bindings and repeat blocks, nested, empty ones included.
  const { statements } = fc.letrec<{ statement: Statement; statements: Statement[] }>((tie) => ({
    statement: fc.oneof(
      { depthSize: 'small', maxDepth: 3 },
      fc.tuple(name, tree).map(([k, value]): Statement => ({ kind: 'bind', name: k, nameSpan: at, value, span: at })),
      fc.tuple(tree, tie('statements')).map(([count, body]): Statement => ({ kind: 'repeat', count, body, span: at })),
    ),
    statements: fc.array(tie('statement'), { maxLength: 3 }),
  }));

  it('printModule of a def with random statements parses back to it, and prints again the same', () => {
    fc.assert(fc.property(statements, tree, (bindings, result) => {
      const def: DefDecl = { kind: 'def', name: 'f', nameSpan: at, params: [], bindings, result, span: at };
      const m: Module = { file: 'a.loss', source: '', header: [], items: [def] };
      const printed = printModule(m);
      const back = parse(printed, 'a.loss');
      expect(back.diagnostics).toEqual([]);
      expect(stripSpans(back.module.items)).toEqual(stripSpans(m.items));
      expect(printModule(back.module)).toBe(printed);
    }), { numRuns: 300 });
  });
});

const TVERSKY = `# Tversky loss. Salehi et al. 2017, arXiv:1706.05721
# alpha weighs false positives, beta false negatives.
loss tversky(p: prob, g: target; alpha = 0.5, beta = 0.5, smooth = 1e-5)
  tp = sum[region](p * g)
  fp = sum[region](p * (1 - g))
  fn = sum[region]((1 - p) * g)
  = mean(1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth))
`;

const MIXED = `# A header
#
#   indented line
use "other.loss"
use "odd \\"name\\".loss"
def clamp01(v) = clip(v, 0, 1)
def ti(p, g, alpha = 0.5, beta = -1, smooth = 1e-5)
  tp = sum[region](p * g)
  = (tp + smooth) / (tp + alpha * sum[region](p * (1 - g)) + beta * sum[region]((1 - p) * g) + smooth)
loss focal(x: logits, g: target, w: weight)   # comments after code are dropped
  q = where(g > 0.5, sigmoid(x), 1 - sigmoid(x))
  = mean[batch](-w * (1 - q)^2 * log(q), keep = 1)
`;

// Canonical form: a block's statements two spaces further in, comments inside it kept inside.
const SKEL = `def soft_skel(x, iterations = 3)
  s = relu(x - maxpool(minpool(x, 3), 3))
  repeat iterations {  # the loop
    x = minpool(x, 3)
    # an erosion, then its opening
    d = relu(x - maxpool(minpool(x, 3), 3))
    repeat 2 {
      s = s + relu(d - s * d)
    }
    # last in the block
  }
  = s
`;

describe('modules', () => {
  it('parses the DESIGN.md Tversky loss', () => {
    const { module, diagnostics } = parse(TVERSKY, 'tversky.loss');
    expect(diagnostics).toEqual([]);
    expect(module.header).toEqual(['Tversky loss. Salehi et al. 2017, arXiv:1706.05721', 'alpha weighs false positives, beta false negatives.']);
    const loss = module.items[0] as LossDecl;
    expect(loss).toMatchObject({ kind: 'loss', name: 'tversky', nameSpan: { line: 3, col: 6 } });
    expect(loss.inputs.map((i) => `${i.name}: ${i.role}`)).toEqual(['p: prob', 'g: target']);
    expect(loss.params.map((p) => `${p.name} = ${printExpr(p.value)}`)).toEqual(['alpha = 0.5', 'beta = 0.5', 'smooth = 1e-5']);
    expect(loss.bindings.map((b) => (b.kind === 'bind' ? `${b.name} = ${sexp(b.value)}` : 'repeat'))).toEqual([
      'tp = (sum[region] (* p g))',
      'fp = (sum[region] (* p (- 1 g)))',
      'fn = (sum[region] (* (- 1 p) g))',
    ]);
    expect(loss.bindings[1]!.span).toMatchObject({ line: 5, col: 3 });
    expect(sexp(loss.result)).toBe('(mean (- 1 (/ (+ tp smooth) (+ (+ (+ tp (* alpha fp)) (* beta fn)) smooth))))');
  });

  it('prints the Tversky loss in canonical form, which is its source', () => {
    expect(printModule(parse(TVERSKY, 't').module)).toBe(TVERSKY);
  });

  it.each([
    ['tversky', TVERSKY],
    ['mixed items', MIXED],
    ['one line', 'loss f(p: prob; k = 2) a = 1 b = a = p * b'],
    ['empty', ''],
    ['header only', '# just a title\n'],
    ['no params after ;', 'loss f(p: prob; ) = p'],
    ['repeat blocks', SKEL],
    ['empty block, one line', 'loss f(p: prob; n = 2) s = p repeat n - 1 {} repeat 0 { } = s'],
  ])('printModule round trip: %s', (_, src) => {
    const first = parse(src, 'a.loss');
    expect(first.diagnostics).toEqual([]);
    const printed = printModule(first.module);
    const second = parse(printed, 'a.loss');
    expect(second.diagnostics).toEqual([]);
    expect(stripSpans(second.module)).toEqual(stripSpans(first.module));
    expect(printModule(second.module)).toBe(printed);
  });

  it('parses a repeat block: its count, then its statements in order, nested blocks as statements', () => {
    const { module, diagnostics } = parse(SKEL, 'skel.loss');
    expect(diagnostics).toEqual([]);
    const show = (st: Statement): string => (st.kind === 'bind' ? `${st.name} = ${sexp(st.value)}` : `repeat ${sexp(st.count)} { ${st.body.map(show).join('; ')} }`);
    const def = module.items[0] as DefDecl;
    expect(def.bindings.map(show)).toEqual([
      's = (relu (- x (maxpool (minpool x 3) 3)))',
      'repeat iterations { x = (minpool x 3); d = (relu (- x (maxpool (minpool x 3) 3))); repeat 2 { s = (+ s (relu (- d (* s d)))) } }',
    ]);
    // From `repeat` through `}`.
    expect(def.bindings[1]!.span).toMatchObject({ line: 3, col: 3, start: SKEL.indexOf('repeat'), end: SKEL.lastIndexOf('}') + 1 });
  });

  it('prints repeat blocks in canonical form, comments inside them kept, which is their source', () => {
    expect(printModule(parse(SKEL, 'skel.loss').module)).toBe(SKEL);
    const ugly = 'def f(x)\nrepeat 2{x=x*2   # double\n# more\n}\n= x';
    expect(printModule(parse(ugly, 'f.loss').module)).toBe('def f(x)\n  repeat 2 {\n    x = x * 2  # double\n    # more\n  }\n  = x\n');
  });

  it('reads names that start with a keyword as names', () => {
    const { module, diagnostics } = parse('def lossy(user) define = user = define', 'k.loss');
    expect(diagnostics).toEqual([]);
    expect(module.items[0]).toMatchObject({ kind: 'def', name: 'lossy', params: [{ name: 'user' }], bindings: [{ name: 'define' }] });
  });
});

describe('parse diagnostics', () => {
  // Oracle: where a person would put the caret.
  const cases: [string, string, string, number, number][] = [
    ['E101 unexpected character', 'loss f(p: prob)\n  = p + $1', 'E101', 2, 9],
    ['E102 missing token, at the end of the last token', 'loss f(p: prob)\n  = mean(p * 2', 'E102', 2, 15],
    ['E103 no viable alternative', 'loss f(p: prob)\n  a = 1\n  = * p', 'E103', 3, 5],
    ['E103 stray token between items', 'def f(x) = x )\ndef g(x) = x', 'E103', 1, 14],
    ['E103 positional after named', 'def f(x) = g(k = 1, x)', 'E103', 1, 21],
    ['E103 chained comparison', 'def f(x) = 0 < x < 1', 'E103', 1, 18],
    ['E104 unterminated string', 'use "other.loss\ndef f(x) = x', 'E104', 1, 5],
    ['E102 a block not closed', 'loss f(p: prob)\n  repeat 3 { a = p\n  = a', 'E102', 3, 3],
    ['E102 a block not opened', 'loss f(p: prob)\n  repeat 3\n    a = p\n  }\n  = p', 'E102', 3, 5],
    ['E103 repeat without a count', 'loss f(p: prob)\n  repeat { a = p }\n  = p', 'E103', 2, 10],
    ['E103 inside a block', 'loss f(p: prob)\n  repeat 3 {\n    a = * p\n  }\n  = p', 'E103', 3, 9],
  ];
  it.each(cases)('%s', (_, src, code, line, col) => {
    const { diagnostics } = parse(src, 'e.loss');
    expect(diagnostics.map((d) => [d.code, d.span?.line, d.span?.col])).toEqual([[code, line, col]]);
    expect(diagnostics[0]!.span?.file).toBe('e.loss');
  });

  it('says what it expected and what it found, and where a bracket was opened', () => {
    const [d] = parse('loss f(p: prob)\n  = mean(p * 2', 'e.loss').diagnostics;
    expect(d).toMatchObject({ message: "expected ')' but found end of file", hint: "a '(' opened at line 2 col 9 is never closed" });
    const [e] = parse('loss f(p: prob)\n  = * p', 'e.loss').diagnostics;
    expect(e!.message).toBe("unexpected '*' here; expected a number, a name, '(' or '-'");
  });

  it('reports two separate syntax errors, and keeps the items that parsed', () => {
    const src = `loss tversky(p: prob, g: target)
  tp = sum[region](p * g
  fp = sum[region](p * (1 - g))
  fn = sum[region]((1 - p) * g)
  x = tp + * fp
  = mean(tp / (tp + fp + fn))
def ok(v) = clip(v, 0, 1)
`;
    const { module, diagnostics } = parse(src, 'e.loss');
    expect(diagnostics.map((d) => [d.code, d.span?.line, d.span?.col])).toEqual([['E102', 3, 3], ['E103', 5, 12]]);
    expect(module.items.map((i) => i.kind)).toContain('def');
  });

  it('says where an unclosed block was opened', () => {
    const [d] = parse('loss f(p: prob)\n  repeat 3 { a = p\n  = a', 'e.loss').diagnostics;
    expect(d).toMatchObject({ message: "expected '}' but found '='", hint: "a '{' opened at line 2 col 12 is never closed" });
  });

  it('recovers inside a block: reports an error there and one after the block, keeps the next item', () => {
    const src = `loss f(p: prob)
  s = p
  repeat 3 {
    d = (s + 1
    s = s * d
  }
  t = s * * 2
  = mean(t)
def ok(v) = clip(v, 0, 1)
`;
    const { module, diagnostics } = parse(src, 'e.loss');
    expect(diagnostics.map((d) => [d.code, d.span?.line, d.span?.col])).toEqual([['E102', 5, 5], ['E103', 7, 11]]);
    expect(module.items.map((i) => (i.kind === 'use' ? i.path : i.name))).toContain('ok');
  });

  it('keeps later items after a broken one', () => {
    const { module, diagnostics } = parse('def a(x) = (x +\ndef b(x) = x\nuse "c.loss"', 'e.loss');
    expect(diagnostics).toHaveLength(1);
    expect(module.items.map((i) => (i.kind === 'use' ? i.path : i.name))).toEqual(expect.arrayContaining(['b', 'c.loss']));
  });

  it('never throws, and locates every diagnostic, on random input', () => {
    const pieces = ['loss', 'def', 'use', 'f', 'p', ':', 'prob', ';', ',', '(', ')', '[', ']', '=', '==', '<', '-', '^', '*', '1', '.5', '"s"', '"', '\n', '# c\n', '@'];
    const text = fc.oneof(fc.string({ maxLength: 60 }), fc.array(fc.constantFrom(...pieces), { maxLength: 40 }).map((ps) => ps.join(' ')));
    fc.assert(fc.property(text, (src) => {
      const { module, diagnostics } = parse(src, 'r.loss');
      expect(module.file).toBe('r.loss');
      for (const d of diagnostics) {
        expect(d.span!.line).toBeGreaterThanOrEqual(1);
        expect(d.span!.col).toBeGreaterThanOrEqual(1);
        expect(d.span!.start).toBeLessThanOrEqual(src.length);
      }
    }), { numRuns: 1000 });
  });
});
