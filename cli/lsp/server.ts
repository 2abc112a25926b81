// The language server: the protocol's requests answered from the workspace's analyses.
// Diagnostics are published for each open document after edits settle (DEBOUNCE_MS), and again
// for every open document that imports a file that changed.
import { ResponseError, TextDocumentSyncKind, type Connection, type Diagnostic, type InitializeResult } from 'vscode-languageserver';
import { TextDocuments } from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { formatSource } from '../../grammar/format-source.ts';
import { quickFixes } from './code-actions.ts';
import { complete } from './completion.ts';
import { documentDiagnostics } from './diagnostics.ts';
import { hoverText } from './hover.ts';
import { definition, documentSymbols, references, rename, renameTarget } from './navigation.ts';
import { toLocation, toRange, uriToPath } from './positions.ts';
import { Workspace } from './workspace.ts';

/** How long edits must pause before a document is compiled again. */
export const DEBOUNCE_MS = 150;

export function startServer(connection: Connection): void {
  const workspace = new Workspace();
  const documents = new TextDocuments(TextDocument);
  const timers = new Map<string, NodeJS.Timeout>();

  const publish = (uri: string) => {
    timers.delete(uri);
    const doc = workspace.document(uri);
    if (!doc) return;
    let diagnostics: Diagnostic[];
    try {
      const a = workspace.analysis(uri);
      if (!a) return;
      diagnostics = documentDiagnostics(a);
    } catch (e) {
      // A bug in peftc, not in the file: say so on the file instead of ending the server.
      const message = `internal error in peftc: ${e instanceof Error ? e.message : String(e)}`;
      connection.console.error(`${uri}: ${message}`);
      diagnostics = [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, message, source: 'peftc', severity: 1 }];
    }
    void connection.sendDiagnostics({ uri, version: doc.version, diagnostics });
  };
  const schedule = (changedPath: string) => {
    for (const doc of workspace.affectedBy(changedPath)) {
      clearTimeout(timers.get(doc.uri));
      timers.set(doc.uri, setTimeout(() => publish(doc.uri), DEBOUNCE_MS));
    }
  };
  const applySettings = (settings: unknown) => {
    const set = (settings as { set?: unknown } | undefined)?.set;
    workspace.set = Array.isArray(set) ? set.filter((s): s is string => typeof s === 'string') : typeof set === 'string' && set ? [set] : [];
    workspace.reset();
    for (const doc of workspace.documents()) schedule(uriToPath(doc.uri));
  };

  connection.onInitialize((params): InitializeResult => {
    applySettings(params.initializationOptions);
    return {
      capabilities: {
        textDocumentSync: TextDocumentSyncKind.Incremental,
        hoverProvider: true,
        completionProvider: { triggerCharacters: ['.', '"', '('] },
        definitionProvider: true,
        referencesProvider: true,
        documentSymbolProvider: true,
        renameProvider: { prepareProvider: true },
        codeActionProvider: { codeActionKinds: ['quickfix'] },
        documentFormattingProvider: true,
      },
      serverInfo: { name: 'peftc' },
    };
  });
  connection.onDidChangeConfiguration((p) => applySettings((p.settings as { peftc?: unknown } | undefined)?.peftc));

  documents.onDidOpen((e) => {
    workspace.didOpen(e.document);
    schedule(uriToPath(e.document.uri));
  });
  documents.onDidChangeContent((e) => {
    workspace.didChange(e.document);
    schedule(uriToPath(e.document.uri));
  });
  documents.onDidClose((e) => {
    clearTimeout(timers.get(e.document.uri));
    workspace.didClose(e.document.uri);
    void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
    schedule(uriToPath(e.document.uri));
  });

  /** The request's document, its analysis and the cursor's offset. */
  const at = (uri: string, position: { line: number; character: number }) => {
    const doc = workspace.document(uri);
    const a = doc && workspace.analysis(uri);
    return doc && a ? { doc, a, file: uriToPath(uri), offset: doc.offsetAt(position) } : undefined;
  };

  connection.onHover(({ textDocument, position }) => {
    const c = at(textDocument.uri, position);
    const text = c && hoverText(c.a, c.file, c.offset);
    return text ? { contents: { kind: 'markdown', value: text } } : null;
  });
  connection.onCompletion(({ textDocument, position }) => {
    const c = at(textDocument.uri, position);
    return c ? complete(c.doc.getText(), c.offset, c.a, workspace.treeAnalysis(textDocument.uri)) : [];
  });
  connection.onDefinition(({ textDocument, position }) => {
    const c = at(textDocument.uri, position);
    return (c && definition(c.a, c.file, c.offset)) ?? null;
  });
  connection.onReferences(({ textDocument, position, context }) => {
    const c = at(textDocument.uri, position);
    return c ? references(workspace.all(), c.a, c.file, c.offset, context.includeDeclaration).map((o) => toLocation(o.range)) : [];
  });
  connection.onPrepareRename(({ textDocument, position }) => {
    const c = at(textDocument.uri, position);
    if (!c) return null;
    const target = renameTarget(c.a, c.file, c.offset);
    if ('refusal' in target) throw new ResponseError(0, target.refusal);
    return { range: toRange(target.occ.range), placeholder: target.occ.symbol.name };
  });
  connection.onRenameRequest(({ textDocument, position, newName }) => {
    const c = at(textDocument.uri, position);
    if (!c) return null;
    const edit = rename(workspace.all(), c.a, c.file, c.offset, newName);
    if (typeof edit === 'string') throw new ResponseError(0, edit);
    return edit;
  });
  connection.onDocumentSymbol(({ textDocument }) => {
    const a = workspace.analysis(textDocument.uri);
    const file = a?.result.files.find((f) => f.path === uriToPath(textDocument.uri));
    return file ? documentSymbols(file) : [];
  });
  connection.onCodeAction(({ textDocument, context }) => {
    const doc = workspace.document(textDocument.uri);
    return doc ? quickFixes(doc, context.diagnostics) : [];
  });
  connection.onDocumentFormatting(({ textDocument }) => {
    const doc = workspace.document(textDocument.uri);
    if (!doc) return [];
    const res = formatSource(doc.getText(), uriToPath(doc.uri));
    if (res.text === undefined || res.text === doc.getText()) return [];
    return [{ range: { start: { line: 0, character: 0 }, end: doc.positionAt(doc.getText().length) }, newText: res.text }];
  });

  documents.listen(connection);
  connection.listen();
}
