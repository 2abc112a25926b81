// Mixed per-sequence adapters decode on key/value caches (one for the bank's rows, one per other
// adapter) and give each row what full re-evaluation through its adapter's own graph gives.
import { describe, expect, it } from 'vitest';
import type { Graph } from '../../compiler/ir/types.ts';
import { createStore } from '../../runtime/arena.ts';
import { CpuBackend } from '../../runtime/backend.ts';
import { generateByWindow } from '../../runtime/generate.ts';
import { generateMixed } from '../../runtime/multi/generate.ts';
import { AdapterSet, servingGraph, type BaseModel } from '../../runtime/multi/set.ts';
import { adapterOf, tinyBase } from '../multi/helpers.ts';
import { tokensOf } from './helpers.ts';

/** A backend running `graph` alone: the base's values, then the adapter's. */
function aloneBackend(base: BaseModel, graph: Graph, values: Map<string, Float32Array>): CpuBackend {
  const store = createStore(graph, 'f32');
  for (const arena of [store.frozen, store.trainable]) for (const s of arena.slots) arena.view(s.param.path).set(values.get(s.param.path) ?? base.arena.view(s.param.path));
  return new CpuBackend(servingGraph(graph), store);
}

describe('generateMixed', () => {
  it('each row, whatever its adapter, generates what its adapter alone generates by full re-evaluation (windows sliding)', async () => {
    const base = tinyBase(3);
    const adapters = [
      adapterOf('lora', 'lora(rank = 4) on "h.*.attn.c_attn"', 11),
      adapterOf('bottleneck', 'adapter(bottleneck = 8) on "h.*.mlp"', 12),
      adapterOf('prompt', 'prompt(length = 4) on "wte"', 13),
      adapterOf('prefix', 'prefix(length = 3) on "h.*.attn"', 14),
    ];
    const set = AdapterSet.create(base, adapters);
    const uses = ['lora', null, 'prompt', 'bottleneck', 'prefix', 'lora'];
    const rows = uses.map((use, i) => ({ prompt: tokensOf(2 + 3 * i, 32, 40 + i), use }));
    const opts = { temperature: 0.8, topK: 10, topP: 0.95, maxTokens: 10, seed: 5, maxContext: 22 };
    const out = await generateMixed(set, rows, opts);
    for (const [i, r] of rows.entries()) {
      const a = adapters.find((x) => x.name === r.use);
      const backend = a ? aloneBackend(base, a.graph, a.values) : aloneBackend(base, base.graph, new Map());
      const want = await generateByWindow(backend, r.prompt, { ...opts, seed: 5 + i, promptLength: backend.training.graph.promptLength });
      expect(out[i], `row ${i} (${r.use ?? 'base'})`).toEqual(want);
    }
  });
});
