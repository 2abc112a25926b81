// The two forms of AdaLoRA's orthogonality term (Hugging Face PEFT's mean of unsquared norms, the
// paper's squared sum) against their definitions by central differences in float64, and DyLoRA's
// `min` and `update = sampled` (only the drawn rank's row of A and column of B move, and the
// optimizer state of the others stays as it was).
import { describe, expect, it } from 'vitest';
import { differentiate } from '../../compiler/autodiff/backward.ts';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { createStore } from '../../runtime/arena.ts';
import { CpuBackend } from '../../runtime/backend.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { initParams } from '../../runtime/init.ts';
import { dynamicRank, RankController, RankedBackend } from '../../runtime/rank-controller.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { graphOfText } from '../helpers.ts';

const TINY = 'vocab_size=32,n_positions=64,n_embd=16,n_layer=2,n_head=2';

/** ‖PPᵀ − I‖²_F (side A, P [rows, cols]) or ‖PᵀP − I‖²_F (side B), in float64. */
function squared(w: number[], rows: number, cols: number, side: 'A' | 'B'): number {
  const n = side === 'A' ? rows : cols;
  let s = 0;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      let g = 0;
      if (side === 'A') for (let j = 0; j < cols; j++) g += w[i * cols + j]! * w[k * cols + j]!;
      else for (let j = 0; j < rows; j++) g += w[j * cols + i]! * w[j * cols + k]!;
      s += (g - (i === k ? 1 : 0)) ** 2;
    }
  }
  return s;
}

describe('AdaLoRA orthogonality term, both forms', () => {
  // Two auto modules (h.0 and h.1 c_attn): PEFT's N = 4 matrices.
  const text = (orth: number, form: string) => `import "gpt2.peft"\npeft { lora(rank = auto(target = 2, init = 4, orth = ${orth}, form = ${form})) on "c_attn" }`;
  const run = (orth: number, form: string) => {
    const g = graphOfText(text(orth, form), [TINY]);
    const store = createStore(g, 'f64');
    initParams(g, store, { seed: 4 });
    const rng = new Random(5);
    for (let i = 0; i < store.trainable.data.length; i++) store.trainable.data[i] = store.trainable.data[i]! + rng.normal(0, 0.3);
    const tokens = { shape: [2, 5], data: Int32Array.from({ length: 10 }, (_, i) => (i * 7) % 32) };
    const res = new CpuExecutor(buildTrainingGraph(g)).run(store, { tokens, targets: lmTargets(tokens) }, { precision: 'f64', training: true, step: 0 });
    return { store, grads: res.grads };
  };
  const gamma = 0.5;
  const R = {
    // PEFT: γ/N · Σ ‖M‖_F over the N = 4 matrices; only this matrix's term depends on it.
    hf_peft: (w: number[], rows: number, cols: number, side: 'A' | 'B') => (gamma / 4) * Math.sqrt(squared(w, rows, cols, side)),
    paper: (w: number[], rows: number, cols: number, side: 'A' | 'B') => gamma * squared(w, rows, cols, side),
  };

  for (const form of ['hf_peft', 'paper'] as const) {
    it(`${form}: the gradients gain ∂R/∂A and ∂R/∂B of R as defined (central differences, float64)`, () => {
      const a = run(gamma, form);
      const b = run(0, form);
      for (const module of ['h.0.attn.c_attn', 'h.1.attn.c_attn']) {
        for (const [name, rows, cols, side] of [['lora_A', 4, 16, 'A'], ['lora_B', 48, 4, 'B']] as const) {
          const path = `${module}.${name}.weight`;
          const w = Array.from(a.store.trainable.view(path));
          const diff = Array.from(a.grads.get(path)!.data).map((v, i) => v - b.grads.get(path)!.data[i]!);
          let top = 0;
          for (let i = 0; i < w.length; i++) {
            const h = 1e-6;
            const plus = [...w];
            const minus = [...w];
            plus[i]! += h;
            minus[i]! -= h;
            const fd = (R[form](plus, rows, cols, side) - R[form](minus, rows, cols, side)) / (2 * h);
            top = Math.max(top, Math.abs(fd));
            expect(Math.abs(diff[i]! - fd)).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)));
          }
          expect(top).toBeGreaterThan(1e-3); // the term is not vacuous
        }
      }
    });
  }

  it('the reference penalty by hand on a 2 × 2 case', () => {
    // AAᵀ = [[2, 1], [1, 1]], minus I = [[1, 1], [1, 0]]: squared norm 3, norm √3.
    expect(squared([1, 1, 0, 1], 2, 2, 'A')).toBe(3);
  });
});

