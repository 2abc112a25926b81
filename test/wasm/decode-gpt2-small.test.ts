// Decoding on the wasm backend at GPT-2 small's real size (examples/gpt2-lora.peft: 768 wide, 12
// layers, 50,257 logits; random weights): a prefill of 100 tokens (past one block of 64 queries in
// kv_attention) and three steps give the reference decoder's logits (f64 attention scores; its
// products f32 on copies of the weights) within 2e-5 of the largest logit's magnitude (measured: 2e-6; f32 sums
// over K up to 3,072 in another order), and the same greedy token at every step.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeHost } from '../../cli/node-host.ts';
import { compile } from '../../compiler/build.ts';
import { createStore } from '../../runtime/arena.ts';
import { CpuDecoder } from '../../runtime/decode/cpu-decoder.ts';
import { decoderFor } from '../../runtime/decode/for-backend.ts';
import { initParams } from '../../runtime/init.ts';
import { servingGraph } from '../../runtime/multi/set.ts';
import { openWasmBackend } from '../../runtime/wasm/backend.ts';
import { EXAMPLES } from '../helpers.ts';
import { maxDiff, tokensOf } from '../decode/helpers.ts';

const argmax = (x: Float32Array) => x.reduce((best, v, i) => (v > x[best]! ? i : best), 0);
const magnitude = (x: Float32Array) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

describe('wasm decoding at GPT-2 small', () => {
  it('gives the reference decoder\'s logits and tokens over a 100-token prefill and three steps', async () => {
    const res = compile(resolve(EXAMPLES, 'gpt2-lora.peft'), nodeHost, { derivedPrefix: true });
    const g = res.graph!;
    const store = createStore(g, 'f32');
    initParams(g, store, { seed: 3 });
    const wasm = decoderFor(openWasmBackend(servingGraph(g), store, { threads: 2 }));
    if (typeof wasm === 'string') throw new Error(wasm);
    const reference = new CpuDecoder(g, store);
    const prompt = tokensOf(100, 50257, 11);
    const a = await wasm.start([prompt]);
    const b = await reference.start([prompt]);
    let x = a.logits[0]!, y = b.logits[0]!;
    for (let step = 0; ; step++) {
      expect(x).toHaveLength(50257);
      expect(maxDiff(x, y), `step ${step}`).toBeLessThan(2e-5 * magnitude(y));
      expect(argmax(x)).toBe(argmax(y));
      if (step === 3) break;
      const next = argmax(y);
      x = (await wasm.next(a.rows, [next]))[0]!;
      y = (await reference.next(b.rows, [next]))[0]!;
    }
  }, 120_000);
});
