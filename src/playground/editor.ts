// The formula editor: CodeMirror 6 with a small stream language for .loss files
// (comments, keywords, builtins, roles, numbers, strings, axis lists) and the
// compiler's diagnostics as lint marks at their span (src/compiler/front/ast.ts:
// 0-based offsets), with the lint gutter. The page compiles; this file only shows.

import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { HighlightStyle, StreamLanguage, bracketMatching, syntaxHighlighting } from '@codemirror/language';
import { type Diagnostic as CmDiagnostic, lintGutter, setDiagnostics } from '@codemirror/lint';
import { EditorState } from '@codemirror/state';
import { EditorView, drawSelection, highlightActiveLine, keymap, lineNumbers } from '@codemirror/view';
import { tags as t } from '@lezer/highlight';

const KEYWORDS = new Set(['loss', 'def', 'use', 'repeat']);
const ROLES = new Set(['prob', 'logits', 'target', 'weight', 'map', 'mask']);
const BUILTINS = new Set(('sum mean max min exp log log1p sqrt abs clip sigmoid logsigmoid softplus tanh cosh logcosh relu pow ' +
  'softmax logsoftmax onehot where detach cumsum sorted window gaussian box maxpool minpool avgpool2 edt sdt shift valid same').split(' '));

interface LossState { inAxes: boolean }

/** A small stream mode: enough to read a formula, not a second parser (the compiler's diagnostics are the truth). */
export const lossLanguage = StreamLanguage.define<LossState>({
  name: 'segloss',
  startState: () => ({ inAxes: false }),
  token(stream, state) {
    if (stream.eatSpace()) return null;
    if (stream.match(/^#.*/)) return 'comment';
    if (stream.match(/^"[^"]*"?/)) return 'string';
    if (stream.match(/^(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/)) return 'number';
    if (stream.eat('[')) { state.inAxes = true; return 'bracket'; }
    if (stream.eat(']')) { state.inAxes = false; return 'bracket'; }
    const w = stream.match(/^[A-Za-z_][A-Za-z0-9_]*/) as RegExpMatchArray | null;
    if (w) {
      const word = w[0];
      if (state.inAxes) return 'labelName';
      if (KEYWORDS.has(word)) return 'keyword';
      if (ROLES.has(word)) return 'typeName';
      if (BUILTINS.has(word)) return 'variableName.standard';
      return 'variableName';
    }
    if (stream.match(/^[-+*/^=<>!]+/)) return 'operator';
    stream.next();
    return 'punctuation';
  },
  languageData: { commentTokens: { line: '#' } },
});

const style = HighlightStyle.define([
  { tag: t.comment, color: '#6a737d', fontStyle: 'italic' },
  { tag: t.keyword, color: '#8b2bb9', fontWeight: '600' },
  { tag: t.typeName, color: '#0b7a75' },
  { tag: t.standard(t.variableName), color: '#2557d6' },
  { tag: t.number, color: '#b45309' },
  { tag: t.string, color: '#15803d' },
  { tag: t.labelName, color: '#9a3412' },
  { tag: t.operator, color: '#374151' },
]);

export interface Mark { start: number; end: number; message: string; severity?: 'error' | 'warning' }

export interface Editor {
  view: EditorView;
  text(): string;
  setText(text: string): void;
  /** Replace the lint marks (offsets into the current text). */
  mark(marks: readonly Mark[]): void;
  /** Put the cursor at an offset and scroll there. */
  reveal(offset: number): void;
}

export function createEditor(parent: HTMLElement, doc: string, onChange: (text: string) => void): Editor {
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        lineNumbers(), history(), drawSelection(), highlightActiveLine(), bracketMatching(),
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        lossLanguage, syntaxHighlighting(style), lintGutter(),
        EditorView.lineWrapping,
        EditorView.updateListener.of((u) => { if (u.docChanged) onChange(u.state.doc.toString()); }),
      ],
    }),
  });
  return {
    view,
    text: () => view.state.doc.toString(),
    setText: (text) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }),
    mark: (marks) => {
      const n = view.state.doc.length;
      const ds: CmDiagnostic[] = marks.map((m) => {
        const from = Math.max(0, Math.min(m.start, n));
        // An empty span (a missing token at the end of a line) still gets one character to underline.
        const to = Math.max(from, Math.min(m.end > m.start ? m.end : m.start + 1, n));
        return { from, to, severity: m.severity ?? 'error', message: m.message, source: 'segloss' };
      });
      view.dispatch(setDiagnostics(view.state, ds));
    },
    reveal: (offset) => {
      view.dispatch({ selection: { anchor: Math.min(offset, view.state.doc.length) }, scrollIntoView: true });
      view.focus();
    },
  };
}
