// The .loss grammar as a pure chevrotain CST parser: no actions, one instance.
// Precedence is the order of the expression rules, loosest first; labels name
// the parts the AST visitor (src/compiler/front/parse.ts) reads. EBNF: grammar/README.md.

import { CstParser, tokenLabel, type IParserErrorMessageProvider, type TokenType } from './chevrotain.ts';
import {
  AddOp, allTokens, BindingName, Caret, Colon, Comma, CompareOp, Def, Equals, Identifier, LBrace, LBracket, Loss, LParen,
  Minus, MulOp, NumberLit, RBrace, RBracket, Repeat, RParen, Semicolon, StringLit, Use,
} from './lexer.ts';

/** The labels of `tokens`, without repeats, as `a, b or c`. */
function expectedList(tokens: readonly TokenType[]): string {
  const labels = [...new Set(tokens.map(tokenLabel))];
  return labels.length <= 1 ? (labels[0] ?? 'nothing') : `${labels.slice(0, -1).join(', ')} or ${labels.at(-1)}`;
}

// Each message is only the "expected ..." phrase; parse.ts wraps it in a numbered diagnostic.
const expectedOnly: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected }) => tokenLabel(expected),
  buildNotAllInputParsedMessage: () => "'loss', 'def' or 'use'",
  buildNoViableAltMessage: ({ expectedPathsPerAlt }) => expectedList(expectedPathsPerAlt.flat().map((path) => path[0]!)),
  buildEarlyExitMessage: ({ expectedIterationPaths }) => expectedList(expectedIterationPaths.map((path) => path[0]!)),
};

export class LossParser extends CstParser {
  constructor() {
    super(allTokens, { recoveryEnabled: true, nodeLocationTracking: 'full', errorMessageProvider: expectedOnly });
    this.performSelfAnalysis();
  }

  module = this.RULE('module', () => {
    this.MANY(() => this.OR([
      { ALT: () => this.SUBRULE(this.useItem, { LABEL: 'items' }) },
      { ALT: () => this.SUBRULE(this.defItem, { LABEL: 'items' }) },
      { ALT: () => this.SUBRULE(this.lossItem, { LABEL: 'items' }) },
    ]));
  });

  useItem = this.RULE('useItem', () => {
    this.CONSUME(Use);
    this.CONSUME(StringLit, { LABEL: 'path' });
  });

