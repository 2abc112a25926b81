// nf4dq against hand-computed values: bitsandbytes' signed dynamic map (entries derived here
// step by step, and bit patterns from a separate NumPy reimplementation of create_dynamic_map),
// dQuantize's rounding (nearest code, ties to the last probe of its binary search), the
// blockwise quantization of the block absmaxes (offset, second-level absmax, codes), and the
// bytes and layouts of a weight.
import { describe, expect, it } from 'vitest';
import { DYNAMIC_MAP, dynamicCode } from '../../compiler/quant/dynamic-map.ts';
import { NF4_CODE, quantizeNf4 } from '../../compiler/quant/nf4.ts';
import { dequantizeBlockScales, dequantizeNf4dq, quantizeBlockScales, quantizeNf4dq } from '../../compiler/quant/nf4dq.ts';
import { dequantizeWeight, quantizedBytes, quantizeWeight } from '../../compiler/quant/weight.ts';

const f = Math.fround;
const bits = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0]!.toString(16).padStart(8, '0');

/** The nearest map entry by search over all 256 (ties left undecided: the caller checks them apart). */
function nearest(x: number): number {
  let best = 0;
  for (let c = 1; c < 256; c++) if (Math.abs(DYNAMIC_MAP[c]! - x) < Math.abs(DYNAMIC_MAP[best]! - x)) best = c;
  return best;
}

describe('the dynamic map (create_dynamic_map(signed=True))', () => {
  it('has 256 sorted values: 127 negative, 0 at 127, 127 positive mirroring them, 1 at 255', () => {
    expect(DYNAMIC_MAP).toHaveLength(256);
    for (let i = 1; i < 256; i++) expect(DYNAMIC_MAP[i]!).toBeGreaterThan(DYNAMIC_MAP[i - 1]!);
    expect(DYNAMIC_MAP[127]).toBe(0);
    expect(DYNAMIC_MAP[255]).toBe(1);
    for (let j = 0; j < 127; j++) expect(DYNAMIC_MAP[j]).toBe(-DYNAMIC_MAP[254 - j]!);
  });

  it('entries derived by hand from linspace’s midpoints', () => {
    // i = 0: linspace(0.1, 1, 2) = [0.1, 1], one midpoint, times 1e-6: the smallest positive value
    expect(DYNAMIC_MAP[128]).toBe(f(f(1e-6) * f(f(f(0.1) + 1) / 2)));
    // i = 3: linspace(0.1, 1, 9), step 0.9 / 8; its first midpoint times 1e-3 follows the 1 + 2 + 4 smaller ones
    const step3 = f(f(1 - f(0.1)) / 8);
    expect(DYNAMIC_MAP[128 + 7]).toBe(f(f(1e-3) * f(f(f(0.1) + f(f(0.1) + step3)) / 2)));
    // i = 6: linspace(0.1, 1, 65); its last midpoint, between 1 − step and 1, is the largest value below 1
    const step6 = f(f(1 - f(0.1)) / 64);
    expect(DYNAMIC_MAP[254]).toBe(f(f(f(1 - step6) + 1) / 2));
    expect(DYNAMIC_MAP[254]).toBeCloseTo(0.99296875, 7);
  });

  it('bit patterns computed apart (NumPy, each f32 operation rounded, no fused multiply-add)', () => {
    // Entries 34, 37, 116 and 220 are among those a build of torch.linspace that fuses a
    // multiply-add (or PyTorch < 2.1's vectorised one) gets one ulp away (docs/quantization.md).
    const want: Record<number, string> = { 34: 'bf03cccd', 37: 'bef20000', 116: 'ba016f00', 128: '3513a3b7', 135: '3923d70b', 200: '3e6f3333', 220: '3f03cccd', 254: '3f7e3333' };
    for (const [i, hex] of Object.entries(want)) expect(bits(DYNAMIC_MAP[Number(i)]!), `entry ${i}`).toBe(hex);
  });
});

