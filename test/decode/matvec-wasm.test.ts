// The decoding step's WebAssembly SIMD products (runtime/decode/matvec.wat, matvec-wasm.ts):
// the embedded bytes are the .wat assembled now; each product equals the float64 sum of its
// terms within f32 rounding (|y − ref| ≤ (1e-6·√K + 2e-6)·(Σ|x·w| + 1), the WebGPU matmul
// tolerance); weights past the resident budget or outside the decoder's parameters are copied
// for each product, so a changed weight is never served stale.
import { describe, expect, it, vi } from 'vitest';
import { CpuDecoder } from '../../runtime/decode/cpu-decoder.ts';
import { MATVEC_WASM_BASE64 } from '../../runtime/decode/matvec-wasm-bytes.ts';
import { WasmMatvec } from '../../runtime/decode/matvec-wasm.ts';
import { linearFewRows } from '../../runtime/decode/matvec.ts';
import { assemble } from '../../scripts/build-wasm.ts';
import { mulberry32 } from '../prng.ts';
import { cpuBackend, lastLogits, maxDiff, methodGraph, randomStore, tokensOf } from './helpers.ts';

function random(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => 2 * r() - 1);
}

/** Worst |y − ref| over the tolerance, for y = x·w with w [K, N] (inOut) or [N, K]. */
function worst(inOut: boolean, x: Float32Array, w: Float32Array, K: number, N: number, y: ArrayLike<number>): number {
  let out = 0;
  for (let n = 0; n < N; n++) {
    let ref = 0;
    let terms = 0;
    for (let k = 0; k < K; k++) {
      const t = x[k]! * w[inOut ? k * N + n : n * K + k]!;
      ref += t;
      terms += Math.abs(t);
    }
    out = Math.max(out, Math.abs(y[n]! - ref) / ((1e-6 * Math.sqrt(K) + 2e-6) * (terms + 1)));
  }
  return out;
}

const SHAPES: [number, number][] = [[1, 1], [3, 5], [16, 16], [37, 53], [64, 48], [768, 2304], [3072, 768], [768, 1000]];

describe('WebAssembly products of the decoding step', () => {
  it('embeds the bytes of runtime/decode/matvec.wat as assembled now (npm run build:wasm)', async () => {
    expect(Buffer.from(await assemble()).toString('base64')).toBe(MATVEC_WASM_BASE64);
  });

  it('inout and outin equal the float64 sum, with the tails of K and N mod 16, resident or copied', () => {
    for (const budget of [Infinity, 0]) {
      for (const [i, [K, N]] of SHAPES.entries()) {
        for (const inOut of [true, false]) {
          const x = random(K, i);
          const w = random(K * N, 100 + i);
          const m = WasmMatvec.create([w], budget)!;
          const y = new Float32Array(N).fill(NaN);
          expect(m.product(inOut, x, w, K, N, y)).toBe(true);
          expect(worst(inOut, x, w, K, N, y), `${inOut ? 'inout' : 'outin'} ${K}×${N} budget ${budget}`).toBeLessThanOrEqual(1);
          expect(m.residentSize).toBe(budget === Infinity ? 4 * K * N : 0);
        }
      }
    }
  });

  it('keeps a decoder parameter once and grows its memory without losing it; copies anything else each time', () => {
    const [K, N] = [768, 512];
    const kept = random(K * N, 1);
    const other = random(K * N, 2);
    const m = WasmMatvec.create([kept])!;
    const x = random(K, 3);
    const y = new Float32Array(N);
    m.product(true, x, kept, K, N, y);
    const first = Float32Array.from(y);
    expect(m.residentSize).toBe(kept.byteLength);
    // A large product of another weight grows the memory past the resident one.
    const big = random(4096 * 4096, 4);
    expect(m.product(false, random(4096, 5), big, 4096, 4096, new Float32Array(4096))).toBe(true);
    m.product(true, x, kept, K, N, y);
    expect(y).toEqual(first);
    // Not a parameter of the decoder: read anew at every product.
    m.product(true, x, other, K, N, y);
    expect(worst(true, x, other, K, N, y)).toBeLessThanOrEqual(1);
    other.fill(0);
    m.product(true, x, other, K, N, y);
    expect(Math.max(...y.map(Math.abs))).toBe(0);
    expect(m.residentSize).toBe(kept.byteLength);
  });

  it('the decoding linear adds the bias and uses the f64 loops in f64 precision', () => {
    const [K, N] = [37, 21];
    const x = random(2 * K, 7);
    const w = random(K * N, 8);
    const b = random(N, 9);
    const linear = linearFewRows(WasmMatvec.create([w]));
    const inputs = [{ shape: [2, K], data: x }, { shape: [K, N], data: w }, { shape: [N], data: b }];
    const f32 = linear(inputs, { layout: 'in_out' }, { precision: 'f32', step: 0, training: false });
    const f64 = linear(inputs, { layout: 'in_out' }, { precision: 'f64', step: 0, training: false });
    expect(f64.data).toBeInstanceOf(Float64Array);
    for (let r = 0; r < 2; r++) {
      for (let n = 0; n < N; n++) {
        let ref = b[n]!;
        for (let k = 0; k < K; k++) ref += x[r * K + k]! * w[k * N + n]!;
        expect(Math.abs(f32.data[r * N + n]! - ref)).toBeLessThanOrEqual(1e-5);
        expect(Math.abs(f64.data[r * N + n]! - ref)).toBeLessThanOrEqual(1e-12);
      }
    }
  });

  it('serves the CPU decoder: its steps run here, and give the logits of full re-evaluation', async () => {
    const g = methodGraph('lora');
    const store = randomStore(g, 3);
    const product = vi.spyOn(WasmMatvec.prototype, 'product');
    try {
      const dec = new CpuDecoder(g, store);
      const prompt = tokensOf(5, 32, 4);
      const { rows } = await dec.start([prompt]);
      const before = product.mock.calls.length;
      const [logits] = await dec.next(rows, [7]);
      expect(product.mock.calls.length).toBeGreaterThan(before);
      expect(product.mock.results.slice(before).every((r) => r.value === true)).toBe(true);
      expect(maxDiff(logits!, await lastLogits(cpuBackend(g, store), [...prompt, 7]))).toBeLessThan(2e-5);
    } finally {
      product.mockRestore();
    }
  });
});
