// `peftc generate` on the bundled tiny GPT: the text it writes (token by token, on the cache) is
// the prompt and what full re-evaluation generates from the same session.
import { describe, expect, it } from 'vitest';
import { openSession } from '../../cli/session.ts';
import { CpuBackend } from '../../runtime/backend.ts';
import { DecodeStream } from '../../runtime/data/tokenizer.ts';
import { generateByWindow } from '../../runtime/generate.ts';
import { servingGraph } from '../../runtime/multi/set.ts';
import { peftc } from '../cli/peftc.ts';

describe('peftc generate', () => {
  it('writes the prompt and the continuation of full re-evaluation', async () => {
    const prompt = 'Call me Ishmael. Some years ago';
    const args = ['examples/tiny-gpt.peft', '--init', 'examples/tiny-gpt.safetensors'];
    // 60 tokens after 31 pass the 64 positions: the window slides.
    const r = peftc('generate', ...args, '--prompt', prompt, '--max-tokens', '60', '--temperature', '0.7', '--seed', '3');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = (await openSession(args[0]!, { init: args[2]! }, { derivedPrefix: true }))!;
    const ids = await generateByWindow(new CpuBackend(servingGraph(s.graph), s.store), s.tokenizer.encode(prompt), {
      maxTokens: 60, temperature: 0.7, topK: 40, topP: 0.95, seed: 3, maxContext: 64, promptLength: 0,
    });
    const stream = new DecodeStream(s.tokenizer);
    expect(r.stdout).toBe(prompt + ids.map((id) => stream.push(id)).join('') + stream.flush() + '\n');
  });
});
