// Reading data files in Node. The format follows the extension: .jsonl / .ndjson are JSON
// lines, anything else is plain text. Problems are DataErrors naming the file.
import { readFileSync } from 'node:fs';
import { DataError, type DataFormat, type DataSource } from './examples.ts';

/** 'jsonl' for .jsonl and .ndjson files, else 'text'. */
export function formatOf(path: string): DataFormat {
  return /\.(jsonl|ndjson)$/i.test(path) ? 'jsonl' : 'text';
}

/** The file as a data source (UTF-8; a byte-order mark is dropped when parsed). */
export function readDataFile(path: string, format: DataFormat = formatOf(path)): DataSource {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a data file' : `cannot read it (${code ?? (e as Error).message})`;
    throw new DataError(`${path}: ${why}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new DataError(`${path}: not UTF-8 text`);
  }
  return { name: path, text, format };
}
