// Writing safetensors bytes, identical to the reference's for the same tensors (see safetensors.ts).
import { float32ToHalf } from './half.ts';
import {
  DTYPES, SafetensorsError, brief, fmtShape, isIndex, kindOf, q,
  type Dtype, type TensorData, type WriteTensor,
} from './safetensors-format.ts';

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
