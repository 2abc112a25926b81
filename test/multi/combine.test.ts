// Combining adapters (runtime/multi/combine.ts): LoRA sums without merging (concatenated ranks)
// and merged into the base give the same model; merging the combination equals combining the
// merges; stacks of bottleneck adapters run one after another, as training on top does.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeHost } from '../../cli/node-host.ts';
import { stackAdapters, stackedPath } from '../../compiler/multi/stack.ts';
import { describeAdapter } from '../../compiler/multi/describe.ts';
import { Arena } from '../../runtime/arena.ts';
import { combine, concatLora, mergeLora, parseCombination, stackParts, type BaseProgram } from '../../runtime/multi/combine.ts';
import { AdapterSet, type BaseModel } from '../../runtime/multi/set.ts';
import { EXAMPLES } from '../helpers.ts';
import { adapterOf, aloneLogits, randomTokens, relErr, SET, tinyBase } from './helpers.ts';

const program: BaseProgram = { entry: resolve(EXAMPLES, 'gpt2.peft'), host: nodeHost, set: SET };

function withWeights(base: BaseModel, merged: Map<string, Float32Array>): BaseModel {
  const arena = new Arena(base.graph.params, 'f32');
  arena.data.set(base.arena.data);
  for (const [path, w] of merged) arena.view(path).set(w);
  return { graph: base.graph, arena };
}

describe('combining LoRA adapters', () => {
  const base = tinyBase();
  const a = adapterOf('a', 'lora(rank = 4, alpha = 8) on "c_attn"', 11);
  const b = adapterOf('b', 'lora(rank = 2, alpha = 2, rslora = true) on "c_attn", "c_proj"', 12);
  const parts = [{ adapter: a, weight: 0.7 }, { adapter: b, weight: 0.3 }];
  const tokens = randomTokens(3, 6, 32, 4);

  it('sums them without merging: ranks concatenate, and the model is the weighted stack of both', () => {
    const c = concatLora('ab', parts, program);
    const shape = describeAdapter(c.adapter.graph);
    expect(shape.lora.map((l) => [l.module, l.rank, l.scale])).toEqual([
      ['h.0.attn.c_attn', 6, 1], ['h.0.attn.c_proj', 2, 1], ['h.0.mlp.c_proj', 2, 1],
      ['h.1.attn.c_attn', 6, 1], ['h.1.attn.c_proj', 2, 1], ['h.1.mlp.c_proj', 2, 1],
    ]);
    expect(c.text).toMatch(/lora\(rank = 6, alpha = 6\) on "h\.0\.attn\.c_attn", "h\.1\.attn\.c_attn"/);
    const set = AdapterSet.create(base, [c.adapter, stackParts('stacked', parts, base)]);
    expect(set.info('ab').placement.kind).toBe('bank');
    const summed = set.logits(tokens, ['ab', 'ab', 'ab']);
    const stacked = set.logits(tokens, ['stacked', 'stacked', 'stacked']);
    expect(relErr(summed.data, stacked.data)).toBeLessThan(2e-6);
  });

  it('merged into the base gives the unmerged sum\'s logits', () => {
    const c = concatLora('ab', parts, program);
    const merged = withWeights(base, mergeLora(base, parts));
    const T = 6;
    for (let r = 0; r < 3; r++) {
      const row = tokens.data.subarray(r * T, (r + 1) * T) as Int32Array;
      const unmerged = aloneLogits(base, c.adapter.graph, c.adapter.values, row);
      const folded = aloneLogits(merged, merged.graph, new Map(), row);
      expect(relErr(folded.data, unmerged.data)).toBeLessThan(1e-5);
    }
  });

  it('merging the combination equals combining the merges', () => {
    const c = concatLora('ab', parts, program);
    const ofCombination = mergeLora(base, [{ adapter: c.adapter, weight: 1 }]);
    const ofParts = mergeLora(base, parts);
    expect([...ofCombination.keys()].sort()).toEqual([...ofParts.keys()].sort());
    for (const [path, w] of ofParts) expect(relErr(ofCombination.get(path)!, w), path).toBeLessThan(1e-6);
    // Averages and plain stacks are the same function with other weights.
    const avg = concatLora('avg', [{ adapter: a, weight: 0.5 }, { adapter: b, weight: 0.5 }], program);
    const half = mergeLora(base, [{ adapter: avg.adapter, weight: 1 }]);
    const sum = mergeLora(base, [{ adapter: a, weight: 0.5 }, { adapter: b, weight: 0.5 }]);
    for (const [path, w] of sum) expect(relErr(half.get(path)!, w)).toBeLessThan(1e-6);
  });

  it('refuses what does not sum, and reads combination expressions', () => {
    const ad = adapterOf('ad', 'adapter(bottleneck = 4) on "h.*.mlp"', 3);
    expect(() => concatLora('x', [{ adapter: ad, weight: 1 }], program)).toThrow(/only LoRA adapters sum/);
    expect(parseCombination('0.5*a + 0.5*b')).toEqual([{ name: 'a', weight: 0.5 }, { name: 'b', weight: 0.5 }]);
    expect(parseCombination('a+b2')).toEqual([{ name: 'a', weight: 1 }, { name: 'b2', weight: 1 }]);
    expect(() => parseCombination('a*0.5')).toThrow(/cannot read/);
    // combine() sums LoRA-only parts (bank) and stacks the rest (own graph).
    expect(combine('s', parts, base, program).standalone).toBeUndefined();
    expect(combine('t', [{ adapter: ad, weight: 1 }, { adapter: a, weight: 1 }], base, program).standalone).toBe(true);
  });
});

