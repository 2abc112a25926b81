// Planning the decoding graphs for WebGPU without a device (compiler/lower/kv-cache.ts): a step's
// plan has the key/value cache as buffers of its own kind, no targets, logits of one position a
// row; a plan without a cache size is refused; the decoding graphs keep the model's parameters
// (so their arenas match the model's plans) and a step's shapes are the chunk's.
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIMIZER } from '../../compiler/autodiff/backward.ts';
import { wgslBackend } from '../../codegen/wgsl/backend.ts';
import { DEFAULT_CAPS } from '../../codegen/wgsl/caps.ts';
import { decodeGraphs } from '../../compiler/decode/graph.ts';
import { evalShape } from '../../compiler/ir/dims.ts';
import { buildPlan, PlanError } from '../../compiler/lower/plan.ts';
import { methodGraph } from './helpers.ts';

const forward = (graph: ReturnType<typeof decodeGraphs>['step']) => ({ graph, forwardEnd: graph.nodes.length, grads: [], optimizer: DEFAULT_OPTIMIZER });

describe('decoding plans', () => {
  it('a step plan holds the cache per attention layer, has no targets, and reads back [B, vocab] logits', () => {
    const g = methodGraph('lora');
    const d = decodeGraphs(g);
    const plan = buildPlan(forward(d.step), { B: 3, T: 1 }, wgslBackend(DEFAULT_CAPS), { backward: false, dropout: 'eval', kvCache: { rows: 4, positions: 16 } });
    const cache = plan.buffers.filter((b) => b.kind === 'kv-cache');
    expect(cache.map((b) => b.label)).toEqual(d.layers.flatMap((_, l) => [`kv.${l}.k`, `kv.${l}.v`]));
    for (const b of cache) expect(b.bytes).toBe(4 * 4 * 16 * d.layers[0]!.kvd);
    expect(plan.io.targets).toBeUndefined();
    expect(plan.io.logits!.shape).toEqual([3, 32]);
    // append writes both cache buffers, then attend reads them
    const kv = plan.steps.filter((s) => s.kind === 'dispatch' && / kv_(append|attend)$/.test(s.label));
    expect(kv.length).toBe(2 * d.layers.length);
    const first = kv[0]!;
    expect(first.kind === 'dispatch' && first.writes.map((i) => plan.buffers[first.bindings[i]!.buffer]!.label)).toEqual(['kv.0.k', 'kv.0.v']);
  });

  it('a graph with kv_attention planned without a cache size is refused, naming the op', () => {
    const d = decodeGraphs(methodGraph('lora'));
    expect(() => buildPlan(forward(d.prefill), { B: 1, T: 4 }, wgslBackend(DEFAULT_CAPS), { backward: false, dropout: 'eval' })).toThrow(PlanError);
    expect(() => buildPlan(forward(d.prefill), { B: 1, T: 4 }, wgslBackend(DEFAULT_CAPS), { backward: false, dropout: 'eval' })).toThrow(/kv_attention reads a key\/value cache/);
  });

  it("the decoding graphs keep the model's parameters, and a step's shapes are one position without the soft prompt", () => {
    const g = methodGraph('prompt');
    const d = decodeGraphs(g);
    expect(d.step.params).toEqual(g.params);
    expect(d.prefill.params).toEqual(g.params);
    for (const n of d.step.nodes) {
      const s = evalShape(n.shape, { B: 2, T: 1 });
      if (s.length === 3) expect(s[1], `%${n.id} ${n.op}`).toBe(1);
    }
    const pos = d.step.nodes.find((n) => n.op === 'decode_positions')!;
    expect(evalShape(pos.shape, { B: 2, T: 1 })).toEqual([2, 1]);
  });
});
