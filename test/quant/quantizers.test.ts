// The quantizers against hand-computed blocks: NF4's codes, nibble order and absmax; int8's
// per-channel scales for both linear layouts; and which parameters a model quantizes.
import { describe, expect, it } from 'vitest';
import { dequantizeInt8, quantizeInt8, roundEven } from '../../compiler/quant/int8.ts';
import { dequantizeNf4, NF4_CODE, nf4Code, quantizeNf4 } from '../../compiler/quant/nf4.ts';
import { quantizableWeights } from '../../compiler/quant/select.ts';
import { dequantizeWeight, quantizedBytes, quantizeWeight } from '../../compiler/quant/weight.ts';
import { graphOf, tinySet } from '../helpers.ts';

const f32 = (xs: number[]) => Array.from(Float32Array.from(xs));

describe('NF4', () => {
  it('has bitsandbytes’ 16 code values, sorted, from -1 through 0 to 1', () => {
    expect(NF4_CODE).toHaveLength(16);
    expect(NF4_CODE[0]).toBe(-1);
    expect(NF4_CODE[7]).toBe(0);
    expect(NF4_CODE[15]).toBe(1);
    expect(NF4_CODE[8]).toBe(0.07958029955625534);
    for (let i = 1; i < 16; i++) expect(NF4_CODE[i]!).toBeGreaterThan(NF4_CODE[i - 1]!);
  });

  it('rounds to the nearest code value', () => {
    expect([1, -1, 0, 0.5, 0.08, -0.3, 0.04, 0.039].map(nf4Code)).toEqual([15, 0, 7, 12, 8, 4, 8, 7]);
  });

  it('codes a hand-computed block: absmax 2, first value of a pair in the high nibble', () => {
    // normalized: [1, -1, 0, 0.5, 0.08, -0.3] → codes [15, 0, 7, 12, 8, 4]
    const q = quantizeNf4([2, -2, 0, 1, 0.16, -0.6]);
    expect(Array.from(q.absmax)).toEqual([2]);
    expect(Array.from(q.codes)).toEqual([0xf0, 0x7c, 0x84]);
    expect(Array.from(dequantizeNf4(q))).toEqual(f32([2, -2, 0, 2 * NF4_CODE[12]!, 2 * NF4_CODE[8]!, 2 * NF4_CODE[4]!]));
  });

  it('runs blocks of 64 consecutive values, each with its own absmax; an odd tail pads with 0.0’s code', () => {
    const v = Array.from({ length: 65 }, (_, i) => (i === 10 ? -4 : i < 64 ? 1 : 0.25));
    const q = quantizeNf4(v);
    expect(Array.from(q.absmax)).toEqual([4, 0.25]);
    expect(q.codes).toHaveLength(33);
    expect(q.codes[5]).toBe((0 << 4) | nf4Code(0.25)); // element 10 is -1 of its block, element 11 is 0.25
    expect(q.codes[32]).toBe((15 << 4) | 7); // element 64 alone in its block: 1.0; the padding: 0.0
    expect(dequantizeNf4(q)[64]).toBe(0.25);
  });

  it('a block of zeros codes to 0.0 and comes back as zeros', () => {
    const q = quantizeNf4(new Float32Array(64));
    expect(q.codes.every((b) => b === 0x77)).toBe(true);
    expect(dequantizeNf4(q).every((x) => x === 0)).toBe(true);
  });

  it('quantizing dequantized values gives them back (the base a quantized model computes with is stable)', () => {
    let s = 7;
    const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.1;
    const v = Float32Array.from({ length: 1000 }, rnd);
    const once = dequantizeNf4(quantizeNf4(v));
    expect(Array.from(dequantizeNf4(quantizeNf4(once)))).toEqual(Array.from(once));
    // Every value moved by at most half the widest gap between codes (0.1519…) of its block's absmax.
    for (let i = 0; i < v.length; i++) expect(Math.abs(once[i]! - v[i]!)).toBeLessThanOrEqual(0.16 * 0.05);
  });
});