describe('dQuantize: the code of a value', () => {
  it('every map value is its own code; ±1 and beyond go to the ends; NaN codes 0', () => {
    for (let c = 0; c < 256; c++) expect(dynamicCode(DYNAMIC_MAP[c]!)).toBe(c);
    expect([dynamicCode(-1), dynamicCode(1), dynamicCode(-2), dynamicCode(2), dynamicCode(0), dynamicCode(NaN)]).toEqual([0, 255, 0, 255, 127, 0]);
  });

  it('rounds to the nearest entry', () => {
    let s = 3;
    for (let k = 0; k < 2000; k++) {
      s = (s * 1103515245 + 12345) % 2 ** 31;
      const x = f((s / 2 ** 31) * 2 - 1) * (k % 3 === 0 ? 1e-3 : 1); // dense near 0 too
      expect(Math.abs(DYNAMIC_MAP[dynamicCode(x)]! - x)).toBe(Math.abs(DYNAMIC_MAP[nearest(x)]! - x));
    }
  });

  it('a value exactly at a midpoint keeps the binary search’s last probe: 254 from either side, 0 below', () => {
    // The search for values near 1 probes 127, 191, …, 253 and ends at 254: a tie with 255 stays
    // at 254, and a tie with 253 (reached from 253, probe 254) goes up to 254.
    const mid = (a: number, b: number) => f(f(DYNAMIC_MAP[a]! + DYNAMIC_MAP[b]!) * 0.5);
    expect(dynamicCode(mid(254, 255))).toBe(254);
    expect(dynamicCode(mid(253, 254))).toBe(254);
    // Near -1 the search ends at 0 after probing 1: the tie between 0 and 1 stays at 0.
    expect(dynamicCode(mid(0, 1))).toBe(0);
    // Just past a midpoint is the other side.
    expect(dynamicCode(f(mid(254, 255) + 2 ** -24))).toBe(255);
  });
});

describe('double quantization of the block absmaxes (quantize_blockwise(absmax − offset, 256))', () => {
  it('a block of 256 scales 1 + k/256: the offset is their mean, absmax2 the largest distance from it', () => {
    const absmax = Float32Array.from({ length: 256 }, (_, k) => 1 + k / 256);
    const s = quantizeBlockScales(absmax);
    expect(s.offset).toBe(1.498046875); // 1 + 127.5 / 256, exact in f32
    expect(Array.from(s.absmax)).toEqual([0.498046875]);
    expect(s.codes[0]).toBe(0); // −absmax2 normalises to −1: below the map's −0.99296875 → code 0
    expect(s.codes[255]).toBe(255); // +1 → the map's 1
    const inv = f(1 / 0.498046875);
    for (let k = 0; k < 256; k++) expect(s.codes[k], `scale ${k}`).toBe(dynamicCode(f(f(absmax[k]! - 1.498046875) * inv)));
    // the nearest entries by plain search agree where there is no tie
    expect(s.codes[127]).toBe(nearest(f(-0.001953125 * inv)));
    const back = dequantizeBlockScales(s);
    expect(back[255]).toBe(absmax[255]); // 1 · absmax2 + offset is exact here
    expect(back[0]).toBe(f(f(DYNAMIC_MAP[0]! * 0.498046875) + 1.498046875));
    for (let k = 0; k < 256; k++) expect(Math.abs(back[k]! - absmax[k]!)).toBeLessThan(0.5 * 0.0141 * 0.5); // half the map's widest gap × absmax2
  });

  it('values at map midpoints tie to the search’s last probe; a zero offset and an absmax2 of 1 keep them as given', () => {
    const t = f(f(DYNAMIC_MAP[253]! + DYNAMIC_MAP[254]!) * 0.5);
    const absmax = new Float32Array(256);
    absmax.set([1, -1, t, -t]);
    const s = quantizeBlockScales(absmax);
    expect(s.offset).toBe(0);
    expect(Array.from(s.absmax)).toEqual([1]);
    expect(Array.from(s.codes.slice(0, 5))).toEqual([255, 0, 254, 0, 127]);
  });

  it('blocks of 256: a lone last scale is its own block, and a block of scales all at the mean codes 0 and comes back as the mean', () => {
    const absmax = Float32Array.from({ length: 257 }, (_, k) => (k === 256 ? 3 : 1 + (k % 5) / 4));
    const s = quantizeBlockScales(absmax);
    expect(s.absmax).toHaveLength(2);
    expect(s.absmax[1]).toBe(f(3 - s.offset));
    expect(dequantizeBlockScales(s)[256]).toBe(f(f(DYNAMIC_MAP[s.codes[256]!]! * s.absmax[1]!) + s.offset));
    const flat = quantizeBlockScales(new Float32Array(300).fill(0.25));
    expect(flat.offset).toBe(0.25);
    expect(Array.from(flat.absmax)).toEqual([0, 0]);
    expect(flat.codes.every((c) => c === 0)).toBe(true);
    expect(dequantizeBlockScales(flat).every((x) => x === 0.25)).toBe(true);
  });
});

