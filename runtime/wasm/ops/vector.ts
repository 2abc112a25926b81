// The f32 SIMD loops of vector.wat, on f32 arrays of the JavaScript heap: each call stages its
// values in the module's own memory (a copy in and out, a memcpy each, far cheaper than the
// exps), in chunks that stay in the cache. Undefined where the engine has no WebAssembly SIMD:
// the kernels then take their JavaScript loops.
import { VECTOR_WASM_BASE64 } from './vector-bytes.ts';

interface Exports {
  memory: WebAssembly.Memory;
  exp_shift_sum(p: number, n: number, shift: number): number;
  gelu(p: number, n: number): void;
  gelu_grad(p: number, q: number, n: number): void;
  gelu_erf(p: number, n: number): void;
  gelu_erf_grad(p: number, q: number, n: number): void;
}

/** The elementwise loops by op: y ← f(x), or with dy, y ← dy·f'(x). */
export type UnaryLoop = 'gelu' | 'gelu_erf';
export type GradLoop = 'gelu_grad' | 'gelu_erf_grad';

/** Floats per chunk of an elementwise op: two operands of 64 KiB each. */
const CHUNK = 16384;

function instantiate(): Exports | undefined {
  try {
    const bytes = Uint8Array.from(atob(VECTOR_WASM_BASE64), (c) => c.charCodeAt(0));
    return new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as Exports;
  } catch {
    return undefined;
  }
}

class Vector {
  private f32: Float32Array;

  constructor(private readonly x: Exports) {
    this.f32 = new Float32Array(x.memory.buffer);
  }

  /** The memory as floats, grown to hold n of them. */
  private floats(n: number): Float32Array {
    const need = n * 4 - this.x.memory.buffer.byteLength;
    if (need > 0) {
      this.x.memory.grow(Math.ceil(need / 65536));
      this.f32 = new Float32Array(this.x.memory.buffer);
    }
    return this.f32;
  }

  /**
   * exp(src[off + j] − shift) for j < n, written to dst at the same offsets when dst is given;
   * returns their sum (f64). f32 arithmetic, ~1 ulp per exp.
   */
  expShiftSum(src: Float32Array, off: number, n: number, shift: number, dst: Float32Array | undefined): number {
    const m = this.floats(n);
    m.set(src.subarray(off, off + n));
    const s = this.x.exp_shift_sum(0, n, shift);
    if (dst) dst.set(m.subarray(0, n), off);
    return s;
  }

  /** o ← f(x) elementwise, f the loop named. */
  unary(loop: UnaryLoop, x: Float32Array, o: Float32Array): void {
    const m = this.floats(CHUNK);
    const f = this.x[loop];
    for (let i = 0; i < x.length; i += CHUNK) {
      const n = Math.min(CHUNK, x.length - i);
      m.set(x.subarray(i, i + n));
      f(0, (n + 3) & ~3); // lanes past n hold stale values; their results are not read
      o.set(m.subarray(0, n), i);
    }
  }

  /** o ← dy·f'(x) elementwise, f' the loop named. */
  grad(loop: GradLoop, x: Float32Array, dy: Float32Array, o: Float32Array): void {
    const m = this.floats(2 * CHUNK);
    const f = this.x[loop];
    for (let i = 0; i < x.length; i += CHUNK) {
      const n = Math.min(CHUNK, x.length - i);
      m.set(x.subarray(i, i + n));
      m.set(dy.subarray(i, i + n), CHUNK);
      f(0, CHUNK * 4, (n + 3) & ~3);
      o.set(m.subarray(0, n), i);
    }
  }
}

let vector: Vector | null | undefined;

/** The SIMD loops, or undefined where WebAssembly SIMD is not available. */
export function simd(): Vector | undefined {
  if (vector === undefined) {
    const x = instantiate();
    vector = x ? new Vector(x) : null;
  }
  return vector ?? undefined;
}
