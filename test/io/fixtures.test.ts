// The PyTorch reference fixtures (scripts/reference/gpt2_lora.py) load with our reader, have the
// documented names and shapes, and are consistent with themselves: the saved loss equals the
// mean cross-entropy recomputed here from the saved logits and tokens.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { readSafetensorsFile } from '../../runtime/io/safetensors-node.ts';
import { getFloat32, serializeSafetensors, type SafetensorsFile } from '../../runtime/io/safetensors.ts';

const dir = (name: string): string => new URL(`../fixtures/${name}/`, import.meta.url).pathname;

interface Config {
  vocab_size: number; n_positions: number; n_embd: number; n_layer: number; n_head: number;
  batch: number; seq_len: number; method: 'lora' | 'prompt' | 'prefix'; r?: number; num_virtual_tokens?: number;
}

function baseShapes(c: Config): Map<string, number[]> {
  const d = c.n_embd;
  const s = new Map<string, number[]>([['wte.weight', [c.vocab_size, d]], ['wpe.weight', [c.n_positions, d]]]);
  for (let i = 0; i < c.n_layer; i++) {
    const h = `h.${i}.`;
    for (const ln of ['ln_1', 'ln_2']) s.set(`${h}${ln}.weight`, [d]).set(`${h}${ln}.bias`, [d]);
    s.set(`${h}attn.c_attn.weight`, [d, 3 * d]).set(`${h}attn.c_attn.bias`, [3 * d]);
    s.set(`${h}attn.c_proj.weight`, [d, d]).set(`${h}attn.c_proj.bias`, [d]);
    s.set(`${h}mlp.c_fc.weight`, [d, 4 * d]).set(`${h}mlp.c_fc.bias`, [4 * d]);
    s.set(`${h}mlp.c_proj.weight`, [4 * d, d]).set(`${h}mlp.c_proj.bias`, [d]);
  }
  return s.set('ln_f.weight', [d]).set('ln_f.bias', [d]);
}

function trainableShapes(c: Config): Map<string, number[]> {
  const d = c.n_embd;
  const P = c.num_virtual_tokens ?? 0;
  const s = new Map<string, number[]>();
  if (c.method === 'lora') {
    for (let i = 0; i < c.n_layer; i++) {
      s.set(`h.${i}.attn.c_attn.lora_A.weight`, [c.r!, d]).set(`h.${i}.attn.c_attn.lora_B.weight`, [3 * d, c.r!]);
    }
  }
  if (c.method === 'prompt') s.set('prompt_embeddings', [P, d]);
  if (c.method === 'prefix') s.set('prefix', [P, 2 * c.n_layer * d]);
  return s;
}

/** −mean log softmax(logits[b, first + j])[targets[b][j]], in float64. */
function crossEntropy(logits: Float32Array, S: number, V: number, targets: number[][], first: number): number {
  let sum = 0;
  let n = 0;
  targets.forEach((row, b) => row.forEach((target, j) => {
    const at = (b * S + first + j) * V;
    let max = -Infinity;
    for (let v = 0; v < V; v++) max = Math.max(max, logits[at + v]!);
    let z = 0;
    for (let v = 0; v < V; v++) z += Math.exp(logits[at + v]! - max);
    sum += -(logits[at + target]! - max - Math.log(z));
    n++;
  }));
  return sum / n;
}

const FIXTURES = [
  { name: 'gpt2-lora-tiny', expected: ['expected.safetensors'] },
  { name: 'gpt2-prompt-tiny', expected: ['expected.safetensors', 'expected-hf.safetensors'] },
  { name: 'gpt2-prefix-tiny', expected: ['expected.safetensors', 'expected-hf.safetensors'] },
];

