// Decoding on WebGPU with the key/value cache in GPU buffers (runtime/webgpu/decoder.ts) against
// the CPU's cache (runtime/decode/cpu-decoder.ts), registered once per software adapter
// (kv-cache-llvmpipe.test.ts, kv-cache-swiftshader.test.ts). For every method: three prompts of
// different lengths prefilled in one batch, steps of all rows and of some, a row dropped and a
// new one started while the others hold their caches — the logits of every call within
// TOL.logits·(1 + max |logit|) of the CPU's (the tolerance of plan-suite.ts). Sampled generation
// of three rows whose windows slide (prefix; LLaMA's rotary positions and grouped kv heads)
// picks the CPU's tokens; generate() on the backend decodes greedily on the GPU cache without a
// note and without evaluation plans, and so does `peftc generate --backend webgpu`; mixed adapters
// (the bank's rows and an adapter of its own) generate the CPU's tokens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Graph } from '../../compiler/ir/types.ts';
import type { ParamStore } from '../../runtime/arena.ts';
import { CpuDecoder, positionOffset } from '../../runtime/decode/cpu-decoder.ts';
import type { Decoder } from '../../runtime/decode/decoder.ts';
import { generate, generateRows } from '../../runtime/generate.ts';
import { generateMixed } from '../../runtime/multi/generate.ts';
import { AdapterSet, servingGraph } from '../../runtime/multi/set.ts';
import { WebGpuBackend } from '../../runtime/webgpu/backend.ts';
import { GpuDecoder } from '../../runtime/webgpu/decoder.ts';
import type { Gpu } from '../../runtime/webgpu/gpu.ts';
import { openNodeGpu, type SoftwareGpu } from '../../runtime/webgpu/node-gpu.ts';
import { maxDiff, methodGraph, randomStore, tokensOf } from '../decode/helpers.ts';
import { adapterOf, tinyBase } from '../multi/helpers.ts';
import { peftc } from '../cli/peftc.ts';
import { TOL } from './plan-suite.ts';

const VOCAB = 32;
const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, x) => Math.max(m, Math.abs(x)), 0);

/** Worst |GPU − CPU| over rows, relative to 1 + max |CPU logit|. */
function worst(got: Float32Array[], want: Float32Array[]): number {
  expect(got.length).toBe(want.length);
  return Math.max(...got.map((g, i) => maxDiff(g, want[i]!) / (1 + maxAbs(want[i]!))));
}

/** The same calls on both decoders; the worst relative logit difference over all of them. */
async function sameCalls(gpu: Decoder, cpu: Decoder): Promise<number> {
  const prompts = [tokensOf(3, VOCAB, 1), tokensOf(7, VOCAB, 2), tokensOf(5, VOCAB, 3)];
  for (const d of [gpu, cpu]) d.reserve?.(3, gpu.promptLength + 16);
  const [a, b] = [await gpu.start(prompts), await cpu.start(prompts)];
  expect(a.rows).toEqual(b.rows);
  let w = worst(a.logits, b.logits);
  const step = async (rows: number[], tokens: number[]) => (w = Math.max(w, worst(await gpu.next(rows, tokens), await cpu.next(rows, tokens))));
  const [r0, r1, r2] = a.rows as [number, number, number];
  await step([r0, r1, r2], [4, 5, 6]);
  await step([r2, r0], [7, 8]); // some rows, in another order
  // a row freed and a new one started while the others keep their caches
  for (const d of [gpu, cpu]) d.drop([r1]);
  const [c, e] = [await gpu.start([tokensOf(2, VOCAB, 4)]), await cpu.start([tokensOf(2, VOCAB, 4)])];
  expect(c.rows).toEqual(e.rows);
  w = Math.max(w, worst(c.logits, e.logits));
  await step([r0, c.rows[0]!, r2], [9, 10, 11]);
  await step([r0, c.rows[0]!, r2], [12, 13, 14]);
  return w;
}

