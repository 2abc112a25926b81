// A model whose position table is used up by its soft prompt and prefix has no window to generate
// in: a one-line user error (ModelSizeError) on every path, not a RangeError reported as internal.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelSizeError } from '../../compiler/size.ts';
import { CpuDecoder } from '../../runtime/decode/cpu-decoder.ts';
import { generate, generateByWindow, generateRows } from '../../runtime/generate.ts';
import { peftc } from '../cli/peftc.ts';
import { EXAMPLES, graphOfText } from '../helpers.ts';
import { cpuBackend, randomStore } from './helpers.ts';

const FULL = `import "gpt2.peft"\npeft {\n  prefix(length = 4) on "h.*.attn"\n  prompt(length = 4) on "wte"\n}\n`;
const SET = 'vocab_size=256,n_positions=8,n_embd=16,n_layer=2,n_head=2';
const MESSAGE = "generate: the model's 8 positions leave no room for a token after its 4 soft prompt tokens and 4 prefix positions; give it more positions (n_positions) or a shorter prompt or prefix";

describe('generate with no room after the soft prompt and prefix', () => {
  const g = graphOfText(FULL, [SET]);
  const store = randomStore(g, 1);
  const opts = { maxTokens: 3, temperature: 0, topK: 0, topP: 1, seed: 0, maxContext: 8, promptLength: g.promptLength };

  it('the cache, the batch of rows and full re-evaluation throw ModelSizeError', async () => {
    for (const run of [
      () => generate(cpuBackend(g, store), [1, 2], opts),
      () => generateRows(new CpuDecoder(g, store), [{ prompt: [1, 2], seed: 0 }], opts),
      () => generateByWindow(cpuBackend(g, store), [1, 2], opts),
    ]) {
      const e = await run().then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(ModelSizeError);
      expect((e as Error).message).toBe(MESSAGE);
    }
  });

  it('the CLI says it in one line and exits 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peftc-no-room-'));
    const file = join(dir, 'full.peft');
    writeFileSync(file, FULL.replace('"gpt2.peft"', JSON.stringify(resolve(EXAMPLES, 'gpt2.peft'))));
    const r = peftc('generate', file, '--set', SET, '--prompt', 'hi', '--tokenizer', 'byte');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(`peftc: ${MESSAGE}`);
    expect(r.stderr).not.toMatch(/internal error|RangeError|\n\s+at /);
  });
});
