// safetensors reading and writing over a Uint8Array: no Node APIs, so it runs in a browser too.
// (runtime/io/safetensors-node.ts adds file access.)
//
// Format: u64 little-endian header length N, N bytes of UTF-8 JSON
//   { "__metadata__"?: {string: string}, name: { dtype, shape, data_offsets: [begin, end] }, … }
// then the data buffer; offsets are relative to its start, data is little-endian, row-major.
//
// Reading checks everything the reference implementation (Hugging Face's Rust crate) checks,
// and a little more: the tensors must tile the data buffer exactly (no overlap, no hole, no
// trailing bytes), and each span must equal shape × dtype size. Every problem is a
// SafetensorsError naming the tensor; no RangeError can escape from a typed-array constructor.
//
// Writing matches the reference byte for byte: tensors sorted by dtype alignment (largest
// first, in the reference's enum order) then by name, `__metadata__` first in the header,
// compact JSON, header padded with spaces to a multiple of 8 so every tensor is aligned.
// (Any order of tensors is a valid file; this one makes output deterministic and identical to
// Python's `safetensors.torch.save_file` for the same tensors, except that the reference keeps
// `__metadata__` in a hash map, so with several keys its order there is arbitrary.)
//
// Choices:
// - F16 and BF16 come back as raw bits in a Uint16Array; `asFloat32` widens them (and F64) to
//   Float32Array, exactly. Integers are never converted to floats.
// - I64/U64 come back as Int32Array by default (token ids, shapes: everything this project
//   stores fits), with a range check that fails loudly; `int64: 'bigint'` keeps them 64-bit.
// - Aligned tensors are views into the input bytes (no copy, they share memory with it);
//   unaligned ones (headers not padded to 8, or a Uint8Array at an odd offset) are copied.
// - The header size limit is the reference's 100 MB.
// - A tensor name that occurs twice in the header is an error (JSON.parse would keep the last
//   one silently, and which one a reader sees would depend on the reader).
// - `finite: true` refuses NaN and ±Inf in float tensors, naming the tensor and the first bad
//   index: one pass over the stored values (16-bit floats by their exponent bits), no copy.
import { float32ToHalf, halfToFloat32 } from './half.ts';

export type Dtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

/**
 * The typed array for each dtype. F16 and BF16 are raw bits in a Uint16Array; BOOL is a
 * Uint8Array of 0/1. I64/U64 are BigInt64Array/BigUint64Array, unless read as Int32 (the default).
 */
export type TensorData =
  | Float64Array | Float32Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array
  | BigUint64Array | Uint32Array | Uint8Array;

export interface Tensor {
  /** The dtype `data` holds. */
  dtype: Dtype;
  shape: number[];
  /** Row-major; length = product of shape (1 for the scalar shape []). */
  data: TensorData;
}

export interface ReadTensor extends Tensor {
  /** The dtype in the file; differs from `dtype` when the reader converted (F16 → F32, I64 → I32). */
  stored: Dtype;
}

export interface SafetensorsFile {
  /** In file (data offset) order. */
  tensors: Map<string, ReadTensor>;
  /** `__metadata__`, or undefined when the file has none. */
  metadata: Record<string, string> | undefined;
}

export interface ReadOptions {
  /** Convert F16, BF16 and F64 tensors to F32 (Float32Array). Integers are left alone. Default false. */
  asFloat32?: boolean;
  /**
   * How I64 and U64 tensors come back: 'int32' (default) as an Int32Array, failing with a
   * SafetensorsError if a value is outside the Int32 range; 'bigint' as BigInt64Array/BigUint64Array.
   */
  int64?: 'int32' | 'bigint';
  /** Fail with a SafetensorsError ('non-finite') if a float tensor holds NaN or ±Inf. Default false. */
  finite?: boolean;
}

/** What the writer accepts: `dtype` may be left out when the data's class says it (see inferDtype). */
export interface WriteTensor {
  dtype?: Dtype;
  shape: readonly number[];
  data: TensorData;
}

