// Rank selection on a tiny task (rank-task.ts: a teacher = the frozen base plus a known LoRA
// update; the students learn its most likely tokens on random rows), on the CPU reference.
//
// The comparison is fair: every student starts from the same base, sees the same batches in the
// same order for the same number of steps, with the same optimizer (AdamW, cosine from 1e-2, no
// weight decay, clipping at 1), and is scored by the same validation cross-entropy (the
// orthogonality term acts on the gradients only, so it is not in the loss). AdaLoRA ends with the
// same total rank as the fixed-rank LoRA it is compared with (4 modules: Σ = 8); it trains with
// more (4 × 6) before the budget falls, as the method does.
import { describe, expect, it } from 'vitest';
import { teacherData, trainStudent, validLoss } from './rank-task.ts';

describe('AdaLoRA on a tiny task', () => {
  it('ends at the target total rank with a loss at least as low as fixed-rank LoRA of that total', async () => {
    // The teacher changes h.1.mlp.c_fc with rank 6; the students adapt all four projections.
    const data = teacherData(['h.1.mlp.c_fc'], 6, { seed: 1 });
    const fixed = await trainStudent('lora(rank = 2) on "c_attn", "c_fc"', data, 400);
    const ada = await trainStudent('lora(rank = auto(target = 2, init = 6, tinit = 100, tfinal = 100, delta_t = 10)) on "c_attn", "c_fc"', data, 400);
    const ranks = [...ada.ranks!.ranks().values()];
    expect(ranks.reduce((a, b) => a + b, 0)).toBe(8);
    expect(ranks.some((r) => r !== 2)).toBe(true); // allocated, not uniform
    const lossFixed = await validLoss(fixed.backend, data);
    const lossAda = await validLoss(ada.backend, data);
    // Measured: fixed 1.2417, AdaLoRA (form = hf_peft, the default) 1.1921 (ranks 2, 2, 3, 1).
    expect(lossAda).toBeLessThanOrEqual(lossFixed);
  });
});

describe('DyLoRA on a tiny task', () => {
  it('gives losses that fall as the evaluation rank grows from 1 to max', async () => {
    // The teacher changes h.0.attn.c_attn with rank 8 (singular values 3·0.7^i); one DyLoRA of
    // max 8 is trained, then evaluated at every rank without retraining.
    const data = teacherData(['h.0.attn.c_attn'], 8, { seed: 1, decay: 0.7 });
    const dy = await trainStudent('lora(rank = dynamic(max = 8)) on "h.0.attn.c_attn"', data, 1200);
    const losses: number[] = [];
    for (let r = 1; r <= 8; r++) {
      dy.ranks!.evalRank = r;
      losses.push(await validLoss(dy.backend, data));
    }
    // Measured: 1.9684 1.7289 1.5623 1.4265 1.3426 1.2768 1.2564 1.2358.
    for (let r = 1; r < 8; r++) expect(losses[r]!).toBeLessThan(losses[r - 1]!);
    expect(losses[7]!).toBeLessThan(losses[0]! - 0.5);
  });
});
