// The wasm backend's matrix multiply: f32 sums in WebAssembly SIMD (gemm.wat) on every thread
// (threads.ts), over operands in one shared WebAssembly memory (heap.ts).
//
// Operands already in that memory (the frozen weights, which the backend puts there once) are
// read where they are; others (activations, the small trainable tensors) are copied into its
// staging area first, and C is copied out when it does not live there. A product is split between
// the threads by columns of C (by rows where C is narrow); small products run on the main thread
// alone, where waking the workers would cost more than it saves.
//
// f32 sums with fused multiply-adds where the engine has relaxed SIMD: results differ from the
// reference gemm's in-order f64 sums by rounding (relative ~1e-7·√K); f64 operands (the
// reference's f64 mode) go to the reference gemm.
import { availableParallelism } from 'node:os';
import v8 from 'node:v8';
import { gemm } from '../cpu/kernels/linear.ts';
import type { FloatArray } from '../cpu/tensor.ts';
import { WasmError } from './errors.ts';
import { GEMM_PLAIN_BASE64, GEMM_RELAXED_BASE64 } from './gemm-bytes.ts';
import { wasmHeap, type WasmHeap } from './heap.ts';
import { MAX_THREADS, ThreadPool, type PartFn } from './threads.ts';

/** Bytes of one thread's scratch in gemm.wat's `part`: packed A (32 MiB), packed B (NC·KC floats), tiles (MC·NC floats). */
const SCRATCH_BYTES = 2 ** 25 + (256 * 256 + 516 * 256) * 4;
/** Products below this many multiply-adds run on one thread. */
const THREAD_MIN_MACS = 1 << 21;
/**
 * Rows up to which gemm.wat multiplies without packing (a decoding step's, one per sequence);
 * such a product streams B once, so it pays to split it from this many floats of B on.
 */
const FEW_ROWS = 4;
const FEW_ROWS_THREAD_MIN = 1 << 16;

interface Engine {
  heap: WasmHeap;
  pool: ThreadPool;
  /** Whether the module uses relaxed SIMD's fused multiply-add. */
  relaxed: boolean;
}

let engine: Engine | undefined;
let wantThreads = defaultThreads();
/** Whether to use relaxed SIMD where the engine has it (the plain copy otherwise; tests run both). */
let wantRelaxed = true;

function defaultThreads(): number {
  return Math.max(1, Math.min(MAX_THREADS, availableParallelism()));
}

/**
 * Sets the number of threads (the main thread included) for the products from now on, and
 * whether they may use relaxed SIMD (default true; false runs the plain copy).
 */
export function setGemmThreads(threads: number, relaxed = true): void {
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) throw new WasmError(`--threads must be an integer from 1 to ${MAX_THREADS}, not ${threads}`);
  if (engine && (engine.pool.threads !== threads || wantRelaxed !== relaxed)) {
    engine.pool.close();
    engine = undefined;
  }
  wantThreads = threads;
  wantRelaxed = relaxed;
}

/** The threads the products use, and whether their sums use fused multiply-adds. */
export function gemmInfo(): { threads: number; relaxed: boolean } {
  const e = start();
  return { threads: e.pool.threads, relaxed: e.relaxed };
}

/**
 * Node 20's V8 (11.3) has relaxed SIMD behind a flag; setting it before the first compile turns
 * it on (later engines have it by default, and compile() falls back where it is missing).
 */
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

function compile(): { module: WebAssembly.Module; relaxed: boolean } {
  const bytes = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  try {
    if (wantRelaxed) return { module: new WebAssembly.Module(bytes(GEMM_RELAXED_BASE64)), relaxed: true };
  } catch {
    // no relaxed SIMD in this engine
  }
  return { module: new WebAssembly.Module(bytes(GEMM_PLAIN_BASE64)), relaxed: false };
}

