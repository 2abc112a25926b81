// The CPU backend with a quantized frozen base computes what the f32 model whose weights are the
// dequantized values computes: `peftc grad --frozen-dtype nf4|int8` against `peftc grad` on a
// weights file dequantized here by a separate, direct reading of the formats (nearest of the 16
// NF4 values per block of 64 along the input dimension; absmax/127 per output channel; nf4dq: the
// block absmaxes minus their mean, each the nearest of the 256 dynamic-map values times its block
// of 256's largest distance, plus the mean).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { gradCommand } from '../../cli/grad.ts';
import { DYNAMIC_MAP } from '../../compiler/quant/dynamic-map.ts';
import { NF4_CODE } from '../../compiler/quant/nf4.ts';
import { createStore } from '../../runtime/arena.ts';
import { initParams } from '../../runtime/init.ts';
import { readSafetensorsFile, writeSafetensorsFile } from '../../runtime/io/safetensors-node.ts';
import { EXAMPLES, graphOf, tinySet } from '../helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'peftc-quant-cpu-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One weight matrix as the reference reads a quantized format: [rows, cols], channels/blocks along `along`. */
function referenceDequant(w: Float32Array, rows: number, cols: number, along: 'rows' | 'cols', dtype: 'nf4' | 'nf4dq' | 'int8'): Float32Array {
  // Vectors along the input dimension (nf4) / the output channel (int8): `along` says which index varies.
  const [nVec, len] = along === 'rows' ? [rows, cols] : [cols, rows];
  const at = (v: number, i: number) => (along === 'rows' ? v * cols + i : i * cols + v);
  const out = new Float32Array(w.length);
  if (dtype === 'int8') {
    for (let v = 0; v < nVec; v++) {
      let m = 0;
      for (let i = 0; i < len; i++) m = Math.max(m, Math.abs(w[at(v, i)]!));
      const s = Math.fround(m / 127);
      for (let i = 0; i < len; i++) {
        const x = w[at(v, i)]! / s;
        const r = Math.round(x);
        out[at(v, i)] = s === 0 ? 0 : (r - x === 0.5 && r % 2 ? r - 1 : r) * s;
      }
    }
    return out;
  }
  const flat = Array.from({ length: w.length }, (_, k) => at(Math.floor(k / len), k % len));
  const blocks = Array.from({ length: Math.ceil(flat.length / 64) }, (_, b) => flat.slice(64 * b, 64 * b + 64));
  const absmax = blocks.map((idx) => Math.max(...idx.map((i) => Math.abs(w[i]!))));
  const scale = dtype === 'nf4dq' ? doubleQuantized(absmax) : absmax;
  blocks.forEach((idx, b) => {
    const m = absmax[b]!;
    for (const i of idx) {
      const x = m === 0 ? 0 : Math.fround(w[i]! * Math.fround(1 / m));
      let best = 0;
      for (let c = 1; c < 16; c++) if (Math.abs(NF4_CODE[c]! - x) <= Math.abs(NF4_CODE[best]! - x)) best = c;
      out[i] = NF4_CODE[best]! * scale[b]!;
    }
  });
  return out;
}

/** The block absmaxes as nf4dq stores them: mean, then the nearest map value × the 256-block's largest distance, + mean. */
function doubleQuantized(absmax: number[]): number[] {
  const f = Math.fround;
  const mean = f(absmax.reduce((a, b) => a + b, 0) / absmax.length);
  const d = absmax.map((a) => f(a - mean));
  return d.map((x, k) => {
    const group = d.slice(k - (k % 256), k - (k % 256) + 256);
    const m = Math.max(...group.map(Math.abs));
    const y = m === 0 ? 0 : f(x * f(1 / m));
    let best = 0;
    for (let c = 1; c < 256; c++) if (Math.abs(DYNAMIC_MAP[c]! - y) < Math.abs(DYNAMIC_MAP[best]! - y)) best = c;
    return f(f(DYNAMIC_MAP[best]! * m) + mean);
  });
}

