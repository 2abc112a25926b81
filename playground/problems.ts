// The diagnostics of the edited file as a list under the editor (line:column, code, message);
// clicking one is not needed to read it, and a screen reader gets them all.
import type { Diagnostic } from 'vscode-languageserver';

export function problemsList(el: HTMLElement, diags: readonly Diagnostic[]): void {
  el.replaceChildren(...diags.map((d) => {
    const li = document.createElement('li');
    li.className = d.severity === 1 ? 'error' : 'warning';
    li.textContent = `${d.range.start.line + 1}:${d.range.start.character + 1}  ${d.code ?? ''}  ${d.message}`;
    return li;
  }));
  el.hidden = diags.length === 0;
}
