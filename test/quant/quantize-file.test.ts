// `peftc quantize`: a quantized base in one safetensors file (int8, nf4, nf4dq) (codes and scales by suffix, the
// scheme in the metadata) that every verb loading --init reads as the values it stands for; and
// files whose quantized parts are wrong are refused in one line naming the file and tensor.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gradCommand } from '../../cli/grad.ts';
import { quantizeCommand } from '../../cli/quantize.ts';
import { openSession } from '../../cli/session.ts';
import { dequantizeNf4dq, quantizeNf4dq } from '../../compiler/quant/nf4dq.ts';
import { dequantizeWeight, quantizeWeight } from '../../compiler/quant/weight.ts';
import { quantizedTensors } from '../../runtime/io/quantized-weights.ts';
import { createStore } from '../../runtime/arena.ts';
import { initParams } from '../../runtime/init.ts';
import { readWeightsFile } from '../../runtime/io/read-weights-node.ts';
import { readSafetensorsFile, writeSafetensorsFile } from '../../runtime/io/safetensors-node.ts';
import { EXAMPLES, graphOf, tinySet } from '../helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'peftc-quantize-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = resolve(EXAMPLES, 'gpt2-lora.peft');
const set = [tinySet('gpt2')[0]!.replace(/vocab_size=\d+/, 'vocab_size=256')]; // the byte tokenizer's 256 tokens (sessions)
const base = join(dir, 'base.safetensors');

async function quiet<T>(f: () => Promise<T>): Promise<T> {
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    return await f();
  } finally {
    process.stdout.write = write;
  }
}

async function writeBase(): Promise<Map<string, Float32Array>> {
  const g = graphOf('gpt2-lora.peft', set);
  const store = createStore(g, 'f32');
  initParams(g, store, { seed: 5 });
  const frozen = new Map(g.params.filter((p) => p.partition === 'frozen').map((p) => [p.path, Float32Array.from(store.frozen.view(p.path))]));
  await writeSafetensorsFile(base, Object.fromEntries([...frozen].map(([k, v]) => [k, { shape: g.params.find((p) => p.path === k)!.shape, data: v }])));
  return frozen;
}