async function grad(file: string, set: string[], init: string, out: string, frozenDtype?: string): Promise<Map<string, Float32Array>> {
  const tokens = join(dir, 'tokens.json');
  writeFileSync(tokens, JSON.stringify([[1, 5, 9, 3, 7, 2, 30, 4], [8, 6, 4, 2, 0, 11, 13, 17]]));
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    expect(await gradCommand(file, { set, init, tokens, out, ...(frozenDtype ? { frozenDtype } : {}) })).toBe(0);
  } finally {
    process.stdout.write = write;
  }
  const f = await readSafetensorsFile(out);
  return new Map([...f.tensors].map(([k, t]) => [k, t.data as Float32Array]));
}

const CASES = [
  { name: 'gpt2-lora.peft', set: tinySet('gpt2') },
  { name: 'llama-lora.peft', set: tinySet('llama') },
];

describe('CPU: a quantized base equals the f32 model of its dequantized weights', () => {
  for (const { name, set } of CASES) {
    for (const dtype of ['nf4', 'nf4dq', 'int8'] as const) {
      it(`${name}, ${dtype}: loss, logits and every trainable gradient`, async () => {
        const file = resolve(EXAMPLES, name);
        const g = graphOf(name, set);
        const store = createStore(g, 'f32');
        initParams(g, store, { seed: 3 });
        const base: Record<string, { shape: number[]; data: Float32Array }> = {};
        const deq: Record<string, { shape: number[]; data: Float32Array }> = {};
        for (const p of g.params.filter((p) => p.partition === 'frozen')) {
          const w = Float32Array.from(store.frozen.view(p.path));
          base[p.path] = { shape: p.shape, data: w };
          const linearInOut = name.startsWith('gpt2') && p.shape.length === 2 && p.path.startsWith('h.');
          const matrix = p.shape.length === 2;
          // GPT-2's Conv1D [in, out]: channels and blocks along the columns' vectors; all else by rows.
          deq[p.path] = { shape: p.shape, data: matrix ? referenceDequant(w, p.shape[0]!, p.shape[1]!, linearInOut ? 'cols' : 'rows', dtype) : w };
        }
        await writeSafetensorsFile(join(dir, 'base.safetensors'), base);
        await writeSafetensorsFile(join(dir, 'deq.safetensors'), deq);
        const q = await grad(file, set, join(dir, 'base.safetensors'), join(dir, 'q.safetensors'), dtype);
        const ref = await grad(file, set, join(dir, 'deq.safetensors'), join(dir, 'ref.safetensors'));
        const f32 = await grad(file, set, join(dir, 'base.safetensors'), join(dir, 'f32.safetensors'));
        expect([...q.keys()].sort()).toEqual([...ref.keys()].sort());
        expect(q.size).toBeGreaterThan(4);
        for (const [k, v] of ref) expect(Array.from(q.get(k)!), k).toEqual(Array.from(v));
        // And quantization did change the numbers.
        expect(q.get('loss')![0]).not.toBe(f32.get('loss')![0]);
      });
    }
  }
});

describe('--frozen-dtype errors', () => {
  it('names the accepted dtypes', async () => {
    const { frozenDtype, frozenPlanOptions } = await import('../../cli/flags.ts');
    const { UserError } = await import('../../cli/errors.ts');
    expect(() => frozenDtype('nf8')).toThrow(new UserError('--frozen-dtype must be one of f32, f16, int8, nf4, nf4dq, not `nf8`'));
    expect(frozenDtype('nf4')).toBe('nf4');
    // WebGPU plans take every dtype (test/webgpu/quant-suite.ts runs them)
    expect(frozenPlanOptions('nf4')).toEqual({ frozenQuant: 'nf4' });
    expect(frozenPlanOptions('int8')).toEqual({ frozenQuant: 'int8' });
    expect(frozenPlanOptions('f16')).toEqual({ frozenF16: true });
    expect(frozenPlanOptions(undefined)).toEqual({});
    const file = resolve(EXAMPLES, 'gpt2-lora.peft');
    await expect(gradCommand(file, { set: tinySet('gpt2'), tokens: 'x', out: 'y', frozenDtype: 'f16' })).rejects.toThrow(/--frozen-dtype must be one of f32, int8, nf4, nf4dq, not `f16`/);
  });
});
