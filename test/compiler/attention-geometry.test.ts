// The attention geometry (compiler/ir/attention-geometry.ts) is the one statement of attention's
// shapes, head grouping and key visibility; the CPU reference and the WGSL generators both read it,
// so they refuse the same operands with the same words and mask the same keys.
import { describe, expect, it } from 'vitest';
import { CodegenError } from '../../codegen/codegen-error.ts';
import { DEFAULT_CAPS } from '../../codegen/wgsl/caps.ts';
import { ATTENTION_KERNELS } from '../../codegen/wgsl/attention/index.ts';
import { attentionGeometry, badLength, kvHeadOf, lengthsMask, lseShape, visibility, visibleKeys, type AttentionAttrs } from '../../compiler/ir/attention-geometry.ts';
import { KernelError } from '../../runtime/cpu/kernels/index.ts';
import { tensor } from '../../runtime/cpu/tensor.ts';
import { run } from '../cpu/helpers.ts';

const ATTRS: AttentionAttrs = { heads: 8, kv_heads: 2, causal: true, prefix: 3 };
const thrower = (message: string): never => {
  throw new Error(message);
};

describe('attention geometry', () => {
  it('reads sizes from q and checks k and v against them', () => {
    const g = attentionGeometry([2, 5, 8 * 4], [['k', [2, 8, 2 * 4]], ['v', [2, 8, 2 * 4]]], ATTRS, thrower);
    expect(g).toEqual({ B: 2, S: 5, Sk: 8, H: 8, KV: 2, hd: 4, causal: true, prefix: 3 });
    expect(lseShape(g)).toEqual([2, 8, 5]);
    expect(() => attentionGeometry([2, 5, 32], [['v', [2, 5, 8]]], ATTRS, thrower)).toThrow('v must be [2, 8, 8] (Sk = prefix + S = 3 + 5), got [2, 5, 8]');
    expect(() => attentionGeometry([2, 5, 30], [], ATTRS, thrower)).toThrow('q features 30 are not divisible by heads 8');
    expect(() => attentionGeometry([2, 5, 32], [], { ...ATTRS, kv_heads: 3 }, thrower)).toThrow('heads 8 must be a multiple of kv_heads 3');
  });

  it('maps query heads to kv heads in groups of H / KV', () => {
    const g = { H: 8, KV: 2 };
    expect(Array.from({ length: 8 }, (_, h) => kvHeadOf(g, h))).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
  });

  it('counts visible keys: causal from the prefix, lengths only when not causal', () => {
    const causal = attentionGeometry([1, 5, 8], [], { heads: 2, kv_heads: 2, causal: true, prefix: 3 }, thrower);
    expect([0, 4].map((i) => visibleKeys(causal, i))).toEqual([4, 8]);
    expect(lengthsMask(causal, true)).toBe(false);
    expect(visibility(causal, false)).toBe('causal');
    const full = { ...causal, causal: false };
    expect(visibleKeys(full, 0)).toBe(8);
    expect(visibleKeys(full, 0, 2)).toBe(5);
    expect(visibility(full, lengthsMask(full, true))).toBe('lengths');
    expect(badLength(full, 6)).toBe('lengths 6 outside 1 … 5 (sequence length 5, prefix 3)');
    expect(badLength({ S: 5, prefix: 0 }, 0)).toMatch(/outside 1 … 5/);
    expect(badLength(full, 0)).toBeUndefined();
  });
});

describe('the CPU reference and the WGSL generator share it', () => {
  const attrs = { heads: 4, kv_heads: 2, causal: false, prefix: 1 };
  const cpuError = (q: number[], k: number[]): string => {
    const t = (shape: number[]) => tensor(shape, new Array(shape.reduce((a, b) => a * b, 1)).fill(0));
    try {
      run('attention', [t(q), t(k), t(k)], attrs);
    } catch (e) {
      expect(e).toBeInstanceOf(KernelError);
      return (e as Error).message.replace(/^attention: /, '');
    }
    throw new Error('the CPU kernel accepted bad operands');
  };
  const wgslError = (q: number[], k: number[]): string => {
    const f = (shape: number[]) => ({ dtype: 'f32' as const, shape });
    try {
      ATTENTION_KERNELS.attention!({ op: 'attention', attrs, inputs: [f(q), f(k), f(k)], output: f(q) }, DEFAULT_CAPS);
    } catch (e) {
      expect(e).toBeInstanceOf(CodegenError);
      return (e as CodegenError).detail;
    }
    throw new Error('the generator accepted bad operands');
  };

  it.each([
    ['k too short for the prefix', [2, 3, 16], [2, 3, 8]],
    ['k with the wrong heads', [2, 3, 16], [2, 4, 16]],
    ['q features not divisible by heads', [2, 3, 18], [2, 4, 8]],
    ['q of rank 2', [2, 16], [2, 4, 8]],
  ])('refuses %s with the same words', (_what, q, k) => {
    const message = cpuError(q, k);
    expect(message.length).toBeGreaterThan(0);
    expect(wgslError(q, k)).toBe(message);
  });

  it('writes the same visibility rule into the kernel', () => {
    const f = (shape: number[], dtype: 'f32' | 'i32' = 'f32') => ({ dtype, shape });
    const wgsl = (causal: boolean, lengths: boolean) =>
      ATTENTION_KERNELS.attention!(
        { op: 'attention', attrs: { ...attrs, causal }, inputs: [f([2, 3, 16]), f([2, 4, 8]), f([2, 4, 8]), ...(lengths ? [f([2], 'i32')] : [])], output: f([2, 3, 16]) },
        DEFAULT_CAPS,
      ).wgsl.match(/fn visible\(b: u32, i: u32\) -> u32 \{ return (.*); \}/)![1];
    expect(wgsl(true, true)).toBe('PREFIX + i + 1u');
    expect(wgsl(false, true)).toBe('PREFIX + u32(lengths[b])');
    expect(wgsl(false, false)).toBe('SK');
  });
});
