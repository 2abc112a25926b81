// Choosing the next token: the top-k selection without a full sort keeps the tokens, order and
// draws of sorting the whole row (ties included).
import { describe, expect, it } from 'vitest';
import { Random } from '../../runtime/cpu/random.ts';
import { pick } from '../../runtime/generate.ts';

/** The choice by sorting every logit (stable: ties in index order). */
function pickBySort(logits: number[], opts: { temperature: number; topK: number; topP: number }, rng: Random): number {
  const order = logits.map((l, i) => ({ i, l: l / opts.temperature })).sort((a, b) => b.l - a.l);
  const kept = opts.topK > 0 ? order.slice(0, opts.topK) : order;
  const probs = kept.map((x) => Math.exp(x.l - kept[0]!.l));
  const total = probs.reduce((a, b) => a + b, 0);
  let cut = kept.length;
  let acc = 0;
  for (let j = 0; j < kept.length; j++) {
    acc += probs[j]! / total;
    if (acc >= opts.topP) {
      cut = j + 1;
      break;
    }
  }
  let u = rng.next() * probs.slice(0, cut).reduce((a, b) => a + b, 0);
  for (let j = 0; j < cut; j++) {
    u -= probs[j]!;
    if (u <= 0) return kept[j]!.i;
  }
  return kept[cut - 1]!.i;
}

describe('pick', () => {
  it('samples as sorting the whole row does, for many rows with ties', () => {
    const data = new Random(1);
    for (let t = 0; t < 200; t++) {
      // Coarse values: many ties.
      const row = Array.from({ length: 500 }, () => Math.round(data.next() * 20) / 4);
      const opts = { temperature: 0.5 + data.next(), topK: 1 + data.int(40), topP: 0.5 + data.next() / 2 };
      expect(pick(Float32Array.from(row), opts, new Random(t))).toBe(pickBySort(Array.from(Float32Array.from(row)), opts, new Random(t)));
    }
  });

  it('greedy takes the first of the largest', () => {
    expect(pick([1, 3, 2, 3], { temperature: 0, topK: 0, topP: 1 }, new Random(0))).toBe(1);
  });
});
