// CodeMirror 6 editors: one setup for PromQL, LogQL and TraceQL, with Mod-Enter to run and
// a `/` shortcut (see main.ts) that focuses the page's editor.

import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from '@codemirror/autocomplete';
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { bracketMatching, HighlightStyle, syntaxHighlighting } from '@codemirror/language';
import { EditorState, Extension, Prec } from '@codemirror/state';
import { EditorView, keymap, placeholder } from '@codemirror/view';
import { tags as t } from '@lezer/highlight';

const highlight = HighlightStyle.define([
  { tag: [t.keyword, t.operatorKeyword, t.modifier], color: 'var(--hl-keyword)' },
  { tag: [t.function(t.variableName), t.function(t.name)], color: 'var(--hl-fn)' },
  { tag: [t.string, t.special(t.string), t.regexp], color: 'var(--hl-string)' },
  { tag: [t.number, t.unit], color: 'var(--hl-number)' },
  { tag: [t.labelName, t.propertyName, t.attributeName], color: 'var(--hl-label)' },
  { tag: [t.comment], color: 'var(--muted)', fontStyle: 'italic' },
  { tag: [t.operator, t.compareOperator, t.arithmeticOperator, t.logicOperator], color: 'var(--hl-op)' },
  { tag: [t.invalid], color: 'var(--err)' },
]);

let active: EditorView | null = null;

/** The editor of the current page, for the `/` shortcut. */
export function activeEditor(): EditorView | null {
  return active && active.dom.isConnected ? active : null;
}

export function editor(opts: {
  doc: string;
  language: Extension;
  placeholder: string;
  onRun: () => void;
  label: string;
}): EditorView {
  const view = new EditorView({
    state: EditorState.create({
      doc: opts.doc,
      extensions: [
        Prec.highest(
          keymap.of([
            { key: 'Mod-Enter', run: () => (opts.onRun(), true) },
            { key: 'Shift-Enter', run: (v) => (v.dispatch(v.state.replaceSelection('\n')), true) },
          ]),
        ),
        history(),
        closeBrackets(),
        bracketMatching(),
        autocompletion({ activateOnTyping: true }),
        // Plain Enter runs too, unless the completion list is open (its keymap comes first).
        keymap.of([
          ...closeBracketsKeymap,
          ...completionKeymap,
          { key: 'Enter', run: () => (opts.onRun(), true) },
          ...defaultKeymap,
          ...historyKeymap,
        ]),
        syntaxHighlighting(highlight),
        placeholder(opts.placeholder),
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({ 'aria-label': opts.label }),
        opts.language,
      ],
    }),
  });
  view.dom.classList.add('editor');
  active = view;
  return view;
}

export function text(view: EditorView): string {
  return view.state.doc.toString().trim();
}
