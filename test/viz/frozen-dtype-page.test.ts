// `peftc viz --frozen-dtype`: the partition page carries what the frozen parameters weigh at that
// dtype (the figures of `peftc params --frozen-dtype`), and its totals say it; a bad dtype is one
// line naming the flag.
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { vizCommand } from '../../cli/viz.ts';
import { frozenBytes } from '../../compiler/quant/frozen-bytes.ts';
import type { PageData } from '../../viz/page/data.ts';
import { EXAMPLES, graphOf } from '../helpers.ts';

const CHROMIUM = process.env.PEFTC_CHROMIUM ?? '/usr/bin/chromium';
const dataOf = (html: string) => JSON.parse(/<script type="application\/json" id="peftc-data">(.*?)<\/script>/s.exec(html)![1]!) as PageData;

describe('peftc viz --frozen-dtype', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peftc-viz-dtype-'));
  const page = (dtype?: string) => {
    const out = join(dir, `${dtype ?? 'default'}.html`);
    expect(vizCommand(resolve(EXAMPLES, 'gpt2-lora.peft'), { output: out, ...(dtype ? { frozenDtype: dtype } : {}) })).toBe(0);
    return readFileSync(out, 'utf8');
  };

  it('puts the frozen bytes at the dtype into the page data (f32 by default)', () => {
    const g = graphOf('gpt2-lora.peft');
    expect(dataOf(page()).frozen).toEqual(frozenBytes(g, 'f32'));
    const nf4 = dataOf(page('nf4')).frozen!;
    expect(nf4).toEqual(frozenBytes(g, 'nf4'));
    expect(nf4.bytes).toBe(70_414_512); // as peftc params --frozen-dtype nf4 prints it (docs/quantization.md)
  });

  it('refuses an unknown dtype, naming the flag', () => {
    expect(() => vizCommand(resolve(EXAMPLES, 'gpt2-lora.peft'), { output: join(dir, 'x.html'), frozenDtype: 'int4' })).toThrow('--frozen-dtype must be one of f32, f16, int8, nf4, nf4dq, not `int4`');
  });

  it('the Frozen card says how the frozen weights are stored and what they weigh', async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM });
    try {
      const p = await browser.newPage();
      await p.setContent(page('nf4'));
      const card = await p.locator('.card', { hasText: 'Frozen' }).innerText();
      expect(card).toContain('stored in nf4: 67.2 MiB (f32: 475 MiB)');
    } finally {
      await browser.close();
    }
  });
});
