// Operator precedence of the .loss language: the one table. Higher binds tighter:
// comparison < additive < multiplicative < unary minus < ^ < primary (a number,
// a name, a call, a bracket). grammar/parser.ts spells these levels as its rule
// chain (expression > additive > multiplicative > unary > power > primary); the
// AST printer (print-ast.ts) reads them here, and tests/lists.test.ts parses every
// pair of operators to check that the grammar binds as this table says.
// The IR printer (passes/print.ts) and the op records' `print.prec` use the same
// numbers (they live in core, below this layer).

import type { BinaryOp } from './ast.ts';

export const PREC = { compare: 1, additive: 2, multiplicative: 3, unary: 4, power: 5, primary: 6 } as const;

/** Each binary operator's level. Comparisons do not chain; `^` is right-associative; the others left. */
export const BINARY_PREC: Readonly<Record<BinaryOp, number>> = {
  '<': PREC.compare, '<=': PREC.compare, '>': PREC.compare, '>=': PREC.compare, '==': PREC.compare, '!=': PREC.compare,
  '+': PREC.additive, '-': PREC.additive,
  '*': PREC.multiplicative, '/': PREC.multiplicative,
  '^': PREC.power,
};
