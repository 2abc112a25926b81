// Generation on WebGPU against the CPU, registered once per software adapter
// (decode-llvmpipe.test.ts, decode-swiftshader.test.ts). Evaluation of any length runs on the GPU
// on plans per length bucket (powers of two, padded on the right): logits equal the CPU's full
// evaluation at every real position, a new length in a known bucket plans nothing, and greedy
// generation picks the CPU key/value cache's tokens. Tolerances as plan-suite.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeGraphs } from '../../compiler/decode/graph.ts';
import { CpuDecoder } from '../../runtime/decode/cpu-decoder.ts';
import { generate, generateRows } from '../../runtime/generate.ts';
import { servingGraph } from '../../runtime/multi/set.ts';
import { IGNORE } from '../../runtime/targets.ts';
import { WebGpuBackend } from '../../runtime/webgpu/backend.ts';
import type { Gpu } from '../../runtime/webgpu/gpu.ts';
import { lengthBucket, padsSafely } from '../../runtime/webgpu/length-buckets.ts';
import { openNodeGpu } from '../../runtime/webgpu/node-gpu.ts';
import { graphOf, tinySet } from '../helpers.ts';
import { cpuBackend, maxDiff, methodGraph, randomStore, tokensOf } from '../decode/helpers.ts';
import { TOL } from './plan-suite.ts';

const VOCAB = 32;
const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, x) => Math.max(m, Math.abs(x)), 0);

function batchOf(tokens: number[], P: number) {
  const S = P + tokens.length;
  return { tokens: { shape: [1, tokens.length], data: Int32Array.from(tokens) }, targets: { shape: [1, S], data: new Int32Array(S).fill(IGNORE) } };
}

export function decodeSuite(adapter: 'swiftshader' | 'llvmpipe'): void {
  describe(`generation on WebGPU (${adapter}) vs the CPU`, () => {
    let gpu: Gpu;
    beforeAll(async () => {
      gpu = await openNodeGpu({ adapter });
    });
    afterAll(() => gpu?.destroy());

    it.each(['prefix', 'prompt', 'llama-lora'])('%s: every length evaluates on the GPU, one plan per length bucket, as the CPU', async (name) => {
      const g = methodGraph(name);
      const store = randomStore(g, 3);
      const cpu = cpuBackend(g, store);
      const web = new WebGpuBackend(gpu, servingGraph(g), store);
      for (const n of [3, 5, 6, 9]) {
        // a target on the real positions: the loss must ignore the padding
        const b = batchOf(tokensOf(n, VOCAB, n), g.promptLength);
        b.targets.data.set(tokensOf(n, VOCAB, n + 1), g.promptLength);
        const [want, got] = [await cpu.evaluate(b), await web.evaluate(b)];
        expect(got.logits.shape, `length ${n}`).toEqual(want.logits.shape);
        expect(maxDiff(got.logits.data, want.logits.data), `length ${n}`).toBeLessThanOrEqual(TOL.logits * (1 + maxAbs(want.logits.data)));
        expect(Math.abs(got.loss - want.loss), `length ${n}`).toBeLessThanOrEqual(TOL.loss * Math.abs(want.loss));
      }
      expect(web.evalShapes).toEqual(['1x4', '1x8', '1x16']);
    });

    it.each(['lora', 'prefix', 'template', 'llama-lora'])('%s: greedy generation picks the tokens of the CPU key/value cache', async (name) => {
      const g = methodGraph(name);
      const store = randomStore(g, 4);
      const web = new WebGpuBackend(gpu, servingGraph(g), store);
      const prompt = name === 'template' ? [VOCAB, VOCAB + 1, VOCAB + 2, 5, 6, VOCAB + 3, VOCAB + 4, 7] : tokensOf(4, VOCAB, 9);
      const opts = { maxTokens: 10, temperature: 0, topK: 0, topP: 1, seed: 1, maxContext: 64, promptLength: g.promptLength };
      const notes: string[] = [];
      const got = await generate(web, prompt, { ...opts, note: (m) => notes.push(m) });
      const [want] = await generateRows(new CpuDecoder(g, store), [{ prompt, seed: 1 }], opts);
      expect(got).toEqual(want);
      expect(got.length).toBe(10);
      // 4 + 10 tokens: buckets 4, 8, 16 (a template's 8 ids: 8, 16)
      expect(web.evalShapes.length).toBeLessThanOrEqual(3);
      expect(notes.join('\n')).toMatch(/no key\/value cache/);
    });
  });
}

describe('length buckets', () => {
  it('pad only causal language models, within their positions', () => {
    expect(padsSafely(methodGraph('lora'))).toBe(true);
    expect(() => decodeGraphs(graphOf('bert.peft', tinySet('bert.peft')))).toThrow();
    expect(padsSafely(graphOf('bert.peft', tinySet('bert.peft')))).toBe(false);
    const g = methodGraph('prefix'); // 64 positions, 5 of them the prefix's
    expect([1, 3, 4, 5, 33, 59].map((T) => lengthBucket(g, T))).toEqual([1, 4, 4, 8, 33, 59]);
    expect(lengthBucket(g, 32)).toBe(32);
  });
});
