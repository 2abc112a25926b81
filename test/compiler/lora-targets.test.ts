// `on all_linear`: Hugging Face PEFT's target_modules="all-linear" — every Linear except the
// output head — with PEFT's parameter counts.
import { describe, expect, it } from 'vitest';
import { summarize } from '../../compiler/params.ts';
import { createStore, paramView } from '../../runtime/arena.ts';
import { initParams } from '../../runtime/init.ts';
import { compileText, graphOfText, tinySet } from '../helpers.ts';

const loraPaths = (text: string, set: string[] = []) =>
  graphOfText(text, set)
    .params.filter((p) => p.path.endsWith('.lora_A.weight'))
    .map((p) => p.path.replace('.lora_A.weight', ''));

describe('lora on all_linear', () => {
  it('GPT-2: every Conv1D of every block, not the tied head (PEFT: 1,179,648 at r 8)', () => {
    const g = graphOfText('import "gpt2.peft"\npeft { lora(rank = 8) on all_linear }');
    expect(summarize(g).trainable).toBe(1_179_648);
  });

  it('LLaMA: the seven projections per layer, not lm_head', () => {
    const paths = loraPaths('import "llama.peft"\npeft { lora(rank = 8) on all_linear }', tinySet('llama'));
    expect(paths).not.toContain('lm_head');
    expect(new Set(paths.map((p) => p.split('.').pop()))).toEqual(new Set(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']));
  });

  it('BERT: the pooler is linear and adapted, the classifier head is not', () => {
    const paths = loraPaths('import "bert.peft"\npeft { lora(rank = 8) on all_linear }', tinySet('bert'));
    expect(paths).toContain('pooler.dense');
    expect(paths).not.toContain('classifier');
  });

  it('the head is found through functions and local names, and excluding works as for patterns', () => {
    const paths = loraPaths(
      `config { vocab_size = 16 \n d = 8 }
model M {
  wte = Embedding(vocab_size, d)
  up = Linear(d, d)
  head = Linear(d, vocab_size)
  forward(tokens) {
    y = head(up(wte(tokens)))
    return dropout(y, 0.1)
  }
}
peft { lora(rank = 2) on all_linear, "head" exclude "up" }`,
    );
    // `"head"` names the head explicitly, so it is adapted; `up` is excluded.
    expect(paths).toEqual(['head']);
  });

  it('an unknown selector is one clear error that suggests the known one', () => {
    const res = compileText('import "gpt2.peft"\npeft { lora(rank = 8) on all_linaer }');
    expect(res.graph).toBeUndefined();
    const errors = res.diagnostics.filter((d) => d.severity === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toBe('unknown target selector `all_linaer`: a target is a module pattern in quotes ("all_linaer") or a selector (all_linear). Did you mean `all_linear`?');
  });
});

describe('lora on a token embedding', () => {
  it('GPT-2 wte at r 8: PEFT\'s lora_embedding_A [8, 50257] and lora_embedding_B [768, 8], 408,200 trainable; the tied head reads the base table', () => {
    const g = graphOfText('import "gpt2.peft"\npeft { lora(rank = 8) on "wte" }');
    expect(summarize(g).trainable).toBe(408_200);
    expect(g.params.filter((p) => p.partition === 'trainable').map((p) => [p.path, p.shape])).toEqual([
      ['wte.lora_embedding_A', [8, 50257]],
      ['wte.lora_embedding_B', [768, 8]],
    ]);
    const table = g.nodes.find((n) => n.op === 'param' && n.attrs.path === 'wte.weight')!;
    const head = g.nodes[g.outputs.logits]!;
    expect(head.op).toBe('linear');
    expect(head.inputs[1]).toBe(table.id);
  });

  it('a selected rank is refused on an embedding, in one line', () => {
    const res = compileText('import "gpt2.peft"\npeft { lora(rank = dynamic(max = 4)) on "wte" }', tinySet('gpt2'));
    expect(res.graph).toBeUndefined();
    expect(res.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([
      'LoRA on the embedding `wte` takes a fixed rank; `rank = dynamic(…)` is for Linear layers',
    ]);
  });
});

describe('lora(dora = true)', () => {
  it('GPT-2 c_attn at r 8: A, B and PEFT\'s lora_magnitude_vector [2304] per layer, 322,560 trainable', () => {
    const g = graphOfText('import "gpt2.peft"\npeft { lora(rank = 8, dora = true) on "c_attn" }');
    expect(summarize(g).trainable).toBe(322_560);
    const mag = g.params.find((p) => p.path === 'h.0.attn.c_attn.lora_magnitude_vector')!;
    expect(mag.shape).toEqual([2304]);
    expect(mag.init).toEqual({ kind: 'row_norm', weight: 'h.0.attn.c_attn.weight', layout: 'in_out' });
  });

  it('is refused with a selected rank, in one line', () => {
    const errors = (peft: string) =>
      compileText(`import "gpt2.peft"\npeft { ${peft} }`, tinySet('gpt2')).diagnostics.filter((d) => d.severity === 'error').map((d) => d.message);
    expect(errors('lora(rank = auto(target = 2, init = 4), dora = true) on "c_attn"')).toEqual(['DoRA is for a fixed rank; `rank = auto(…)` selects ranks']);
    expect(errors('lora(rank = dynamic(max = 4), dora = true) on "wte"')).toEqual(['DoRA is for a fixed rank; `rank = dynamic(…)` selects ranks']);
  });

  it('GPT-2 wte at r 8: PEFT\'s DoraEmbeddingLayer, a magnitude per embedding dimension [768] from the table\'s column norms, 408,968 trainable', () => {
    const g = graphOfText('import "gpt2.peft"\npeft { lora(rank = 8, dora = true) on "wte" }');
    expect(summarize(g).trainable).toBe(408_968);
    const mag = g.params.find((p) => p.path === 'wte.lora_magnitude_vector')!;
    expect(mag.shape).toEqual([768]);
    // row_norm of the table [50257, 768] read as [in, out]: the norm of each of its 768 columns.
    expect(mag.init).toEqual({ kind: 'row_norm', weight: 'wte.weight', layout: 'in_out' });
    // The tied head still reads the base table.
    const table = g.nodes.find((n) => n.op === 'param' && n.attrs.path === 'wte.weight')!;
    expect(g.nodes[g.outputs.logits]!.inputs[1]).toBe(table.id);
  });
});

describe('lora(init = gaussian)', () => {
  it('starts A normal with std 1/r as PEFT\'s init_lora_weights="gaussian" (B zero); the default stays kaiming-uniform', () => {
    const g = graphOfText('import "gpt2.peft"\npeft { lora(rank = 8, init = gaussian) on "c_attn" }', tinySet('gpt2'));
    const A = g.params.find((p) => p.path === 'h.0.attn.c_attn.lora_A.weight')!;
    expect(A.init).toEqual({ kind: 'normal', std: 1 / 8 });
    const store = createStore(g, 'f64');
    initParams(g, store, { seed: 1 });
    const a = paramView(store, A.path);
    let sq = 0;
    for (const x of a) sq += x * x;
    const std = Math.sqrt(sq / a.length);
    expect(Math.abs(std - 1 / 8)).toBeLessThan(0.01);
    const plain = graphOfText('import "gpt2.peft"\npeft { lora(rank = 8) on "c_attn" }', tinySet('gpt2'));
    expect(plain.params.find((p) => p.path === A.path)!.init.kind).toBe('uniform');
    expect(plain.params.find((p) => p.path === A.path)!.method!.settings.init).toBeUndefined();
  });

  it('other inits, a selected rank and an embedding are refused, one line each', () => {
    const errors = (peft: string) =>
      compileText(`import "gpt2.peft"\npeft { ${peft} }`, tinySet('gpt2')).diagnostics.filter((d) => d.severity === 'error').map((d) => d.message);
    expect(errors('lora(rank = 4, init = pissa, dora = true) on "c_attn"')).toEqual(['`init = pissa` with DoRA is not supported: the magnitudes would start from the residual weights']);
    expect(errors('lora(rank = 40, init = olora) on "c_attn"')).toEqual(['`init = olora` takes the top 40 of W\'s 16 directions: rank 40 exceeds min(in, out) of `h.0.attn.c_attn` (16, 48)']);
    expect(errors('lora(rank = 4, init = zeros) on "c_attn"')).toEqual(["`lora`'s init must be one of kaiming, gaussian, pissa, olora; found the option `zeros`"]);
    expect(errors('lora(rank = 4, init = pissa(niter = 4)) on "c_attn"')).toEqual([]);
    expect(errors('lora(rank = 4, init = pissa(4)) on "c_attn"')).toEqual([]);
    expect(errors('lora(rank = 4, init = pissa(niter = 1.5)) on "c_attn"')).toEqual(["`pissa(…)`'s niter must be an integer from 0 to 100; found 1.5"]);
    expect(errors('lora(rank = 4, init = pissa(niter = 1000)) on "c_attn"')).toEqual(["`pissa(…)`'s niter must be an integer from 0 to 100; found 1000"]);
    expect(errors('lora(rank = 4, init = pissa(iters = 2)) on "c_attn"')).toEqual(['`pissa(…)` has no setting `iters`; its one setting is niter, the power iterations: `init = pissa(niter = 4)`']);
    expect(errors('lora(rank = 4, init = pissa()) on "c_attn"')).toEqual(['`pissa(…)` takes one setting, niter, the power iterations: `init = pissa(niter = 4)` (plain `init = pissa` is the exact SVD)']);
    expect(errors('lora(rank = 4, init = olora(niter = 2)) on "c_attn"')).toEqual(['`init = olora(…)` takes no settings; only `init = pissa(niter = K)` does (the randomised SVD)']);
    expect(errors('lora(rank = 4, init = pissa(niter = 2), dora = true) on "c_attn"')).toEqual(['`init = pissa` with DoRA is not supported: the magnitudes would start from the residual weights']);
    expect(errors('lora(rank = dynamic(max = 4), init = gaussian) on "c_attn"')).toEqual(['`init = gaussian` is for a fixed rank; `rank = dynamic(…)` initialises its own factors']);
    expect(errors('lora(rank = 4, init = gaussian) on "wte"')).toEqual([expect.stringContaining('`init = gaussian` initialises a Linear\'s A')]);
  });
});
