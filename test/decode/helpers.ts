// Shared pieces of the decoding tests: tiny models of every method with random (non-zero) weights,
// and the reference: the logits of the last position by evaluating the whole sequence.
import { resolve } from 'node:path';
import { nodeHost } from '../../cli/node-host.ts';
import { compile } from '../../compiler/build.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import { createStore, type ParamStore } from '../../runtime/arena.ts';
import { CpuBackend } from '../../runtime/backend.ts';
import { fillNormal, Random } from '../../runtime/cpu/random.ts';
import { initParams } from '../../runtime/init.ts';
import { servingGraph } from '../../runtime/multi/set.ts';
import { IGNORE } from '../../runtime/targets.ts';
import { EXAMPLES, overlayHost, TINY } from '../helpers.ts';

export const GPT = TINY.gpt2!;
export const LLAMA = TINY.llama!;

/** Every method on the tiny GPT-2, and LLaMA's rotary positions and grouped kv heads. */
export const METHODS: Record<string, { base: string; peft: string; set?: string }> = {
  base: { base: 'gpt2', peft: '' },
  lora: { base: 'gpt2', peft: 'lora(rank = 4, alpha = 8) on "h.*.attn.c_attn", "h.*.mlp.c_fc"' },
  adapter: { base: 'gpt2', peft: 'adapter(bottleneck = 8, activation = relu, placement = serial) on "h.*.attn", "h.*.mlp"' },
  'adapter-parallel': { base: 'gpt2', peft: 'adapter(bottleneck = 8, placement = parallel) on "h.*.mlp"' },
  prefix: { base: 'gpt2', peft: 'prefix(length = 5) on "h.*.attn"' },
  'prefix-mlp': { base: 'gpt2', peft: 'prefix(length = 3, reparam = mlp(hidden = 8)) on "h.1.attn"' },
  prompt: { base: 'gpt2', peft: 'prompt(length = 6) on "wte"' },
  'lora-prompt': { base: 'gpt2', peft: 'lora(rank = 2) on "h.*.attn.c_proj"\n  prompt(length = 3) on "wte"' },
  template: { base: 'gpt2', peft: 'prompt(template = "[P:3] {text} [P:2] so", init = vocab) on "wte"' },
  'llama-lora': { base: 'llama', peft: 'lora(rank = 4) on "layers.*.self_attn.q_proj", "layers.*.self_attn.v_proj"' },
  'llama-prefix': { base: 'llama', peft: 'prefix(length = 4) on "layers.*.self_attn"' },
};

/** A method's graph at tiny sizes; the prefix as its derived table (as generate compiles it), except for prefix-mlp. */
export function methodGraph(name: string, derivedPrefix = name !== 'prefix-mlp'): Graph {
  const m = METHODS[name]!;
  const path = resolve(EXAMPLES, '__decode__.peft');
  const text = `import "${m.base}.peft"\n${m.peft ? `peft {\n  ${m.peft}\n}\n` : ''}`;
  const res = compile(path, overlayHost({ [path]: text }), { set: [m.base === 'gpt2' ? GPT : LLAMA], derivedPrefix });
  if (!res.graph) throw new Error(`${name}: ${res.diagnostics.map((d) => d.message).join('; ')}`);
  return res.graph;
}

/** Seeded weights; the trainable ones random, so that every method changes the logits. */
export function randomStore(g: Graph, seed: number): ParamStore {
  const store = createStore(g, 'f32');
  initParams(g, store, { seed });
  const rng = new Random(seed + 1);
  for (const s of store.trainable.slots) fillNormal(store.trainable.view(s.param.path), rng, 0.3);
  return store;
}

export function cpuBackend(g: Graph, store: ParamStore): CpuBackend {
  return new CpuBackend(servingGraph(g), store);
}

/** The logits of the last position of `tokens`, by evaluating the whole sequence. */
export async function lastLogits(backend: CpuBackend, tokens: number[]): Promise<Float32Array> {
  const P = backend.training.graph.promptLength;
  const S = P + tokens.length;
  const { logits } = await backend.evaluate({ tokens: { shape: [1, tokens.length], data: Int32Array.from(tokens) }, targets: { shape: [1, S], data: new Int32Array(S).fill(IGNORE) } });
  const V = logits.shape[2]!;
  return logits.data.slice((S - 1) * V, S * V) as Float32Array;
}

export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return a.length === b.length ? m : Infinity;
}

export function tokensOf(n: number, vocab: number, seed: number): number[] {
  const rng = new Random(seed);
  return Array.from({ length: n }, () => rng.int(vocab));
}