  // def name(a, b = 1) bindings = expr
  defItem = this.RULE('defItem', () => {
    this.CONSUME(Def);
    this.CONSUME(Identifier, { LABEL: 'name' });
    this.CONSUME(LParen);
    this.MANY_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.defParam, { LABEL: 'params' }) });
    this.CONSUME(RParen);
    this.SUBRULE(this.body);
  });

  defParam = this.RULE('defParam', () => {
    this.CONSUME(Identifier, { LABEL: 'name' });
    this.OPTION(() => {
      this.CONSUME(Equals);
      this.SUBRULE(this.expression, { LABEL: 'value' });
    });
  });

  // loss name(p: prob, g: target; alpha = 0.5) bindings = expr
  lossItem = this.RULE('lossItem', () => {
    this.CONSUME(Loss);
    this.CONSUME(Identifier, { LABEL: 'name' });
    this.CONSUME(LParen);
    this.MANY_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.inputDecl, { LABEL: 'inputs' }) });
    this.OPTION(() => {
      this.CONSUME(Semicolon);
      this.MANY_SEP2({ SEP: Comma, DEF: () => this.SUBRULE(this.param, { LABEL: 'params' }) });
    });
    this.CONSUME(RParen);
    this.SUBRULE(this.body);
  });

  inputDecl = this.RULE('inputDecl', () => {
    this.CONSUME(Identifier, { LABEL: 'name' });
    this.CONSUME(Colon);
    this.CONSUME2(Identifier, { LABEL: 'role' });
  });

  param = this.RULE('param', () => {
    this.CONSUME(Identifier, { LABEL: 'name' });
    this.CONSUME(Equals);
    this.SUBRULE(this.expression, { LABEL: 'value' });
  });

  // Newlines are whitespace: a binding is told from the result by its leading name.
  body = this.RULE('body', () => {
    this.MANY(() => this.SUBRULE(this.statement, { LABEL: 'bindings' }));
    this.CONSUME(Equals);
    this.SUBRULE(this.expression, { LABEL: 'result' });
  });

  statement = this.RULE('statement', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.binding) },
      { ALT: () => this.SUBRULE(this.repeatBlock) },
    ]);
  });

  // repeat n { statements }: a fixed-count loop, unrolled when lowered; blocks nest.
  repeatBlock = this.RULE('repeatBlock', () => {
    this.CONSUME(Repeat);
    this.SUBRULE(this.expression, { LABEL: 'count' });
    this.CONSUME(LBrace);
    this.MANY(() => this.SUBRULE(this.statement, { LABEL: 'body' }));
    this.CONSUME(RBrace);
  });

  binding = this.RULE('binding', () => {
    this.CONSUME(BindingName, { LABEL: 'name' });
    this.CONSUME(Equals);
    this.SUBRULE(this.expression, { LABEL: 'value' });
  });

  // The binary levels, loosest first, as src/compiler/core/precedence.ts tables them (tests/lists.test.ts checks
  // the two agree). Comparisons do not chain: `a < b < c` is an error, not `(a < b) < c`.
  expression = this.RULE('expression', () => {
    this.SUBRULE(this.additive, { LABEL: 'lhs' });
    this.OPTION(() => {
      this.CONSUME(CompareOp, { LABEL: 'op' });
      this.SUBRULE2(this.additive, { LABEL: 'rhs' });
    });
  });

  additive = this.RULE('additive', () => {
    this.SUBRULE(this.multiplicative, { LABEL: 'lhs' });
    this.MANY(() => {
      this.CONSUME(AddOp, { LABEL: 'op' });
      this.SUBRULE2(this.multiplicative, { LABEL: 'rhs' });
    });
  });

  multiplicative = this.RULE('multiplicative', () => {
    this.SUBRULE(this.unary, { LABEL: 'lhs' });
    this.MANY(() => {
      this.CONSUME(MulOp, { LABEL: 'op' });
      this.SUBRULE2(this.unary, { LABEL: 'rhs' });
    });
  });

  // Minus binds looser than `^`: `-x^2` is `-(x^2)`.
  unary = this.RULE('unary', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.power, { LABEL: 'arg' }) },
      {
        ALT: () => {
          this.CONSUME(Minus, { LABEL: 'minus' });
          this.SUBRULE(this.unary, { LABEL: 'arg' });
        },
      },
    ]);
  });

  // Right-associative, and the exponent may be negated: `2^-3`, `a^b^c` = `a^(b^c)`.
  power = this.RULE('power', () => {
    this.SUBRULE(this.primary, { LABEL: 'base' });
    this.OPTION(() => {
      this.CONSUME(Caret);
      this.SUBRULE(this.unary, { LABEL: 'exponent' });
    });
  });

  primary = this.RULE('primary', () => {
    this.OR([
      { ALT: () => this.CONSUME(NumberLit, { LABEL: 'number' }) },
      { ALT: () => this.SUBRULE(this.nameOrCall) },
      { ALT: () => this.SUBRULE(this.parenthesized) },
    ]);
  });

  parenthesized = this.RULE('parenthesized', () => {
    this.CONSUME(LParen);
    this.SUBRULE(this.expression, { LABEL: 'inner' });
    this.CONSUME(RParen);
  });

  // `x`, `f(a, k = 1)` or `sum[batch, space](e)`; `[axes]` needs the call after it.
  nameOrCall = this.RULE('nameOrCall', () => {
    this.CONSUME(Identifier, { LABEL: 'name' });
    this.OPTION(() => {
      this.OPTION2(() => {
        this.CONSUME(LBracket);
        this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.CONSUME2(Identifier, { LABEL: 'axes' }) });
        this.CONSUME(RBracket);
      });
      this.CONSUME(LParen);
      this.MANY_SEP2({ SEP: Comma, DEF: () => this.SUBRULE(this.argument, { LABEL: 'args' }) });
      this.CONSUME(RParen);
    });
  });

  // Named arguments (`k = 1`) need two tokens of lookahead; parse.ts checks they come last.
  argument = this.RULE('argument', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(Identifier, { LABEL: 'name' });
          this.CONSUME(Equals);
          this.SUBRULE(this.expression, { LABEL: 'value' });
        },
      },
      { ALT: () => this.SUBRULE2(this.expression, { LABEL: 'value' }) },
    ]);
  });
}

/** The one parser instance; set `.input` and call `.module()`. */
export const parser = new LossParser();
