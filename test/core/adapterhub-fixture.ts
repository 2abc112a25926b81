// The AdapterHub bottleneck fixtures (test/fixtures/adapterhub-bn-tiny, written by
// scripts/reference/adapterhub_bn.py): each case's .peft rule, graph, weights (the base and the
// case's adapter in the project's paths), batch, and the comparison with the saved numbers.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect } from 'vitest';
import type { Graph } from '../../compiler/ir/types.ts';
import { createStore, type ParamStore } from '../../runtime/arena.ts';
import type { Batch } from '../../runtime/cpu/executor.ts';
import type { Precision } from '../../runtime/cpu/tensor.ts';
import { getFloat32, parseSafetensors, serializeSafetensors, type SafetensorsFile } from '../../runtime/io/safetensors.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { loadWeights } from '../../runtime/weights.ts';
import { graphOfText } from '../helpers.ts';
import { FIXTURES, maxDiff, TINY_GPT2 } from './gpt2-fixture.ts';

export const BN_DIR = resolve(FIXTURES, 'adapterhub-bn-tiny');
export const TINY_BERT = ['vocab_size=64,hidden_size=32,num_hidden_layers=2,num_attention_heads=4,intermediate_size=64,max_position_embeddings=16,num_labels=3'];
/** Each case's `peft { … }` rule (the reference's CASES). */
export const BN_CASES = JSON.parse(readFileSync(resolve(BN_DIR, 'cases.json'), 'utf8')) as Record<string, string>;

/** The library's key of an adapter weight → the project's path (the reference's `ours`). */
export function fromAdapterHub(key: string): string {
  return key
    .replace(/^transformer\.h\./, 'h.')
    .replace(/^bert\./, '')
    .replace('.attention_adapters.', '.attn.')
    .replace('.output_adapters.', '.mlp.')
    .replace(/\.adapters\.bn\./, '.adapter.')
    .replace('adapter_down.0.', 'down.')
    .replace('adapter_up.', 'up.');
}

export const bnModel = (c: string): 'gpt2' | 'bert' => (c.startsWith('gpt2') ? 'gpt2' : 'bert');

export function bnGraph(c: string): Graph {
  return graphOfText(`import "${bnModel(c)}.peft"\npeft {\n  ${BN_CASES[c]}\n}`, bnModel(c) === 'gpt2' ? TINY_GPT2 : TINY_BERT);
}

/** The base and the case's adapter in the project's paths, as one file. */
export function bnWeights(c: string): SafetensorsFile {
  const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
  for (const [file, rename] of [[`${bnModel(c)}-base.safetensors`, (k: string) => k.replace(/^bert\./, '')], [`${c}/adapter.safetensors`, fromAdapterHub]] as const) {
    const f = parseSafetensors(readFileSync(resolve(BN_DIR, file)));
    for (const k of f.tensors.keys()) tensors[rename(k)] = { dtype: 'F32', shape: f.tensors.get(k)!.shape, data: getFloat32(f, k) };
  }
  return parseSafetensors(serializeSafetensors(tensors));
}

/** The batch of the case's model, as `peftc grad --tokens` reads it, and as the executors take it. */
export function bnBatch(c: string, g: Graph): { file: string; batch: Batch } {
  if (bnModel(c) === 'gpt2') {
    const file = resolve(BN_DIR, 'gpt2-tokens.json');
    const rows = JSON.parse(readFileSync(file, 'utf8')) as number[][];
    const tokens = { shape: [rows.length, rows[0]!.length], data: Int32Array.from(rows.flat()) };
    return { file, batch: { tokens, targets: lmTargets(tokens, g.promptLength) } };
  }
  const file = resolve(BN_DIR, 'bert-batch.json');
  const b = JSON.parse(readFileSync(file, 'utf8')) as { tokens: number[][]; token_types: number[][]; lengths: number[]; labels: number[] };
  const [B, T] = [b.tokens.length, b.tokens[0]!.length];
  return {
    file,
    batch: {
      tokens: { shape: [B, T], data: Int32Array.from(b.tokens.flat()) },
      targets: { shape: [B], data: Int32Array.from(b.labels) },
      extra: { token_types: { shape: [B, T], data: Int32Array.from(b.token_types.flat()) }, lengths: { shape: [B], data: Int32Array.from(b.lengths) } },
    },
  };
}

export interface Run {
  loss: number;
  logits: ArrayLike<number>;
  grads: Map<string, ArrayLike<number>>;
}

export function expectMatches(c: string, res: Run, lossTol: number, logitTol: number, gradTol: number): void {
  const expected = parseSafetensors(readFileSync(resolve(BN_DIR, c, 'expected.safetensors')));
  const loss = getFloat32(expected, 'loss')[0]!;
  expect(Math.abs(res.loss - loss) / loss).toBeLessThan(lossTol);
  expect(maxDiff(res.logits, getFloat32(expected, 'logits'))).toBeLessThan(logitTol);
  const names = [...expected.tensors.keys()].filter((k) => k.startsWith('grad.'));
  expect([...res.grads.keys()].sort()).toEqual(names.map((k) => k.slice(5)).sort());
  for (const name of names) expect(maxDiff(res.grads.get(name.slice(5))!, getFloat32(expected, name)), name).toBeLessThan(gradTol);
}

export function bnStore(c: string, g: Graph, precision: Precision): ParamStore {
  const s = createStore(g, precision);
  expect(loadWeights(g, s, bnWeights(c)).size).toBe(g.params.length);
  return s;
}
