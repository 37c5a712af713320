// The tokens of the .loss language and its chevrotain Lexer.
// Newlines are plain whitespace; `#` comments go to their own group so the
// parser never sees them and parse.ts can read the file's header from them.

import { createToken, Lexer, type IToken, type TokenType } from './chevrotain.ts';

export const Whitespace = createToken({ name: 'Whitespace', pattern: /[ \t\r\n]+/, group: Lexer.SKIPPED, line_breaks: true });
export const Comment = createToken({ name: 'Comment', pattern: /#[^\r\n]*/, group: 'comments' });

// Keywords come before Identifier and fall back to it, so `lossy` and `user` are names.
export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/, label: 'a name' });
// Not lexed: markBindingNames() gives this type to the name that starts a binding.
export const BindingName = createToken({ name: 'BindingName', pattern: Lexer.NA, categories: [Identifier], label: 'a name' });
export const Loss = createToken({ name: 'Loss', pattern: /loss/, longer_alt: Identifier, label: "'loss'" });
export const Def = createToken({ name: 'Def', pattern: /def/, longer_alt: Identifier, label: "'def'" });
export const Use = createToken({ name: 'Use', pattern: /use/, longer_alt: Identifier, label: "'use'" });
export const Repeat = createToken({ name: 'Repeat', pattern: /repeat/, longer_alt: Identifier, label: "'repeat'" });

// `1`, `0.5`, `1e-5`, `.5`, `2.`
export const NumberLit = createToken({ name: 'NumberLit', pattern: /(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/, label: 'a number' });
export const StringLit = createToken({ name: 'StringLit', pattern: /"(?:[^"\\\r\n]|\\.)*"/, label: 'a string' });
// A string cut off by the end of its line still parses as a string (so the
// parser goes on undisturbed); parse.ts reports it once, as E104.
export const UnterminatedString = createToken({
  name: 'UnterminatedString', pattern: /"(?:[^"\\\r\n]|\\.)*\\?/, categories: [StringLit], label: 'a string',
});

// Operator categories keep `a - b + c` in source order in the CST (ctx.op).
export const AddOp = createToken({ name: 'AddOp', pattern: Lexer.NA, label: "'+' or '-'" });
export const MulOp = createToken({ name: 'MulOp', pattern: Lexer.NA, label: "'*' or '/'" });
export const CompareOp = createToken({ name: 'CompareOp', pattern: Lexer.NA, label: 'a comparison' });

export const Plus = createToken({ name: 'Plus', pattern: '+', categories: [AddOp], label: "'+'" });
export const Minus = createToken({ name: 'Minus', pattern: '-', categories: [AddOp], label: "'-'" });
export const Star = createToken({ name: 'Star', pattern: '*', categories: [MulOp], label: "'*'" });
export const Slash = createToken({ name: 'Slash', pattern: '/', categories: [MulOp], label: "'/'" });
export const Caret = createToken({ name: 'Caret', pattern: '^', label: "'^'" });
// Two-character comparisons come before `<`, `>` and `=` so they win.
export const LessEq = createToken({ name: 'LessEq', pattern: '<=', categories: [CompareOp], label: "'<='" });
export const GreaterEq = createToken({ name: 'GreaterEq', pattern: '>=', categories: [CompareOp], label: "'>='" });
export const EqEq = createToken({ name: 'EqEq', pattern: '==', categories: [CompareOp], label: "'=='" });
export const NotEq = createToken({ name: 'NotEq', pattern: '!=', categories: [CompareOp], label: "'!='" });
export const Less = createToken({ name: 'Less', pattern: '<', categories: [CompareOp], label: "'<'" });
export const Greater = createToken({ name: 'Greater', pattern: '>', categories: [CompareOp], label: "'>'" });
export const Equals = createToken({ name: 'Equals', pattern: '=', label: "'='" });

export const LParen = createToken({ name: 'LParen', pattern: '(', label: "'('" });
export const RParen = createToken({ name: 'RParen', pattern: ')', label: "')'" });
export const LBracket = createToken({ name: 'LBracket', pattern: '[', label: "'['" });
export const RBracket = createToken({ name: 'RBracket', pattern: ']', label: "']'" });
export const LBrace = createToken({ name: 'LBrace', pattern: '{', label: "'{'" });
export const RBrace = createToken({ name: 'RBrace', pattern: '}', label: "'}'" });
export const Comma = createToken({ name: 'Comma', pattern: ',', label: "','" });
export const Colon = createToken({ name: 'Colon', pattern: ':', label: "':'" });
export const Semicolon = createToken({ name: 'Semicolon', pattern: ';', label: "';'" });

/** In match order: the lexer tries them first to last. */
export const allTokens: TokenType[] = [
  Whitespace, Comment,
  Loss, Def, Use, Repeat, Identifier, BindingName,
  NumberLit, StringLit, UnterminatedString,
  AddOp, MulOp, CompareOp,
  Plus, Minus, Star, Slash, Caret,
  LessEq, GreaterEq, EqEq, NotEq, Less, Greater, Equals,
  LParen, RParen, LBracket, RBracket, LBrace, RBrace, Comma, Colon, Semicolon,
];

export const lossLexer = new Lexer(allTokens, { ensureOptimizations: true });

/**
 * Retypes `name =` as a BindingName where it can only be a binding: outside any
 * brackets, or first on its line (a named argument there still parses, since a
 * BindingName is also an Identifier). The grammar is unchanged, but chevrotain's
 * error recovery then resyncs at the next statement instead of at any name.
 */
export function markBindingNames(tokens: IToken[]): IToken[] {
  let depth = 0;
  let line = 0;
  tokens.forEach((t, i) => {
    const type = t.tokenType;
    // Items and blocks never sit inside brackets: one of them closes any left open.
    if (type === Loss || type === Def || type === Use || type === Repeat || type === LBrace || type === RBrace) depth = 0;
    else if (type === LParen || type === LBracket) depth++;
    else if (type === RParen || type === RBracket) depth = Math.max(0, depth - 1);
    else if (type === Identifier && tokens[i + 1]?.tokenType === Equals && (depth === 0 || t.startLine !== line)) {
      t.tokenType = BindingName;
      t.tokenTypeIdx = BindingName.tokenTypeIdx!;
    }
    line = t.endLine ?? line;
  });
  return tokens;
}
