// `peftc import --emit-peft`: the .peft text for an adapter_config.json. Hand-written configs in
// the forms Hugging Face users write (a regex target, layers_to_transform, rank_pattern,
// modules_to_save, all-linear, TEXT init), and exported configs, whose emitted .peft must build
// the same fine-tune (same modules, ranks and scales) and import the folder.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emitPeft } from '../../runtime/interop/emit-peft.ts';
import { parseAdapterConfig } from '../../runtime/interop/hf-config.ts';
import { loraModules, loraScaleOf } from '../../runtime/interop/hf-peft.ts';
import { exportCheckpoint, importToCheckpoint, readAdapterFolders } from '../../runtime/interop/interop-node.ts';
import { hfNameMap } from '../../runtime/interop/names.ts';
import { TINY } from '../helpers.ts';
import { compilePeft, GPT2_FIXTURE, LLAMA_TINY, makeCheckpoint, tempDir } from './helpers.ts';

const gpt2 = compilePeft('import "gpt2.peft"', GPT2_FIXTURE).graph;
const llama = compilePeft('import "llama.peft"', LLAMA_TINY).graph;
const bert = compilePeft('import "bert.peft"', [TINY.bert!]).graph;

function emit(config: object, g = gpt2, base = 'gpt2.peft'): string {
  const text = emitPeft([{ where: 'x', config: parseAdapterConfig(JSON.stringify(config), 'x') }], g, hfNameMap(g), base, 'test');
  return text.split('\n').slice(1).join('\n');
}

const LORA = { peft_type: 'LORA', r: 8, lora_alpha: 16, lora_dropout: 0.05, bias: 'none', task_type: 'CAUSAL_LM' };

describe('emit-peft from hand-written configs', () => {
  it('target names, rank_pattern and alpha_pattern', () => {
    expect(emit({ ...LORA, target_modules: ['c_attn'], rank_pattern: { 'h.1.attn.c_attn': 4 }, alpha_pattern: { '^transformer.h.1.attn.c_attn': 2 } })).toBe(
      'import "gpt2.peft"\n\npeft {\n  lora(rank = 8, alpha = 16, dropout = 0.05) on "c_attn"\n    override "h.1.attn.c_attn" (rank = 4, alpha = 2)\n}\n',
    );
  });

  it('a regex target and layers_to_transform', () => {
    expect(emit({ ...LORA, target_modules: '.*\\.(c_attn|c_fc)', layers_to_transform: [1], layers_pattern: 'h' })).toContain('lora(rank = 8, alpha = 16, dropout = 0.05) on "h.1.attn.c_attn", "h.1.mlp.c_fc"');
    expect(emit({ ...LORA, target_modules: ['q_proj', 'v_proj'], use_rslora: true }, llama, 'llama.peft')).toContain('lora(rank = 8, alpha = 16, dropout = 0.05, rslora = true) on "q_proj", "v_proj"');
  });

  it('use_dora and a LoRA on the token embedding', () => {
    expect(emit({ ...LORA, target_modules: ['q_proj'], use_dora: true }, llama, 'llama.peft')).toContain('lora(rank = 8, alpha = 16, dropout = 0.05, dora = true) on "q_proj"');
    expect(emit({ ...LORA, target_modules: ['wte', 'c_attn'] })).toContain('lora(rank = 8, alpha = 16, dropout = 0.05) on "wte", "c_attn"');
    expect(emit({ ...LORA, target_modules: ['c_attn'], init_lora_weights: 'gaussian' })).toContain('lora(rank = 8, alpha = 16, dropout = 0.05, init = gaussian) on "c_attn"');
  });

  it('all-linear leaves out the head; modules_to_save become train', () => {
    expect(emit({ ...LORA, target_modules: 'all-linear' }, llama, 'llama.peft')).toContain('on "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"');
    expect(emit({ ...LORA, task_type: 'SEQ_CLS', target_modules: ['query', 'value'], modules_to_save: ['classifier', 'score'] }, bert, 'bert.peft')).toBe(
      'import "bert.peft"\n\npeft {\n  lora(rank = 8, alpha = 16, dropout = 0.05) on "query", "value"\n  train "classifier"\n}\n',
    );
  });

  it('prompt and prefix tuning', () => {
    expect(emit({ peft_type: 'PROMPT_TUNING', num_virtual_tokens: 20, token_dim: 32, prompt_tuning_init: 'TEXT', prompt_tuning_init_text: 'Classify:', tokenizer_name_or_path: 'gpt2' })).toContain(
      'prompt(length = 20, init = text("Classify:")) on "wte"',
    );
    expect(emit({ peft_type: 'PREFIX_TUNING', num_virtual_tokens: 10, token_dim: 32, num_layers: 2, num_attention_heads: 4 })).toContain('prefix(length = 10) on "attn"');
    expect(() => emit({ peft_type: 'PREFIX_TUNING', num_virtual_tokens: 10, token_dim: 16, num_layers: 2 }, llama, 'llama.peft')).toThrow(/token_dim is 16, but this model's keys are 8 wide/);
    expect(() => emit({ peft_type: 'PROMPT_TUNING', num_virtual_tokens: 3, token_dim: 768 })).toThrow(/token_dim is 768, the base model's embedding is 32 wide/);
  });
});

describe('emit-peft from exports', () => {
  const tmp = tempDir();
  const cases = [
    'import "gpt2.peft"\npeft {\n lora(rank = 4, alpha = 8) on "c_attn", "c_fc" exclude "h.0.mlp.*"\n override "h.1.*" (rank = 2, alpha = 3, rslora = true)\n prompt(length = 2, init = vocab) on "wte"\n}',
    'import "gpt2.peft"\npeft { adapter(bottleneck = 8, activation = silu, scale = 0.5) on "h.*.attn", "h.*.mlp" }',
  ];
  it.each(cases.map((c, i) => [i, c]))('case %i builds the same fine-tune and imports its folder', async (i, text) => {
    const ck = join(tmp, `ck${i}`);
    const { c } = await makeCheckpoint(ck, text as string, GPT2_FIXTURE);
    const out = join(tmp, `hf${i}`);
    await exportCheckpoint(ck, out);
    const emitted = emitPeft(await readAdapterFolders(out), gpt2, hfNameMap(gpt2), 'gpt2.peft', 'test');
    const again = compilePeft(emitted, GPT2_FIXTURE, true);
    const key = (g: typeof gpt2) => loraModules(g).map((m) => `${m.module} ${m.rank} ${loraScaleOf(m).toFixed(9)}`).sort();
    expect(key(again.graph)).toEqual(key(c.graph));
    const trainable = (g: typeof gpt2) => g.params.filter((p) => p.partition === 'trainable').map((p) => `${p.path} ${p.shape}`).sort();
    expect(trainable(again.graph)).toEqual(trainable(c.graph));
    await importToCheckpoint(out, { graph: again.graph, source: { entry: again.entry, files: again.files }, set: GPT2_FIXTURE }, join(tmp, `back${i}`));
  });
});