describe('peftc quantize', () => {
  it('writes codes and scales by suffix, the scheme in the metadata, the rest in f32; --init loads it as its dequantized values', async () => {
    const w = await writeBase();
    const out = join(dir, 'q.safetensors');
    expect(await quiet(() => quantizeCommand(file, { set, init: base, dtype: 'nf4', out }))).toBe(0);
    const raw = await readSafetensorsFile(out);
    expect(raw.metadata?.['peftc.quantization']).toBe('nf4');
    const index = JSON.parse(raw.metadata!['peftc.quantized']!);
    expect(index['h.0.attn.c_attn.weight']).toEqual({ shape: [16, 48], layout: 'in_out' });
    const codes = raw.tensors.get('h.0.attn.c_attn.weight.qcodes')!;
    expect([codes.dtype, codes.shape]).toEqual(['U8', [(16 * 48) / 2]]);
    expect(raw.tensors.get('h.0.attn.c_attn.weight.qscales')!.shape).toEqual([(16 * 48) / 64]);
    expect(raw.tensors.has('h.0.attn.c_attn.weight')).toBe(false);
    expect(Array.from(raw.tensors.get('ln_f.weight')!.data as Float32Array)).toEqual(Array.from(w.get('ln_f.weight')!));
    const want = dequantizeWeight(quantizeWeight(w.get('h.0.attn.c_attn.weight')!, [16, 48], 'in_out', 'nf4'));
    // A session (train, eval, generate, build) loads it directly.
    const s = await openSession(file, { set, init: out });
    expect(Array.from(s!.store.frozen.view('h.0.attn.c_attn.weight'))).toEqual(Array.from(want));
    // And grad on it equals grad with the f32 base quantized on the fly.
    const tokens = join(dir, 'tokens.json');
    writeFileSync(tokens, JSON.stringify([[1, 2, 3, 4, 5, 6]]));
    await quiet(() => gradCommand(file, { set, init: out, tokens, out: join(dir, 'g1.safetensors') }));
    await quiet(() => gradCommand(file, { set, init: base, tokens, out: join(dir, 'g2.safetensors'), frozenDtype: 'nf4' }));
    const [g1, g2] = await Promise.all([readSafetensorsFile(join(dir, 'g1.safetensors')), readSafetensorsFile(join(dir, 'g2.safetensors'))]);
    expect(g1.tensors.size).toBe(g2.tensors.size);
    for (const [k, t] of g1.tensors) expect(Array.from(t.data as Float32Array), k).toEqual(Array.from(g2.tensors.get(k)!.data as Float32Array));
  });

  it('int8: I8 codes in the stored shape, one scale per output channel; read back as its dequantized values', async () => {
    const w = await writeBase();
    const out = join(dir, 'q8.safetensors');
    await quiet(() => quantizeCommand(file, { set, init: base, dtype: 'int8', out }));
    const raw = await readSafetensorsFile(out);
    expect(raw.tensors.get('h.1.mlp.c_fc.weight.qcodes')!.dtype).toBe('I8');
    expect(raw.tensors.get('h.1.mlp.c_fc.weight.qcodes')!.shape).toEqual([16, 64]);
    expect(raw.tensors.get('h.1.mlp.c_fc.weight.qscales')!.shape).toEqual([64]);
    const read = await readWeightsFile(out);
    const want = dequantizeWeight(quantizeWeight(w.get('h.1.mlp.c_fc.weight')!, [16, 64], 'in_out', 'int8'));
    expect(read.tensors.get('h.1.mlp.c_fc.weight')!.shape).toEqual([16, 64]);
    expect(Array.from(read.tensors.get('h.1.mlp.c_fc.weight')!.data as Float32Array)).toEqual(Array.from(want));
    expect(read.tensors.has('h.1.mlp.c_fc.weight.qcodes')).toBe(false);
  });

  it('nf4dq: NF4 codes, the block absmaxes’ 8-bit codes, their second-level absmaxes and offset; read back as its dequantized values', async () => {
    const w = await writeBase();
    const out = join(dir, 'qdq.safetensors');
    expect(await quiet(() => quantizeCommand(file, { set, init: base, dtype: 'nf4dq', out }))).toBe(0);
    const raw = await readSafetensorsFile(out);
    expect(raw.metadata?.['peftc.quantization']).toBe('nf4dq');
    expect(raw.metadata?.['peftc.nf4dq.scale_block']).toBe('256');
    const t = (k: string) => raw.tensors.get(`h.0.attn.c_attn.weight.${k}`)!;
    expect([t('qcodes').dtype, t('qcodes').shape]).toEqual(['U8', [(16 * 48) / 2]]);
    expect([t('qscale_codes').dtype, t('qscale_codes').shape]).toEqual(['U8', [(16 * 48) / 64]]);
    expect([t('qscales').dtype, t('qscales').shape]).toEqual(['F32', [1]]);
    expect([t('qoffset').dtype, t('qoffset').shape]).toEqual(['F32', [1]]);
    const q = quantizeWeight(w.get('h.0.attn.c_attn.weight')!, [16, 48], 'in_out', 'nf4dq');
    expect(Array.from(t('qscale_codes').data as Uint8Array)).toEqual(Array.from(q.nested!.codes));
    expect((t('qoffset').data as Float32Array)[0]).toBe(q.nested!.offset);
    const read = await readWeightsFile(out);
    expect(Array.from(read.tensors.get('h.0.attn.c_attn.weight')!.data as Float32Array)).toEqual(Array.from(dequantizeWeight(q)));
    expect([...read.tensors.keys()].some((k) => /\.q(codes|scales|scale_codes|offset)$/.test(k))).toBe(false);
    // its quantized parts are smaller than nf4's: a byte per block of 64 instead of an f32
    const nf4 = join(dir, 'q4.safetensors');
    await quiet(() => quantizeCommand(file, { set, init: base, dtype: 'nf4', out: nf4 }));
    const quantBytes = async (p: string) => [...(await readSafetensorsFile(p)).tensors].filter(([k]) => /\.q\w+$/.test(k)).reduce((a, [, t]) => a + t.data.byteLength, 0);
    expect(await quantBytes(out)).toBeLessThan(0.95 * (await quantBytes(nf4)));
  });

  it('--frozen-dtype nf4dq on an nf4dq file keeps the file’s numbers (quantizing them afresh would move them)', async () => {
    // A file written from the pure quantizer: this process has never quantized these weights.
    const w = await writeBase();
    const path = 'h.1.mlp.c_fc.weight';
    const v = w.get(path)!;
    const t = new Float32Array(v.length);
    for (let k = 0; k < 16; k++) for (let n = 0; n < 64; n++) t[n * 16 + k] = v[k * 64 + n]!;
    const pure = quantizeNf4dq(t);
    const q = { dtype: 'nf4dq' as const, layout: 'in_out' as const, shape: [16, 64] as [number, number], codes: pure.codes, scales: pure.scales.absmax, nested: { codes: pure.scales.codes, offset: pure.scales.offset } };
    const rest = new Map([...w].filter(([k]) => k !== path).map(([k, data]) => [k, { dtype: 'F32' as const, shape: k.endsWith('.weight') && data.length > 64 ? graphOf('gpt2-lora.peft', set).params.find((p) => p.path === k)!.shape : [data.length], data }]));
    const { tensors, metadata } = quantizedTensors('nf4dq', new Map([[path, q]]), rest);
    const out = join(dir, 'pure-nf4dq.safetensors');
    await writeSafetensorsFile(out, Object.fromEntries(tensors), metadata);
    const values = dequantizeNf4dq(pure);
    expect(Array.from(dequantizeNf4dq(quantizeNf4dq(values))).filter((x, i) => x !== values[i]).length).toBeGreaterThan(100);
    const s = await openSession(file, { set, init: out, frozenDtype: 'nf4dq' });
    const got = s!.store.frozen.view(path);
    for (let k = 0; k < 16; k++) for (let n = 0; n < 64; n++) expect(got[k * 64 + n]).toBe(values[n * 16 + k]);
  });

  it('refuses unknown dtypes', async () => {
    await expect(quantizeCommand(file, { set, init: base, dtype: 'int4', out: join(dir, 'x.safetensors') })).rejects.toThrow('--dtype must be int8, nf4 or nf4dq, not `int4`');
  });

  const meta = (index: object, scheme = 'nf4') => ({ 'peftc.quantization': scheme, 'peftc.quantized': JSON.stringify(index) });
  const HOSTILE: { name: string; tensors: Record<string, { dtype: 'U8' | 'I8' | 'F32'; shape: number[]; data: Uint8Array | Int8Array | Float32Array }>; metadata: Record<string, string>; error: RegExp }[] = [
    { name: 'an unknown scheme', tensors: {}, metadata: meta({}, 'nf3'), error: /: peftc\.quantization must be int8, nf4 or nf4dq, not `nf3`$/ },
    { name: 'an index that is not JSON', tensors: {}, metadata: { 'peftc.quantization': 'nf4', 'peftc.quantized': '{' }, error: /peftc\.quantized must be a JSON object/ },
    { name: 'a bad shape', tensors: {}, metadata: meta({ w: { shape: [4], layout: 'out_in' } }), error: /w needs a shape of two positive integers$/ },
    { name: 'a bad layout', tensors: {}, metadata: meta({ w: { shape: [4, 4], layout: 'col' } }), error: /w has layout `col`, not one of out_in, in_out, table$/ },
    { name: 'missing scales', tensors: { 'w.qcodes': { dtype: 'U8', shape: [8], data: new Uint8Array(8) } }, metadata: meta({ w: { shape: [4, 4], layout: 'out_in' } }), error: /the quantized file has no tensor w\.qscales$/ },
    {
      name: 'too few codes for a huge shape',
      tensors: { 'w.qcodes': { dtype: 'U8', shape: [8], data: new Uint8Array(8) }, 'w.qscales': { dtype: 'F32', shape: [1], data: new Float32Array(1) } },
      metadata: meta({ w: { shape: [1e9, 1e9], layout: 'out_in' } }),
      error: /w\.qcodes has 8 elements; a nf4 \[1000000000, 1000000000\] matrix has 500000000000000000$/,
    },
    {
      name: 'codes of the wrong dtype',
      tensors: { 'w.qcodes': { dtype: 'F32', shape: [8], data: new Float32Array(8) }, 'w.qscales': { dtype: 'F32', shape: [1], data: new Float32Array(1) } },
      metadata: meta({ w: { shape: [4, 4], layout: 'out_in' } }),
      error: /w\.qcodes must be U8, not F32$/,
    },
    {
      name: 'too many scales',
      tensors: { 'w.qcodes': { dtype: 'I8', shape: [16], data: new Int8Array(16) }, 'w.qscales': { dtype: 'F32', shape: [5], data: new Float32Array(5) } },
      metadata: meta({ w: { shape: [4, 4], layout: 'in_out' } }, 'int8'),
      error: /w\.qscales has 5 elements; a int8 \[4, 4\] in_out matrix has 4$/,
    },
    {
      name: 'nf4dq without its scale codes',
      tensors: { 'w.qcodes': { dtype: 'U8', shape: [8], data: new Uint8Array(8) }, 'w.qscales': { dtype: 'F32', shape: [1], data: new Float32Array(1) } },
      metadata: meta({ w: { shape: [4, 4], layout: 'out_in' } }, 'nf4dq'),
      error: /the quantized file has no tensor w\.qscale_codes$/,
    },
    {
      name: 'nf4dq scale codes that do not match the blocks',
      tensors: { 'w.qcodes': { dtype: 'U8', shape: [64], data: new Uint8Array(64) }, 'w.qscales': { dtype: 'F32', shape: [1], data: new Float32Array(1) }, 'w.qscale_codes': { dtype: 'U8', shape: [3], data: new Uint8Array(3) }, 'w.qoffset': { dtype: 'F32', shape: [1], data: new Float32Array(1) } },
      metadata: meta({ w: { shape: [8, 16], layout: 'out_in' } }, 'nf4dq'),
      error: /w\.qscale_codes has 3 elements; the matrix has 2 blocks of 64$/,
    },
    {
      name: 'nf4dq with two offsets',
      tensors: { 'w.qcodes': { dtype: 'U8', shape: [8], data: new Uint8Array(8) }, 'w.qscales': { dtype: 'F32', shape: [1], data: new Float32Array(1) }, 'w.qscale_codes': { dtype: 'U8', shape: [1], data: new Uint8Array(1) }, 'w.qoffset': { dtype: 'F32', shape: [2], data: new Float32Array(2) } },
      metadata: meta({ w: { shape: [4, 4], layout: 'out_in' } }, 'nf4dq'),
      error: /w\.qoffset has 2 elements, not 1$/,
    },
    {
      name: 'nf4dq with an absmax per block instead of per 256 blocks',
      tensors: { 'w.qcodes': { dtype: 'U8', shape: [256], data: new Uint8Array(256) }, 'w.qscales': { dtype: 'F32', shape: [8], data: new Float32Array(8) }, 'w.qscale_codes': { dtype: 'U8', shape: [8], data: new Uint8Array(8) }, 'w.qoffset': { dtype: 'F32', shape: [1], data: new Float32Array(1) } },
      metadata: meta({ w: { shape: [8, 64], layout: 'out_in' } }, 'nf4dq'),
      error: /w\.qscales has 8 elements; a nf4dq \[8, 64\] out_in matrix has 1$/,
    },
  ];
  for (const h of HOSTILE) {
    it(`refuses ${h.name} in one line naming the file`, async () => {
      const p = join(dir, 'hostile.safetensors');
      await writeSafetensorsFile(p, h.tensors, h.metadata);
      const err = await readWeightsFile(p).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).name).toBe('SafetensorsError');
      expect((err as Error).message.startsWith(`${p}: `)).toBe(true);
      expect((err as Error).message).toMatch(h.error);
      expect((err as Error).message).not.toContain('\n');
    });
  }
});
