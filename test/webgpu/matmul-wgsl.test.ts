// The matmul generator without a GPU: variant choice, workgroup sizes under compatibility-mode
// limits, dispatch sizes and the errors for shapes an adapter cannot bind.

import { describe, expect, it } from 'vitest';
import { CodegenError } from '../../codegen/codegen-error.ts';
import { type MatmulLimits, matmulKernel, matmulVariantFor } from '../../codegen/wgsl/matmul/index.ts';

/** WebGPU compatibility-mode defaults (what llvmpipe gives when its limits are not requested). */
const COMPAT: MatmulLimits = {
  maxComputeInvocationsPerWorkgroup: 128,
  maxComputeWorkgroupSizeX: 128,
  maxComputeWorkgroupSizeY: 128,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBufferBindingSize: 128 * 2 ** 20,
};
const CORE: MatmulLimits = { ...COMPAT, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupSizeY: 256 };

const workgroupSize = (wgsl: string): number[] =>
  /@workgroup_size\(([^)]*)\)/.exec(wgsl)![1]!.split(',').map((s) => Number(s.trim()));

describe('matmul generator', () => {
  it('chooses regblock for software adapters and tiled for hardware', () => {
    expect(matmulVariantFor({ isSoftware: true })).toBe('regblock');
    expect(matmulVariantFor({ isSoftware: false })).toBe('tiled');
  });

  it('fits the workgroup to 128 invocations in compatibility mode', () => {
    for (const variant of ['regblock', 'tiled'] as const) {
      const k = matmulKernel({ M: 100, N: 100, K: 100 }, { variant, limits: COMPAT, workgroup: [16, 16] });
      const [x, y] = workgroupSize(k.wgsl);
      expect(x! * y!).toBeLessThanOrEqual(128);
    }
    const core = matmulKernel({ M: 100, N: 100, K: 100 }, { variant: 'tiled', limits: CORE });
    expect(workgroupSize(core.wgsl)).toEqual([16, 16]);
  });

  it('dispatches enough workgroups to cover C', () => {
    const k = matmulKernel({ M: 37, N: 53, K: 29 }, { variant: 'regblock', limits: CORE, workgroup: [8, 8], rowBlocks: 1 });
    expect(k.workgroups).toEqual([Math.ceil(53 / 32), Math.ceil(37 / 32), 1]);
    const k2 = matmulKernel({ M: 37, N: 53, K: 29 }, { variant: 'regblock', limits: CORE, workgroup: [8, 8], rowBlocks: 2 });
    expect(k2.workgroups).toEqual([Math.ceil(53 / 32), Math.ceil(37 / 64), 1]);
    expect(k.flops).toBe(2 * 37 * 53 * 29);
  });

  it('uses vec4 bindings exactly where the contiguous dimension is a multiple of 4', () => {
    const k = matmulKernel({ M: 8, N: 12, K: 6 }, { variant: 'regblock', limits: CORE });
    expect(k.wgsl).toContain('var<storage, read> a: array<f32>'); // A [8,6]: rows of 6
    expect(k.wgsl).toContain('var<storage, read> b: array<vec4<f32>>'); // B [6,12]
    expect(k.wgsl).toContain('var<storage, read_write> c: array<vec4<f32>>');
    const t = matmulKernel({ M: 8, N: 12, K: 6, transA: true }, { variant: 'regblock', limits: CORE });
    expect(t.wgsl).toContain('var<storage, read> a: array<vec4<f32>>'); // Aᵀ stored [6,8]
  });

  it('orders the bindings a, b, bias, c and names the kernel by its shape', () => {
    const k = matmulKernel({ M: 2, N: 3, K: 4, bias: true, activation: 'gelu', transB: true }, { variant: 'tiled', limits: CORE });
    expect(k.bindings).toEqual(['a', 'b', 'bias', 'c']);
    expect(k.label).toBe('matmul_tiled_NT_2x3x4_bias_gelu');
    expect(k.wgsl).toContain('fn act(');
  });

  it('orders the epilogue bindings a, b, [a2, b2], bias, pre, res, globals, c, activated and names them in the label', () => {
    const grad = matmulKernel({ M: 8, N: 8, K: 8, activationGrad: 'gelu', transB: true }, { variant: 'tiled', limits: CORE });
    expect(grad.bindings).toEqual(['a', 'b', 'pre', 'c']);
    expect(grad.label).toBe('matmul_tiled_NT_8x8x8_dgelu');
    const res = matmulKernel({ M: 8, N: 8, K: 8, bias: true, second: { K: 2 }, residual: true, dropout: { p: 0.1, seed: 4 } }, { variant: 'regblock', limits: CORE });
    expect(res.bindings).toEqual(['a', 'b', 'a2', 'b2', 'bias', 'res', 'globals', 'c']);
    expect(res.label).toBe('matmul_regblock_NN_8x8x8_plusNN2_bias_drop_res');
    expect(res.wgsl).toContain('const DROP_THRESHOLD = 429496729u;'); // floor(0.1·2³²), as the dropout kernel
    const aux = matmulKernel({ M: 8, N: 8, K: 8, bias: true, activationOut: 'silu' }, { variant: 'regblock', limits: CORE });
    expect(aux.bindings).toEqual(['a', 'b', 'bias', 'c', 'activated']);
    expect(aux.label).toBe('matmul_regblock_NN_8x8x8_bias_siluout');
  });

  it('refuses epilogues that contradict each other or a dropout it cannot draw', () => {
    const limits = CORE;
    expect(() => matmulKernel({ M: 4, N: 4, K: 4, activationOut: 'gelu', residual: true }, { variant: 'regblock', limits })).toThrow(/activationOut\) cannot also apply/);
    expect(() => matmulKernel({ M: 4, N: 4, K: 4, residual: true, dropout: { p: 1, seed: 0 } }, { variant: 'tiled', limits })).toThrow(/dropout p must be in \[0, 1\)/);
    expect(() => matmulKernel({ M: 4, N: 4, K: 4, residual: true, dropout: { p: 0.5, seed: 0, index0: 2 ** 32 - 8 } }, { variant: 'tiled', limits })).toThrow(/u32 element index/);
  });

  it('refuses a tensor larger than maxStorageBufferBindingSize with a limit error', () => {
    const rows = 128 * 2 ** 20 / 4 / 768 + 1; // x [rows, 768] just over 128 MiB
    expect(() => matmulKernel({ M: Math.ceil(rows), N: 768, K: 768 }, { variant: 'regblock', limits: COMPAT })).toThrow(
      /A spans \d+ bytes, more than this adapter's maxStorageBufferBindingSize/,
    );
  });

  it('refuses more workgroups than a dimension allows', () => {
    const limits = { ...CORE, maxStorageBufferBindingSize: 2 ** 40, maxComputeWorkgroupsPerDimension: 4 };
    const err = (() => {
      try {
        matmulKernel({ M: 1000, N: 4, K: 4 }, { variant: 'regblock', limits });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CodegenError);
    expect((err as CodegenError).kind).toBe('limit');
  });

  it('rejects non-positive or fractional sizes', () => {
    expect(() => matmulKernel({ M: 0, N: 1, K: 1 }, { variant: 'regblock', limits: CORE })).toThrow(/M must be a positive integer/);
    expect(() => matmulKernel({ M: 1, N: 1.5, K: 1 }, { variant: 'tiled', limits: CORE })).toThrow(/N must be/);
  });

  it('writes alpha as a WGSL float literal', () => {
    expect(matmulKernel({ M: 4, N: 4, K: 4, alpha: 2 }, { variant: 'regblock', limits: CORE }).wgsl).toContain('2.0 * acc0[r]');
    expect(() => matmulKernel({ M: 4, N: 4, K: 4, alpha: NaN }, { variant: 'regblock', limits: CORE })).toThrow(/finite/);
  });
});