describe.each(FIXTURES)('$name', ({ name, expected }) => {
  const load = async () => {
    const config = JSON.parse(await readFile(dir(name) + 'config.json', 'utf8')) as Config;
    const tokens = JSON.parse(await readFile(dir(name) + 'tokens.json', 'utf8')) as number[][];
    const weights = await readSafetensorsFile(dir(name) + 'weights.safetensors');
    return { config, tokens, weights };
  };

  it('weights: every base and trainable tensor, float32, with its shape', async () => {
    const { config, weights } = await load();
    const want = new Map([...baseShapes(config), ...trainableShapes(config)]);
    expect(new Set(weights.tensors.keys())).toEqual(new Set(want.keys()));
    for (const [path, shape] of want) {
      expect(weights.tensors.get(path)!.stored, path).toBe('F32');
      expect(getFloat32(weights, path, shape).every(Number.isFinite), path).toBe(true);
    }
    for (const path of trainableShapes(config).keys()) {
      expect(getFloat32(weights, path).some((x) => x !== 0), `${path} is non-zero`).toBe(true);
    }
    // Our writer produces the same bytes as the script's (which mirrors the reference's order).
    const bytes = new Uint8Array(await readFile(dir(name) + 'weights.safetensors'));
    expect(serializeSafetensors(weights.tensors, weights.metadata)).toEqual(bytes);
  });

  it('tokens: B × T ids inside the vocabulary', async () => {
    const { config, tokens } = await load();
    expect(tokens.length).toBe(config.batch);
    for (const row of tokens) {
      expect(row.length).toBe(config.seq_len);
      expect(row.every((t) => Number.isInteger(t) && t >= 0 && t < config.vocab_size)).toBe(true);
    }
  });

  it.each(expected)('%s: shapes, finite values, and the loss recomputed from the logits', async (file) => {
    const { config, tokens, weights } = await load();
    const exp: SafetensorsFile = await readSafetensorsFile(dir(name) + file);
    const hf = file === 'expected-hf.safetensors';
    expect(exp.metadata?.['convention']).toBe(hf ? 'hugging-face-peft' : 'peftc');
    const B = config.batch;
    const T = config.seq_len;
    const V = config.vocab_size;
    const P = config.num_virtual_tokens ?? 0;
    const S = config.method === 'prompt' ? P + T : T;
    const trainable = trainableShapes(config);
    expect(new Set(exp.tensors.keys())).toEqual(new Set(['loss', 'logits', ...[...trainable.keys()].map((k) => `grad.${k}`)]));
    const logits = getFloat32(exp, 'logits', [B, S, V]);
    const [loss] = getFloat32(exp, 'loss', [1]);
    expect(Number.isFinite(loss)).toBe(true);
    expect(logits.every(Number.isFinite)).toBe(true);
    for (const [path, shape] of trainable) {
      const g = getFloat32(exp, `grad.${path}`, shape);
      expect(g.every(Number.isFinite), path).toBe(true);
      expect(Math.max(...g.map(Math.abs)), `grad.${path} is non-trivial`).toBeGreaterThan(1e-3);
      expect(shape).toEqual(weights.tensors.get(path)!.shape);
    }
    // The loss convention (see test/fixtures/README.md).
    const next = tokens.map((row) => row.slice(1));
    const recomputed = config.method !== 'prompt' ? crossEntropy(logits, S, V, next, 0)
      : hf ? crossEntropy(logits, S, V, tokens, P - 1)
      : crossEntropy(logits, S, V, next, P);
    expect(Math.abs(recomputed - loss!)).toBeLessThan(2e-6);
    // Float32 vs float64 in torch, recorded by the script: all small.
    const diffs = JSON.parse(exp.metadata!['f32_vs_f64']!) as Record<string, number>;
    expect(Object.keys(diffs).sort()).toEqual([...exp.tensors.keys()].sort());
    for (const [k, v] of Object.entries(diffs)) expect(v, k).toBeLessThan(1e-4);
  });
});

describe('the conventions differ where the README says they do', () => {
  it('prompt: same logits, different loss; prefix: different logits (positions)', async () => {
    const read = (f: string) => readSafetensorsFile(f);
    const [pp, ph, xp, xh] = await Promise.all([
      read(dir('gpt2-prompt-tiny') + 'expected.safetensors'), read(dir('gpt2-prompt-tiny') + 'expected-hf.safetensors'),
      read(dir('gpt2-prefix-tiny') + 'expected.safetensors'), read(dir('gpt2-prefix-tiny') + 'expected-hf.safetensors'),
    ]);
    expect(getFloat32(pp, 'logits')).toEqual(getFloat32(ph, 'logits'));
    expect(getFloat32(pp, 'loss')[0]).not.toBeCloseTo(getFloat32(ph, 'loss')[0]!, 4);
    expect(getFloat32(xp, 'logits')).not.toEqual(getFloat32(xh, 'logits'));
  });
});
