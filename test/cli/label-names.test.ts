// A classifier trained on string labels keeps their ids: eval and resume map each name to the id
// training gave it, whatever order their own file shows the names in.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildDataset } from '../../runtime/data/dataset.ts';
import { tokenizerByName } from '../../runtime/data/tokenizer.ts';
import { readCheckpointDir } from '../../runtime/checkpoint-node.ts';
import { recordedLabelNames } from '../../runtime/label-names.ts';
import { peftc } from './peftc.ts';

const rows = (pairs: Array<[string, string]>) => pairs.map(([text, label]) => JSON.stringify({ text, label })).join('\n') + '\n';
const source = (name: string, text: string) => ({ name, format: 'jsonl' as const, text });

describe('label ids from the training run', () => {
  const tokenizer = tokenizerByName('byte');
  const opts = { task: 'classification' as const, tokenizer, seqLen: 16, numLabels: 2 };

  it('first-seen order without recorded names; the recorded order with them', () => {
    const file = source('e.jsonl', rows([['cheap pills', 'spam'], ['lunch?', 'ham']]));
    expect(buildDataset(file, opts, file).valid.map((r) => r.label)).toEqual([0, 1]);
    expect(buildDataset(file, { ...opts, labelNames: ['ham', 'spam'] }, file).valid.map((r) => r.label)).toEqual([1, 0]);
  });

  it('a name training never saw, or a number for a named label, is an error naming the line', () => {
    const odd = source('odd.jsonl', rows([['hi', 'ham'], ['x', 'eggs']]));
    expect(() => buildDataset(odd, { ...opts, labelNames: ['ham', 'spam'] }, odd)).toThrow(/odd\.jsonl:2: label "eggs" is not one the model was trained on \("ham", "spam"\)/);
    const num = source('num.jsonl', JSON.stringify({ text: 'hi', label: 1 }) + '\n');
    expect(() => buildDataset(num, { ...opts, labelNames: ['ham', 'spam'] }, num)).toThrow(/num\.jsonl:1: label is a number but the model was trained on named labels/);
  });

  it('a malformed recorded setting is a checkpoint error', () => {
    expect(recordedLabelNames({}, 'x')).toBeUndefined();
    expect(recordedLabelNames({ label_names: '["ham","spam"]' }, 'x')).toEqual(['ham', 'spam']);
    for (const bad of ['[1,2]', '["a","a"]', '[]', 'nope', 7]) expect(() => recordedLabelNames({ label_names: bad }, 'ck')).toThrow(/ck: setting `label_names`/);
  });

  it('peftc train records the names; eval gives the same loss whichever order the eval file lists them in', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peftc-labels-'));
    const pairs: Array<[string, string]> = Array.from({ length: 24 }, (_, i) => (i % 2 ? [`win money now ${i}`, 'spam'] : [`meeting at ${i}`, 'ham']));
    writeFileSync(join(dir, 'train.jsonl'), rows(pairs)); // ham first: ham = 0
    writeFileSync(join(dir, 'eval.jsonl'), rows(pairs.slice(0, 8)));
    writeFileSync(join(dir, 'eval-reversed.jsonl'), rows(pairs.slice(0, 8).reverse())); // spam first
    const out = join(dir, 'run');
    const t = peftc('train', 'examples/tiny-gpt-spam.peft', '--init', 'examples/tiny-gpt.safetensors', '--data', join(dir, 'train.jsonl'), '--steps', '2', '--batch', '4', '--seq', '16', '--no-baseline', '--out', out);
    expect(t.code, t.stderr).toBe(0);
    expect(recordedLabelNames(readCheckpointDir(out).state.settings, out)).toEqual(['ham', 'spam']);
    const evalOn = (f: string) => {
      const r = peftc('eval', 'examples/tiny-gpt-spam.peft', '--adapter', out, '--data', join(dir, f), '--seq', '16', '--json');
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { loss: number; accuracy: number };
    };
    const a = evalOn('eval.jsonl');
    const b = evalOn('eval-reversed.jsonl');
    expect(b.loss).toBeCloseTo(a.loss, 6);
    expect(b.accuracy).toBe(a.accuracy);
  });
});