describe('stacking bottleneck adapters', () => {
  const base = tinyBase();
  const e1 = adapterOf('e1', 'adapter(bottleneck = 4) on "h.*.mlp"\n lora(rank = 2) on "c_fc"', 21);
  const e2 = adapterOf('e2', 'adapter(bottleneck = 3, activation = tanh, scale = 2) on "h.*.mlp"', 22);
  const tokens = randomTokens(2, 5, 32, 6);
  const T = 5;

  it('a stack of one adapter is that adapter', () => {
    const s = stackParts('s', [{ adapter: e1, weight: 1 }], base);
    for (let r = 0; r < 2; r++) {
      const row = tokens.data.subarray(r * T, (r + 1) * T) as Int32Array;
      expect(relErr(aloneLogits(base, s.graph, s.values, row).data, aloneLogits(base, e1.graph, e1.values, row).data)).toBeLessThan(2e-6);
    }
  });

  it('runs the second on the output of the first, as training the second on top of the frozen first does', () => {
    const s = stackParts('s', [{ adapter: e1, weight: 1 }, { adapter: e2, weight: 1 }], base);
    // e2's own graph (its adapter trained) with e1 inserted frozen below it.
    const onTop = stackAdapters(e2.graph, [{ name: 'e1', shape: describeAdapter(e1.graph) }]);
    const values = new Map(e2.values);
    for (const [p, v] of e1.values) values.set(stackedPath(p, 'e1')!, v);
    for (let r = 0; r < 2; r++) {
      const row = tokens.data.subarray(r * T, (r + 1) * T) as Int32Array;
      const want = aloneLogits(base, onTop, values, row);
      expect(relErr(aloneLogits(base, s.graph, s.values, row).data, want.data)).toBeLessThan(2e-6);
      // And it is neither one alone, nor the other order.
      expect(relErr(aloneLogits(base, e2.graph, e2.values, row).data, want.data)).toBeGreaterThan(1e-4);
      const rev = stackParts('r', [{ adapter: e2, weight: 1 }, { adapter: e1, weight: 1 }], base);
      expect(relErr(aloneLogits(base, rev.graph, rev.values, row).data, want.data)).toBeGreaterThan(1e-6);
    }
    const set = AdapterSet.create(base, [s, e1]);
    expect(set.info('s').placement.kind).toBe('own');
    expect(set.info('e1').placement.kind).toBe('bank');
  });
});
