// The shape of the generated model.py (no Python needed): one class per kind of layer, parameter
// tables with the project's paths and the partition, the helpers' names never shadowed.
import { describe, expect, it } from 'vitest';
import { buildTorchCommand } from '../../cli/build-torch.ts';
import { UserError } from '../../cli/errors.ts';
import { CodegenError } from '../../codegen/codegen-error.ts';
import { opExpr } from '../../codegen/torch/expr.ts';
import { modelPy } from '../../codegen/torch/model-py.ts';
import { graphOf, TINY } from '../helpers.ts';

const py = (name: string, set: string[] = []) => modelPy(graphOf(name, set), name);
const classes = (src: string) => [...src.matchAll(/^class (\w+)\(nn\.Module\):/gm)].map((m) => m[1]);

describe('model.py', () => {
  it('tiny-gpt-lora: one Block class for the four layers, parameter tables by path with requires_grad from the partition', () => {
    const src = py('tiny-gpt-lora.peft');
    expect(classes(src)).toEqual(['Block', 'Model']);
    expect(src).toContain('self.h = nn.ModuleList([Block() for _ in range(4)])');
    expect(src).toContain('("attn.c_attn.lora_A.weight", (8, 64), True),');
    expect(src).toContain('("attn.c_attn.weight", (64, 192), False),');
    expect(src).toContain('("wte.weight", (256, 64), False),');
    expect(src).toContain('h_0 = self.h[0](add)');
    expect(src).toContain('logits = F.linear(ln_f_layernorm, self.wte.weight)');
  });

  it('layers differing only in dropout seeds are one class (LLaMA, BERT)', () => {
    const llama = py('llama-lora.peft', [TINY.llama!]);
    expect(classes(llama)).toEqual(['Block', 'Model']);
    expect(llama).toMatch(/F\.dropout\(\w+, p=0\.05, training=self\.training\)/);
    const bert = py('bert-adapter.peft', [TINY.bert!]);
    expect(classes(bert)).toEqual(['Block', 'Model']);
    expect(bert).toContain('self.encoder.layer = nn.ModuleList([Block() for _ in range(2)])');
  });

  it('layers with different methods are different classes, each naming its layers', () => {
    const src = py('gpt2-lora-prompt.peft', ['n_layer=4,n_embd=16,n_head=2,vocab_size=256,n_positions=64']);
    expect(classes(src)).toEqual(['Block', 'Block2', 'Block3', 'Model']);
    expect(src).toContain('"""A layer of the model: h.2, h.3."""');
    expect(src).toContain('nn.ModuleList([Block(), Block2(), Block3(), Block3()])');
  });

  it('prefix tuning: the prefix slices are computed outside the layers, which stay one class; prefix_table() gives the saved table', () => {
    const src = py('tiny-gpt-prefix.peft');
    expect(classes(src)).toEqual(['Block', 'Model']);
    expect(src).toContain('def prefix_table(self):');
    expect(src).toContain('def forward(self, hidden, in_slice, in_slice_2):');
  });

  it('rank masks are what train.py sets for the step (rank selection), full rank when unset; models without them have neither', () => {
    const src = py('tiny-gpt-dylora.peft');
    expect(src).toContain('self.rank_masks = {}');
    expect(src).toContain('c_attn_filled = self.rank_mask("rank_mask.h.0.attn.c_attn", (8,), 1.0)');
    expect(src).toContain('def rank_mask(self, name, shape, fill):');
    expect(py('tiny-gpt-adalora.peft')).toContain('self.rank_mask("rank_mask.h.3.mlp.c_fc", (12,), 1.0)');
    expect(py('tiny-gpt-lora.peft')).not.toMatch(/rank_mask/);
  });

  it('values never take the name of an ops.py helper or an argument', () => {
    const src = py('tiny-gpt-prompt.peft');
    expect(src).not.toMatch(/^\s+(positions|attention|cross_entropy|expand_batch|targets|lengths) = /m);
    expect(src).toContain('pos = positions(');
    expect(src).toContain('loss = cross_entropy(logits, targets, ignore_index=-100)');
  });

  it('an op without a translation (several adapters in one batch) is a CodegenError naming it', () => {
    const node = { id: 0, op: 'gather_linear', inputs: [], attrs: {}, shape: [1], dtype: 'f32' as const, scope: 'h.0.attn' };
    expect(() => opExpr(node, [], { like: 'x' })).toThrow(CodegenError);
    expect(() => opExpr(node, [], { like: 'x' })).toThrow('no translation of the op `gather_linear` (in h.0.attn)');
  });

  it('build flags that shape only peftc\'s own plans are refused for --target torch in one line, before anything is written', async () => {
    const flags = { out: '/nonexistent/trainer', batch: '4', schedule: 'cosine', warmup: '0', target: 'torch' };
    await expect(buildTorchCommand('examples/tiny-gpt-lora.peft', { ...flags, frozenDtype: 'nf4dq' })).rejects.toThrow(
      /^--frozen-dtype nf4dq stores the frozen base of peftc's own plans; --target torch writes it in f32 \(quantize it in PyTorch, e\.g\. with bitsandbytes\)$/,
    );
    await expect(buildTorchCommand('examples/tiny-gpt-lora.peft', { ...flags, recompute: 'blocks' })).rejects.toThrow(/^--recompute plans peftc's backward pass; --target torch's train\.py keeps what PyTorch's autograd keeps$/);
    await expect(buildTorchCommand('examples/tiny-gpt-lora.peft', { ...flags, recompute: 'blocks' })).rejects.toBeInstanceOf(UserError);
  });
});
