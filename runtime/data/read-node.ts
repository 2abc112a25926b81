// Reading data files in Node. The format follows the extension: .jsonl / .ndjson are JSON
// lines, anything else is plain text. Only regular files are read (a device like /dev/zero never
// ends, a named pipe blocks until someone writes to it), at most maxBytes of them, in chunks:
// the file is never held whole. Problems are DataErrors naming the file.
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, readSync, statSync, type Stats } from 'node:fs';
import { DataError, type ByteSource, type DataFormat } from './examples.ts';

/** The largest data file read unless told otherwise (`--max-data-bytes`). */
export const DEFAULT_MAX_DATA_BYTES = 2 ** 30;

/** Bytes read per chunk. */
const CHUNK = 2 ** 20;

export interface ReadOptions {
  /** The largest file accepted, in bytes (default DEFAULT_MAX_DATA_BYTES). */
  maxBytes?: number;
}

/** 'jsonl' for .jsonl and .ndjson files, else 'text'. */
export function formatOf(path: string): DataFormat {
  return /\.(jsonl|ndjson)$/i.test(path) ? 'jsonl' : 'text';
}

/**
 * The file as a data source, checked now: a regular file within the size limit. Its bytes are
 * read when the source is parsed, a chunk at a time (UTF-8 is checked then; see source.ts).
 */
export function readDataFile(path: string, format: DataFormat = formatOf(path), opts: ReadOptions = {}): ByteSource {
  const max = opts.maxBytes ?? DEFAULT_MAX_DATA_BYTES;
  const size = checkFile(path, stat(path), max);
  return { name: path, format, size, chunks: () => readChunks(path, max) };
}

function* readChunks(path: string, max: number): Generator<Uint8Array> {
  // O_NONBLOCK: should the path have become a named pipe since it was checked, opening it does
  // not wait for a writer (fstat then refuses it).
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw new DataError(`${path}: ${errnoWords(e)}`);
  }
  try {
    checkFile(path, fstatSync(fd), max);
    let total = 0;
    for (;;) {
      const buf = new Uint8Array(CHUNK);
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) return;
      total += n;
      // The size was checked, but a file can grow while it is read.
      if (total > max) throw new DataError(`${path}: more than ${bytes(max)} were read (the file grew?); the limit is ${bytes(max)}, raise it with --max-data-bytes`);
      yield n === CHUNK ? buf : buf.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

function stat(path: string): Stats {
  try {
    return statSync(path);
  } catch (e) {
    throw new DataError(`${path}: ${errnoWords(e)}${linkNote(path)}`);
  }
}

/** The file's size; a DataError unless it is a regular file within `max` bytes. */
function checkFile(path: string, st: Stats, max: number): number {
  if (!st.isFile()) {
    const what = st.isDirectory()
      ? 'a directory'
      : st.isFIFO()
        ? 'a named pipe (FIFO)'
        : st.isCharacterDevice()
          ? 'a character device'
          : st.isBlockDevice()
            ? 'a block device'
            : st.isSocket()
              ? 'a socket'
              : 'not a regular file';
    throw new DataError(`${path}: is ${what}${linkNote(path)}, not a data file; give a regular text or .jsonl file`);
  }
  if (st.size > max) {
    throw new DataError(`${path}: the file is ${bytes(st.size)}, over the limit of ${bytes(max)} for a data file; raise it with --max-data-bytes`);
  }
  return st.size;
}

/** " (a link to …)" when the path is a symbolic link, so the message shows what was followed. */
function linkNote(path: string): string {
  try {
    return lstatSync(path).isSymbolicLink() ? ` (a link to ${readlinkSync(path)})` : '';
  } catch {
    return '';
  }
}

function errnoWords(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'cannot read it (permission denied)';
  if (code === 'ELOOP') return 'cannot read it (too many levels of symbolic links)';
  if (code === 'ENOTDIR') return 'no such file (a part of the path is not a directory)';
  return `cannot read it (${code ?? (e as Error).message})`;
}

/**
 * A size in bytes from a flag: an integer, or a number with a unit (K, M, G, T; KB or KiB: all
 * powers of 1024), like 1073741824, 512M or 2GiB.
 */
export function parseByteSize(value: string, flag = '--max-data-bytes'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|b)?\s*$/i.exec(value);
  const n = m ? Number(m[1]) * 1024 ** ' kmgt'.indexOf((m[2] ?? ' ').toLowerCase()) : NaN;
  if (!Number.isFinite(n) || n < 1) throw new DataError(`${flag}: expected a size in bytes like 1073741824, 512M or 2GiB, got ${JSON.stringify(value)}`);
  return Math.floor(n);
}

/** Read options from a `--max-data-bytes` flag (none: the default limit). */
export function dataLimit(flag: string | undefined): ReadOptions {
  return flag === undefined ? {} : { maxBytes: parseByteSize(flag) };
}

/** A byte count for people: "1.5 GiB (1610612736 bytes)". */
export function bytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) (v /= 1024), i++;
  return i === 0 ? `${n} bytes` : `${+v.toFixed(1)} ${units[i]} (${n} bytes)`;
}
