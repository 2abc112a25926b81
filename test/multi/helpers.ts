// Shared pieces of the multi-adapter tests: a tiny GPT-2 base with random weights, adapters
// compiled from .peft texts with random (non-zero) weights, and the reference: one adapter's
// own graph run alone on one sequence.
import type { Graph } from '../../compiler/ir/types.ts';
import { Arena, createStore } from '../../runtime/arena.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import { fillNormal, Random } from '../../runtime/cpu/random.ts';
import type { FloatTensor, Tensor } from '../../runtime/cpu/tensor.ts';
import { initParams } from '../../runtime/init.ts';
import { servingGraph, type BaseModel, type LoadedAdapter } from '../../runtime/multi/set.ts';
import { IGNORE } from '../../runtime/targets.ts';
import { graphOfText, TINY } from '../helpers.ts';

export const SET = [TINY.gpt2!];

export function tinyBase(seed = 1, set = SET): BaseModel {
  const graph = graphOfText('import "gpt2.peft"\n', set);
  const arena = new Arena(graph.params, 'f32');
  initParams(graph, { frozen: arena, trainable: new Arena([], 'f32') }, { seed });
  return { graph, arena };
}

/** An adapter from a `peft { … }` body over gpt2.peft, every kept trainable value random. */
export function adapterOf(name: string, peft: string, seed: number, set = SET, std = 0.2): LoadedAdapter {
  const graph = graphOfText(`import "gpt2.peft"\npeft {\n${peft}\n}\n`, set);
  const values = new Map<string, Float32Array>();
  const rng = new Random(seed);
  for (const p of graph.params) {
    if (p.partition !== 'trainable' || p.transient) continue;
    const v = new Float32Array(p.shape.reduce((a, b) => a * b, 1));
    fillNormal(v, rng, std);
    values.set(p.path, v);
  }
  return { name, graph, values, source: `test:${name}` };
}

export function randomTokens(B: number, T: number, vocab: number, seed: number): Tensor {
  const rng = new Random(seed);
  return { shape: [B, T], data: Int32Array.from({ length: B * T }, () => rng.int(vocab)) };
}

/** Logits [1, T, V] of one sequence through `graph` alone (base values, then the adapter's). */
export function aloneLogits(base: BaseModel, graph: Graph, values: Map<string, Float32Array>, row: Int32Array): FloatTensor {
  const store = createStore(graph, 'f32');
  for (const s of store.frozen.slots) store.frozen.view(s.param.path).set(values.get(s.param.path) ?? base.arena.view(s.param.path));
  for (const s of store.trainable.slots) store.trainable.view(s.param.path).set(values.get(s.param.path) ?? base.arena.view(s.param.path));
  const T = row.length;
  const P = graph.promptLength;
  const targets = { shape: [1, P + T], data: new Int32Array(P + T).fill(IGNORE) };
  const r = new CpuExecutor(servingGraph(graph)).run(store, { tokens: { shape: [1, T], data: row }, targets }, { precision: 'f32', training: false, step: 0, backward: false });
  const V = r.logits.shape[2]!;
  return { shape: [1, T, V], data: r.logits.data.slice(P * V) };
}

/** max |a − b| / max(1, max |b|). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  let s = 1;
  for (let i = 0; i < b.length; i++) s = Math.max(s, Math.abs(b[i]!));
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m / s;
}
