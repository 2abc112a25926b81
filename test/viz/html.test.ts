// The partition page as a file: self-contained (no URL anywhere, a CSP that forbids
// network requests), the data intact, the script unable to end its element early.
import { describe, expect, it } from 'vitest';
import type { PageData } from '../../viz/page/data.ts';
import { htmlOf } from './helpers.ts';

describe('partitions.html', () => {
  const html = htmlOf('gpt2-lora.peft');

  it('names no external resource anywhere in the file', () => {
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/\/\/cdn/i);
    expect(html).not.toMatch(/\b(src|href|srcset|action|poster|data)\s*=\s*["']?\s*\/\//i);
    expect(html).not.toMatch(/<(link|iframe|img|object|embed|base)\b/i);
    expect(html).not.toMatch(/@import|url\(\s*["']?(?!data:)[a-z/]/i);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none';`);
  });

  it('has one inline script and the data as JSON', () => {
    expect(html.match(/<script\b/g)).toHaveLength(2);
    expect(html.match(/<\/script>/g)).toHaveLength(2);
    const json = /<script type="application\/json" id="peftc-data">(.*?)<\/script>/s.exec(html)![1]!;
    const data = JSON.parse(json) as PageData;
    expect(data.totals.trainable).toBe(294_912);
    expect(data.totals.total).toBe(124_734_720);
    expect(data.summaryLine).toBe('trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364');
    expect(data.comparison!.full.trainable).toBe(124_439_808);
    expect(data.flops!.full.total).toBeGreaterThan(data.flops!.peft.total);
    expect(data.file).toBe('gpt2-lora.peft');
  });

  it('stays small', () => {
    expect(html.length).toBeLessThan(200_000);
  });
});