describe('nf4dq weights', () => {
  let s = 5;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.2;
  const v = Float32Array.from({ length: 64 * 300 + 10 }, rnd); // 301 blocks: two second-level blocks

  it('NF4 codes as plain NF4 (taken against the exact absmax); values are NF4[code] · the dequantized absmax', () => {
    const q = quantizeNf4dq(v);
    const plain = quantizeNf4(v);
    expect(Array.from(q.codes)).toEqual(Array.from(plain.codes));
    expect(Array.from(q.scales.absmax)).toHaveLength(2);
    const scales = dequantizeBlockScales(q.scales);
    const out = dequantizeNf4dq(q);
    for (const i of [0, 1, 63, 64, 9000, v.length - 1]) {
      const code = i % 2 === 0 ? q.codes[i >> 1]! >> 4 : q.codes[i >> 1]! & 15;
      expect(out[i]).toBe(f(NF4_CODE[code]! * scales[Math.floor(i / 64)]!));
    }
    // the scales moved by a tiny part of themselves
    for (let b = 0; b < scales.length; b++) expect(Math.abs(scales[b]! - plain.absmax[b]!)).toBeLessThan(0.01 * plain.absmax[b]!);
  });

  it('bytes: half a byte per value, a byte per block of 64, an f32 per 256 blocks and the offset', () => {
    const n = 2048 * 5632;
    expect(quantizedBytes('nf4dq', [2048, 5632], 'out_in')).toBe(n / 2 + n / 64 + 4 * Math.ceil(n / 64 / 256) + 4);
    expect(quantizedBytes('nf4dq', [3, 3], 'table')).toBe(5 + 1 + 4 + 4);
  });

  it('Conv1D [in, out] blocks run along the transpose, as for nf4', () => {
    const w = v.subarray(0, 128 * 6);
    const q = quantizeWeight(w, [128, 6], 'in_out', 'nf4dq');
    const t = new Float32Array(w.length);
    for (let k = 0; k < 128; k++) for (let n = 0; n < 6; n++) t[n * 128 + k] = w[k * 6 + n]!;
    const ref = quantizeNf4dq(t);
    expect(Array.from(q.codes)).toEqual(Array.from(ref.codes));
    expect(Array.from(q.nested!.codes)).toEqual(Array.from(ref.scales.codes));
    expect(dequantizeWeight(q)[5 * 6 + 4]).toBe(dequantizeNf4dq(ref)[4 * 128 + 5]);
  });

  it('quantizing the values of an nf4dq weight gives that weight back, so every reader sees one set of numbers', () => {
    const q = quantizeWeight(v.subarray(0, 64 * 64), [64, 64], 'out_in', 'nf4dq');
    const values = dequantizeWeight(q);
    expect(quantizeWeight(values, [64, 64], 'out_in', 'nf4dq')).toBe(q);
    expect(Array.from(dequantizeWeight(quantizeWeight(Float32Array.from(values), [64, 64], 'out_in', 'nf4dq')))).toEqual(Array.from(values));
    // other values (one changed) are quantized afresh
    values[7] = values[7]! + 1e-3;
    expect(quantizeWeight(values, [64, 64], 'out_in', 'nf4dq')).not.toBe(q);
  });
});