describe('int8', () => {
  it('rounds halves to even', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, -2.6].map(roundEven)).toEqual([0, 2, 2, -0, -2, 2, -3]);
  });

  it('one scale per row (axis 0): absmax / 127', () => {
    const q = quantizeInt8([254, 1, -3, 127, -63.5, 0], 2, 3, 0);
    expect(Array.from(q.scales)).toEqual([2, 1]);
    expect(Array.from(q.codes)).toEqual([127, 0, -2, 127, -64, 0]);
    expect(Array.from(dequantizeInt8(q, 2, 3, 0))).toEqual([254, 0, -4, 127, -64, 0]);
  });

  it('one scale per column (axis 1), as a Conv1D [in, out] weight’s output channels', () => {
    // the transpose of the matrix above
    const q = quantizeInt8([254, 127, 1, -63.5, -3, 0], 3, 2, 1);
    expect(Array.from(q.scales)).toEqual([2, 1]);
    expect(Array.from(q.codes)).toEqual([127, 127, 0, -64, -2, 0]);
  });

  it('an all-zero channel has scale 0 and codes 0', () => {
    const q = quantizeInt8([0, 0, 5, -5], 2, 2, 0);
    expect(Array.from(q.scales)).toEqual([0, 5 / 127].map(Math.fround));
    expect(Array.from(dequantizeInt8(q, 2, 2, 0))).toEqual([0, 0, 5, -5]);
  });
});

describe('weights by layout', () => {
  const w = Float32Array.from({ length: 6 * 128 }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 7)));

  it('in_out (Conv1D) NF4 blocks run along the input dimension: the transpose’s rows', () => {
    const q = quantizeWeight(w, [128, 6], 'in_out', 'nf4'); // [in = 128, out = 6]
    const t = new Float32Array(w.length);
    for (let k = 0; k < 128; k++) for (let n = 0; n < 6; n++) t[n * 128 + k] = w[k * 6 + n]!;
    const ref = quantizeNf4(t);
    expect(Array.from(q.codes)).toEqual(Array.from(ref.codes));
    expect(Array.from(q.scales)).toEqual(Array.from(ref.absmax));
    const back = dequantizeWeight(q);
    const refBack = dequantizeNf4(ref);
    expect(back[5 * 6 + 4]).toBe(refBack[4 * 128 + 5]);
  });

  it('out_in int8 scales per row, in_out per column, tables per row', () => {
    expect(quantizeWeight(w, [6, 128], 'out_in', 'int8').scales).toHaveLength(6);
    expect(quantizeWeight(w, [128, 6], 'in_out', 'int8').scales).toHaveLength(6);
    expect(quantizeWeight(w, [128, 6], 'table', 'int8').scales).toHaveLength(128);
    expect(quantizeWeight(w, [128, 6], 'table', 'nf4').scales).toHaveLength(12);
  });

  it('counts bytes: codes plus f32 scales', () => {
    expect(quantizedBytes('nf4', [2048, 5632], 'out_in')).toBe((2048 * 5632) / 2 + (4 * 2048 * 5632) / 64);
    expect(quantizedBytes('int8', [768, 2304], 'in_out')).toBe(768 * 2304 + 4 * 2304);
    expect(quantizedBytes('nf4', [3, 3], 'table')).toBe(5 + 4);
  });
});

describe('which parameters are quantized', () => {
  it('GPT-2 with LoRA: the Conv1D and embedding matrices, not LoRA’s, biases or norms', () => {
    const q = quantizableWeights(graphOf('gpt2-lora.peft', tinySet('gpt2')));
    expect(q.get('h.0.attn.c_attn.weight')).toBe('in_out');
    expect(q.get('h.1.mlp.c_proj.weight')).toBe('in_out');
    expect(q.get('wte.weight')).toBe('out_in'); // tied: also the output projection's [vocab, embd] weight
    expect(q.get('wpe.weight')).toBe('table');
    expect([...q.keys()].some((p) => p.includes('lora') || p.endsWith('.bias') || p.includes('ln_'))).toBe(false);
  });

  it('LLaMA: every projection [out, in] and the token table', () => {
    const q = quantizableWeights(graphOf('llama-lora.peft', tinySet('llama')));
    expect(q.get('layers.0.self_attn.q_proj.weight')).toBe('out_in');
    expect(q.get('layers.1.mlp.down_proj.weight')).toBe('out_in');
    expect(q.get('embed_tokens.weight')).toBe('table');
    expect(q.get('lm_head.weight')).toBe('out_in');
  });
});
