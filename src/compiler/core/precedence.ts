// Operator precedence of the .loss language: the one table. Higher binds tighter:
// comparison < additive < multiplicative < unary minus < ^ < primary (a number,
// a name, a call, a bracket). grammar/parser.ts spells these levels as its rule
// chain (expression > additive > multiplicative > unary > power > primary), and
// tests/lists.test.ts parses every pair of operators to check that the grammar
// binds as this table says. The AST printer (front/print-ast.ts), the IR printer
// (passes/print.ts) and the op records (an operator's record names its symbol;
// its level is read here) all read it.

export const PREC = { compare: 1, additive: 2, multiplicative: 3, unary: 4, power: 5, primary: 6 } as const;

/** Each binary operator's level. Comparisons do not chain; `^` is right-associative; the others left. */
export const BINARY_PREC = {
  '<': PREC.compare, '<=': PREC.compare, '>': PREC.compare, '>=': PREC.compare, '==': PREC.compare, '!=': PREC.compare,
  '+': PREC.additive, '-': PREC.additive,
  '*': PREC.multiplicative, '/': PREC.multiplicative,
  '^': PREC.power,
} as const;

/** The binary operators of the language (front/ast.ts's BinaryOp). */
export type BinaryOperator = keyof typeof BINARY_PREC;

/** Each prefix operator's level: unary minus. */
export const PREFIX_PREC = { '-': PREC.unary } as const;

export type PrefixOperator = keyof typeof PREFIX_PREC;
