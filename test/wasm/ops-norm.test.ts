// The wasm backend's layernorm and rmsnorm kernels and their gradients (runtime/wasm/ops/norm.ts)
// on f32 operands against the reference's in f64 on the same values: with and without gamma and
// beta, odd widths (JavaScript loops) and widths that are multiples of 4 (SIMD), one-wide rows, a
// mean far larger than the spread, GPT-2's 768 wide, f64 operands.
// Tolerance |Δ| ≤ 2e-6·|ref| + 2e-6·scale, scale the operands' size (f32 values of ~1 summed in f64).
import { describe, expect, it } from 'vitest';
import { layernorm, layernormGradGamma, layernormGradX, rmsnorm, rmsnormGradGamma, rmsnormGradX } from '../../runtime/wasm/ops/norm.ts';
import { WASM_KERNELS } from '../../runtime/wasm/kernels.ts';
import { both, uniform, worst, type Operand } from './ops-compare.ts';

interface Case {
  name: string;
  shape: number[];
  offset?: number;
  spread?: number;
}

const CASES: Case[] = [
  { name: 'one row of one value', shape: [1, 1] },
  { name: 'odd width [3, 5, 7]', shape: [3, 5, 7] },
  { name: 'GPT-2 width [9, 768]', shape: [9, 768] },
  { name: 'mean 1000 against a spread of 0.01, odd width', shape: [4, 65], offset: 1000, spread: 0.01 },
  { name: 'wide spread [2, 129]', shape: [2, 129], spread: 50 },
  // widths that are multiples of 4 take the SIMD loops
  { name: 'mean 1000 against a spread of 0.01, SIMD width [4, 64]', shape: [4, 64], offset: 1000, spread: 0.01 },
  { name: 'wide spread, SIMD width [2, 128]', shape: [2, 128], spread: 50 },
  { name: 'four wide [5, 4]', shape: [5, 4] },
  { name: 'rows over three staging blocks [37, 4096]', shape: [37, 4096] },
  { name: 'a row wider than a staging block [3, 65540]', shape: [3, 65540] },
];

const RTOL = 2e-6;

function operands(c: Case, seed: number) {
  const d = c.shape[c.shape.length - 1]!;
  const n = c.shape.reduce((a, b) => a * b, 1);
  const spread = c.spread ?? 1;
  const x: Operand = { shape: c.shape, values: uniform(n, seed, -spread, spread).map((v) => v + (c.offset ?? 0)) };
  const dy: Operand = { shape: c.shape, values: uniform(n, seed + 1, -1, 1) };
  const gamma: Operand = { shape: [d], values: uniform(d, seed + 2, 0.5, 1.5) };
  const beta: Operand = { shape: [d], values: uniform(d, seed + 3, -0.5, 0.5) };
  return { x, dy, gamma, beta };
}

function expectClose(op: string, ops: (Operand | undefined)[], atol: number, attrs = { eps: 1e-5 }, wasmF64 = false): void {
  const { got, want } = both(op, ops, attrs, wasmF64);
  expect(worst(got, want, RTOL, atol), op).toBeLessThanOrEqual(1);
}

describe('wasm norm kernels', () => {
  it('are the wasm table\'s kernels', () => {
    expect(WASM_KERNELS.layernorm).toBe(layernorm);
    expect(WASM_KERNELS.layernorm_grad_x).toBe(layernormGradX);
    expect(WASM_KERNELS.layernorm_grad_gamma).toBe(layernormGradGamma);
    expect(WASM_KERNELS.rmsnorm).toBe(rmsnorm);
    expect(WASM_KERNELS.rmsnorm_grad_x).toBe(rmsnormGradX);
    expect(WASM_KERNELS.rmsnorm_grad_gamma).toBe(rmsnormGradGamma);
  });

  for (const [i, c] of CASES.entries()) {
    it(`match the reference: ${c.name}`, () => {
      const { x, dy, gamma, beta } = operands(c, 20 + 4 * i);
      const rows = x.values.length / gamma.values.length;
      // x̂ is O(1); dx scales with rstd = 1/spread; gamma's gradient sums a row's worth of O(1) terms.
      const atol = 2e-6;
      const atolDx = atol / (c.spread ?? 1);
      expectClose('layernorm', [x, gamma, beta], atol);
      expectClose('layernorm', [x, gamma], atol);
      expectClose('layernorm', [x], atol);
      expectClose('layernorm_grad_x', [x, dy, gamma], atolDx);
      expectClose('layernorm_grad_x', [x, dy], atolDx);
      expectClose('layernorm_grad_gamma', [x, dy], atol * rows);
      expectClose('rmsnorm', [x, gamma], atol);
      expectClose('rmsnorm_grad_x', [x, dy, gamma], atolDx);
      expectClose('rmsnorm_grad_gamma', [x, dy], atol * rows);
    });
  }

  it('f64 operands (an f64 run) take the JavaScript loops at any width', () => {
    const { x, dy, gamma, beta } = operands(CASES[2]!, 90);
    expectClose('layernorm', [x, gamma, beta], 2e-6, { eps: 1e-5 }, true);
    expectClose('layernorm_grad_x', [x, dy, gamma], 2e-6, { eps: 1e-5 }, true);
    expectClose('layernorm_grad_gamma', [x, dy], 2e-5, { eps: 1e-5 }, true);
    expectClose('rmsnorm', [x, gamma], 2e-6, { eps: 1e-5 }, true);
    expectClose('rmsnorm_grad_x', [x, dy, gamma], 2e-6, { eps: 1e-5 }, true);
    expectClose('rmsnorm_grad_gamma', [x, dy], 2e-5, { eps: 1e-5 }, true);
  });

  it('beta without gamma (gamma\'s place left empty) is added as the reference adds it', () => {
    for (const c of [CASES[1]!, CASES[2]!]) {
      const { x, beta } = operands(c, 3);
      expectClose('layernorm', [x, undefined, beta], 2e-6);
    }
  });
});