describe('DyLoRA min and the sampled update', () => {
  const opt = { kind: 'adamw' as const, lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, momentum: 0, clipNorm: 1 };

  it('draws from min … max', () => {
    const seen = new Set<number>();
    for (let s = 0; s < 300; s++) seen.add(dynamicRank(3, s, 6, 3));
    expect([...seen].sort()).toEqual([3, 4, 5, 6]);
    expect(dynamicRank(3, 7, 6)).toBe(dynamicRank(3, 7, 6, 1)); // min 1 draws as before
  });

  it('update = sampled: only the drawn row of A and column of B change, the rest keep values and moments', async () => {
    const g = graphOfText(`import "gpt2.peft"\npeft { lora(rank = dynamic(max = 4, min = 2, update = sampled), alpha = 8) on "h.0.attn.c_attn" }`, [TINY]);
    const store = createStore(g, 'f32');
    initParams(g, store, { seed: 1 });
    const rng = new Random(2);
    for (let i = 0; i < store.trainable.data.length; i++) store.trainable.data[i] = store.trainable.data[i]! + rng.normal(0, 0.1);
    const ctl = new RankController(g, { seed: 5 });
    const backend = new RankedBackend(new CpuBackend(buildTrainingGraph(g, opt), store), store, ctl);
    const [m] = ctl.modules;
    const A = () => Array.from(store.trainable.view(m!.A));
    const B = () => Array.from(store.trainable.view(m!.B));
    const slotA = store.trainable.slot(m!.A);
    const moments = () => Array.from(backend.optimizer.m.slice(slotA.offset, slotA.offset + slotA.size));
    const drawn = new Set<number>();
    for (let step = 0; step < 6; step++) {
      const b = ctl.dynamicRankOf(step, m!);
      drawn.add(b);
      expect(b).toBeGreaterThanOrEqual(2);
      const [a0, b0, m0] = [A(), B(), moments()];
      const tokens = { shape: [2, 6], data: Int32Array.from({ length: 12 }, () => rng.int(32)) };
      await backend.step({ tokens, targets: lmTargets(tokens) }, 1e-2);
      const [a1, b1, m1] = [A(), B(), moments()];
      for (let i = 0; i < 4; i++) {
        const row = (x: number[]) => x.slice(i * 16, (i + 1) * 16);
        const col = (x: number[]) => x.filter((_, k) => k % 4 === i);
        if (i === b - 1) {
          expect(row(a1)).not.toEqual(row(a0));
          expect(col(b1)).not.toEqual(col(b0));
        } else {
          expect(row(a1)).toEqual(row(a0));
          expect(col(b1)).toEqual(col(b0));
          expect(row(m1)).toEqual(row(m0));
        }
      }
    }
    expect(drawn.size).toBeGreaterThan(1);
  });

  it('update = sampled masks the gradients in the graph: zero outside the drawn rank', () => {
    const g = graphOfText(`import "gpt2.peft"\npeft { lora(rank = dynamic(max = 4, update = sampled), alpha = 8) on "h.0.attn.c_attn" }`, [TINY]);
    const store = createStore(g, 'f64');
    initParams(g, store, { seed: 1 });
    const rng = new Random(3);
    for (let i = 0; i < store.trainable.data.length; i++) store.trainable.data[i] = store.trainable.data[i]! + rng.normal(0, 0.1);
    const tokens = { shape: [2, 5], data: Int32Array.from({ length: 10 }, (_, i) => (i * 5) % 32) };
    const ctl = new RankController(g, { seed: 0 });
    const extra = ctl.trainInputs(0);
    const b = ctl.dynamicRankOf(0, ctl.modules[0]!);
    const masked = new CpuExecutor(buildTrainingGraph(g)).run(store, { tokens, targets: lmTargets(tokens), extra }, { precision: 'f64', training: true, step: 0 });
    const full = new CpuExecutor(differentiate(g)).run(store, { tokens, targets: lmTargets(tokens), extra }, { precision: 'f64', training: true, step: 0 });
    const gA = masked.grads.get('h.0.attn.c_attn.lora_A.weight')!.data;
    const fA = full.grads.get('h.0.attn.c_attn.lora_A.weight')!.data;
    const gB = masked.grads.get('h.0.attn.c_attn.lora_B.weight')!.data;
    const fB = full.grads.get('h.0.attn.c_attn.lora_B.weight')!.data;
    for (let k = 0; k < gA.length; k++) expect(gA[k]! + 0).toBe(Math.floor(k / 16) === b - 1 ? fA[k]! + 0 : 0);
    for (let k = 0; k < gB.length; k++) expect(gB[k]! + 0).toBe(k % 4 === b - 1 ? fB[k]! + 0 : 0);
  });
});
