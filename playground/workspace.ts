// The files the page knows (the examples, as `peftc playground` bundled them) with the one being
// edited over them, and the language server's analysis of the edited file: the same compile,
// diagnostics, hover and completion as `peftc lsp`, run in the page.
import type { CompletionItem, Diagnostic } from 'vscode-languageserver';
import { memoryHost, type SourceHost } from '../compiler/load.ts';
import { analyze, type Analysis } from '../cli/lsp/analysis.ts';
import { complete } from '../cli/lsp/completion.ts';
import { documentDiagnostics } from '../cli/lsp/diagnostics.ts';
import { hoverText } from '../cli/lsp/hover.ts';

export class PlaygroundWorkspace {
  private readonly files: Record<string, string>;
  readonly host: SourceHost;
  private current: Analysis | undefined;
  /** The last analysis that built a module tree: path completion while the file has errors. */
  private lastTree: Analysis | undefined;

  constructor(examples: Record<string, string>, public entry: string) {
    this.files = { ...examples };
    this.host = memoryHost(this.files);
  }

  /** Replaces the edited file's text (or switches to another file) and compiles it. */
  update(entry: string, text: string): Analysis {
    if (entry !== this.entry) this.lastTree = undefined;
    this.entry = entry;
    this.files[entry] = text;
    this.current = analyze(entry, this.host, []);
    if (this.current.result.root) this.lastTree = this.current;
    return this.current;
  }

  /** The analysis of `text`: the current one if the text has not changed since. */
  ensure(text: string): Analysis {
    return this.current && this.files[this.entry] === text ? this.current : this.update(this.entry, text);
  }

  get analysis(): Analysis | undefined {
    return this.current;
  }

  /** Every file of the program as the compiler read it, for a checkpoint's sources. */
  sources(): Record<string, string> {
    return Object.fromEntries(this.current?.result.texts ?? []);
  }

  diagnostics(): Diagnostic[] {
    return this.current ? documentDiagnostics(this.current) : [];
  }

  hover(offset: number): string | undefined {
    return this.current && hoverText(this.current, this.entry, offset);
  }

  complete(offset: number): CompletionItem[] {
    return this.current ? complete(this.files[this.entry] ?? '', offset, this.current, this.lastTree) : [];
  }
}
