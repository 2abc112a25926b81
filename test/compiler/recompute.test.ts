// Activation recomputation (`recompute = "blocks"`, --recompute blocks): the backward pass
// recomputes each repeated block's internals from the block's input. Checked here: the gradients
// are the very same numbers (bit for bit on the CPU, dropout's masks included), the forward
// values the backward reads are only the blocks' inputs, and the plan's activation pool shrinks.
// On a software WebGPU adapter: test/webgpu/recompute-llvmpipe.test.ts.
import { describe, expect, it } from 'vitest';
import { blockOfScope, recomputeOf } from '../../compiler/autodiff/recompute.ts';
import type { TrainingGraph } from '../../compiler/autodiff/backward.ts';
import { buildPlan } from '../../compiler/lower/plan.ts';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { printTrainingGraph } from '../../compiler/ir/printer.ts';
import { wgslBackend } from '../../codegen/wgsl/backend.ts';
import { DEFAULT_CAPS } from '../../codegen/wgsl/caps.ts';
import { createStore } from '../../runtime/arena.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { initParams } from '../../runtime/init.ts';
import { batchFor } from '../webgpu/plan-suite.ts';
import { compileText, graphOf, graphOfText, tinySet, TINY } from '../helpers.ts';

/** The methods (AdaLoRA's regulariser and DyLoRA's rank masks included), with dropout where the file has it (llama-lora: LoRA dropout 0.05; gpt2 files: 0.1 in every block). */
const FILES = ['gpt2-lora.peft', 'gpt2-adapter.peft', 'gpt2-prefix.peft', 'gpt2-prompt.peft', 'llama-lora.peft', 'bert-adapter.peft', 'gpt2.peft', 'tiny-gpt-adalora.peft', 'tiny-gpt-dylora.peft'];
const DROPOUT = ['resid_pdrop=0.1,attn_pdrop=0.1,embd_pdrop=0.1'];

function run(file: string, t: TrainingGraph, g = t.graph, seed = 3) {
  const store = createStore(g, 'f32');
  initParams(g, store, { seed });
  const rng = new Random(seed);
  const d = store.trainable.data;
  for (let i = 0; i < d.length; i++) d[i] = d[i]! + rng.normal(0, 0.1); // no zero LoRA B: every gradient moves
  return new CpuExecutor(t).run(store, batchFor(g, rng, 2, 6), { precision: 'f32', training: true, step: 3 });
}

describe('recompute = blocks on the CPU', () => {
  it.each(FILES)('%s: loss and every gradient are bit for bit those without recomputation (dropout on)', (file) => {
    const set = file.startsWith('gpt2') ? [...tinySet(file), ...DROPOUT] : tinySet(file);
    const g = graphOf(file, set);
    const plain = run(file, buildTrainingGraph(g, undefined, 'none'));
    const again = run(file, buildTrainingGraph(g, undefined, 'blocks'));
    expect(again.loss).toBe(plain.loss);
    expect([...again.grads.keys()].sort()).toEqual([...plain.grads.keys()].sort());
    for (const [path, grad] of plain.grads) expect(Array.from(again.grads.get(path)!.data), path).toEqual(Array.from(grad.data));
  });

  it('dropout changes the loss here, so equal gradients mean equal masks', () => {
    const g = graphOf('gpt2-lora.peft', [...tinySet('gpt2-lora.peft'), ...DROPOUT]);
    const t = buildTrainingGraph(g, undefined, 'blocks');
    const store = createStore(g, 'f32');
    initParams(g, store, { seed: 3 });
    const batch = batchFor(g, new Random(3), 2, 6);
    const on = new CpuExecutor(t).run(store, batch, { precision: 'f32', training: true, step: 3 });
    const off = new CpuExecutor(t).run(store, batch, { precision: 'f32', training: false, step: 3 });
    expect(Math.abs(on.loss - off.loss)).toBeGreaterThan(1e-4);
    expect(t.graph.nodes.slice(t.forwardEnd).some((n) => n.op === 'dropout' && n.scope.endsWith('↻'))).toBe(true);
  });
});

