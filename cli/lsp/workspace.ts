// The files as the editor sees them: open documents over the disk, the analyses of each open
// document (compiled as an entry file), and which of them a change makes stale.
import type { TextDocument } from 'vscode-languageserver-textdocument';
import type { SourceHost } from '../../compiler/load.ts';
import { nodeHost } from '../node-host.ts';
import { analyze, type Analysis } from './analysis.ts';
import { uriToPath } from './positions.ts';

export class Workspace {
  /** Open documents by file path. */
  private readonly open = new Map<string, TextDocument>();
  private readonly analyses = new Map<string, Analysis>();
  /** The last analysis that built a module tree, per entry: completion of paths while the file has errors. */
  private readonly lastTree = new Map<string, Analysis>();
  /** `--set` strings applied to every analysis (the `peftc.set` setting). */
  set: string[] = [];

  readonly host: SourceHost = {
    read: (path) => this.open.get(path)?.getText() ?? nodeHost.read(path),
    resolve: nodeHost.resolve,
  };

  didOpen(doc: TextDocument): void {
    this.open.set(uriToPath(doc.uri), doc);
    this.invalidate(uriToPath(doc.uri));
  }

  didChange(doc: TextDocument): void {
    this.open.set(uriToPath(doc.uri), doc);
    this.invalidate(uriToPath(doc.uri));
  }

  didClose(uri: string): void {
    const path = uriToPath(uri);
    this.open.delete(path);
    this.analyses.delete(path);
    this.lastTree.delete(path);
    this.invalidate(path);
  }

  document(uri: string): TextDocument | undefined {
    return this.open.get(uriToPath(uri));
  }

  documents(): TextDocument[] {
    return [...this.open.values()];
  }

  /** The open documents whose analysis read `path` (itself included, if open). */
  affectedBy(path: string): TextDocument[] {
    return this.documents().filter((d) => {
      const p = uriToPath(d.uri);
      return p === path || this.analyses.get(p)?.files.has(path) !== false;
    });
  }

  /** The analysis of an open document, compiled now if stale. */
  analysis(uri: string): Analysis | undefined {
    const path = uriToPath(uri);
    if (!this.open.has(path)) return undefined;
    let a = this.analyses.get(path);
    if (!a) {
      a = analyze(path, this.host, this.set);
      this.analyses.set(path, a);
      if (a.result.root) this.lastTree.set(path, a);
    }
    return a;
  }

  /** The latest analysis of `uri` that has a module tree (this one, or one from before the edit that broke it). */
  treeAnalysis(uri: string): Analysis | undefined {
    const a = this.analysis(uri);
    return a?.result.root ? a : this.lastTree.get(uriToPath(uri));
  }

  /** Every analysis of the open documents. */
  all(): Analysis[] {
    return this.documents().flatMap((d) => this.analysis(d.uri) ?? []);
  }

  /** Forgets every analysis (settings changed). */
  reset(): void {
    this.analyses.clear();
  }

  private invalidate(path: string): void {
    for (const [entry, a] of this.analyses) if (entry === path || a.files.has(path)) this.analyses.delete(entry);
  }
}
