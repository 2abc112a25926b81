// Decoding on the wasm backend (runtime/wasm/decoding.ts): its decoder runs the backend's f32
// kernels (few-row products without packing, kv_attention on the products) over a key/value
// cache in the backend's WebAssembly memory. For every method: prefill and steps give the logits
// of full re-evaluation on the reference (tolerance 1e-4 absolute: f32 sums against the
// reference's f64, logits of magnitude ≤ ~10), rows of different lengths in one batch; the
// tokens, greedy and sampled, equal the wasm backend's own full re-evaluation, also when the
// window slides; a dropped row's cache is given back to the memory and taken again.
import { afterAll, describe, expect, it } from 'vitest';
import { CpuDecoder } from '../../runtime/decode/cpu-decoder.ts';
import { decoderFor } from '../../runtime/decode/for-backend.ts';
import { generate, generateByWindow } from '../../runtime/generate.ts';
import { servingGraph } from '../../runtime/multi/set.ts';
import { openWasmBackend } from '../../runtime/wasm/backend.ts';
import { setGemmThreads } from '../../runtime/wasm/gemm.ts';
import { wasmHeap } from '../../runtime/wasm/heap.ts';
import { cpuBackend, lastLogits, maxDiff, METHODS, methodGraph, randomStore, tokensOf } from '../decode/helpers.ts';

const TOL = 1e-4;
const VOCAB = 32;

afterAll(() => setGemmThreads(2));

describe.each(Object.keys(METHODS))('%s', (name) => {
  const g = methodGraph(name);
  const store = randomStore(g, 7);
  const reference = cpuBackend(g, store);
  const wasm = openWasmBackend(servingGraph(g), store, { threads: 2 });
  const virtual = g.nodes.some((n) => n.op === 'soft_embedding') ? [VOCAB, VOCAB + 1, VOCAB + 2] : [];

  it('prefill and steps give the logits of full re-evaluation on the reference, rows of different lengths in one batch', async () => {
    const dec = decoderFor(wasm);
    if (typeof dec === 'string') throw new Error(dec);
    expect(dec).toBeInstanceOf(CpuDecoder);
    const prompts = [[...virtual, ...tokensOf(5, VOCAB, 1)], [...virtual, ...tokensOf(2, VOCAB, 2)], [...virtual, ...tokensOf(9, VOCAB, 3)]];
    const { rows, logits } = await dec.start(prompts);
    for (let b = 0; b < prompts.length; b++) expect(maxDiff(logits[b]!, await lastLogits(reference, prompts[b]!))).toBeLessThan(TOL);
    // the cache lives in the backend's memory, where the products read it
    const { k, v } = (dec as CpuDecoder).cache.reserve(rows[0]!, 0, 1);
    expect(wasmHeap().owns(k) && wasmHeap().owns(v)).toBe(true);
    const seqs = prompts.map((p) => [...p]);
    for (let t = 0; t < 5; t++) {
      const which = rows.filter((_, b) => (t + b) % 3 !== 0);
      const next = which.map((r) => tokensOf(1, VOCAB, 100 * t + r)[0]!);
      const out = await dec.next(which, next);
      for (let i = 0; i < which.length; i++) {
        const b = rows.indexOf(which[i]!);
        seqs[b]!.push(next[i]!);
        expect(maxDiff(out[i]!, await lastLogits(reference, seqs[b]!))).toBeLessThan(TOL);
      }
    }
    dec.drop(rows);
  });

  it('greedy and sampled tokens equal full re-evaluation on the wasm backend, also when the window slides', async () => {
    const prompt = [...virtual, ...tokensOf(6, VOCAB, 4)];
    for (const sampling of [{ temperature: 0, topK: 0, topP: 1 }, { temperature: 0.9, topK: 8, topP: 0.9 }]) {
      const opts = { ...sampling, maxTokens: 24, seed: 3, maxContext: 20 + g.promptLength, promptLength: g.promptLength, keep: virtual.length };
      const cached = await generate(wasm, prompt, opts);
      expect(cached).toHaveLength(24);
      expect(cached).toEqual(await generateByWindow(wasm, prompt, opts));
    }
  });
});

describe('the cache in WebAssembly memory', () => {
  it("gives a dropped row's arrays back, and the next row takes them", async () => {
    const g = methodGraph('lora');
    const wasm = openWasmBackend(servingGraph(g), randomStore(g, 5), { threads: 1 });
    const dec = new CpuDecoder(g, wasm.runStore, {}, wasm.decoding);
    const offsets = (row: number) => dec.cache.layers.flatMap((_, l) => {
      const { k, v } = dec.cache.reserve(row, l, 1);
      return [k.byteOffset, v.byteOffset];
    });
    const first = (await dec.start([tokensOf(7, VOCAB, 1)])).rows;
    const held = offsets(first[0]!);
    dec.drop(first);
    const again = (await dec.start([tokensOf(7, VOCAB, 2)])).rows;
    expect(offsets(again[0]!).sort()).toEqual(held.sort());
  });

  it('refuses a cache past the 4 GiB memory in one line naming it (a WasmMemoryError), leaving the memory as it was', () => {
    const heap = wasmHeap();
    const before = heap.memory.buffer.byteLength;
    expect(() => heap.alloc(2 ** 30, 'the key/value cache')).toThrow(
      expect.objectContaining({ name: 'WasmError', what: 'the key/value cache', message: expect.stringMatching(/^the wasm backend keeps its data in one WebAssembly memory of at most 4 GiB; the key\/value cache would need \d+\.\d\d GiB: use --backend cpu or webgpu/) }),
    );
    expect(heap.memory.buffer.byteLength).toBe(before);
  });

  it('alloc zeroes what it hands out again; free ignores arrays it did not hand out', () => {
    const heap = wasmHeap();
    const a = heap.alloc(100, 'test');
    a.fill(5);
    heap.free(a);
    heap.free(new Float32Array(4));
    const b = heap.alloc(120, 'test');
    expect(b.byteOffset).toBe(a.byteOffset);
    expect(b.every((x) => x === 0)).toBe(true);
    heap.free(b);
  });
});