function start(): Engine {
  if (engine) return engine;
  const heap = wasmHeap();
  const { module, relaxed } = compile();
  const scratch = Array.from({ length: wantThreads }, (_, t) => heap.reserve(SCRATCH_BYTES, `thread ${t}'s packing scratch`));
  const main = new WebAssembly.Instance(module, { env: { memory: heap.memory } }).exports as unknown as { part: PartFn };
  return (engine = { heap, pool: new ThreadPool(heap, module, wantThreads, scratch, main.part), relaxed });
}

/**
 * C[M,N] = A[M,K] · B[K,N] (+ bias[N]), with A(m,k) = a[m·sAm + k·sAk] and
 * B(k,n) = b[k·sBk + n·sBn]; C is row-major and fully overwritten (the reference gemm's contract).
 */
export function gemmF32(
  M: number, N: number, K: number,
  a: FloatArray, sAm: number, sAk: number,
  b: FloatArray, sBk: number, sBn: number,
  c: FloatArray, bias: FloatArray | null = null,
): void {
  if (M === 0 || N === 0) return;
  if (!(c instanceof Float32Array) || a instanceof Float64Array || b instanceof Float64Array || bias instanceof Float64Array) {
    gemm(M, N, K, a, sAm, sAk, b, sBk, sBn, c, bias);
    return;
  }
  if (K === 0) {
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) c[m * N + n] = bias ? bias[n]! : 0;
    return;
  }
  const { heap, pool } = start();
  const stage = new Staging(heap);
  const aAt = stage.place(a);
  const bAt = stage.place(b);
  const biasAt = bias ? stage.place(bias) : 0;
  const cAt = heap.owns(c) ? c.byteOffset : stage.reserve(c.length);
  stage.commit();
  const job = [M, N, K, aAt, sAm, sAk, bAt, sBk, sBn, cAt, N, biasAt, bias ? 1 : 0];
  pool.run(job, split(M, N, alone(M, N, K) ? 1 : pool.threads));
  if (!heap.owns(c)) c.set(heap.f32.subarray(cAt / 4, cAt / 4 + c.length));
}

/** Whether a product is too small to be worth waking the workers. */
function alone(M: number, N: number, K: number): boolean {
  return M <= FEW_ROWS ? N * K < FEW_ROWS_THREAD_MIN : M * N * K < THREAD_MIN_MACS;
}

/** Thread t's [m0, m1, n0, n1]: columns in multiples of 8 where C is wide enough, else rows in multiples of 6. */
export function split(M: number, N: number, threads: number): [number, number, number, number][] {
  if (threads === 1) return [[0, M, 0, N]];
  if (N >= 16 * threads) {
    const w = Math.ceil(N / threads / 8) * 8;
    return Array.from({ length: threads }, (_, t) => [0, M, Math.min(N, t * w), Math.min(N, (t + 1) * w)]);
  }
  const h = Math.ceil(M / threads / 6) * 6;
  return Array.from({ length: threads }, (_, t) => [Math.min(M, t * h), Math.min(M, (t + 1) * h), 0, N]);
}

/** Copies of the operands that are not in the memory, one after another above the reserved bytes. */
class Staging {
  private end: number;
  private readonly copies: { at: number; x: FloatArray }[] = [];

  constructor(private readonly heap: WasmHeap) {
    this.end = heap.stagingBase;
  }

  /** The byte address `x` will have in the memory. */
  place(x: FloatArray): number {
    if (x instanceof Float32Array && this.heap.owns(x)) return x.byteOffset;
    const at = this.reserve(x.length);
    this.copies.push({ at, x });
    return at;
  }

  /** Room for n floats (64-byte aligned). */
  reserve(n: number): number {
    const at = this.end;
    this.end = Math.ceil((at + 4 * n) / 64) * 64;
    return at;
  }

  /** Grows the memory to hold everything placed, then copies. */
  commit(): void {
    this.heap.ensure(this.end);
    const f32 = this.heap.f32;
    for (const { at, x } of this.copies) f32.set(x, at / 4);
  }
}
