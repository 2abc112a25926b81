// `peftc memory`: one training step's plan by category, with the frozen weight matrices counted
// in the dtype asked for (quantized: codes plus f32 scales, 256-byte-aligned slots).
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatMemory, memoryReport } from '../../cli/memory.ts';
import { alignUp } from '../../compiler/lower/memory.ts';
import { quantizableWeights } from '../../compiler/quant/select.ts';
import { frozenBytes } from '../../compiler/quant/frozen-bytes.ts';
import { slotBytes } from '../../compiler/quant/slot.ts';
import { quantizedBytes } from '../../compiler/quant/weight.ts';
import { EXAMPLES, graphOf, tinySet } from '../helpers.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const g = graphOf('llama-lora.peft', tinySet('llama'));
const dims = { batch: '2', seq: '16' };

describe('peftc memory', () => {
  it('the categories add up to the total, and only the frozen bytes depend on the frozen dtype', async () => {
    const r = await Promise.all(['f32', 'f16', 'int8', 'nf4'].map((d) => memoryReport(g, { ...dims, frozenDtype: d })));
    for (const x of r) expect(x.frozen + x.trainable + x.gradients + x.optimizer + x.activations_peak + x.other).toBe(x.total);
    for (const x of r.slice(1)) {
      expect(x.trainable).toBe(r[0]!.trainable);
      expect(x.activations_peak).toBe(r[0]!.activations_peak);
    }
    const frozen = r.map((x) => x.frozen);
    expect(frozen[1]).toBeLessThan(frozen[0]!);
    expect(frozen[3]).toBeLessThan(frozen[2]!);
    expect(r[0]!.gradients).toBe(r[0]!.trainable);
  });

  it('nf4 counts each quantized matrix as codes and block scales, every other frozen parameter in f32', async () => {
    const r = await memoryReport(g, { ...dims, frozenDtype: 'nf4' });
    const q = quantizableWeights(g);
    let want = 0;
    for (const p of g.params.filter((p) => p.partition === 'frozen')) {
      const layout = q.get(p.path);
      want += alignUp(layout ? quantizedBytes('nf4', p.shape, layout) : 4 * p.shape.reduce((a, b) => a * b, 1));
    }
    expect(q.size).toBe(16);
    expect(r.frozen).toBe(want);
  });

  it('nf4dq: a byte per block instead of nf4’s f32 absmax, plus the slot’s nested header; params counts the bytes unaligned', async () => {
    const [r4, rdq] = await Promise.all(['nf4', 'nf4dq'].map((d) => memoryReport(g, { ...dims, frozenDtype: d })));
    const q = quantizableWeights(g);
    let want = 0;
    for (const p of g.params.filter((p) => p.partition === 'frozen')) {
      const layout = q.get(p.path);
      want += alignUp(layout ? slotBytes({ dtype: 'nf4dq', layout, rows: p.shape[0]!, cols: p.shape[1]! }) : 4 * p.shape.reduce((a, b) => a * b, 1));
    }
    expect(rdq!.frozen).toBe(want);
    expect(rdq!.total - rdq!.frozen).toBe(r4!.total - r4!.frozen);
    // A TinyLlama projection [2048, 5632]: 0.5 + 1/64 + 4/(64·256) bytes per value (and the offset), not 0.5 + 4/64
    const n = 2048 * 5632;
    expect(slotBytes({ dtype: 'nf4dq', layout: 'out_in', rows: 2048, cols: 5632 })).toBe(n / 2 + n / 64 + (4 * n) / 64 / 256 + 4 * (2 + 256));
    const bytes = frozenBytes(g, 'nf4dq');
    expect(bytes.bytes).toBeLessThan(frozenBytes(g, 'nf4').bytes);
    expect(bytes.dtype).toBe('nf4dq');
  });

  it('prints a table in MiB with shares', async () => {
    const text = formatMemory(await memoryReport(g, { ...dims, frozenDtype: 'int8' }));
    expect(text).toMatch(/^memory of one training step, B=2 T=16, frozen weights int8 \(1 buffer\)/);
    expect(text).toMatch(/\n {2}activations peak +\d+\.\d +\d+\.\d %\n/);
    expect(text).toMatch(/\n {2}total +\d+\.\d +100\.0 % +\(\d\.\d{3} GiB\)\n$/);
  });

  it('refuses an unknown dtype and a bad size in one line', async () => {
    await expect(memoryReport(g, { ...dims, frozenDtype: 'int4' })).rejects.toThrow('--frozen-dtype must be one of f32, f16, int8, nf4, nf4dq, not `int4`');
    await expect(memoryReport(g, { batch: '0', frozenDtype: 'nf4' })).rejects.toThrow('--batch must be a positive integer, got `0`');
  });

  it('the verb prints JSON', () => {
    const out = execFileSync('node', ['bin/peftc.js', 'memory', resolve(EXAMPLES, 'llama-lora.peft'), '--set', tinySet('llama')[0]!, '--batch', '2', '--seq', '16', '--frozen-dtype', 'nf4', '--json'], { cwd: ROOT, encoding: 'utf8' });
    const j = JSON.parse(out);
    expect(Object.keys(j).slice(0, 7)).toEqual(['frozen', 'trainable', 'gradients', 'optimizer', 'activations_peak', 'other', 'total']);
    expect(j.frozen_dtype).toBe('nf4');
  });
});
