// Quick fixes for the diagnostics that suggest one: "unknown name `n_emdb`. Did you mean
// `n_embd`?" offers to replace the name with each suggestion; "target pattern "h.*.attn.c_atn"
// matches no module. Nearest module paths: `h.0.attn.c_attn`" offers the nearest paths as the
// target (with `*` for the layer numbers where the pattern had a `*`).
import { CodeActionKind, type CodeAction, type Diagnostic as LspDiagnostic } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';

export function quickFixes(doc: TextDocument, diagnostics: LspDiagnostic[]): CodeAction[] {
  return diagnostics.flatMap((d) => {
    const message = typeof d.message === 'string' ? d.message : d.message.value;
    return [...nameFixes(doc, d, message), ...targetFixes(doc, d, message)];
  });
}

function nameFixes(doc: TextDocument, d: LspDiagnostic, message: string): CodeAction[] {
  const ask = message.indexOf('Did you mean ');
  if (ask < 0) return [];
  const suggestions = [...message.slice(ask).matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
  // The misspelt name is the quoted name before the question that is written inside the
  // diagnostic's range (which may cover more than the name: `rnak = 8`).
  const text = doc.getText();
  const from = doc.offsetAt(d.range.start);
  const to = doc.offsetAt(d.range.end);
  for (const [, wrong] of message.slice(0, ask).matchAll(/`([A-Za-z_][A-Za-z0-9_]*)`/g)) {
    const at = text.slice(from, to).search(new RegExp(`\\b${wrong}\\b`));
    if (at < 0) continue;
    const range = { start: doc.positionAt(from + at), end: doc.positionAt(from + at + wrong!.length) };
    return suggestions.map((name, i) => ({
      title: `Change \`${wrong}\` to \`${name}\``,
      kind: CodeActionKind.QuickFix,
      diagnostics: [d],
      isPreferred: i === 0,
      edit: { changes: { [doc.uri]: [{ range, newText: name }] } },
    }));
  }
  return [];
}

function targetFixes(doc: TextDocument, d: LspDiagnostic, message: string): CodeAction[] {
  const m = /^target pattern "(.*)" matches no module\. Nearest module paths: (.*)\.$/s.exec(message);
  const written = doc.getText(d.range);
  if (!m || !written.startsWith('"')) return [];
  const globbed = m[1]!.includes('*');
  const targets = [...m[2]!.matchAll(/`([^`]+)`/g)].map(([, path]) => (globbed ? path!.replace(/(^|\.)\d+(?=\.|$)/g, '$1*') : path!));
  return [...new Set(targets)].map((target, i) => ({
    title: `Target \`${target}\``,
    kind: CodeActionKind.QuickFix,
    diagnostics: [d],
    isPreferred: i === 0,
    edit: { changes: { [doc.uri]: [{ range: d.range, newText: JSON.stringify(target) }] } },
  }));
}