export type SafetensorsErrorCode =
  | 'too-short' | 'header-length' | 'header-too-large' | 'header-utf8' | 'header-json'
  | 'header-not-object' | 'metadata' | 'entry' | 'missing-field' | 'unknown-dtype'
  | 'unsupported-dtype' | 'bad-shape' | 'bad-offsets' | 'size-mismatch' | 'out-of-range'
  | 'overlap' | 'hole' | 'trailing-bytes' | 'int64-range' | 'big-endian' | 'write' | 'not-found' | 'wrong-dtype'
  | 'duplicate-name' | 'non-finite' | 'read' | 'file-too-large';

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
  constructor(
    readonly code: SafetensorsErrorCode,
    message: string,
    /** The tensor the problem is about, when there is one. */
    readonly tensor?: string,
  ) {
    super(message);
  }
}

/** Bytes per element, and the alignment rank the reference sorts by (higher is written first). */
const DTYPES: Record<Dtype, { size: number; rank: number }> = {
  BOOL: { size: 1, rank: 0 }, U8: { size: 1, rank: 1 }, I8: { size: 1, rank: 2 },
  I16: { size: 2, rank: 5 }, U16: { size: 2, rank: 6 }, F16: { size: 2, rank: 7 }, BF16: { size: 2, rank: 8 },
  I32: { size: 4, rank: 9 }, U32: { size: 4, rank: 10 }, F32: { size: 4, rank: 11 },
  F64: { size: 8, rank: 12 }, I64: { size: 8, rank: 13 }, U64: { size: 8, rank: 14 },
};
/** Dtypes the format defines that this reader does not decode. */
const UNSUPPORTED = new Set(['F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'C64']);
/** The reference refuses headers above this size; so do we (a corrupt length would allocate it). */
export const MAX_HEADER_BYTES = 100_000_000;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const fmtShape = (shape: readonly unknown[]): string => `[${shape.join(', ')}]`;
const q = (name: string): string => JSON.stringify(name);
/** A short, never-recursing rendering of a header value for messages (JSON.stringify can overflow the stack). */
function brief(v: unknown): string {
  const item = (x: unknown): string => {
    if (Array.isArray(x)) return '[…]';
    if (typeof x === 'object' && x !== null) return '{…}';
    if (typeof x === 'string') return JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}…` : x);
    return String(x);
  };
  if (!Array.isArray(v)) return item(v);
  return `[${v.slice(0, 8).map(item).join(',')}${v.length > 8 ? ',…' : ''}]`;
}

// ---------------------------------------------------------------------------------------------
// Reading

interface Entry {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

/** Parses a whole safetensors file held in memory. Tensors may be views into `bytes` (no copy). */
export function parseSafetensors(bytes: Uint8Array, options: ReadOptions = {}): SafetensorsFile {
  const { header, dataStart } = readHeader(bytes);
  const { entries, metadata } = checkHeader(header);
  const dataLength = bytes.length - dataStart;
  checkTiling(entries, dataLength);
  if (!LITTLE_ENDIAN) throw new SafetensorsError('big-endian', 'safetensors data is little-endian; big-endian hosts are not supported');
  const tensors = new Map<string, ReadTensor>();
  for (const e of entries) {
    const t = decode(bytes, dataStart, e, options);
    if (options.finite) checkFinite(e.name, t.dtype, t.data);
    tensors.set(e.name, t);
  }
  return { tensors, metadata };
}

function readHeader(bytes: Uint8Array): { header: unknown; dataStart: number } {
  if (bytes.length < 8) {
    throw new SafetensorsError('too-short', `file is ${bytes.length} bytes, too short for the 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  const available = bytes.length - 8;
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError('header-too-large', `header length ${n} is over the ${MAX_HEADER_BYTES}-byte limit (corrupt length?)`);
  }
  const len = Number(n);
  if (len > available) {
    throw new SafetensorsError('header-length', `header length ${len} runs past the end of the file (${available} bytes after the length)`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + len));
  } catch {
    throw new SafetensorsError('header-utf8', 'header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new SafetensorsError('header-json', `header is not valid JSON: ${why}`);
  }
  const twice = repeatedKey(text);
  if (twice !== undefined) throw new SafetensorsError('duplicate-name', `tensor ${q(twice)} is named twice in the header`, twice);
  return { header, dataStart: 8 + len };
}

/**
 * The first top-level key of a JSON object text that occurs twice, if any. The text is valid
 * JSON (JSON.parse accepted it), so a scan of strings and brackets is enough.
 */
function repeatedKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth === 1) expectKey = c === 0x7b;
    } else if (c === 0x7d || c === 0x5d) depth--;
    else if (c === 0x2c && depth === 1) expectKey = true;
  }
  return undefined;
}

