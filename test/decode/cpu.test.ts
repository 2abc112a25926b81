// Decoding with the key/value cache on the CPU gives the logits and the tokens of full
// re-evaluation, for every method; several prompts of different lengths share a batch; the
// window slides as it did.
import { describe, expect, it } from 'vitest';
import { CpuDecoder } from '../../runtime/decode/cpu-decoder.ts';
import { decoderFor } from '../../runtime/decode/for-backend.ts';
import { generate, generateByWindow, generateRows } from '../../runtime/generate.ts';
import { RankController, RankedBackend } from '../../runtime/rank-controller.ts';
import { graphOfText } from '../helpers.ts';
import { cpuBackend, GPT, lastLogits, maxDiff, METHODS, methodGraph, randomStore, tokensOf } from './helpers.ts';

const TOL = 2e-5;
const VOCAB = 32;

describe.each(Object.keys(METHODS))('%s', (name) => {
  const g = methodGraph(name);
  const store = randomStore(g, 7);
  const backend = cpuBackend(g, store);
  // A template's virtual tokens are ids past the vocabulary: a prompt holds them too.
  const virtual = g.nodes.some((n) => n.op === 'soft_embedding') ? [VOCAB, VOCAB + 1, VOCAB + 2] : [];

  it('prefill and steps give the logits of full re-evaluation, rows of different lengths in one batch', async () => {
    const dec = new CpuDecoder(g, store);
    const prompts = [[...virtual, ...tokensOf(5, VOCAB, 1)], [...virtual, ...tokensOf(2, VOCAB, 2)], [...virtual, ...tokensOf(9, VOCAB, 3)]];
    const { rows, logits } = await dec.start(prompts);
    for (let b = 0; b < prompts.length; b++) expect(maxDiff(logits[b]!, await lastLogits(backend, prompts[b]!))).toBeLessThan(TOL);
    const seqs = prompts.map((p) => [...p]);
    for (let t = 0; t < 6; t++) {
      // Rows take turns: a step need not include every row.
      const which = rows.filter((_, b) => (t + b) % 3 !== 0);
      const next = which.map((r) => tokensOf(1, VOCAB, 100 * t + r)[0]!);
      const out = await dec.next(which, next);
      for (let k = 0; k < which.length; k++) {
        const b = rows.indexOf(which[k]!);
        seqs[b]!.push(next[k]!);
        expect(maxDiff(out[k]!, await lastLogits(backend, seqs[b]!))).toBeLessThan(TOL);
      }
    }
  });

  it('greedy and sampled tokens equal full re-evaluation, also when the window slides', async () => {
    expect(typeof decoderFor(backend)).toBe('object');
    const prompt = [...virtual, ...tokensOf(6, VOCAB, 4)];
    for (const sampling of [{ temperature: 0, topK: 0, topP: 1 }, { temperature: 0.9, topK: 8, topP: 0.9 }]) {
      // A 20-position window: 30 tokens slide it, keeping the template's head.
      const opts = { ...sampling, maxTokens: 30, seed: 3, maxContext: 20 + g.promptLength, promptLength: g.promptLength, keep: virtual.length };
      const cached = await generate(backend, prompt, opts);
      expect(cached).toHaveLength(30);
      expect(cached).toEqual(await generateByWindow(backend, prompt, opts));
    }
  });
});

describe('generateRows', () => {
  it('each row generates what it generates alone, and stops at eos', async () => {
    const g = methodGraph('lora');
    const store = randomStore(g, 9);
    const backend = cpuBackend(g, store);
    const prompts = [tokensOf(3, VOCAB, 5), tokensOf(8, VOCAB, 6)];
    const opts = { temperature: 1, topK: 0, topP: 1, maxTokens: 12, maxContext: 64 };
    const together = await generateRows(new CpuDecoder(g, store), prompts.map((p, i) => ({ prompt: p, seed: 10 + i })), opts);
    for (let i = 0; i < prompts.length; i++) {
      expect(together[i]).toEqual(await generateByWindow(backend, prompts[i]!, { ...opts, seed: 10 + i, promptLength: 0 }));
    }
    const eos = together[0]![4]!;
    const stopped = await generateRows(new CpuDecoder(g, store), [{ prompt: prompts[0]!, seed: 10 }], { ...opts, eos });
    expect(stopped[0]).toEqual(together[0]!.slice(0, together[0]!.indexOf(eos)));
  });

  it('streams each token as it is chosen', async () => {
    const g = methodGraph('base');
    const seen: number[] = [];
    const out = await generate(cpuBackend(g, randomStore(g, 2)), tokensOf(4, VOCAB, 1), { temperature: 0, topK: 0, topP: 1, maxTokens: 5, seed: 0, maxContext: 64, promptLength: 0, onToken: (id) => seen.push(id) });
    expect(seen).toEqual(out);
  });
});

describe('rank-masked LoRA', () => {
  it('decodes with the rank masks of the backend (DyLoRA at rank 2 differs from rank 8)', async () => {
    const g = graphOfText('import "gpt2.peft"\npeft {\n  lora(rank = dynamic(max = 8), alpha = 8) on "c_attn"\n}\n', [GPT]);
    const store = randomStore(g, 3);
    const opts = { temperature: 0, topK: 0, topP: 1, maxTokens: 12, seed: 0, maxContext: 64, promptLength: 0 };
    const prompt = tokensOf(6, VOCAB, 9);
    const at = async (rank: number) => {
      const ranked = new RankedBackend(cpuBackend(g, store), store, new RankController(g, { evalRank: rank }));
      expect(typeof decoderFor(ranked)).toBe('object');
      const out = await generate(ranked, prompt, opts);
      expect(out).toEqual(await generateByWindow(ranked, prompt, opts));
      return out;
    };
    expect(await at(2)).not.toEqual(await at(8));
  });
});

describe('the window', () => {
  it('leaves room for prefix positions: a prefix-tuned model generates past n_positions − prefix', async () => {
    const g = methodGraph('prefix');
    const backend = cpuBackend(g, randomStore(g, 4));
    // n_positions 64, prefix 5: 59 positions for tokens; 50 + 20 slide the window.
    const opts = { temperature: 0, topK: 0, topP: 1, maxTokens: 20, seed: 0, maxContext: 64, promptLength: 0 };
    const prompt = tokensOf(50, VOCAB, 8);
    const out = await generate(backend, prompt, opts);
    expect(out).toHaveLength(20);
    expect(out).toEqual(await generateByWindow(backend, prompt, opts));
  });
});

describe('a backend without a decoder', () => {
  it('generates by re-evaluating the window and says why', async () => {
    const g = methodGraph('lora');
    const cpu = cpuBackend(g, randomStore(g, 6));
    // Any backend other than the CPU's (as WebGPU's is today): only evaluate().
    const other = { name: 'other', training: cpu.training, evaluate: (b: Parameters<typeof cpu.evaluate>[0]) => cpu.evaluate(b) } as unknown as typeof cpu;
    const notes: string[] = [];
    const opts = { temperature: 0, topK: 0, topP: 1, maxTokens: 6, seed: 0, maxContext: 64, promptLength: 0 };
    const prompt = tokensOf(5, VOCAB, 2);
    expect(await generate(other, prompt, { ...opts, note: (m) => notes.push(m) })).toEqual(await generate(cpu, prompt, opts));
    expect(notes).toEqual(['generate: the other backend has no key/value cache yet; every token re-evaluates the whole window']);
  });
});