export function kvCacheSuite(software: SoftwareGpu): void {
  describe(`decoding with the key/value cache on WebGPU (${software}) vs the CPU cache`, () => {
    let gpu: Gpu;
    beforeAll(async () => {
      gpu = await openNodeGpu({ gpu: software });
    });
    afterAll(() => gpu?.destroy());

    it.each(['lora', 'adapter', 'prefix', 'prefix-mlp', 'prompt', 'template', 'llama-lora', 'llama-prefix'])('%s: prefill and steps give the CPU logits', async (name) => {
      const g = methodGraph(name);
      const store = randomStore(g, 4);
      const dec = new GpuDecoder(new WebGpuBackend(gpu, servingGraph(g), store));
      expect(await sameCalls(dec, new CpuDecoder(g, store))).toBeLessThanOrEqual(TOL.logits);
      // steps padded to the reserved rows, prefills to a power of two of them: one step plan
      expect(dec.plans).toEqual(['prefill 3×8', 'step 3', 'prefill 1×2']);
      dec.close();
    });

    it.each(['prefix', 'llama-lora'])('%s: sampled generation of three rows, windows sliding, picks the CPU tokens', async (name) => {
      const g = methodGraph(name);
      const store = randomStore(g, 4);
      const maxContext = g.promptLength + positionOffset(g) + 9;
      const rows = [3, 7, 5].map((n, i) => ({ prompt: tokensOf(n, VOCAB, 20 + i), seed: i }));
      const opts = { maxTokens: 8, temperature: 0.8, topK: 8, topP: 0.9, maxContext };
      const dec = new GpuDecoder(new WebGpuBackend(gpu, servingGraph(g), store));
      expect(await generateRows(dec, rows, opts)).toEqual(await generateRows(new CpuDecoder(g, store), rows, opts));
      dec.close();
    });

    it('generate() on the backend decodes greedily on the GPU cache: the CPU tokens, nothing said, no evaluation plan', async () => {
      const g = methodGraph('lora');
      const store = randomStore(g, 4);
      const web = new WebGpuBackend(gpu, servingGraph(g), store);
      const notes: string[] = [];
      const prompt = tokensOf(5, VOCAB, 9);
      const greedy = { maxTokens: 6, temperature: 0, topK: 0, topP: 1, seed: 1, maxContext: 64, promptLength: g.promptLength };
      const got = await generate(web, prompt, { ...greedy, note: (m) => notes.push(m) });
      expect(got).toEqual((await generateRows(new CpuDecoder(g, store), [{ prompt, seed: 1 }], greedy))[0]);
      expect(got.length).toBe(6);
      expect(notes).toEqual([]);
      expect(web.evalShapes).toEqual([]);
    });

    it('peftc generate --backend webgpu writes what --backend cpu writes (sampled), with no note', () => {
      const args = ['generate', 'examples/tiny-gpt.peft', '--init', 'examples/tiny-gpt.safetensors', '--prompt', 'Call me Ishmael. Some years ago', '--max-tokens', '12', '--temperature', '0.7', '--seed', '3'];
      const [web, cpu] = [peftc(...args, '--backend', 'webgpu', '--gpu', software), peftc(...args)];
      expect(web.code).toBe(0);
      expect(web.stdout).toBe(cpu.stdout);
      expect(web.stderr).not.toMatch(/note|re-evaluat/);
    });

    it('a cache larger than one storage binding is refused in one line that says what does not fit', async () => {
      const g = methodGraph('lora');
      const dec = new GpuDecoder(new WebGpuBackend(gpu, servingGraph(g), randomStore(g, 4)));
      dec.reserve(1_000_000, 64);
      await expect(dec.start([[1, 2, 3]])).rejects.toThrow(/^limit error in decoding plan \(prefill 1×4\): the key\/value cache of attention 0 \(1000001 rows of 64 slots\) needs .* MiB in one binding, more than this adapter's maxStorageBufferBindingSize/);
      dec.close();
    });

    it('mixed adapters: the bank rows (LoRA, a bottleneck adapter, the base) and a prompt adapter generate the CPU tokens', async () => {
      const set = AdapterSet.create(tinyBase(3), [
        adapterOf('lora', 'lora(rank = 4) on "h.*.attn.c_attn"', 11),
        adapterOf('bottleneck', 'adapter(bottleneck = 8) on "h.*.mlp"', 12),
        adapterOf('prompt', 'prompt(length = 4) on "wte"', 13),
      ]);
      const uses = ['lora', null, 'bottleneck', 'prompt', 'lora'];
      const rows = uses.map((use, i) => ({ prompt: tokensOf(2 + 2 * i, VOCAB, 40 + i), use }));
      const opts = { temperature: 0.8, topK: 10, topP: 0.95, maxTokens: 6, seed: 5, maxContext: 20 };
      const decoders: GpuDecoder[] = [];
      const onGpu = (graph: Graph, store: ParamStore) => {
        decoders.push(new GpuDecoder(new WebGpuBackend(gpu, servingGraph(graph), store)));
        return decoders.at(-1)!;
      };
      expect(await generateMixed(set, rows, opts, onGpu)).toEqual(await generateMixed(set, rows, opts));
      expect(decoders.length).toBe(2); // the bank's rows on one cache, the prompt adapter's on another
    });
  });
}
