// Prints the AST back as .loss text: expressions with the fewest parentheses the
// grammar needs, modules in canonical layout. parse(printModule(m)) equals m up to spans.

import type { BinaryOp, DefDecl, Expr, Item, LossDecl, Module } from './ast.ts';

// Binding strength, as in grammar/parser.ts: comparison < additive < multiplicative < unary minus < ^ < primary.
const PRIMARY = 6;
const POWER = 5;
const UNARY = 4;
const LEVEL: Record<BinaryOp, number> = {
  '<': 1, '<=': 1, '>': 1, '>=': 1, '==': 1, '!=': 1,
  '+': 2, '-': 2,
  '*': 3, '/': 3,
  '^': POWER,
};

const levelOf = (e: Expr): number => (e.kind === 'binary' ? LEVEL[e.op] : e.kind === 'neg' ? UNARY : PRIMARY);

/** `e` printed so that it parses back in a context that needs at least `min`. */
function at(e: Expr, min: number): string {
  return levelOf(e) >= min ? printExpr(e) : `(${printExpr(e)})`;
}

export function printExpr(e: Expr): string {
  switch (e.kind) {
    case 'num':
      return e.text;
    case 'name':
      return e.name;
    case 'neg':
      return `-${at(e.arg, UNARY)}`;
    case 'call': {
      const axes = e.axes ? `[${e.axes.map((a) => a.name).join(', ')}]` : '';
      const args = [...e.args.map(printExpr), ...e.named.map((a) => `${a.name} = ${printExpr(a.value)}`)];
      return `${e.callee}${axes}(${args.join(', ')})`;
    }
    case 'binary': {
      // `^` is right-associative over a unary exponent (`2^-3`, `a^b^c`); its base must be a primary.
      if (e.op === '^') return `${at(e.lhs, PRIMARY)}^${at(e.rhs, UNARY)}`;
      // The others are left-associative; comparisons do not chain, so neither side may be one.
      const level = LEVEL[e.op];
      return `${at(e.lhs, level === 1 ? 2 : level)} ${e.op} ${at(e.rhs, level + 1)}`;
    }
  }
}

function printBody(head: string, item: DefDecl | LossDecl): string {
  if (item.bindings.length === 0) return `${head} = ${printExpr(item.result)}`;
  const lines = item.bindings.map((b) => `  ${b.name} = ${printExpr(b.value)}`);
  return [head, ...lines, `  = ${printExpr(item.result)}`].join('\n');
}

function printItem(item: Item): string {
  switch (item.kind) {
    case 'use':
      return `use "${item.path.replace(/[\\"]/g, '\\$&')}"`;
    case 'def': {
      const params = item.params.map((p) => (p.value ? `${p.name} = ${printExpr(p.value)}` : p.name));
      return printBody(`def ${item.name}(${params.join(', ')})`, item);
    }
    case 'loss': {
      const inputs = item.inputs.map((i) => `${i.name}: ${i.role}`).join(', ');
      const params = item.params.map((p) => `${p.name} = ${printExpr(p.value)}`).join(', ');
      return printBody(`loss ${item.name}(${inputs}${params ? `; ${params}` : ''})`, item);
    }
  }
}

/** The header comment, then the items with one blank line between; a definition without bindings fits on one line. */
export function printModule(m: Module): string {
  const header = m.header.map((line) => (line ? `# ${line}\n` : '#\n')).join('');
  return header + m.items.map((item) => `${printItem(item)}\n`).join('\n');
}
