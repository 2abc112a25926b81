// Loads a .peft file and everything it imports, in dependency order (imports first).
// File access goes through a SourceHost so the compiler runs in a browser too.
import type { ImportDecl, SourceFile } from '../grammar/ast.ts';
import { error, type Diagnostic } from '../grammar/diagnostics.ts';
import { parse } from '../grammar/index.ts';
import { Codes } from './codes.ts';

export interface SourceHost {
  /** The file's text, or undefined if it does not exist. */
  read(path: string): string | undefined;
  /** The path an `import "spec"` inside `from` refers to. */
  resolve(from: string, spec: string): string;
}

export interface LoadedProgram {
  /** Imports before importers; the entry file last. */
  files: SourceFile[];
  /** Source texts by path, for printing diagnostics. */
  texts: Map<string, string>;
  diagnostics: Diagnostic[];
}

export function loadProgram(entry: string, host: SourceHost): LoadedProgram {
  const out: LoadedProgram = { files: [], texts: new Map(), diagnostics: [] };
  const state = new Map<string, 'loading' | 'done'>();

  const visit = (path: string, via?: ImportDecl): void => {
    const st = state.get(path);
    if (st === 'done') return;
    if (st === 'loading') {
      out.diagnostics.push(error(Codes.ImportCycle, `import cycle: \`${path}\` imports itself through this chain`, via!.range));
      return;
    }
    const text = host.read(path);
    if (text === undefined) {
      if (via) {
        const msg = `cannot find \`${via.path.value}\`: no such file next to the importing file`;
        out.diagnostics.push(error(Codes.ImportNotFound, msg, via.path.range));
      } else {
        const nowhere = { file: path, start: { line: 1, col: 1, offset: 0 }, end: { line: 1, col: 1, offset: 0 } };
        out.diagnostics.push(error(Codes.ImportNotFound, `cannot find \`${path}\``, nowhere));
      }
      return;
    }
    state.set(path, 'loading');
    out.texts.set(path, text);
    const { file, diagnostics } = parse(text, path);
    out.diagnostics.push(...diagnostics);
    for (const item of file.items) {
      if (item.kind === 'import') visit(host.resolve(path, item.path.value), item);
    }
    state.set(path, 'done');
    out.files.push(file);
  };

  visit(entry);
  return out;
}

/** A host over an in-memory map of files (tests, the browser). */
export function memoryHost(files: Record<string, string>): SourceHost {
  return {
    read: (p) => (Object.hasOwn(files, p) ? files[p] : undefined),
    resolve: (from, spec) => {
      const dir = from.includes('/') ? from.slice(0, from.lastIndexOf('/') + 1) : '';
      return normalizePath(dir + spec);
    },
  };
}

export function normalizePath(p: string): string {
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '..' && parts.length && parts[parts.length - 1] !== '..') parts.pop();
    else if (seg !== '.' && seg !== '') parts.push(seg);
    else if (seg === '' && parts.length === 0 && p.startsWith('/')) parts.push('');
  }
  return parts.join('/');
}
