// Several adapters over one base (runtime/multi/set.ts): a batch that mixes sequences for
// different adapters gives, row by row, the logits of each row run alone through its adapter's
// own graph; the base is held once; bank and own placements.
import { describe, expect, it } from 'vitest';
import { parseGraph } from '../../compiler/ir/parse.ts';
import { printGraph } from '../../compiler/ir/printer.ts';
import { AdapterSet } from '../../runtime/multi/set.ts';
import { adapterOf, aloneLogits, randomTokens, relErr, tinyBase } from './helpers.ts';

const ADAPTERS = () => [
  adapterOf('a', 'lora(rank = 4, alpha = 8) on "c_attn"', 11),
  adapterOf('b', 'lora(rank = 2, alpha = 2, rslora = true) on "c_attn", "c_proj"', 12),
  adapterOf('c', 'adapter(bottleneck = 4) on "h.*.mlp"\n lora(rank = 2) on "c_fc"', 13),
  adapterOf('d', 'adapter(bottleneck = 3, activation = gelu, placement = parallel, scale = 0.5) on "h.*.attn"', 14),
  adapterOf('e', 'prompt(length = 3) on "wte"', 15),
  adapterOf('f', 'prefix(length = 2) on "h.*.attn"', 16),
  adapterOf('g', 'lora(rank = 2) on "c_attn"\n train "ln_f"', 17),
];

describe('a mixed batch over several adapters', () => {
  const base = tinyBase();
  const adapters = ADAPTERS();
  const set = AdapterSet.create(base, adapters);

  it('puts LoRA and bottleneck adapters in the bank, prompts, prefixes and trained modules in their own arenas', () => {
    expect(set.infos.map((i) => [i.name, i.placement.kind])).toEqual([
      ['a', 'bank'], ['b', 'bank'], ['c', 'bank'], ['d', 'bank'], ['e', 'own'], ['f', 'own'], ['g', 'own'],
    ]);
    expect(set.infos.filter((i) => i.placement.kind === 'bank').map((i) => (i.placement as { slot: number }).slot)).toEqual([0, 1, 2, 3]);
  });

  it('gives every row the logits of that row run alone with its adapter (or the base)', () => {
    const use = ['a', 'b', null, 'c', 'd', 'e', 'f', 'g', 'a', null, 'c', 'b'];
    const T = 7;
    const tokens = randomTokens(use.length, T, 32, 5);
    const mixed = set.logits(tokens, use);
    expect(mixed.shape).toEqual([use.length, T, 32]);
    const per = T * 32;
    use.forEach((name, b) => {
      const row = tokens.data.subarray(b * T, (b + 1) * T) as Int32Array;
      const a = name === null ? undefined : adapters.find((x) => x.name === name)!;
      const want = aloneLogits(base, a?.graph ?? base.graph, a?.values ?? new Map(), row);
      const got = mixed.data.subarray(b * per, (b + 1) * per);
      expect(relErr(got, want.data), `row ${b} (${name ?? 'base'})`).toBeLessThan(2e-6);
    });
  });

  it('makes a difference: each adapter changes the logits, rows of the base equal the base', () => {
    const tokens = randomTokens(1, 5, 32, 9);
    const baseRow = set.logits(tokens, [null]).data;
    for (const a of adapters) expect(relErr(set.logits(tokens, [a.name]).data, baseRow), a.name).toBeGreaterThan(1e-3);
  });

  it('holds the base once: the frozen arena does not grow with the adapters, each adapter adds its own values', () => {
    const one = AdapterSet.create(base, [adapterOf('a', 'lora(rank = 4, alpha = 8) on "c_attn"', 11)]);
    const loras = [1, 2, 3, 4].map((k) => adapterOf(`l${k}`, 'lora(rank = 4, alpha = 8) on "c_attn"', 20 + k));
    const four = AdapterSet.create(base, loras);
    const m1 = one.memory();
    const m4 = four.memory();
    expect(m4.base).toEqual(m1.base);
    expect(m4.base.params).toBe(base.graph.params.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0));
    // Equal ranks: the bank is exactly N adapters' values, no padding.
    const perAdapter = loras[0]!.values.size && [...loras[0]!.values.values()].reduce((a, v) => a + v.length, 0);
    expect(m4.bank!.params).toBe(4 * perAdapter);
    expect(m4.totalBytes).toBe(m4.base.bytes + 4 * 4 * perAdapter);
    expect(m4.adapters.map((a) => a.bytes)).toEqual([1, 2, 3, 4].map(() => 4 * perAdapter));
    // The arrays themselves: one base arena shared by every pass.
    expect(four.bankStore.frozen).toBe(base.arena);
  });

  it('evaluates one adapter per call through a Backend (loss and logits as its own graph)', async () => {
    const tokens = randomTokens(2, 6, 32, 3);
    for (const name of ['a', 'e', null] as const) {
      const g = set.graphOf(name);
      const P = g.promptLength;
      const targets = { shape: [2, P + 6], data: new Int32Array(2 * (P + 6)).map((_, i) => (i % (P + 6) >= P ? i % 32 : -100)) };
      const r = await set.backend(name).evaluate({ tokens, targets });
      expect(Number.isFinite(r.loss)).toBe(true);
      const mixed = set.logits(tokens, [name, name]);
      const V = 32;
      for (let b = 0; b < 2; b++) {
        const own = r.logits.data.subarray((b * (P + 6) + P) * V, (b + 1) * (P + 6) * V);
        expect(relErr(own, mixed.data.subarray(b * 6 * V, (b + 1) * 6 * V))).toBeLessThan(1e-6);
      }
    }
  });

  it('prints the bank graph as IR text (adapter_ids, linear_gather, stacked parameters) and reads it back', () => {
    const text = printGraph(set.graphOf(null));
    expect(text).toMatch(/^%0 = input \{name=adapter_ids\} : i32\[B\]$/m);
    expect(text).toMatch(/^param h\.0\.attn\.c_attn\.lora_A\.stacked\.weight \[4, 4, 16\] trainable lora /m);
    expect(text).toMatch(/= linear_gather %\d+, %\d+, %0 \{layout=out_in\} : f32\[B, T, 4\]  # h\.0\.attn\.c_attn$/m);
    expect(printGraph(parseGraph(text))).toBe(text);
  });

  it('refuses unknown names, duplicates and adapters of another base', () => {
    expect(() => set.logits(randomTokens(1, 3, 32, 1), ['zz'])).toThrow(/no adapter named `zz`/);
    expect(() => AdapterSet.create(base, [adapters[0]!, adapters[0]!])).toThrow(/two adapters are named `a`/);
    const wide = adapterOf('w', 'lora(rank = 2) on "c_attn"', 1, ['vocab_size=32,n_positions=64,n_embd=24,n_layer=2,n_head=2']);
    expect(() => AdapterSet.create(base, [wide])).toThrow(/does not fit the base/);
  });
});
