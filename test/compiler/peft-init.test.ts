// Where Hugging Face PEFT's default initialisation differs from a module's own, the methods
// start as PEFT's do: a RANDOM soft prompt and a prefix table without projection are bare
// nn.Embeddings at torch's init, N(0, 1); the projection's embedding too, its Linears at
// torch's kaiming-uniform bound 1/√fan_in; IA³ vectors at one.
import { describe, expect, it } from 'vitest';
import { createStore, paramView } from '../../runtime/arena.ts';
import { initParams } from '../../runtime/init.ts';
import { graphOfText } from '../helpers.ts';

const SET = ['vocab_size=64,n_positions=32,n_embd=32,n_layer=2,n_head=4'];
const initOf = (text: string, path: string) => graphOfText(`import "gpt2.peft"\npeft { ${text} }`, SET).params.find((p) => p.path === path)!.init;

describe('PEFT init conventions', () => {
  it('prompt init = random is N(0, 1), not the vocabulary table’s N(0, initializer_range)', () => {
    expect(initOf('prompt(length = 4) on "wte"', 'prompt_embeddings')).toEqual({ kind: 'normal', std: 1 });
    expect(initOf('prompt(template = "[P:2] {text}") on "wte"', 'prompt_embeddings.0')).toEqual({ kind: 'normal', std: 1 });
    expect(initOf('prompt(length = 4, init = vocab) on "wte"', 'prompt_embeddings')).toEqual({ kind: 'vocab', table: 'wte.weight' });
  });

  it('the prefix table without reparameterisation is N(0, 1); the MLP as torch initialises it', () => {
    expect(initOf('prefix(length = 3) on "h.*.attn"', 'prefix_embeddings')).toEqual({ kind: 'normal', std: 1 });
    const mlp = 'prefix(length = 3, reparam = mlp(hidden = 8)) on "h.*.attn"';
    expect(initOf(mlp, 'prefix_encoder.embedding.weight')).toEqual({ kind: 'normal', std: 1 });
    expect(initOf(mlp, 'prefix_encoder.transform.0.weight')).toEqual({ kind: 'uniform', bound: 1 / Math.sqrt(32) });
    expect(initOf(mlp, 'prefix_encoder.transform.2.bias')).toEqual({ kind: 'uniform', bound: 1 / Math.sqrt(8) });
  });

  it('the drawn values have the standard deviation of N(0, 1)', () => {
    const g = graphOfText('import "gpt2.peft"\npeft {\n prompt(length = 16) on "wte"\n}', SET);
    const store = createStore(g, 'f64');
    initParams(g, store, { seed: 4 });
    const v = Array.from(paramView(store, 'prompt_embeddings'));
    const mean = v.reduce((a, x) => a + x, 0) / v.length;
    const std = Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / v.length);
    expect(v.length).toBe(512);
    expect(Math.abs(std - 1)).toBeLessThan(0.1); // 512 draws: the standard error is ≈ 0.03
  });
});
