// The demo's pieces (scripts/demo.sh): the spam/ham data built from SpamAssassin messages,
// and its train / eval / report steps at a tiny setting (2 training steps on 50 synthetic
// subjects), whose report must agree with `peftc eval`. The full run's accuracy jump is
// measured by hand (examples/RESULTS.md): it takes minutes.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { examplesOf, jsonl, shorten, split, subjectOf, writeSplit, SUBJECT_BYTES, type Example } from '../../scripts/spam-data.ts';
import { measure, resultsTable, samples, sideBySide } from '../../scripts/demo-report.ts';
import { peftc } from './peftc.ts';

const mail = (subject: string, body = 'hello') => `From: a@b.c\nSubject: ${subject}\nTo: d@e.f\n\n${body}\n`;

describe('spam/ham data', () => {
  it('reads the Subject header, joining folded lines, and skips what a reader could not read', () => {
    expect(subjectOf(mail('Save money now!!!'))).toBe('Save money now!!!');
    expect(subjectOf('From: x\nSubject: Re: [ILUG]\n  folded\tline\n\nSubject: not a header')).toBe('Re: [ILUG] folded line');
    expect(subjectOf('From: x\n\nSubject: only in the body\n')).toBeUndefined();
    expect(subjectOf(mail('=?iso-8859-1?Q?caf=E9?='))).toBeUndefined();
    expect(subjectOf(mail('café'))).toBeUndefined();
    expect(subjectOf(mail(''))).toBeUndefined();
  });

  it('shortens at a word boundary to the bytes a row holds', () => {
    expect(shorten('short', 32)).toBe('short');
    expect(shorten('Get your FREE cell phone today and save', 32)).toBe('Get your FREE cell phone today');
    expect(shorten('x'.repeat(40), 32)).toBe('x'.repeat(32));
    expect(subjectOf(mail('word '.repeat(20)))!.length).toBeLessThanOrEqual(SUBJECT_BYTES);
  });

  it('keeps one example per subject, drops subjects found as both spam and ham, and sorts', () => {
    const ex = examplesOf([
      { group: 'spam-1', text: mail('WIN NOW') },
      { group: 'spam-2', text: mail('win now') },
      { group: 'easy-ham-1', text: mail('Both') },
      { group: 'spam-1', text: mail('both') },
      { group: 'hard-ham-1', text: mail('Meeting notes') },
    ]);
    expect(ex).toEqual([
      { subject: 'Meeting notes', verdict: 'ham' },
      { subject: 'WIN NOW', verdict: 'spam' },
    ]);
  });

  it('holds out a balanced, seeded set that never overlaps training; labels are 0 = ham, 1 = spam', () => {
    const ex: Example[] = Array.from({ length: 60 }, (_, i) => ({ subject: `s${i}`, verdict: i % 3 === 0 ? 'spam' : 'ham' }));
    const a = split(ex, 10, 1);
    expect(a.test.filter((e) => e.verdict === 'spam')).toHaveLength(5);
    expect(a.test).toHaveLength(10);
    expect(a.train).toHaveLength(50);
    const held = new Set(a.test.map((e) => e.subject));
    expect(a.train.some((e) => held.has(e.subject))).toBe(false);
    expect(split(ex, 10, 1)).toEqual(a);
    expect(split(ex, 10, 2).test).not.toEqual(a.test);
    expect(jsonl(a.test.slice(0, 2)).split('\n').slice(0, 2).map((l) => JSON.parse(l) as { label: number }).map((o) => typeof o.label)).toEqual(['number', 'number']);
    expect(jsonl([{ subject: 'x', verdict: 'spam' }, { subject: 'y', verdict: 'ham' }])).toBe('{"text":"x","label":1}\n{"text":"y","label":0}\n');
  });

  it('picks samples alternating between labels, spam first', () => {
    const p = (label: number) => ({ label, predicted: 0, confidence: 0.5 });
    expect(samples([p(0), p(0), p(1), p(0), p(1)], 4)).toEqual([2, 0, 4, 1]);
    expect(samples([p(0)], 5)).toEqual([0]);
  });
});

describe("the demo's commands at a tiny setting", () => {
  it("trains the spam filter 2 steps; the report's predictions are peftc eval's, and it prints both tables", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'peftc-demo-'));
    const words = ['FREE', 'money', 'meeting', 'notes', 'WIN', 'cash', 'patch', 'review', 'NOW', 'kernel'];
    const messages = Array.from({ length: 60 }, (_, i) => ({ group: i % 2 ? 'spam-1' : 'easy-ham-1', text: mail(`${words[i % 10]} ${words[(i * 7) % 10]} ${i}`) }));
    const sizes = writeSplit(join(dir, 'data'), { heldOut: 10, seed: 1 }, messages);
    expect(sizes).toMatchObject({ train: 50, test: 10 });
    const [data, test, run] = [join(dir, 'data', 'train.jsonl'), join(dir, 'data', 'test.jsonl'), join(dir, 'run')];
    // The flags of scripts/demo.sh's train and eval lines, at 2 steps of 4 subjects.
    const common = ['examples/tiny-gpt-spam.peft', '--init', 'examples/tiny-gpt.safetensors', '--seq', '40'];
    const t = peftc('train', ...common, '--data', data, '--valid', test, '--steps', '2', '--batch', '4', '--lr', '5e-3', '--warmup', '1', '--eval-every', '1', '--seed', '1', '--no-baseline', '--out', run, '--overwrite');
    expect(t.code, t.stderr).toBe(0);
    const e = peftc('eval', ...common, '--adapter', run, '--data', test, '--json');
    expect(e.code, e.stderr).toBe(0);
    const evaluated = JSON.parse(e.stdout) as { accuracy: number; loss: number };
    const r = await measure('examples/tiny-gpt-spam.peft', { init: 'examples/tiny-gpt.safetensors', adapter: run, data: test, seq: 40 });
    expect(r.tuned.predictions).toHaveLength(10);
    expect(r.tuned.accuracy).toBeCloseTo(evaluated.accuracy, 10);
    expect(r.tuned.loss).toBeCloseTo(evaluated.loss, 4);
    expect(r.trainable).toBe(18_562);
    // The base is the same network without the fine-tune: other predictions, same rows.
    expect(r.base.predictions.map((p) => p.label)).toEqual(r.tuned.predictions.map((p) => p.label));
    const texts = readPairsText(test);
    const side = sideBySide(r, texts, ['ham', 'spam'], 4);
    expect(side.split('\n')[0]).toMatch(/^\| held-out subject +\| base model +\| fine-tuned +\| truth \|$/);
    expect(side.split('\n')).toHaveLength(2 + 4 + 1);
    expect(side).toContain(JSON.stringify(texts[samples(r.tuned.predictions, 4)[0]!]));
    const table = resultsTable({ ...r, trainSeconds: 12.4 });
    expect(table).toContain(`| accuracy on the held-out subjects `);
    expect(table).toMatch(/\| training time +\| — +\| 12 s +\|/);
    expect(table).toContain('18,562 of 239,106 (7.8%)');
  }, 120_000);
});

function readPairsText(file: string): string[] {
  return readFileSync(file, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { text: string }).text);
}
