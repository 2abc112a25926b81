// Data sources and how they are read: a source is a name and either its whole text (a corpus,
// a file picked in a browser) or its bytes in chunks (a file read by read-node.ts). Either way
// it is read piece by piece, so a large file never becomes one string: plain text as decoded
// chunks, JSONL line by line. Isomorphic.
//
// Bytes are checked as they come: they must be UTF-8 without NUL bytes (a NUL means a binary
// file), and a JSONL line may be at most MAX_LINE_BYTES long. Each problem is a DataError
// naming the file, the line and the byte. A byte-order mark at the start is dropped.

/** Bad data or bad data options: one line for the user, `file:line: what is wrong`. */
export class DataError extends Error {
  override name = 'DataError';
}

export type DataFormat = 'text' | 'jsonl';

/** A source held as one string (a bundled corpus, a file picked in a browser). */
export interface TextSource {
  /** A file path or a corpus name: messages say `name:line: …`. */
  name: string;
  format: DataFormat;
  text: string;
}

/** A source read in chunks (a file): its UTF-8 bytes in order, read anew on each call. */
export interface ByteSource {
  name: string;
  format: DataFormat;
  /** Bytes in all (an upper bound is enough): sizes the token buffer. */
  size: number;
  chunks(): Iterable<Uint8Array>;
}

export type DataSource = TextSource | ByteSource;

/** The longest JSONL line read (one JSON object must fit in a string, with room to parse it). */
export const MAX_LINE_BYTES = 64 * 2 ** 20;

const BOM = '\uFEFF';

/** The text of a source in chunks, in order, without a leading byte-order mark. */
export function* textChunks(src: DataSource): Generator<string> {
  if ('text' in src) {
    yield src.text.startsWith(BOM) ? src.text.slice(1) : src.text;
    return;
  }
  const check = new ByteCheck(src.name);
  let carry = new Uint8Array(0);
  let first = true;
  for (const chunk of src.chunks()) {
    const bytes = carry.length ? concat(carry, chunk) : chunk;
    const end = completeEnd(bytes);
    let text = check.decode(bytes.subarray(0, end));
    carry = bytes.slice(end);
    if (first && text.length) {
      if (text.startsWith(BOM)) text = text.slice(1);
      first = false;
    }
    if (text) yield text;
  }
  // A character cut off by the end of the file.
  if (carry.length) check.decode(carry);
}

/** The lines of a source (without their line ends, CR LF or LF), numbered from 1. */
export function* textLines(src: DataSource): Generator<{ text: string; line: number }> {
  if ('text' in src) {
    const text = src.text.startsWith(BOM) ? src.text.slice(1) : src.text;
    let line = 1;
    for (let at = 0; at <= text.length; line++) {
      const nl = text.indexOf('\n', at);
      const end = nl < 0 ? text.length : nl;
      yield { text: text.slice(at, end > at && text.charCodeAt(end - 1) === 13 ? end - 1 : end), line };
      at = end + 1;
    }
    return;
  }
  const check = new ByteCheck(src.name);
  let parts: Uint8Array[] = [];
  let partBytes = 0;
  const flush = (last: Uint8Array): { text: string; line: number } => {
    const bytes = parts.length ? concat(...parts, last) : last;
    parts = [];
    partBytes = 0;
    const line = check.line;
    let text = check.decode(bytes);
    if (line === 1 && text.startsWith(BOM)) text = text.slice(1);
    return { text: text.endsWith('\r') ? text.slice(0, -1) : text, line };
  };
  for (const chunk of src.chunks()) {
    let at = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, at)) {
      if (partBytes + nl - at > MAX_LINE_BYTES) check.tooLong();
      yield flush(chunk.subarray(at, nl));
      check.newline();
      at = nl + 1;
    }
    if (at < chunk.length) {
      parts.push(chunk.subarray(at));
      partBytes += chunk.length - at;
      if (partBytes > MAX_LINE_BYTES) check.tooLong();
    }
  }
  if (partBytes) yield flush(new Uint8Array(0));
}

/** All the bytes of a source, as they are (to copy a sample file; a file's size was checked when opened). */
export function sourceBytes(src: DataSource): Uint8Array {
  return 'text' in src ? new TextEncoder().encode(src.text) : concat(...src.chunks());
}

/**
 * UTF-8 decoding with the position of the first bad byte: counts the bytes and lines decoded
 * so far, so an error names the line and the byte offset in the file.
 */
class ByteCheck {
  /** The line of the next byte, from 1. */
  line = 1;
  private offset = 0;
  // ignoreBOM keeps a U+FEFF that starts a chunk; only the one at the start of the file is dropped.
  private readonly decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

  constructor(private readonly name: string) {}

  /** The text of bytes that end on a whole character. */
  decode(bytes: Uint8Array): string {
    const nul = bytes.indexOf(0);
    if (nul >= 0) this.fail(bytes, nul, (at) => `a NUL byte at offset ${at}: this looks like a binary file`);
    let text: string;
    try {
      text = this.decoder.decode(bytes);
    } catch {
      // The first byte of the character that went wrong: 0xe9 in Latin-1 "é " (not the space
      // after it), the lead byte of a character the file ends inside.
      const at = firstInvalid(bytes);
      const bad = Math.min(at, completeEnd(bytes.subarray(0, at)));
      this.fail(bytes, bad, (offset) => `not UTF-8 text (byte 0x${bytes[bad]!.toString(16).padStart(2, '0')} at offset ${offset})`);
    }
    this.advance(bytes, bytes.length);
    return text;
  }

  /** Past a line end. */
  newline(): void {
    this.line++;
    this.offset++;
  }

  tooLong(): never {
    throw new DataError(`${this.name}:${this.line}: the line is longer than ${MAX_LINE_BYTES / 2 ** 20} MiB; a JSONL line holds one example`);
  }

  private advance(bytes: Uint8Array, upTo: number): void {
    for (let nl = bytes.indexOf(10); nl >= 0 && nl < upTo; nl = bytes.indexOf(10, nl + 1)) this.line++;
    this.offset += upTo;
  }

  private fail(bytes: Uint8Array, at: number, what: (offset: number) => string): never {
    this.advance(bytes, at);
    throw new DataError(`${this.name}:${this.line}: ${what(this.offset)}; data files must be UTF-8 text`);
  }
}

/** The index of the first byte that makes `bytes` invalid UTF-8 (bytes.length: only cut off at the end). */
function firstInvalid(bytes: Uint8Array): number {
  // A stream decode accepts a prefix that ends inside a character, so "the prefix decodes" holds
  // up to the first bad byte and never after: binary search for it.
  let lo = 0;
  let hi = bytes.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (decodes(bytes.subarray(0, mid))) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function decodes(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: true });
    return true;
  } catch {
    return false;
  }
}

/** The length of `bytes` without a character cut off at the end (at most 3 bytes held back). */
function completeEnd(bytes: Uint8Array): number {
  let start = bytes.length - 1;
  while (start > 0 && start > bytes.length - 4 && (bytes[start]! & 0xc0) === 0x80) start--;
  if (start < 0) return 0;
  const lead = bytes[start]!;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return start + need > bytes.length ? start : bytes.length;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), (at += p.length);
  return out;
}
