// The loss over chunks of rows in the plan (compiler/lower/chunked-loss.ts), without a GPU: the
// chunk size from the budget, what the plan holds and binds, where the loss stays whole, and
// `peftc memory`'s report at GPT-2 small (issue 16's goal: activations peak with --recompute
// blocks ≤ 1/3 of without). The numbers of a chunked plan on real adapters:
// test/webgpu/chunked-loss-*.test.ts.
import { describe, expect, it } from 'vitest';
import { formatMemory, memoryReport } from '../../cli/memory.ts';
import { wgslBackend } from '../../codegen/wgsl/backend.ts';
import { DEFAULT_CAPS } from '../../codegen/wgsl/caps.ts';
import { buildPlan } from '../../compiler/lower/plan.ts';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { graphOf, graphOfText, tinySet } from '../helpers.ts';

const V = 200;
const dims = { B: 3, T: 50 };
const budget = (rows: number) => 8 * rows * V;

describe('the loss over chunks of rows', () => {
  const g = graphOf('gpt2-lora.peft', [...tinySet('gpt2'), `vocab_size=${V}`]);
  const t = buildTrainingGraph(g, undefined, 'blocks');
  const plan = (opts = {}) => buildPlan(t, dims, wgslBackend(DEFAULT_CAPS), opts);

  it('takes the most multiples of 64 rows the budget holds, at least 64, and no whole logits', () => {
    expect(plan({ lossChunkBytes: budget(64) }).stats.lossChunk).toEqual({ rows: 64, chunks: 3, vocab: V });
    expect(plan({ lossChunkBytes: budget(127) }).stats.lossChunk).toEqual({ rows: 64, chunks: 3, vocab: V });
    expect(plan({ lossChunkBytes: budget(128) }).stats.lossChunk).toEqual({ rows: 128, chunks: 2, vocab: V });
    expect(plan({ lossChunkBytes: 1 }).stats.lossChunk).toEqual({ rows: 64, chunks: 3, vocab: V });
    expect(plan({ lossChunkBytes: budget(1000) }).stats.lossChunk).toEqual({ rows: 150, chunks: 1, vocab: V });
    const p = plan({ lossChunkBytes: budget(64) });
    expect(p.io.logits).toBeUndefined();
    // No dispatch binds more of the logits than one chunk: [64, V] f32.
    const big = p.steps.flatMap((s) => (s.kind === 'dispatch' ? s.bindings.map((b) => b.bytes) : []));
    expect(Math.max(...big)).toBeLessThanOrEqual(4 * 64 * V);
    expect(p.steps.filter((s) => s.label.includes('chunk 3/3')).length).toBeGreaterThanOrEqual(3);
    expect(p.stats.activationPeakBytes).toBeLessThan(plan().stats.activationPeakBytes);
  });

  it('keeps the logits whole without the option, in a forward-only plan, and for a head it cannot chunk', () => {
    const whole = plan();
    expect(whole.stats.lossChunk).toBeUndefined();
    expect(whole.io.logits!.shape).toEqual([3, 50, V]);
    expect(plan({ lossChunkBytes: budget(64), backward: false }).io.logits!.shape).toEqual([3, 50, V]);
    // LoRA on LLaMA's lm_head: the logits are a sum of products, not one plain product.
    const text = 'import "llama.peft"\npeft {\n  lora(rank = 4) on "lm_head"\n}\n';
    const lt = buildTrainingGraph(graphOfText(text, [...tinySet('llama'), `vocab_size=${V}`]));
    const lp = buildPlan(lt, dims, wgslBackend(DEFAULT_CAPS), { lossChunkBytes: budget(64) });
    expect(lp.stats.lossChunk).toBeUndefined();
    expect(lp.io.logits!.shape).toEqual([3, 50, V]);
  });

  it('peftc memory, GPT-2 small at B = 8, T = 512: recompute blocks takes at most 1/3 of the activations', async () => {
    const gpt2 = graphOf('gpt2-lora.peft');
    const flags = { batch: '8', seq: '512' };
    const none = await memoryReport(gpt2, { ...flags, recompute: 'none' });
    const blocks = await memoryReport(gpt2, { ...flags, recompute: 'blocks' });
    expect(blocks).toMatchObject({ loss_chunk_rows: 128, loss_chunks: 32 });
    expect(blocks.activations_peak / none.activations_peak).toBeLessThanOrEqual(1 / 3);
    // The logits [4096, 50257] f32 alone are 785 MiB: the peak is below one copy of them.
    expect(blocks.activations_peak).toBeLessThan(4096 * 50257 * 4);
    expect(formatMemory(blocks)).toContain('\nloss over 32 chunks of 128 rows of logits: the whole logits never exist\n');
  });
});
