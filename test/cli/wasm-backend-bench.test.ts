// The GPT-2-small benchmark's plan takes `wasm` beside `cpu` and the WebGPU adapters; the quick
// JSON keeps gpt2s_train_vs_torch for the best WebGPU software adapter and adds
// gpt2s_wasm_train_vs_torch for the wasm backend at B = 1 (bench/gpt2s.ts, bench/report.ts).
import { describe, expect, it } from 'vitest';
import { FULL_GPT2S_PLAN, QUICK_GPT2S_PLAN, gpt2sHeadline, gpt2sWasmHeadline, parseGpt2sPlan, wasmLabel, type Gpt2sBatch, type Gpt2sResult } from '../../bench/gpt2s.ts';
import { gpt2sFields, type BenchResults } from '../../bench/report.ts';

const stat = (median: number): Gpt2sBatch['vsTorch'][string] => ({ median, min: median, max: median, q1: median, q3: median, reps: 1 });

function result(batches: [number, Record<string, number>][]): Gpt2sResult {
  return {
    model: 'GPT-2 small',
    torch: { skipped: 'not asked for' },
    batches: batches.map(([B, ratios]) => ({ B, T: 128, warmup: 1, reps: 1, runners: [], vsTorch: Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, stat(v)])), lossMaxRelDiff: {}, errors: [] })),
  };
}

describe('the GPT-2-small benchmark and the wasm backend', () => {
  it('plans name wasm beside cpu and the adapters; the full run has it at B 1 and 4, the quick run at B 1', () => {
    expect(parseGpt2sPlan('1:llvmpipe,cpu,wasm;4:wasm')).toEqual([
      { B: 1, gpus: ['llvmpipe'], cpu: true, wasm: true },
      { B: 4, gpus: [], cpu: false, wasm: true },
    ]);
    expect(parseGpt2sPlan(FULL_GPT2S_PLAN).map((e) => [e.B, e.wasm, e.cpu])).toEqual([[1, true, true], [4, true, true]]);
    expect(parseGpt2sPlan(QUICK_GPT2S_PLAN)).toEqual([{ B: 1, gpus: ['llvmpipe'], cpu: false, wasm: true }]);
    expect(() => parseGpt2sPlan('1:llvmpipe,wsam')).toThrow('gpt2s plan: `wsam` in `1:llvmpipe,wsam` is not a runner (auto, hardware, swiftshader, llvmpipe, cpu, wasm)');
    expect(wasmLabel(2)).toBe("this project's wasm backend (f32, WebAssembly SIMD, 2 threads)");
  });

  it('gpt2s_train_vs_torch stays the best WebGPU adapter; gpt2s_wasm_train_vs_torch is the wasm backend at B 1', () => {
    const r = result([[1, { llvmpipe: 0.13, swiftshader: 0.05, cpu: 0.9, wasm: 0.7 }], [4, { wasm: 0.8 }]]);
    expect(gpt2sHeadline(r)).toEqual({ ratio: 0.13, adapter: 'llvmpipe', B: 1 });
    expect(gpt2sWasmHeadline(r)).toBe(0.7);
    const fields = gpt2sFields({ gpt2s: r } as unknown as BenchResults);
    expect(fields).toMatchObject({ gpt2s_train_vs_torch: 0.13, gpt2s_adapter: 'llvmpipe', gpt2s_wasm_train_vs_torch: 0.7 });
    // Not run at B 1 (or not at all): null, not another batch's figure.
    expect(gpt2sWasmHeadline(result([[4, { wasm: 0.8 }]]))).toBeNull();
    expect(gpt2sFields({} as BenchResults).gpt2s_wasm_train_vs_torch).toBeNull();
  });
});
