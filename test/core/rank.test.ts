// LoRA rank selection: AdaLoRA's budget schedule, importance scores and masking against
// hand-computed values; DyLoRA's rank draws; the graph side (parameters, mask inputs, the
// orthogonality gradients) and the controller on a compiled model.
import { describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { rankedModules } from '../../compiler/peft/ranked-modules.ts';
import { createStore } from '../../runtime/arena.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { initParams } from '../../runtime/init.ts';
import { CpuBackend } from '../../runtime/backend.ts';
import { budgetAt, checkSchedule, dynamicMask, dynamicRank, Importance, maskToBudget, RankController, RankedBackend, RankError, tripletScores, type BudgetSchedule } from '../../runtime/rank-controller.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { compileText, graphOfText } from '../helpers.ts';

const TINY = 'vocab_size=32,n_positions=64,n_embd=16,n_layer=2,n_head=2';

describe('AdaLoRA budget schedule', () => {
  // b0 = 24, bT = 8, T = 20, tinit = 4, tfinal = 6, ΔT = 2: the cubic runs over t = 5 … 14.
  const s: BudgetSchedule = { b0: 24, bT: 8, total: 20, tinit: 4, tfinal: 6, deltaT: 2 };

  it('keeps the full budget through the warm-up, without masking', () => {
    for (let t = 1; t <= 4; t++) expect(budgetAt(t, s)).toEqual({ budget: 24, mask: false, update: true });
  });

  it('falls on the cubic between, masking every ΔT steps (hand-computed)', () => {
    // t = 5: 8 + 16·0.9³ = 19.664 → 19;  t = 6: 8 + 16·0.8³ = 16.192 → 16;  t = 7: 8 + 16·0.7³ = 13.488 → 13
    // t = 10: 8 + 16·0.4³ = 9.024 → 9;  t = 13: 8 + 16·0.1³ = 8.016 → 8
    expect(budgetAt(5, s)).toEqual({ budget: 19, mask: false, update: true });
    expect(budgetAt(6, s)).toEqual({ budget: 16, mask: true, update: true });
    expect(budgetAt(7, s)).toEqual({ budget: 13, mask: false, update: true });
    expect(budgetAt(10, s)).toEqual({ budget: 9, mask: true, update: true });
    expect(budgetAt(13, s)).toEqual({ budget: 8, mask: false, update: true });
  });

  it('masks down to the target at T − tfinal, then holds it without further scores', () => {
    // PEFT's update_and_allocate masks at T − tfinal on the scores so far; the paper's Algorithm 1
    // scores that step's gradients first.
    expect(budgetAt(14, s)).toEqual({ budget: 8, mask: true, update: false });
    expect(budgetAt(14, { ...s, form: 'paper' })).toEqual({ budget: 8, mask: true, update: true });
    for (let t = 15; t <= 20; t++) expect(budgetAt(t, s)).toEqual({ budget: 8, mask: false, update: false });
  });

  it('never rises, and is whole where the cubic is exact', () => {
    let prev = Infinity;
    for (let t = 1; t <= 20; t++) {
      const b = budgetAt(t, s).budget;
      expect(b).toBeLessThanOrEqual(prev);
      prev = b;
    }
    // (1 − 5/10)³ = 1/8: 8 + 16/8 = 10 exactly, not 9.999…
    expect(budgetAt(9, s).budget).toBe(10);
  });

  it('needs a budgeting phase', () => {
    expect(() => checkSchedule({ ...s, total: 10 })).toThrow(RankError);
    expect(() => checkSchedule({ ...s, total: 10 })).toThrow(/budgeting phase/);
    expect(() => checkSchedule(s)).not.toThrow();
  });
});

describe('AdaLoRA importance and masking', () => {
  it('smooths |p·g| and its uncertainty as PEFT does (hand-computed)', () => {
    const imp = new Importance(2);
    imp.update([2, -1], [0.5, 3], 0.85, 0.85); // I = [1, 3]
    expect(imp.ipt[0]).toBeCloseTo(0.15, 15);
    expect(imp.ipt[1]).toBeCloseTo(0.45, 15);
    expect(imp.unc[0]).toBeCloseTo(0.15 * 0.85, 15); // 0.15·|1 − 0.15|
    expect(imp.unc[1]).toBeCloseTo(0.15 * 2.55, 15); // 0.15·|3 − 0.45|
    expect(imp.score(1)).toBeCloseTo(0.45 * 0.3825, 15);
    imp.update([2, -1], [0, 1], 0.85, 0.85); // I = [0, 1]
    expect(imp.ipt[0]).toBeCloseTo(0.1275, 15);
    expect(imp.ipt[1]).toBeCloseTo(0.5325, 15);
    expect(imp.unc[0]).toBeCloseTo(0.85 * 0.1275 + 0.15 * 0.1275, 15);
    expect(imp.unc[1]).toBeCloseTo(0.85 * 0.3825 + 0.15 * 0.4675, 15);
  });

  it('scores a triplet by E_i plus the mean scores of A\'s row i and B\'s column i', () => {
    // r = 2; A [2, 3], B [4, 2]. Scores set through ipt (unc = 1).
    const mk = (ipt: number[]) => {
      const imp = new Importance(ipt.length);
      imp.ipt.set(ipt);
      imp.unc.fill(1);
      return imp;
    };
    const A = mk([1, 2, 3, 10, 20, 30]);
    const E = mk([0.5, 7]);
    const B = mk([1, 100, 3, 200, 5, 300, 7, 400]); // column 0: 1, 3, 5, 7; column 1: 100 … 400
    const s = tripletScores(2, A, E, B);
    expect(s[0]).toBeCloseTo(0.5 + 2 + 4, 12);
    expect(s[1]).toBeCloseTo(7 + 20 + 250, 12);
  });

  it('keeps the best triplets within the budget, ranking masked ones too (they may come back)', () => {
    const masks = [Uint8Array.of(1, 1, 1), Uint8Array.of(1, 1)];
    expect(maskToBudget(masks, [Float64Array.of(0.5, 0.1, 0.3), Float64Array.of(0.2, 0.05)], 3)).toBe(2);
    expect(masks.map((m) => Array.from(m))).toEqual([[1, 0, 1], [1, 0]]);
    // As PEFT's mask_to_budget: every triplet is ranked, so a masked one that now scores high returns.
    expect(maskToBudget(masks, [Float64Array.of(0.5, 9, 0.3), Float64Array.of(0.2, 9)], 2)).toBe(3);
    expect(masks.map((m) => Array.from(m))).toEqual([[0, 1, 0], [0, 1]]);
    // Ties go to the earlier module and index.
    expect(maskToBudget(masks, [Float64Array.of(1, 1, 1), Float64Array.of(1, 1)], 1)).toBe(4);
    expect(masks.map((m) => Array.from(m))).toEqual([[0, 0, 0], [0, 1]]);
  });
});

describe('DyLoRA rank draws', () => {
  it('draws every rank from 1 to max, the same for the same seed and step', () => {
    const seen = new Set<number>();
    for (let step = 0; step < 400; step++) {
      const b = dynamicRank(7, step, 8);
      expect(b).toBeGreaterThanOrEqual(1);
      expect(b).toBeLessThanOrEqual(8);
      expect(dynamicRank(7, step, 8)).toBe(b);
      seen.add(b);
    }
    expect([...seen].sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from({ length: 20 }, (_, s) => dynamicRank(7, s, 8))).not.toEqual(Array.from({ length: 20 }, (_, s) => dynamicRank(8, s, 8)));
  });

  it('masks with alpha/b on the first b ranks', () => {
    expect(Array.from(dynamicMask(4, 2, 8))).toEqual([4, 4, 0, 0]);
    expect(Array.from(dynamicMask(4, 4, 8))).toEqual([2, 2, 2, 2]);
  });
});

describe('rank selection in the graph', () => {
  const auto = 'lora(rank = auto(target = 2, init = 4, tinit = 2, tfinal = 2, delta_t = 1), alpha = 8) on "c_attn"';

  it('AdaLoRA: A [init, in], E [init], B [out, init], a rank-mask input of ones, s = alpha/init', () => {
    const g = graphOfText(`import "gpt2.peft"\npeft { ${auto} }`, [TINY]);
    const shapes = Object.fromEntries(g.params.filter((p) => p.origin === 'lora').map((p) => [p.path, p.shape]));
    expect(shapes['h.0.attn.c_attn.lora_A.weight']).toEqual([4, 16]);
    expect(shapes['h.0.attn.c_attn.lora_E.weight']).toEqual([4]);
    expect(shapes['h.0.attn.c_attn.lora_B.weight']).toEqual([48, 4]);
    const input = g.nodes[g.inputs['rank_mask.h.0.attn.c_attn']!]!;
    expect(input).toMatchObject({ op: 'input', attrs: { name: 'rank_mask.h.0.attn.c_attn', fill: 1 }, shape: [4], dtype: 'f32' });
    expect(g.nodes.find((n) => n.op === 'scale' && n.scope === 'h.0.attn.c_attn')!.attrs.factor).toBe(2);
    expect(rankedModules(g).map((m) => [m.module, m.mode, m.rank])).toEqual([
      ['h.0.attn.c_attn', 'auto', 4],
      ['h.1.attn.c_attn', 'auto', 4],
    ]);
  });

  it('DyLoRA: A [max, in], B [out, max], a mask input filled with alpha/max', () => {
    const g = graphOfText(`import "gpt2.peft"\npeft { lora(rank = dynamic(max = 8), alpha = 16) on "c_attn" }`, [TINY]);
    expect(g.params.find((p) => p.path === 'h.1.attn.c_attn.lora_A.weight')!.shape).toEqual([8, 16]);
    expect(g.nodes[g.inputs['rank_mask.h.1.attn.c_attn']!]!.attrs.fill).toBe(2);
    expect(g.params.some((p) => p.path.includes('lora_E'))).toBe(false);
  });

  it('form = paper: adds 4γ·(AAᵀA − A) and 4γ·(BBᵀB − B) to the gradients of A and B', () => {
    const text = (orth: number) => `import "gpt2.peft"\npeft { lora(rank = auto(target = 2, init = 4, orth = ${orth}, form = paper)) on "h.0.attn.c_attn" }`;
    const run = (orth: number) => {
      const g = graphOfText(text(orth), [TINY]);
      const store = createStore(g, 'f64');
      initParams(g, store, { seed: 4 });
      store.trainable.view('h.0.attn.c_attn.lora_E.weight').set([0.3, -0.2, 0.5, 0.1]);
      const tokens = { shape: [2, 5], data: Int32Array.from({ length: 10 }, (_, i) => (i * 7) % 32) };
      const res = new CpuExecutor(buildTrainingGraph(g)).run(store, { tokens, targets: lmTargets(tokens) }, { precision: 'f64', training: true, step: 0 });
      return { store, grads: res.grads };
    };
    const a = run(0.5);
    const b = run(0);
    for (const [name, rows, cols, side] of [['lora_A', 4, 16, 'A'], ['lora_B', 48, 4, 'B']] as const) {
      const path = `h.0.attn.c_attn.${name}.weight`;
      const w = Array.from(a.store.trainable.view(path));
      const reg = orthGradient(w, rows, cols, side);
      const diff = Array.from(a.grads.get(path)!.data).map((v, i) => v - b.grads.get(path)!.data[i]!);
      diff.forEach((d, i) => expect(d).toBeCloseTo(0.5 * reg[i]!, 10));
      // … and that is the gradient of ‖AAᵀ − I‖² (resp. ‖BᵀB − I‖²), by central differences.
      for (const i of [0, 5, 13]) {
        const h = 1e-6;
        const plus = [...w];
        const minus = [...w];
        plus[i]! += h;
        minus[i]! -= h;
        expect((orthPenalty(plus, rows, cols, side) - orthPenalty(minus, rows, cols, side)) / (2 * h)).toBeCloseTo(reg[i]!, 6);
      }
    }
  });

  it('reports bad settings where they are written', () => {
    const msg = (rule: string) => compileText(`import "gpt2.peft"\npeft { ${rule} }`, [TINY]).diagnostics.map((d) => `${d.code} ${d.message}`).join('\n');
    expect(msg('lora(rank = auto(target = 8, init = 4)) on "c_attn"')).toMatch(/E0404 .*target rank 8 exceeds its initial rank 4/);
    expect(msg('lora(rank = auto(targt = 2)) on "c_attn"')).toMatch(/E0404 .*has no setting `targt`/);
    expect(msg('lora(rank = auto(beta1 = 1)) on "c_attn"')).toMatch(/beta1 must be in \[0, 1\)/);
    expect(msg('lora(rank = dynamic()) on "c_attn"')).toMatch(/needs `max`/);
    expect(msg('lora(rank = auto(form = papers)) on "c_attn"')).toMatch(/E0404 .*form must be hf_peft or paper; found papers/);
    expect(msg('lora(rank = dynamic(max = 4, update = sample)) on "c_attn"')).toMatch(/update must be prefix or sampled; found sample/);
    expect(msg('lora(rank = dynamic(max = 4, min = 5)) on "c_attn"')).toMatch(/min \(the smallest rank drawn\) must be an integer from 1 to max = 4; found 5/);
    expect(msg('lora(rank = auto(form = paper)) on "c_attn" override "h.1.*" (rank = auto(form = hf_peft))')).toMatch(/E0406 .*shares one rank budget.*form/);
    expect(msg('lora(rank = dynamic(max = 4), rslora = true) on "c_attn"')).toMatch(/rsLoRA/);
    expect(msg('lora(rank = auto(tinit = 5)) on "c_attn" override "h.1.*" (rank = auto(tinit = 6))')).toMatch(/E0406 .*shares one rank budget.*tinit/);
  });
});

describe('the rank controller', () => {
  it('feeds DyLoRA one draw per step for every module and evaluates at the chosen rank', () => {
    const g = graphOfText(`import "gpt2.peft"\npeft { lora(rank = dynamic(max = 4), alpha = 4) on "c_attn" }`, [TINY]);
    const ctl = new RankController(g, { seed: 3 });
    const inputs = ctl.trainInputs(5);
    const b = dynamicRank(3, 5, 4);
    for (const m of ['h.0.attn.c_attn', 'h.1.attn.c_attn']) expect(Array.from(inputs[`rank_mask.${m}`]!.data)).toEqual(Array.from(dynamicMask(4, b, 4)));
    expect(Array.from(ctl.evalInputs()['rank_mask.h.0.attn.c_attn']!.data)).toEqual([1, 1, 1, 1]);
    ctl.evalRank = 1;
    expect(Array.from(ctl.evalInputs()['rank_mask.h.0.attn.c_attn']!.data)).toEqual([4, 0, 0, 0]);
  });

  it('masks AdaLoRA down to the target by T − tfinal and keeps the masked E at zero', () => {
    const g = graphOfText(`import "gpt2.peft"\npeft { lora(rank = auto(target = 2, init = 4, tinit = 1, tfinal = 2, delta_t = 1)) on "c_attn", "c_fc" }`, [TINY]);
    const store = createStore(g, 'f32');
    initParams(g, store, { seed: 1 });
    const ctl = new RankController(g, { totalSteps: 8 });
    const exec = new CpuExecutor(buildTrainingGraph(g));
    const rng = new Random(2);
    const totals: number[] = [];
    for (let t = 1; t <= 8; t++) {
      const tokens = { shape: [2, 6], data: Int32Array.from({ length: 12 }, () => rng.int(32)) };
      const res = exec.run(store, { tokens, targets: lmTargets(tokens), extra: ctl.trainInputs(t - 1) }, { precision: 'f32', training: true, step: t });
      for (const [p, gr] of res.grads) store.trainable.view(p).forEach((v, i, a) => (a[i] = v - 0.05 * gr.data[i]!));
      ctl.afterStep(t, store, res.grads);
      totals.push([...ctl.ranks().values()].reduce((a, b) => a + b, 0));
    }
    // b0 = 4·4 = 16, bT = 4·2 = 8, the cubic over t = 2 … 6: ⌊8 + 8·0.8³⌋ = 12, ⌊8 + 8·0.6³⌋ = 9,
    // ⌊8 + 8·0.4³⌋ = 8, 8, then 8 at t = T − tfinal = 6 and after.
    expect(totals).toEqual([16, 12, 9, 8, 8, 8, 8, 8]);
    // The mask input stays ones (PEFT masks E itself); after T − tfinal the masked E are zero.
    for (const m of rankedModules(g)) {
      expect(Array.from(ctl.evalInputs()[m.input]!.data)).toEqual([1, 1, 1, 1]);
      const mask = ctl.tensors()[`rank.mask.${m.module}`]!.data;
      const E = store.trainable.view(m.E!);
      mask.forEach((on, i) => on === 0 && expect(E[i]).toBe(0));
    }
  });
});

describe('resuming AdaLoRA', () => {
  it('continues the schedule, scores and masks exactly from a checkpoint', async () => {
    const text = `import "gpt2.peft"\npeft { lora(rank = auto(target = 2, init = 4, tinit = 2, tfinal = 2, delta_t = 1)) on "c_attn", "c_fc" }`;
    const g = graphOfText(text, [TINY]);
    const opt = { kind: 'adamw' as const, lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, momentum: 0, clipNorm: 1 };
    const batches = Array.from({ length: 10 }, (_, i) => {
      const rng = new Random(40 + i);
      const tokens = { shape: [2, 6], data: Int32Array.from({ length: 12 }, () => rng.int(32)) };
      return { tokens, targets: lmTargets(tokens) };
    });
    const fresh = () => {
      const store = createStore(g, 'f32');
      initParams(g, store, { seed: 6 });
      const ctl = new RankController(g, { totalSteps: 10 });
      return { store, ctl, backend: new RankedBackend(new CpuBackend(buildTrainingGraph(g, opt), store), store, ctl) };
    };
    const a = fresh();
    for (const b of batches) await a.backend.step(b, 1e-2);
    const b = fresh();
    for (const x of batches.slice(0, 5)) await b.backend.step(x, 1e-2);
    // A checkpoint: parameters, Adam's state and the controller's tensors, read into a new run.
    const saved = { params: Float32Array.from(b.store.trainable.data), m: Float32Array.from(b.backend.optimizer.m), v: Float32Array.from(b.backend.optimizer.v), step: b.backend.optimizer.step, rank: b.ctl.tensors() };
    const c = fresh();
    c.store.trainable.data.set(saved.params);
    c.backend.restoreOptimizer({ step: saved.step, m: saved.m, v: saved.v });
    c.ctl.restore({ tensors: new Map(Object.entries(saved.rank).map(([k, t]) => [k, { ...t, dtype: 'F32' }])) } as never);
    for (const x of batches.slice(5)) await c.backend.step(x, 1e-2);
    expect([...c.ctl.ranks().values()]).toEqual([...a.ctl.ranks().values()]);
    expect([...a.ctl.ranks().values()].reduce((x, y) => x + y, 0)).toBe(8);
    expect(Array.from(c.store.trainable.data)).toEqual(Array.from(a.store.trainable.data));
  });
});

/** 4(AAᵀ − I)A for A [rows, cols] (side A), or 4B(BᵀB − I) for B [rows, cols] (side B). */
function orthGradient(w: number[], rows: number, cols: number, side: 'A' | 'B'): number[] {
  const out = new Array<number>(rows * cols).fill(0);
  if (side === 'A') {
    const G = gramRows(w, rows, cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) for (let k = 0; k < rows; k++) out[i * cols + j]! += 4 * (G[i * rows + k]! - (i === k ? 1 : 0)) * w[k * cols + j]!;
  } else {
    const G = gramCols(w, rows, cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) for (let k = 0; k < cols; k++) out[i * cols + j]! += 4 * w[i * cols + k]! * (G[k * cols + j]! - (k === j ? 1 : 0));
  }
  return out;
}

function orthPenalty(w: number[], rows: number, cols: number, side: 'A' | 'B'): number {
  const [G, n] = side === 'A' ? [gramRows(w, rows, cols), rows] : [gramCols(w, rows, cols), cols];
  let s = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) s += (G[i * n + j]! - (i === j ? 1 : 0)) ** 2;
  return s;
}

const gramRows = (w: number[], rows: number, cols: number) =>
  Array.from({ length: rows * rows }, (_, x) => {
    const [i, k] = [Math.floor(x / rows), x % rows];
    let s = 0;
    for (let j = 0; j < cols; j++) s += w[i * cols + j]! * w[k * cols + j]!;
    return s;
  });

const gramCols = (w: number[], rows: number, cols: number) =>
  Array.from({ length: cols * cols }, (_, x) => {
    const [i, k] = [Math.floor(x / cols), x % cols];
    let s = 0;
    for (let j = 0; j < rows; j++) s += w[j * cols + i]! * w[j * cols + k]!;
    return s;
  });
