// The safetensors format's vocabulary, shared by the reader (safetensors-read.ts) and the
// writer (safetensors-write.ts): dtypes, tensors, options, the error type and the size table.
// safetensors.ts describes the format and the choices.
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
export const DTYPES: Record<Dtype, { size: number; rank: number }> = {
  BOOL: { size: 1, rank: 0 }, U8: { size: 1, rank: 1 }, I8: { size: 1, rank: 2 },
  I16: { size: 2, rank: 5 }, U16: { size: 2, rank: 6 }, F16: { size: 2, rank: 7 }, BF16: { size: 2, rank: 8 },
  I32: { size: 4, rank: 9 }, U32: { size: 4, rank: 10 }, F32: { size: 4, rank: 11 },
  F64: { size: 8, rank: 12 }, I64: { size: 8, rank: 13 }, U64: { size: 8, rank: 14 },
};
/** Dtypes the format defines that this reader does not decode. */
export const UNSUPPORTED = new Set(['F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'C64']);
/** The reference refuses headers above this size; so do we (a corrupt length would allocate it). */
export const MAX_HEADER_BYTES = 100_000_000;

export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export const fmtShape = (shape: readonly unknown[]): string => `[${shape.join(', ')}]`;
export const q = (name: string): string => JSON.stringify(name);
/** A short, never-recursing rendering of a header value for messages (JSON.stringify can overflow the stack). */
export function brief(v: unknown): string {
  const item = (x: unknown): string => {
    if (Array.isArray(x)) return '[…]';
    if (typeof x === 'object' && x !== null) return '{…}';
    if (typeof x === 'string') return JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}…` : x);
    return String(x);
  };
  if (!Array.isArray(v)) return item(v);
  return `[${v.slice(0, 8).map(item).join(',')}${v.length > 8 ? ',…' : ''}]`;
}
/** What a header value is, for messages (`null`, `an array`, `a string`…). */
export const kindOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`);
/** A byte offset or a dimension: a non-negative safe integer. */
export const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
