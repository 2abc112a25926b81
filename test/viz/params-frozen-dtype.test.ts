// `peftc params --frozen-dtype`: the frozen parameters' bytes at that dtype, counted by hand here
// (f16 2 B/value; int8 1 B/value + a 4-byte scale per output channel; nf4 half a byte per value
// + a 4-byte absmax per block of 64), biases and norms staying f32, in the summary line and JSON.
import { describe, expect, it } from 'vitest';
import { paramsText } from '../../cli/params.ts';
import { compileExample, tinySet } from '../helpers.ts';

describe('peftc params --frozen-dtype', () => {
  // GPT-2 with 2 layers of width 64: every frozen matrix (wte, wpe, c_attn, c_proj, c_fc,
  // mlp.c_proj) is read as a linear weight or a table, so every one is stored at the dtype.
  const res = compileExample('gpt2-lora.peft', tinySet('gpt2'));
  const frozen = res.graph!.params.filter((p) => p.partition === 'frozen');
  const n = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
  const vectors = frozen.filter((p) => p.shape.length !== 2).reduce((a, p) => a + 4 * n(p.shape), 0);
  const matrices = frozen.filter((p) => p.shape.length === 2);
  const f32 = frozen.reduce((a, p) => a + 4 * n(p.shape), 0);
  // Conv1D weights are [in, out]: int8's channels are columns; tables and lm_head are [out, in].
  const outChannels = (p: (typeof matrices)[number]) => (p.path.endsWith('wte.weight') || p.path.endsWith('wpe.weight') ? p.shape[0]! : p.shape[1]!);
  const expected: Record<string, number> = {
    f32,
    f16: vectors + matrices.reduce((a, p) => a + 2 * n(p.shape), 0),
    int8: vectors + matrices.reduce((a, p) => a + n(p.shape) + 4 * outChannels(p), 0),
    nf4: vectors + matrices.reduce((a, p) => a + n(p.shape) / 2 + 4 * Math.ceil(n(p.shape) / 64), 0),
  };

  it.each(Object.keys(expected))('%s: the bytes in the JSON and the summary line', (dtype) => {
    expect(matrices.length).toBeGreaterThanOrEqual(6);
    const json = JSON.parse(paramsText(res, { json: true, frozenDtype: dtype }));
    expect(json.frozen_dtype).toBe(dtype);
    expect(json.frozen_bytes).toBe(expected[dtype]);
    expect(json.frozen_f32_bytes).toBe(f32);
    const last = paramsText(res, { frozenDtype: dtype }).trimEnd().split('\n').pop()!;
    expect(last).toContain(`|| frozen ${dtype}: ${expected[dtype]!.toLocaleString('en-US')} bytes (`);
  });

  it('nf4 is about an eighth of f32 at GPT-2 small (124 M parameters)', () => {
    const big = compileExample('gpt2-lora.peft');
    const json = JSON.parse(paramsText(big, { json: true, frozenDtype: 'nf4' }));
    expect(json.frozen_bytes / json.frozen_f32_bytes).toBeGreaterThan(0.13);
    expect(json.frozen_bytes / json.frozen_f32_bytes).toBeLessThan(0.15);
  });

  it('without the flag nothing changes', () => {
    expect(paramsText(res, { json: true })).not.toContain('frozen_dtype');
    expect(paramsText(res, {})).toMatch(/trainable%: [\d.]+\n$/);
  });

  it('an unknown dtype is refused by name', () => {
    expect(() => paramsText(res, { frozenDtype: 'q4' })).toThrow('--frozen-dtype must be one of f32, f16, int8, nf4, nf4dq, not `q4`');
  });
});
