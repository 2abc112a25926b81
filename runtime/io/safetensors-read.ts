// Reading safetensors bytes: the header checked as the reference implementation checks it,
// the tensors tiling the data buffer exactly, and views (or copies) of the data (see safetensors.ts).
import { halfToFloat32 } from './half.ts';
import {
  DTYPES, LITTLE_ENDIAN, MAX_HEADER_BYTES, SafetensorsError, UNSUPPORTED, brief, fmtShape, isIndex, kindOf, q,
  type Dtype, type SafetensorsErrorCode, type ReadOptions, type ReadTensor, type SafetensorsFile, type TensorData,
} from './safetensors-format.ts';

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
