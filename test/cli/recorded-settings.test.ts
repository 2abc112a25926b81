// `eval`/`generate --adapter DIR` run a fine-tune with the tokenizer and the frozen-weight dtype its
// training recorded, when the command line does not name them: a built-in tokenizer by name, a
// tokenizer.json found as the recorded base is (cli/fine-tune.ts), and --frozen-dtype with a note
// when an explicit one differs.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chooseFrozenDtype, chooseTokenizer, type FineTune } from '../../cli/fine-tune.ts';
import type { CheckpointState } from '../../runtime/checkpoint.ts';
import { readCheckpointDir } from '../../runtime/checkpoint-node.ts';
import { peftc } from './peftc.ts';

const dir = mkdtempSync(join(tmpdir(), 'peftc-recorded-'));
const tune = (settings: Record<string, unknown>, at = join(dir, 'runs', 'ft')): FineTune => ({ adapter: join(at, 'adapter.safetensors'), dir: at, state: { settings } as unknown as CheckpointState });
// A word-level tokenizer.json: eight ids, nothing like the byte tokenizer the vocabulary implies.
const WORDS = ['w0', 'the', 'cat', 'sat', 'on', 'mat', 'dog', 'ran'];
const TOKENIZER = { version: '1.0', added_tokens: [], normalizer: null, pre_tokenizer: { type: 'Whitespace' }, post_processor: null, decoder: null, model: { type: 'WordLevel', vocab: Object.fromEntries(WORDS.map((w, i) => [w, i])), unk_token: 'w0' } };
mkdirSync(join(dir, 'tok'));
writeFileSync(join(dir, 'tok', 'tokenizer.json'), JSON.stringify(TOKENIZER));

describe('which tokenizer a fine-tune runs with', () => {
  it('--tokenizer wins; else the recorded built-in name; else none (the vocabulary picks)', () => {
    expect(chooseTokenizer(tune({ tokenizer: 'gpt2' }), 'byte')).toBe('byte');
    expect(chooseTokenizer(tune({ tokenizer: 'gpt2' }), undefined)).toBe('gpt2');
    expect(chooseTokenizer(tune({}), undefined)).toBeUndefined();
    expect(chooseTokenizer(undefined, undefined)).toBeUndefined();
  });

  it('a recorded tokenizer.json path relative to where train ran is found from the folders above the checkpoint', () => {
    expect(chooseTokenizer(tune({ tokenizer: 'tok/tokenizer.json' }), undefined)).toBe(join(dir, 'tok', 'tokenizer.json'));
    expect(chooseTokenizer(tune({ tokenizer: join(dir, 'tok') }), undefined)).toBe(join(dir, 'tok'));
  });

  it('a recorded tokenizer.json that is gone is one clear error', () => {
    expect(() => chooseTokenizer(tune({ tokenizer: 'gone/tokenizer.json' }), undefined)).toThrow(/runs[/\\]ft was trained with the tokenizer gone\/tokenizer\.json, which does not exist \(looked in the current directory and the folders above .*\); pass --tokenizer/);
    expect(() => chooseTokenizer(tune({ tokenizer: '/nowhere/tokenizer.json' }), undefined)).toThrow(/trained with the tokenizer \/nowhere\/tokenizer\.json, which does not exist; pass --tokenizer/);
  });
});

describe('which frozen dtype a fine-tune runs with', () => {
  it('the recorded one unless given; a different explicit one is used with a note', () => {
    expect(chooseFrozenDtype(tune({ frozen_dtype: 'nf4' }), undefined)).toEqual({ dtype: 'nf4', notes: [] });
    expect(chooseFrozenDtype(tune({ frozen_dtype: 'nf4' }), 'nf4')).toEqual({ dtype: 'nf4', notes: [] });
    expect(chooseFrozenDtype(tune({}), undefined)).toEqual({ notes: [] });
    const other = chooseFrozenDtype(tune({ frozen_dtype: 'int8' }), 'f32');
    expect(other.dtype).toBe('f32');
    expect(other.notes).toEqual([`--frozen-dtype f32 is not what ${join(dir, 'runs', 'ft')} was trained with (int8); using --frozen-dtype f32`]);
  });

  it('a malformed recorded value is a checkpoint error naming the setting', () => {
    expect(() => chooseFrozenDtype(tune({ frozen_dtype: 'q3' }), undefined)).toThrow(/setting `frozen_dtype` must be one of f32, f16, int8, nf4, nf4dq, not "q3"/);
  });
});

describe('peftc train records them; eval and generate reuse them', () => {
  const words = Array.from({ length: 600 }, (_, i) => WORDS[1 + ((i * 7 + (i >> 3)) % 7)]).join(' ');
  const data = join(dir, 'd.txt');
  writeFileSync(data, words);
  const run = join(dir, 'run');
  const MODEL = resolve('examples/tiny-gpt-lora.peft');
  const t = peftc('train', MODEL, '--set', 'n_embd=16,n_layer=1,n_head=2', '--data', data, '--tokenizer', join(dir, 'tok', 'tokenizer.json'), '--frozen-dtype', 'int8', '--steps', '3', '--batch', '4', '--seq', '16', '--lr', '1e-2', '--no-baseline', '--out', run);

  it('the checkpoint records the tokenizer and --frozen-dtype', () => {
    expect(t.code, t.stderr).toBe(0);
    const s = readCheckpointDir(run).state.settings;
    expect(s.tokenizer).toBe(join(dir, 'tok', 'tokenizer.json'));
    expect(s.frozen_dtype).toBe('int8');
  });

  it('eval without the flags gives what eval with them gives; another dtype gets a note', () => {
    const ev = (...flags: string[]) => {
      const r = peftc('eval', MODEL, '--adapter', run, '--data', data, '--seq', '16', '--json', ...flags);
      expect(r.code, r.stderr).toBe(0);
      return { out: JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { loss: number; positions: number }, stderr: r.stderr };
    };
    const implicit = ev();
    const explicit = ev('--tokenizer', join(dir, 'tok', 'tokenizer.json'), '--frozen-dtype', 'int8');
    expect(implicit.out).toEqual(explicit.out);
    expect(implicit.stderr).not.toMatch(/note: --frozen-dtype/);
    const f32 = ev('--frozen-dtype', 'f32');
    expect(f32.stderr).toMatch(/note: --frozen-dtype f32 is not what .* was trained with \(int8\); using --frozen-dtype f32/);
    expect(f32.out.loss).not.toBe(implicit.out.loss);
  });

  it('generate without --tokenizer decodes with the recorded tokenizer', () => {
    const r = peftc('generate', MODEL, '--adapter', run, '--prompt', 'the cat', '--max-tokens', '4', '--temperature', '0');
    expect(r.code, r.stderr).toBe(0);
    // Word-level ids decode to words of the tokenizer's vocabulary (joined: it has no decoder), never to bytes.
    expect(r.stdout.trim()).toMatch(new RegExp(`^the cat(${WORDS.join('|')}){4}$`));
  });
});
