// Generation for several sequences at once, each with its own adapter. Sequences that share a
// graph (every bank adapter, and the base alone) decode together on one key/value cache, each row
// reading its own adapter through `adapter_ids`; each other adapter decodes its own rows. Row i
// samples with seed + i, so a single row generates exactly what runtime/generate.ts does.
import { ADAPTER_IDS } from '../../compiler/multi/bank.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import type { ParamStore } from '../arena.ts';
import { CpuDecoder } from '../decode/cpu-decoder.ts';
import type { Decoder } from '../decode/decoder.ts';
import { generateRows, type SampleOptions } from '../generate.ts';
import type { AdapterSet } from './set.ts';

export interface MixedRow {
  prompt: number[];
  /** The adapter (null: the base alone). */
  use: string | null;
}

/** The decoder of one group's graph and parameters: the CPU's by default (a GPU decoder: runtime/webgpu/decoder.ts). */
export type DecoderOf = (graph: Graph, store: ParamStore) => Decoder;

export async function generateMixed(set: AdapterSet, rows: MixedRow[], opts: Omit<SampleOptions, 'promptLength'>, decoderOf: DecoderOf = (g, s) => new CpuDecoder(g, s)): Promise<number[][]> {
  const groups = new Map<Graph, number[]>();
  rows.forEach((r, i) => {
    const g = set.serving(r.use).graph;
    groups.set(g, [...(groups.get(g) ?? []), i]);
  });
  const out: number[][] = new Array(rows.length);
  for (const [graph, members] of groups) {
    const { store } = set.serving(rows[members[0]!]!.use);
    const ids = graph.inputs[ADAPTER_IDS] !== undefined;
    const batch = members.map((i) => ({
      prompt: rows[i]!.prompt,
      seed: opts.seed + i,
      ...(ids ? { inputs: { [ADAPTER_IDS]: set.serving(rows[i]!.use).slot } } : {}),
    }));
    const onToken = opts.onToken;
    const decoder = decoderOf(graph, store);
    try {
      const res = await generateRows(decoder, batch, { ...opts, ...(onToken ? { onToken: (id: number, k: number) => onToken(id, members[k]!) } : {}) });
      members.forEach((i, k) => (out[i] = res[k]!));
    } finally {
      decoder.close?.();
    }
  }
  return out;
}
