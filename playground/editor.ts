// The CodeMirror 6 editor: `.peft` highlighting, and the language server's diagnostics (as lint),
// hover and completion, answered in the page by PlaygroundWorkspace. Positions are converted
// between the protocol's (0-based line, UTF-16 character) and CodeMirror's document offsets.
import { autocompletion, snippetCompletion, type Completion, type CompletionContext, type CompletionResult } from '@codemirror/autocomplete';
import { linter, lintGutter, type Diagnostic as CmDiagnostic } from '@codemirror/lint';
import type { Text } from '@codemirror/state';
import { EditorView, hoverTooltip } from '@codemirror/view';
import { basicSetup } from 'codemirror';
import { CompletionItemKind, DiagnosticSeverity, InsertTextFormat, type CompletionItem, type Range } from 'vscode-languageserver';
import type { Analysis } from '../cli/lsp/analysis.ts';
import { peftLanguage } from './language.ts';
import { markdownToHtml } from './markdown.ts';
import type { PlaygroundWorkspace } from './workspace.ts';

/** As the language server: compile once edits pause this long. */
export const DEBOUNCE_MS = 150;

export interface EditorHooks {
  /** After each compile of the edited text. */
  analyzed(a: Analysis): void;
}

export function createEditor(parent: HTMLElement, ws: PlaygroundWorkspace, hooks: EditorHooks): EditorView {
  return new EditorView({
    parent,
    doc: '',
    extensions: [
      basicSetup,
      EditorView.lineWrapping,
      peftLanguage,
      lintGutter(),
      linter((view) => {
        try {
          hooks.analyzed(ws.ensure(view.state.doc.toString()));
        } catch (e) {
          // A bug in peftc, not in the file: said on the file, as the language server does.
          const message = `internal error in peftc: ${e instanceof Error ? e.message : String(e)}`;
          console.error(message);
          return [{ from: 0, to: 0, severity: 'error', source: 'peftc', message }];
        }
        return ws.diagnostics().map((d) => ({
          ...span(view.state.doc, d.range),
          severity: d.severity === DiagnosticSeverity.Error ? 'error' : 'warning',
          source: `peftc ${d.code ?? ''}`.trim(),
          message: typeof d.message === 'string' ? d.message : d.message.value,
        }) satisfies CmDiagnostic);
      }, { delay: DEBOUNCE_MS }),
      hoverTooltip((view, pos) => {
        ws.ensure(view.state.doc.toString());
        const text = ws.hover(pos);
        if (!text) return null;
        return {
          pos,
          create() {
            const dom = document.createElement('div');
            dom.className = 'peft-hover';
            dom.innerHTML = markdownToHtml(text);
            return { dom };
          },
        };
      }),
      autocompletion({ override: [(ctx) => completions(ws, ctx)], activateOnTyping: true }),
      EditorView.theme({ '&': { height: '100%' }, '.cm-scroller': { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, monospace' } }),
    ],
  });
}

/** Replaces the whole document (an example picked from the menu). */
export function setText(view: EditorView, text: string): void {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}

function offsetAt(doc: Text, p: { line: number; character: number }): number {
  const line = doc.line(Math.min(Math.max(1, p.line + 1), doc.lines));
  return Math.min(line.from + p.character, line.to);
}

function span(doc: Text, r: Range): { from: number; to: number } {
  const from = offsetAt(doc, r.start);
  return { from, to: Math.max(from, offsetAt(doc, r.end)) };
}

function completions(ws: PlaygroundWorkspace, ctx: CompletionContext): CompletionResult | null {
  const word = ctx.matchBefore(/[A-Za-z0-9_*]*/);
  const before = ctx.state.sliceDoc(Math.max(0, ctx.pos - 1), ctx.pos);
  if (!ctx.explicit && word?.from === word?.to && !['.', '"', '('].includes(before)) return null;
  ws.ensure(ctx.state.doc.toString());
  const items = ws.complete(ctx.pos);
  if (!items.length) return null;
  return { from: word?.from ?? ctx.pos, options: items.map(toCompletion), validFor: /^[A-Za-z0-9_*]*$/ };
}

const KINDS: Partial<Record<CompletionItemKind, string>> = {
  [CompletionItemKind.Keyword]: 'keyword',
  [CompletionItemKind.Function]: 'function',
  [CompletionItemKind.Class]: 'class',
  [CompletionItemKind.Field]: 'property',
  [CompletionItemKind.Variable]: 'variable',
  [CompletionItemKind.Constant]: 'constant',
  [CompletionItemKind.Module]: 'namespace',
  [CompletionItemKind.Property]: 'property',
  [CompletionItemKind.Method]: 'method',
};

function toCompletion(item: CompletionItem): Completion {
  const c: Completion = { label: item.label, type: (item.kind !== undefined && KINDS[item.kind]) || 'text' };
  if (item.detail) c.detail = item.detail;
  if (typeof item.documentation === 'string') c.info = item.documentation;
  if (item.sortText) c.boost = -item.sortText.charCodeAt(0);
  const insert = item.insertText ?? item.label;
  // The protocol's `$1` tab stops are CodeMirror's `${1}`.
  if (item.insertTextFormat === InsertTextFormat.Snippet) return snippetCompletion(insert.replace(/\$(\d+)/g, '${$1}'), c);
  if (insert !== item.label) c.apply = insert;
  return c;
}
