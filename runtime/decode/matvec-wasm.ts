// The decoding step's matrix-vector products in WebAssembly SIMD (matvec.wat): a step reads
// every weight once for a few rows, so it is bound by how fast the weights are read, and four
// f32 lanes read them about three times faster than JavaScript's scalar loop.
//
// WebAssembly reads only its own memory. A decoder's weights (the parameters its linears
// multiply by; constant while it decodes) are copied into that memory when it is made, up to
// RESIDENT_BYTES; a weight past that budget is copied in for each product (still faster than
// the scalar loop). Sums are f32, as in PyTorch and on GPUs; the reference kernels sum in f64.
// No WebAssembly SIMD (an old engine): `create` returns undefined and the scalar loop runs.
import { MATVEC_WASM_BASE64 } from './matvec-wasm-bytes.ts';

/** Weights kept in WebAssembly memory for a decoder's lifetime (GPT-2 small's are 0.5 GiB). */
export const RESIDENT_BYTES = 1024 * 1024 * 1024;
const PAGE = 65536;
/** Room for a step's x and y rows past the resident weights (GPT-2's vocabulary: 0.2 MiB). */
const SCRATCH = 1024 * 1024;

interface Exports {
  memory: WebAssembly.Memory;
  inout(x: number, w: number, y: number, K: number, N: number): void;
  outin(x: number, w: number, y: number, K: number, N: number): void;
}

/** The module's exports are what Exports says: its memory and the two products. */
function isExports(e: WebAssembly.Exports): e is WebAssembly.Exports & Exports {
  return e.memory instanceof WebAssembly.Memory && typeof e.inout === 'function' && typeof e.outin === 'function';
}

let compiled: WebAssembly.Module | null | undefined;

/** The compiled module, or null where the engine has no WebAssembly SIMD. */
function moduleOnce(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  try {
    const bytes = Uint8Array.from(atob(MATVEC_WASM_BASE64), (c) => c.charCodeAt(0));
    compiled = new WebAssembly.Module(bytes);
  } catch {
    compiled = null;
  }
  return compiled;
}

/** Where a weight lives: its buffer, offset and length (views of one weight are equal keys). */
const keyOf = (w: Float32Array): string => `${w.byteOffset}:${w.length}`;

export class WasmMatvec {
  private readonly wasm: Exports;
  /** Byte offsets in wasm memory of the resident weights, by buffer and key. */
  private readonly resident = new WeakMap<ArrayBufferLike, Map<string, number>>();
  /** Keys of the weights that may become resident (the decoder's parameters), by buffer. */
  private readonly allowed = new WeakMap<ArrayBufferLike, Set<string>>();
  /** End of the resident weights; the scratch (x, y, a weight copied per product) lies after it. */
  private top = 0;
  private residentBytes = 0;

  private constructor(
    instance: WebAssembly.Instance,
    private readonly budget: number,
  ) {
    const exports = instance.exports;
    if (!isExports(exports)) throw new Error('matvec.wasm lacks memory, inout or outin');
    this.wasm = exports;
  }

  /**
   * A product engine for the weights `weights` (views of the decoder's parameters), or undefined
   * without WebAssembly SIMD. `budget`: bytes of weights kept resident.
   */
  static create(weights: Float32Array[], budget = RESIDENT_BYTES): WasmMatvec | undefined {
    const mod = moduleOnce();
    if (!mod) return undefined;
    const m = new WasmMatvec(new WebAssembly.Instance(mod), budget);
    let total = 0;
    for (const w of weights) {
      let keys = m.allowed.get(w.buffer);
      if (!keys) m.allowed.set(w.buffer, (keys = new Set()));
      keys.add(keyOf(w));
      if (total + w.byteLength <= budget) total += align16(w.byteLength);
    }
    // One growth up front: each growth copies the whole memory, so growing weight by weight
    // would copy the resident weights over and over (1.6 s instead of 0.2 s for GPT-2 small).
    if (fits(total)) m.ensure(total + SCRATCH);
    // Copied now, with the decoder (0.2 s for GPT-2 small), not in its first step.
    for (const w of weights) m.residentOffset(w);
    return m;
  }

  /** Bytes of weights held in WebAssembly memory. */
  get residentSize(): number {
    return this.residentBytes;
  }

  /**
   * y[0..N) = x·w for one row of K features: `inOut` w is [K, N], else [N, K]. Returns false for
   * inputs it does not take (not f32), so the caller runs its own loop.
   */
  product(inOut: boolean, x: ArrayLike<number>, w: ArrayLike<number>, K: number, N: number, y: Float32Array | Float64Array): boolean {
    if (!(w instanceof Float32Array) || w.length !== K * N || !fits(this.top + 4 * (K + N + K * N))) return false;
    let wAt = this.residentOffset(w);
    const scratch = wAt === undefined ? 4 * (K + N + K * N) : 4 * (K + N);
    const xAt = this.reserve(scratch);
    const yAt = xAt + 4 * K;
    if (wAt === undefined) {
      wAt = yAt + 4 * N;
      new Float32Array(this.wasm.memory.buffer, wAt, K * N).set(w);
    }
    new Float32Array(this.wasm.memory.buffer, xAt, K).set(x);
    (inOut ? this.wasm.inout : this.wasm.outin)(xAt, wAt, yAt, K, N);
    y.set(new Float32Array(this.wasm.memory.buffer, yAt, N));
    return true;
  }

  /** The weight's offset in wasm memory, copying it there if it may stay. */
  private residentOffset(w: Float32Array): number | undefined {
    const key = keyOf(w);
    const at = this.resident.get(w.buffer)?.get(key);
    if (at !== undefined) return at;
    if (!this.allowed.get(w.buffer)?.has(key) || this.residentBytes + w.byteLength > this.budget) return undefined;
    const offset = align16(this.top);
    this.ensure(offset + w.byteLength);
    new Float32Array(this.wasm.memory.buffer, offset, w.length).set(w);
    this.top = offset + w.byteLength;
    this.residentBytes += w.byteLength;
    let byKey = this.resident.get(w.buffer);
    if (!byKey) this.resident.set(w.buffer, (byKey = new Map()));
    byKey.set(key, offset);
    return offset;
  }

  /** `bytes` of scratch after the resident weights, 16-byte aligned. */
  private reserve(bytes: number): number {
    const at = align16(this.top);
    this.ensure(at + bytes + 16);
    return at;
  }

  /** Grows the memory to hold `end` bytes (views made before a growth are not kept anywhere). */
  private ensure(end: number): void {
    const have = this.wasm.memory.buffer.byteLength;
    if (end > have) this.wasm.memory.grow(Math.ceil((end - have) / PAGE));
  }
}

/** A product that does not fit WebAssembly's 4 GiB memory: the caller's loop runs it. */
function fits(bytes: number): boolean {
  return bytes < 3.5 * 1024 ** 3;
}

const align16 = (n: number): number => (n + 15) & ~15;
