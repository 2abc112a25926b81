// The f32 SIMD loops of vector.wat, on f32 arrays of the JavaScript heap: each call stages its
// values in the module's own memory (a copy in and out, a memcpy each, far cheaper than the
// exps), in chunks that stay in the cache. Undefined where the engine has no WebAssembly SIMD:
// the kernels then take their JavaScript loops.
import { VECTOR_WASM_BASE64 } from './vector-bytes.ts';

interface Exports {
  memory: WebAssembly.Memory;
  row_max(p: number, n: number): number;
  exp_shift_sum(p: number, n: number, shift: number): number;
  gelu(p: number, n: number): void;
  gelu_grad(p: number, q: number, n: number): void;
  gelu_erf(p: number, n: number): void;
  gelu_erf_grad(p: number, q: number, n: number): void;
  layernorm(x: number, g: number, b: number, rows: number, d: number, eps: number): void;
  layernorm_grad_x(x: number, dy: number, g: number, rows: number, d: number, eps: number): void;
  layernorm_grad_gamma(x: number, dy: number, acc: number, rows: number, d: number, eps: number): void;
  rmsnorm(x: number, g: number, rows: number, d: number, eps: number): void;
  rmsnorm_grad_x(x: number, dy: number, g: number, rows: number, d: number, eps: number): void;
  rmsnorm_grad_gamma(x: number, dy: number, acc: number, rows: number, d: number, eps: number): void;
  add(p: number, q: number, n: number): void;
  mul(p: number, q: number, n: number): void;
  scale(p: number, n: number, f: number): void;
}

/** The elementwise loops by op: y ← f(x); y ← dy·f'(x) or x ∘ y of two operands. */
export type UnaryLoop = 'gelu' | 'gelu_erf';
export type BinaryLoop = 'gelu_grad' | 'gelu_erf_grad' | 'add' | 'mul';

/** Floats per chunk of an elementwise op: two operands of 64 KiB each. */
const CHUNK = 16384;
/** Floats of x per block of norm rows (at least one row). */
const NORM_BLOCK = 65536;

/** Byte offsets of a norm block's operands in the memory. */
interface NormLayout {
  x: number;
  dy: number;
  g: number;
  b: number;
  acc: number;
}

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
   * A softmax row's parts: max = the largest of src[off … off + n) (NaN skipped), and
   * sum = Σ exp(src[off + j] − max) in f64; when dst is given, softmax/count written to it at the
   * same offsets. f32 arithmetic, ~1 ulp per exp.
   */
  expRow(src: Float32Array, off: number, n: number, dst: Float32Array | undefined, count: number): { max: number; sum: number } {
    const m = this.floats(n + 4);
    m.set(src.subarray(off, off + n));
    const max = this.x.row_max(0, n);
    const sum = this.x.exp_shift_sum(0, n, max);
    if (dst) {
      this.x.scale(0, (n + 3) & ~3, 1 / (sum * count));
      dst.set(m.subarray(0, n), off);
    }
    return { max, sum };
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

  /** o ← dy·f'(x) (a gradient loop) or x ∘ dy (add, mul) elementwise. */
  binary(loop: BinaryLoop, x: Float32Array, dy: Float32Array, o: Float32Array): void {
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

  /** o ← f·x elementwise, f a number exact in f32. */
  scale(x: Float32Array, f: number, o: Float32Array): void {
    const m = this.floats(CHUNK);
    for (let i = 0; i < x.length; i += CHUNK) {
      const n = Math.min(CHUNK, x.length - i);
      m.set(x.subarray(i, i + n));
      this.x.scale(0, (n + 3) & ~3, f);
      o.set(m.subarray(0, n), i);
    }
  }

  /**
   * Runs a norm loop over blocks of rows of d floats (d a multiple of 4), so the staging
   * memory stays small whatever the batch: per block x, then dy, then gamma and beta (1 and 0
   * when absent), one after another; the loop writes its result over x, which goes to o.
   */
  private normBlocks(x: Float32Array, dy: Float32Array | undefined, g: Float32Array | undefined, b: Float32Array | undefined, o: Float32Array | undefined, d: number, run: (at: NormLayout, rows: number) => void): void {
    const rowsPer = Math.max(1, Math.floor(NORM_BLOCK / d));
    const n = rowsPer * d;
    const at: NormLayout = { x: 0, dy: 4 * n, g: 8 * n, b: 8 * n + 4 * d, acc: 8 * n + 8 * d };
    const m = this.floats(2 * n + 4 * d);
    if (g) m.set(g, 2 * n);
    else m.fill(1, 2 * n, 2 * n + d);
    if (b) m.set(b, 2 * n + d);
    else m.fill(0, 2 * n + d, 2 * n + 2 * d);
    for (let i = 0; i < x.length; i += n) {
      const len = Math.min(n, x.length - i);
      m.set(x.subarray(i, i + len));
      if (dy) m.set(dy.subarray(i, i + len), n);
      run(at, len / d);
      if (o) o.set(m.subarray(0, len), i);
    }
  }

  /** o ← layernorm(x)·gamma + beta, rows of d (d % 4 = 0); gamma 1 and beta 0 when absent. */
  layernorm(x: Float32Array, g: Float32Array | undefined, b: Float32Array | undefined, o: Float32Array, d: number, eps: number): void {
    this.normBlocks(x, undefined, g, b, o, d, (at, rows) => this.x.layernorm(at.x, at.g, at.b, rows, d, eps));
  }

  /** o ← layernorm's dL/dx, rows of d (d % 4 = 0); gamma 1 when absent. */
  layernormGradX(x: Float32Array, dy: Float32Array, g: Float32Array | undefined, o: Float32Array, d: number, eps: number): void {
    this.normBlocks(x, dy, g, undefined, o, d, (at, rows) => this.x.layernorm_grad_x(at.x, at.dy, at.g, rows, d, eps));
  }

  /** Σ_rows dy·x̂ [d] in f64 for either norm, rows of d (d % 4 = 0). */
  normGradGamma(norm: 'layernorm' | 'rmsnorm', x: Float32Array, dy: Float32Array, d: number, eps: number): Float64Array {
    const loop = norm === 'layernorm' ? this.x.layernorm_grad_gamma : this.x.rmsnorm_grad_gamma;
    let acc = 0;
    this.normBlocks(x, dy, undefined, undefined, undefined, d, (at, rows) => {
      if (acc === 0) new Float64Array(this.x.memory.buffer, (acc = at.acc), d).fill(0);
      loop(at.x, at.dy, at.acc, rows, d, eps);
    });
    return acc === 0 ? new Float64Array(d) : new Float64Array(this.x.memory.buffer, acc, d).slice();
  }

  /** o ← x/rms(x)·gamma, rows of d (d % 4 = 0). */
  rmsnorm(x: Float32Array, g: Float32Array, o: Float32Array, d: number, eps: number): void {
    this.normBlocks(x, undefined, g, undefined, o, d, (at, rows) => this.x.rmsnorm(at.x, at.g, rows, d, eps));
  }

  /** o ← rmsnorm's dL/dx, rows of d (d % 4 = 0). */
  rmsnormGradX(x: Float32Array, dy: Float32Array, g: Float32Array, o: Float32Array, d: number, eps: number): void {
    this.normBlocks(x, dy, g, undefined, o, d, (at, rows) => this.x.rmsnorm_grad_x(at.x, at.dy, at.g, rows, d, eps));
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
