// Between the compiler's ranges (offsets, 1-based lines) and the protocol's (0-based lines,
// UTF-16 characters, which JavaScript string offsets already are).
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isAbsolute } from 'node:path';
import type { Location, Range } from 'vscode-languageserver';
import type { SourceRange } from '../../grammar/diagnostics.ts';

export function toRange(r: SourceRange): Range {
  return {
    start: { line: r.start.line - 1, character: r.start.col - 1 },
    end: { line: r.end.line - 1, character: r.end.col - 1 },
  };
}

export function toLocation(r: SourceRange): Location {
  return { uri: pathToUri(r.file), range: toRange(r) };
}

/** A file path for a document URI; other schemes (untitled:) keep the URI as their name. */
export function uriToPath(uri: string): string {
  return uri.startsWith('file:') ? fileURLToPath(uri) : uri;
}

export function pathToUri(path: string): string {
  return isAbsolute(path) ? pathToFileURL(path).href : path;
}
