// Generation for several sequences at once, each with its own adapter: every step is one mixed
// batch per context length (runtime/multi/set.ts), not one pass per adapter. Row i samples with
// seed + i, so a single row generates exactly what runtime/generate.ts does.
import { Random } from '../cpu/random.ts';
import { pick, type SampleOptions } from '../generate.ts';
import type { AdapterSet } from './set.ts';

export interface MixedRow {
  prompt: number[];
  /** The adapter (null: the base alone). */
  use: string | null;
}

export function generateMixed(set: AdapterSet, rows: MixedRow[], opts: Omit<SampleOptions, 'promptLength'>): number[][] {
  const state = rows.map((r, i) => ({
    out: [...r.prompt],
    done: false,
    rng: new Random(opts.seed + i),
    window: opts.maxContext - set.promptLength(r.use),
  }));
  for (let step = 0; step < opts.maxTokens; step++) {
    const live = state.map((s, i) => ({ s, i })).filter((x) => !x.s.done);
    if (!live.length) break;
    // Rows with the same context length share a pass, whatever their adapters.
    const byLength = new Map<number, typeof live>();
    for (const x of live) {
      const n = Math.min(x.s.out.length, x.s.window);
      byLength.set(n, [...(byLength.get(n) ?? []), x]);
    }
    for (const [T, group] of byLength) {
      const data = new Int32Array(group.length * T);
      group.forEach((x, k) => data.set(x.s.out.slice(-T), k * T));
      const logits = set.logits({ shape: [group.length, T], data }, group.map((x) => rows[x.i]!.use));
      const V = logits.shape[2]!;
      group.forEach((x, k) => {
        const last = logits.data.subarray((k * T + T - 1) * V, (k * T + T) * V);
        const next = pick(Array.from(last), opts, x.s.rng);
        if (next === opts.eos) x.s.done = true;
        else x.s.out.push(next);
      });
    }
  }
  return state.map((s, i) => s.out.slice(rows[i]!.prompt.length));
}
