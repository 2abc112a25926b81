// Evaluation of any length on WebGPU against the CPU, registered once per software adapter
// (decode-llvmpipe.test.ts, decode-swiftshader.test.ts): it runs on the GPU on plans per length
// bucket (powers of two, padded on the right), logits equal the CPU's full evaluation at every
// real position, and a new length in a known bucket plans nothing; the kv_attention kernels equal
// the CPU's. Decoding with the cache on the GPU: kv-cache-suite.ts. Tolerances as plan-suite.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kvAppend, kvAttend, type KvAttentionSpec } from '../../codegen/wgsl/kv-attention.ts';
import { decodeGraphs } from '../../compiler/decode/graph.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { decodeKernels } from '../../runtime/decode/kernels.ts';
import { KvCache } from '../../runtime/decode/kv-cache.ts';
import { linearFewRows } from '../../runtime/decode/matvec.ts';
import { servingGraph } from '../../runtime/multi/set.ts';
import { IGNORE } from '../../runtime/targets.ts';
import { WebGpuBackend } from '../../runtime/webgpu/backend.ts';
import type { Gpu } from '../../runtime/webgpu/gpu.ts';
import { lengthBucket, padsSafely } from '../../runtime/webgpu/length-buckets.ts';
import { openNodeGpu, type SoftwareGpu } from '../../runtime/webgpu/node-gpu.ts';
import { graphOf, tinySet } from '../helpers.ts';
import { cpuBackend, maxDiff, methodGraph, randomStore, tokensOf } from '../decode/helpers.ts';
import { TOL } from './plan-suite.ts';
import { sizesBuffer } from '../../runtime/webgpu/step-sizes.ts';

const VOCAB = 32;
const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, x) => Math.max(m, Math.abs(x)), 0);

/**
 * The GPU kv_attention kernels against the CPU's, over one persistent cache: a prefill of two
 * rows (cache rows 2 and 0 of 3) with prefix keys and grouped heads, then steps with the rows at
 * different lengths. Returns the worst difference relative to 1 + max |CPU|, over all calls.
 */
async function kvAttentionAgainstCpu(gpu: Gpu): Promise<number> {
  const [H, KV, hd, P, L] = [4, 2, 8, 3, 16];
  const kvd = KV * hd;
  const rng = new Random(11);
  const rand = (n: number) => Float32Array.from({ length: n }, () => rng.normal(0, 1));
  const [pk, pv] = [rand(P * kvd), rand(P * kvd)];
  const cacheK = gpu.buffer(new Float32Array(3 * L * kvd), { label: 'cache_k' });
  const cacheV = gpu.buffer(new Float32Array(3 * L * kvd), { label: 'cache_v' });
  const cpuCache = new KvCache([{ kvd, kvHeads: KV, prefix: P }]);
  const cpuRows = [cpuCache.add(), cpuCache.add()];
  const gpuRows = Int32Array.of(2, 0);
  let worst = 0;
  // prefill of 5 (row 1's last 2 positions are padding: its steps overwrite them), then steps
  for (const [S, past] of [[5, [0, 0]], [1, [5, 3]], [1, [6, 4]], [2, [7, 5]]] as const) {
    const B = 2;
    const [q, k, v] = [rand(B * S * H * hd), rand(B * S * kvd), rand(B * S * kvd)];
    const spec: KvAttentionSpec = { B, S, heads: H, kvHeads: KV, hd, prefix: P, rows: 3, slots: L };
    const t3 = (data: Float32Array, d: number) => ({ shape: [B, S, d], data });
    const pastT = { shape: [B], data: Int32Array.from(past) };
    const attrs = { heads: H, kv_heads: KV, prefix: P, layer: 0 };
    const rowsT = { shape: [B], data: Int32Array.from(cpuRows) };
    const want = decodeKernels(cpuCache, linearFewRows()).kv_attention!([t3(q, H * hd), t3(k, kvd), t3(v, kvd), pastT, rowsT, { shape: [P, kvd], data: pk }, { shape: [P, kvd], data: pv }], attrs, { precision: 'f32', step: 0, training: false });
    const buffers: Record<string, GPUBuffer> = {
      q: gpu.buffer(q, { label: 'q' }), k: gpu.buffer(k, { label: 'k' }), v: gpu.buffer(v, { label: 'v' }),
      past: gpu.buffer(Int32Array.from(past), { label: 'past' }), rows: gpu.buffer(gpuRows, { label: 'rows' }),
      prefix_k: gpu.buffer(pk, { label: 'prefix_k' }), prefix_v: gpu.buffer(pv, { label: 'prefix_v' }),
      cache_k: cacheK, cache_v: cacheV, out: gpu.buffer(new Float32Array(B * S * H * hd).fill(NaN), { label: 'out' }),
    };
    const batch = gpu.commands('kv_attention');
    for (const kernel of [kvAppend(spec), kvAttend(spec)]) {
      const sizes = kernel.sizes ? [sizesBuffer(gpu, kernel.sizes)] : [];
      batch.dispatch(await gpu.pipeline(kernel.wgsl, { label: kernel.label }), [...kernel.bindings.map((n) => buffers[n]!), ...sizes], kernel.workgroups);
    }
    await batch.submit();
    const got = await gpu.read(buffers.out!, Float32Array, B * S * H * hd * 4);
    worst = Math.max(worst, maxDiff(got, want.data) / (1 + maxAbs(want.data)));
    for (const [n, b] of Object.entries(buffers)) if (n !== 'cache_k' && n !== 'cache_v') b.destroy();
  }
  cacheK.destroy();
  cacheV.destroy();
  return worst;
}

function batchOf(tokens: number[], P: number) {
  const S = P + tokens.length;
  return { tokens: { shape: [1, tokens.length], data: Int32Array.from(tokens) }, targets: { shape: [1, S], data: new Int32Array(S).fill(IGNORE) } };
}

export function decodeSuite(software: SoftwareGpu): void {
  describe(`generation on WebGPU (${software}) vs the CPU`, () => {
    let gpu: Gpu;
    beforeAll(async () => {
      gpu = await openNodeGpu({ gpu: software });
    });
    afterAll(() => gpu?.destroy());

    it('the kv_attention kernels (codegen/wgsl/kv-attention.ts) over a cache in GPU buffers give the CPU kernel outputs, prefill and steps', async () => {
      expect(await kvAttentionAgainstCpu(gpu)).toBeLessThanOrEqual(TOL.logits);
    });

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