describe('what the forward pass keeps', () => {
  const g = graphOf('gpt2-lora.peft', [`${TINY.gpt2},n_layer=4`]);
  const reads = (t: TrainingGraph) => {
    const out = new Set<number>();
    for (const n of t.graph.nodes.slice(t.forwardEnd)) for (const i of n.inputs) if (i < t.forwardEnd && t.graph.nodes[i]!.op !== 'param' && t.graph.nodes[i]!.op !== 'input') out.add(i);
    return out;
  };

  it('the backward reads, of each block, only values that leave it (its output: the next block input)', () => {
    const t = buildTrainingGraph(g, undefined, 'blocks');
    const leaving = new Set<number>();
    for (const n of t.graph.nodes.slice(0, t.forwardEnd)) {
      for (const i of n.inputs) if (blockOfScope(t.graph.nodes[i]!.scope) !== blockOfScope(n.scope)) leaving.add(i);
    }
    const inBlocks = [...reads(t)].filter((i) => blockOfScope(t.graph.nodes[i]!.scope) !== undefined);
    expect(inBlocks.length).toBeGreaterThan(0);
    for (const i of inBlocks) expect(leaving.has(i), `%${i} ${t.graph.nodes[i]!.op} in ${t.graph.nodes[i]!.scope}`).toBe(true);
    // Without recomputation the backward reads dozens of values inside the blocks.
    const plain = buildTrainingGraph(g, undefined, 'none');
    expect([...reads(plain)].filter((i) => !leaving.has(i) && blockOfScope(plain.graph.nodes[i]!.scope) !== undefined).length).toBeGreaterThan(20);
  });

  it('each block is recomputed once, in the backward pass, only what its gradients read', () => {
    const t = buildTrainingGraph(g, undefined, 'blocks');
    const copies = t.graph.nodes.slice(t.forwardEnd).filter((n) => n.scope.endsWith('↻'));
    expect(new Set(copies.map((n) => blockOfScope(n.scope)))).toEqual(new Set(['h.0', 'h.1', 'h.2', 'h.3']));
    const perBlock = copies.filter((n) => blockOfScope(n.scope) === 'h.1').length;
    const forward = t.graph.nodes.slice(0, t.forwardEnd).filter((n) => n.op !== 'param' && blockOfScope(n.scope) === 'h.1').length;
    expect(perBlock).toBeGreaterThan(0);
    expect(perBlock).toBeLessThan(forward); // the block's last residual add and the MLP's output projection are not needed
  });

  it('a block with no gradient (below the lowest trainable layer) is not recomputed', () => {
    const top = graphOfText('import "gpt2.peft"\npeft { lora(rank = 2) on "h.3.attn.c_attn" }', [`${TINY.gpt2},n_layer=4`]);
    const t = buildTrainingGraph(top, undefined, 'blocks');
    const blocks = new Set(t.graph.nodes.slice(t.forwardEnd).filter((n) => n.scope.endsWith('↻')).map((n) => blockOfScope(n.scope)));
    expect(blocks).toEqual(new Set(['h.3']));
  });

  it("the plan's activation pool shrinks (GPT-2 shape, 8 layers, B=4 T=128)", () => {
    const big = graphOf('gpt2-lora.peft', ['vocab_size=512,n_positions=128,n_embd=64,n_layer=8,n_head=4']);
    const peak = (mode: 'none' | 'blocks') => buildPlan(buildTrainingGraph(big, undefined, mode), { B: 4, T: 128 }, wgslBackend(DEFAULT_CAPS)).stats.activationPeakBytes;
    const none = peak('none');
    const blocks = peak('blocks');
    expect(blocks).toBeLessThan(0.6 * none);
  });
});

describe('the setting in the .peft file', () => {
  it('`recompute = "blocks"` in config chooses it; --set recompute=none overrides it', () => {
    const text = 'import "gpt2.peft"\nconfig {\n  recompute = "blocks"\n}\npeft { lora(rank = 2) on "c_attn" }';
    const g = graphOfText(text, [TINY.gpt2]);
    expect(recomputeOf(g)).toBe('blocks');
    expect(buildTrainingGraph(g).graph.nodes.some((n) => n.scope.endsWith('↻'))).toBe(true);
    expect(recomputeOf(graphOfText(text, [TINY.gpt2, 'recompute=none']))).toBe('none');
  });

  it('an unknown mode is a diagnostic at the constant', () => {
    const res = compileText('import "gpt2.peft"\nconfig {\n  recompute = "layers"\n}', [TINY.gpt2]);
    const d = res.diagnostics.find((x) => x.severity === 'error');
    expect(d?.message).toContain('`recompute` must be "none" or "blocks"');
    expect(d?.range.start.line).toBe(3);
    expect(compileText('import "gpt2.peft"\nconfig {\n  recompute = 1\n}', [TINY.gpt2]).graph).toBeUndefined();
  });
});

describe('edge cases', () => {
  it('a model without a repeat has nothing to recompute: the same Training IR', () => {
    const text = `config { d = 8 }
block Mlp(d) {
  fc = Linear(d, d)
  forward(x) { return gelu_tanh(fc(x)) }
}
model Small {
  wte = Embedding(32, d)
  mlp = Mlp(d)
  head = Linear(d, 32)
  forward(tokens) { return head(mlp(wte(tokens))) }
}
peft { lora(rank = 2) on "mlp.fc" }`;
    const g = graphOfText(text);
    const a = buildTrainingGraph(g, undefined, 'none');
    const b = buildTrainingGraph(g, undefined, 'blocks');
    expect(b.graph.nodes).toEqual(a.graph.nodes);
    expect(b.grads).toEqual(a.grads);
  });

  it('compile --emit train-ir shows the recomputed nodes with their scope marked', () => {
    const g = graphOf('gpt2-lora.peft', [TINY.gpt2]);
    const text = printTrainingGraph(buildTrainingGraph(g, undefined, 'blocks'));
    expect(text).toMatch(/= attention .*# h\.1\.attn ↻$/m);
  });
});
