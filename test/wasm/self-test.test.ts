// `peftc doctor`'s wasm lines: the self-test passes on this engine, and its report names the threads,
// whether relaxed SIMD is in use, and a failed product as FAIL.
import { describe, expect, it } from 'vitest';
import { setGemmThreads } from '../../runtime/wasm/gemm.ts';
import { formatWasmCheck, wasmSelfTest } from '../../runtime/wasm/self-test.ts';

describe('the wasm backend self-test', () => {
  it('passes on 2 threads with fused multiply-adds, and says so', () => {
    setGemmThreads(2);
    const c = wasmSelfTest();
    expect(c).toMatchObject({ threads: 2, relaxed: true, ok: true });
    const text = formatWasmCheck(c);
    expect(text).toMatch(/^wasm backend \(--backend wasm\): 2 threads, fused multiply-add \(relaxed SIMD\): yes\n {2}ok {3}gemm 96×130×3000 against f64 sums: worst 0\.\d\d of the f32 bound \[\d+ ms\]\n {2}ok {3}decoding step 1×4096×300 against f64 sums: worst 0\.\d\d of the f32 bound \[\d+ ms\]$/);
  });

  it('reports the plain-SIMD copy and a failed product', () => {
    setGemmThreads(1, false);
    const c = wasmSelfTest();
    expect(c).toMatchObject({ threads: 1, relaxed: false, ok: true });
    const failed = { ...c, ok: false, products: c.products.map((p, i) => (i === 1 ? { ...p, ok: false } : p)) };
    expect(formatWasmCheck(failed)).toContain('1 thread, fused multiply-add (relaxed SIMD): no\n  ok   gemm');
    expect(formatWasmCheck(failed)).toContain('\n  FAIL decoding step 1×4096×300');
    setGemmThreads(2);
  });
});
