// Multi-adapter eval of classifiers trained on string labels: the data's names map to the ids the
// training runs gave them (as one-adapter eval does), and adapters that recorded different names
// are refused, naming both.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { peftc } from './peftc.ts';

const dir = mkdtempSync(join(tmpdir(), 'peftc-multi-labels-'));
const S = ['--set', 'n_embd=16,n_layer=1,n_head=2'];
// The spam filter without its peft block is the shared base; the adapter trains LoRA and the head.
const spam = readFileSync('examples/tiny-gpt-spam.peft', 'utf8');
writeFileSync(join(dir, 'base.peft'), spam.slice(0, spam.indexOf('\npeft {')));
writeFileSync(join(dir, 'a.peft'), 'import "base.peft"\npeft {\n  lora(rank = 2) on "c_attn"\n  train "score"\n}\n');
const pairs = Array.from({ length: 16 }, (_, i) => (i % 2 ? { text: `win money now ${i}`, label: 'spam' } : { text: `meeting at ${i}`, label: 'ham' }));
const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
writeFileSync(join(dir, 'ham-first.jsonl'), jsonl(pairs));
writeFileSync(join(dir, 'spam-first.jsonl'), jsonl([...pairs].reverse()));

function run(...args: string[]): string {
  const r = peftc(...args);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}
const train = (data: string, out: string) => run('train', join(dir, 'a.peft'), ...S, '--data', join(dir, data), '--steps', '3', '--lr', '1e-2', '--batch', '4', '--seq', '16', '--no-baseline', '--out', join(dir, out));
const lastJson = (s: string) => JSON.parse(s.trim().split('\n').at(-1)!);

describe('multi-adapter eval with string labels', () => {
  train('ham-first.jsonl', 'A'); // ham = 0, spam = 1
  train('spam-first.jsonl', 'B'); // spam = 0, ham = 1

  it('maps the names of a file that lists them in another order to the training run\'s ids', () => {
    const ev = ['--data', join(dir, 'spam-first.jsonl'), '--seq', '16', '--json'];
    const one = lastJson(run('eval', join(dir, 'a.peft'), ...S, '--adapter', join(dir, 'A'), ...ev)) as { loss: number };
    const multi = lastJson(run('eval', join(dir, 'base.peft'), ...S, '--adapter', `a=${join(dir, 'A')}`, ...ev)) as { adapter: string; loss: number }[];
    expect(multi[0]!.adapter).toBe('a');
    expect(multi[0]!.loss).toBeCloseTo(one.loss, 6);
  });

  it('adapters trained with different names are refused in one line naming both', () => {
    const r = peftc('eval', join(dir, 'base.peft'), ...S, '--adapter', `a=${join(dir, 'A')}`, '--adapter', `b=${join(dir, 'B')}`, '--data', join(dir, 'ham-first.jsonl'), '--seq', '16');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`different label names: ${join(dir, 'A')} has ["ham","spam"], ${join(dir, 'B')} has ["spam","ham"]`);
  });
});
