// A base `peftc quantize` stored as nf4 codes, loaded with another --frozen-dtype: one note says
// what is used (the codes' values, re-quantized or as they are), and the losses show it is so.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { evalCommand } from '../../cli/evaluate.ts';
import { quantizeCommand } from '../../cli/quantize.ts';
import { EXAMPLES } from '../helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'peftc-quant-note-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MODEL = resolve(EXAMPLES, 'tiny-gpt-lora.peft');
const NF4 = join(dir, 'nf4.safetensors');
const TEXT = join(dir, 'text.txt');
writeFileSync(TEXT, 'The state of the union is strong and we are here today.\n');

/** eval's loss and its stderr notes. */
async function evalWith(frozenDtype?: string): Promise<{ loss: number; notes: string[] }> {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    expect(await evalCommand(MODEL, { init: NF4, data: TEXT, batch: '1', json: true, ...(frozenDtype ? { frozenDtype } : {}) })).toBe(0);
  } finally {
    vi.restoreAllMocks();
  }
  return { loss: (JSON.parse(out) as { loss: number }).loss, notes: err.split('\n').filter((l) => l.startsWith('peftc: note:') && l.includes('codes')) };
}

describe('--frozen-dtype on a quantized base', async () => {
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  await quantizeCommand(MODEL, { init: resolve(EXAMPLES, 'tiny-gpt.safetensors'), dtype: 'nf4', out: NF4 });
  vi.restoreAllMocks();
  const asStored = await evalWith();

  it('says nothing without the flag or with the file\'s own dtype (the file\'s numbers)', async () => {
    expect(asStored.notes).toEqual([]);
    const same = await evalWith('nf4');
    expect(same.notes).toEqual([]);
    expect(same.loss).toBe(asStored.loss);
  });

  it('another quantized dtype re-quantizes the codes\' values, in one note', async () => {
    const int8 = await evalWith('int8');
    expect(int8.notes).toEqual([`peftc: note: ${NF4} holds the base's weight matrices as nf4 codes; --frozen-dtype int8 re-quantizes the values they stand for to int8 (a second rounding; --frozen-dtype nf4 keeps the file's numbers)`]);
    expect(int8.loss).not.toBe(asStored.loss);
  });

  it('f32 uses the same numbers, and says so', async () => {
    const f32 = await evalWith('f32');
    expect(f32.notes).toHaveLength(1);
    expect(f32.notes[0]).toContain('--frozen-dtype f32 uses the f32 values they stand for (the same numbers');
    expect(f32.loss).toBe(asStored.loss);
  });
});