/** Throws naming the tensor and the first NaN or ±Inf of a float tensor (as decoded: 16-bit floats may be bits). */
function checkFinite(name: string, dtype: Dtype, data: TensorData): void {
  const at = firstNonFinite(dtype, data);
  if (at < 0) return;
  const v = dtype === 'F16' || dtype === 'BF16' ? halfToFloat32((data as Uint16Array).subarray(at, at + 1), dtype)[0]! : Number(data[at]);
  throw new SafetensorsError('non-finite', `tensor ${q(name)}: ${v} at index ${at} (of ${data.length}); the weights are not finite`, name);
}

/** Index of the first NaN or ±Inf in a float tensor's values (16-bit floats as bits), or -1. */
export function firstNonFinite(dtype: Dtype, data: TensorData): number {
  if (dtype === 'F32' || dtype === 'F64') return firstNonFiniteFloat(data as Float32Array | Float64Array);
  if (dtype === 'F16' || dtype === 'BF16') return firstAllOnesExponent(data as Uint16Array, dtype === 'F16' ? 0x7c00 : 0x7f80);
  return -1;
}

/** Values are scanned in blocks without a branch per value; only a block that holds a bad one is searched. */
const BLOCK = 4096;

function firstNonFiniteFloat(a: Float32Array | Float64Array): number {
  for (let start = 0; start < a.length; start += BLOCK) {
    const end = Math.min(a.length, start + BLOCK);
    // x·0 is ±0 for every finite x and NaN for NaN and ±Inf, so the sum is 0 unless one is bad.
    let sum = 0;
    for (let i = start; i < end; i++) sum += a[i]! * 0;
    if (sum !== 0) for (let i = start; i < end; i++) if (a[i]! - a[i]! !== 0) return i;
  }
  return -1;
}

/** 16-bit floats are Inf or NaN when their exponent bits (`mask`) are all ones. */
function firstAllOnesExponent(a: Uint16Array, mask: number): number {
  const carry = mask & -mask; // the exponent's lowest bit: adding it to all ones carries into bit 15
  for (let start = 0; start < a.length; start += BLOCK) {
    const end = Math.min(a.length, start + BLOCK);
    let any = 0;
    for (let i = start; i < end; i++) any |= ((a[i]! & mask) + carry) & 0x8000;
    if (any !== 0) for (let i = start; i < end; i++) if ((a[i]! & mask) === mask) return i;
  }
  return -1;
}

const kindOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`);

function checkHeader(header: unknown): { entries: Entry[]; metadata: Record<string, string> | undefined } {
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SafetensorsError('header-not-object', `header must be a JSON object, got ${kindOf(header)}`);
  }
  let metadata: Record<string, string> | undefined;
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') metadata = checkMetadata(raw);
    else entries.push(checkEntry(name, raw));
  }
  return { entries, metadata };
}

function checkMetadata(raw: unknown): Record<string, string> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new SafetensorsError('metadata', `__metadata__ must be an object of strings, got ${kindOf(raw)}`);
  }
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') throw new SafetensorsError('metadata', `__metadata__ value of ${q(k)} must be a string, got ${kindOf(v)}`);
  }
  return Object.fromEntries(Object.entries(raw)) as Record<string, string>; // fromEntries: safe for "__proto__"
}

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function checkEntry(name: string, raw: unknown): Entry {
  const fail = (code: SafetensorsErrorCode, what: string): never => {
    throw new SafetensorsError(code, `tensor ${q(name)}: ${what}`, name);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('entry', `entry must be an object, got ${kindOf(raw)}`);
  const r = raw as Record<string, unknown>;
  for (const field of ['dtype', 'shape', 'data_offsets']) if (!(field in r)) fail('missing-field', `missing "${field}"`);
  const { dtype, shape, data_offsets: offsets } = r;
  if (typeof dtype !== 'string') return fail('unknown-dtype', `dtype must be a string, got ${kindOf(dtype)}`);
  if (UNSUPPORTED.has(dtype)) fail('unsupported-dtype', `dtype ${dtype} is not supported by this reader`);
  if (!Object.hasOwn(DTYPES, dtype)) fail('unknown-dtype', `unknown dtype ${q(dtype)} (known: ${Object.keys(DTYPES).join(', ')})`);
  if (!Array.isArray(shape) || !shape.every(isIndex)) {
    return fail('bad-shape', `shape must be an array of non-negative integers, got ${brief(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex) || offsets[0] > offsets[1]) {
    return fail('bad-offsets', `data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got ${brief(offsets)}`);
  }
  const dt = dtype as Dtype;
  let count = 1;
  for (const d of shape) {
    count *= d;
    if (!Number.isSafeInteger(count * DTYPES[dt].size)) fail('size-mismatch', `shape ${fmtShape(shape)} is too large`);
  }
  const [begin, end] = offsets as [number, number];
  const need = count * DTYPES[dt].size;
  if (end - begin !== need) {
    fail('size-mismatch', `shape ${fmtShape(shape)} of ${dt} needs ${need} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
  }
  return { name, dtype: dt, shape: shape as number[], begin, end };
}

/** The tensors must cover the data buffer exactly, each byte once. Sorts `entries` by offset. */
function checkTiling(entries: Entry[], dataLength: number): void {
  // A tensor past the end is named first: moved away, it would otherwise show as a hole.
  const past = entries.find((e) => e.end > dataLength);
  if (past) {
    throw new SafetensorsError('out-of-range',
      `tensor ${q(past.name)}: data_offsets [${past.begin}, ${past.end}] run past the end of the data buffer (${dataLength} bytes): file truncated?`, past.name);
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0; // every byte before pos belongs to exactly one tensor
  let owner: Entry | undefined; // the tensor that ends at pos
  let last: Entry | undefined;
  for (const e of entries) {
    if (e.begin < pos) {
      const o = owner!;
      throw new SafetensorsError('overlap',
        `tensors ${q(o.name)} [${o.begin}, ${o.end}] and ${q(e.name)} [${e.begin}, ${e.end}] overlap`, e.name);
    }
    if (e.begin > pos) {
      const after = last ? `after ${q(last.name)}` : 'at the start';
      throw new SafetensorsError('hole', `data bytes [${pos}, ${e.begin}) belong to no tensor (a hole ${after}, before ${q(e.name)})`, e.name);
    }
    if (e.end > pos) {
      owner = e;
      pos = e.end;
    }
    last = e;
  }
  if (pos < dataLength) {
    throw new SafetensorsError('trailing-bytes', `the data buffer has ${dataLength - pos} bytes after the last tensor that belong to no tensor`);
  }
}

function decode(bytes: Uint8Array, dataStart: number, e: Entry, options: ReadOptions): ReadTensor {
  const { size } = DTYPES[e.dtype];
  const count = (e.end - e.begin) / size;
  const at = bytes.byteOffset + dataStart + e.begin;
  // A typed-array view needs its offset aligned to the element size; otherwise copy.
  const [buffer, offset] = at % size === 0
    ? [bytes.buffer, at]
    : [bytes.slice(dataStart + e.begin, dataStart + e.end).buffer, 0];
  const base = { shape: e.shape, stored: e.dtype };
  switch (e.dtype) {
    case 'F64': {
      const data = new Float64Array(buffer, offset, count);
      return options.asFloat32 ? { ...base, dtype: 'F32', data: Float32Array.from(data) } : { ...base, dtype: 'F64', data };
    }
    case 'F32': return { ...base, dtype: 'F32', data: new Float32Array(buffer, offset, count) };
    case 'F16': case 'BF16': {
      const data = new Uint16Array(buffer, offset, count);
      return options.asFloat32 ? { ...base, dtype: 'F32', data: halfToFloat32(data, e.dtype) } : { ...base, dtype: e.dtype, data };
    }
    case 'I64': case 'U64': {
      if (options.int64 === 'bigint') {
        const data = e.dtype === 'I64' ? new BigInt64Array(buffer, offset, count) : new BigUint64Array(buffer, offset, count);
        return { ...base, dtype: e.dtype, data };
      }
      return { ...base, dtype: 'I32', data: narrowInt64(new Int32Array(buffer, offset, count * 2), e) };
    }
    case 'I32': return { ...base, dtype: 'I32', data: new Int32Array(buffer, offset, count) };
    case 'U32': return { ...base, dtype: 'U32', data: new Uint32Array(buffer, offset, count) };
    case 'I16': return { ...base, dtype: 'I16', data: new Int16Array(buffer, offset, count) };
    case 'U16': return { ...base, dtype: 'U16', data: new Uint16Array(buffer, offset, count) };
    case 'I8': return { ...base, dtype: 'I8', data: new Int8Array(buffer, offset, count) };
    case 'U8': case 'BOOL': return { ...base, dtype: e.dtype, data: new Uint8Array(buffer, offset, count) };
  }
}

/** Little-endian (lo, hi) 32-bit pairs → Int32, if every value fits. */
function narrowInt64(pairs: Int32Array, e: Entry): Int32Array {
  const out = new Int32Array(pairs.length / 2);
  for (let i = 0; i < out.length; i++) {
    const lo = pairs[2 * i]!;
    const hi = pairs[2 * i + 1]!;
    const fits = e.dtype === 'I64' ? hi === lo >> 31 : hi === 0 && lo >= 0;
    if (!fits) {
      const v = e.dtype === 'I64' ? (BigInt(hi) << 32n) | BigInt(lo >>> 0) : (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
      throw new SafetensorsError('int64-range',
        `tensor ${q(e.name)}: ${e.dtype} value ${v} at index ${i} does not fit in Int32 (read with int64: 'bigint' to keep it)`, e.name);
    }
    out[i] = lo;
  }
  return out;
}

/** The named tensor as a Float32Array (converting F16/BF16/F64), checking its shape if given. */
export function getFloat32(file: SafetensorsFile, name: string, shape?: readonly number[]): Float32Array {
  const t = file.tensors.get(name);
  if (!t) {
    const have = [...file.tensors.keys()];
    const list = have.length > 12 ? `${have.slice(0, 12).join(', ')}, …` : have.join(', ');
    throw new SafetensorsError('not-found', `no tensor named ${q(name)} (the file has ${have.length}: ${list})`, name);
  }
  if (shape && (shape.length !== t.shape.length || shape.some((d, i) => d !== t.shape[i]))) {
    throw new SafetensorsError('bad-shape', `tensor ${q(name)}: shape ${fmtShape(t.shape)}, expected ${fmtShape(shape)}`, name);
  }
  switch (t.dtype) {
    case 'F32': return t.data as Float32Array;
    case 'F64': return Float32Array.from(t.data as Float64Array);
    case 'F16': case 'BF16': return halfToFloat32(t.data as Uint16Array, t.dtype);
    default: throw new SafetensorsError('wrong-dtype', `tensor ${q(name)}: dtype ${t.dtype} is not a float`, name);
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

type ArrayClass =
  | 'Float64Array' | 'Float32Array' | 'BigInt64Array' | 'BigUint64Array' | 'Int32Array' | 'Uint32Array'
  | 'Int16Array' | 'Uint16Array' | 'Int8Array' | 'Uint8Array';

/** The typed-array class of `data` (a Node Buffer counts as Uint8Array). */
function classOf(data: TensorData): ArrayClass | undefined {
  if (data instanceof Float64Array) return 'Float64Array';
  if (data instanceof Float32Array) return 'Float32Array';
  if (data instanceof BigInt64Array) return 'BigInt64Array';
  if (data instanceof BigUint64Array) return 'BigUint64Array';
  if (data instanceof Int32Array) return 'Int32Array';
  if (data instanceof Uint32Array) return 'Uint32Array';
  if (data instanceof Int16Array) return 'Int16Array';
  if (data instanceof Uint16Array) return 'Uint16Array';
  if (data instanceof Int8Array) return 'Int8Array';
  if (data instanceof Uint8Array) return 'Uint8Array';
  return undefined;
}

/** The class that holds each dtype exactly (written byte for byte). */
const NATURAL: Record<Dtype, ArrayClass> = {
  F64: 'Float64Array', F32: 'Float32Array', F16: 'Uint16Array', BF16: 'Uint16Array',
  I64: 'BigInt64Array', I32: 'Int32Array', I16: 'Int16Array', I8: 'Int8Array',
  U64: 'BigUint64Array', U32: 'Uint32Array', U16: 'Uint16Array', U8: 'Uint8Array', BOOL: 'Uint8Array',
};

/**
 * The dtype a typed array is written as when `dtype` is left out. Uint16Array is ambiguous
 * (F16, BF16 or U16 bits) and needs an explicit dtype.
 */
export function inferDtype(data: TensorData): Dtype | undefined {
  const cls = classOf(data);
  if (cls === undefined || cls === 'Uint16Array') return undefined;
  return (Object.keys(NATURAL) as Dtype[]).find((d) => NATURAL[d] === cls);
}

/**
 * The bytes to write for one tensor. Besides the natural class for each dtype (see NATURAL),
 * F32 accepts a Float64Array, F16/BF16 a Float32Array (rounded to nearest even), and I64 an
 * Int32Array (widened). Anything else is an error rather than a guess.
 */
function encode(name: string, t: WriteTensor): { dtype: Dtype; shape: number[]; bytes: Uint8Array } {
  const fail = (what: string): never => {
    throw new SafetensorsError('write', `tensor ${q(name)}: ${what}`, name);
  };
  const cls = classOf(t.data) ?? fail('data must be a typed array');
  const dtype = t.dtype ?? inferDtype(t.data) ?? fail(`${cls} needs an explicit dtype (F16, BF16 or U16)`);
  if (!Object.hasOwn(DTYPES, dtype)) fail(`unknown dtype ${q(dtype)}`);
  const shape = Array.isArray(t.shape) && t.shape.every(isIndex) ? [...t.shape]
    : fail(`shape must be an array of non-negative integers, got ${brief(t.shape)}`);
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== t.data.length) fail(`shape ${fmtShape(shape)} has ${count} elements but the data has ${t.data.length}`);
  const raw = (a: TensorData): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (cls === NATURAL[dtype]) {
    if (dtype === 'BOOL' && (t.data as Uint8Array).some((v) => v > 1)) fail('BOOL data must be 0 or 1');
    return { dtype, shape, bytes: raw(t.data) };
  }
  if (dtype === 'F32' && t.data instanceof Float64Array) return { dtype, shape, bytes: raw(Float32Array.from(t.data)) };
  if ((dtype === 'F16' || dtype === 'BF16') && t.data instanceof Float32Array) return { dtype, shape, bytes: raw(float32ToHalf(t.data, dtype)) };
  if (dtype === 'I64' && t.data instanceof Int32Array) return { dtype, shape, bytes: raw(BigInt64Array.from(t.data, (v) => BigInt(v))) };
  return fail(`cannot write ${cls} as ${dtype}`);
}

/** Code-point order, which is the byte order of UTF-8 and so the reference's name order. */
function compareNames(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return (x.done ? 0 : 1) - (y.done ? 0 : 1);
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

/**
 * Serialises tensors to a complete safetensors file. The input's order does not matter: the
 * output order is the reference's (dtype alignment, largest first, then name), so the same
 * tensors always give the same bytes.
 */
export function serializeSafetensors(
  tensors: ReadonlyMap<string, WriteTensor> | Readonly<Record<string, WriteTensor>>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const list: [string, WriteTensor][] = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const encoded = list.map(([name, t]) => {
    if (name === '__metadata__') throw new SafetensorsError('write', 'a tensor cannot be named "__metadata__"', name);
    return { name, ...encode(name, t) };
  });
  encoded.sort((a, b) => DTYPES[b.dtype].rank - DTYPES[a.dtype].rank || compareNames(a.name, b.name));

  // The JSON is assembled as text so that any name, "__proto__" included, is just a key.
  const parts: string[] = [];
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError('write', `__metadata__ value of ${q(k)} must be a string, got ${kindOf(v)}`);
    }
    parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  for (const t of encoded) {
    const info = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    parts.push(`${q(t.name)}:${JSON.stringify(info)}`);
    offset += t.bytes.length;
  }
  const text = new TextEncoder().encode(`{${parts.join(',')}}`);
  const n = Math.ceil(text.length / 8) * 8;

  const out = new Uint8Array(8 + n + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(text, 8);
  out.fill(0x20, 8 + text.length, 8 + n);
  let at = 8 + n;
  for (const t of encoded) {
    out.set(t.bytes, at);
    at += t.bytes.length;
  }
  return out;
}
