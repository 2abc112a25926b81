// The wasm backend's cross_entropy and cross_entropy_grad (runtime/wasm/ops/cross-entropy.ts)
// on f32 logits against the reference's in f64 on the same values: odd vocabularies, ignored
// positions, a row of all-ignored targets, logits of ±80, and GPT-2 small's [128, 50257].
// The loss of a training run keeps its exps for the gradient of the same operands in the same run
// (one KernelContext): that path, and the ones that must not take it, are checked too.
// Tolerances: loss |Δ| ≤ 1e-6·|ref| + 1e-7; gradient |Δ| ≤ 1e-6·|ref| + 1e-9/count.
import { describe, expect, it } from 'vitest';
import { crossEntropy, crossEntropyGrad } from '../../runtime/wasm/ops/cross-entropy.ts';
import { WASM_KERNELS } from '../../runtime/wasm/kernels.ts';
import { F32, F64 } from '../cpu/helpers.ts';
import { KERNELS } from '../../runtime/cpu/kernels/index.ts';
import type { KernelContext } from '../../runtime/cpu/kernels/index.ts';
import type { Tensor } from '../../runtime/cpu/tensor.ts';
import { both, uniform, worst, type Operand } from './ops-compare.ts';

const IGNORE = -100;

interface Case {
  name: string;
  shape: number[];
  lo: number;
  hi: number;
  ignored?: number[];
}

const CASES: Case[] = [
  { name: 'one row of one class', shape: [1, 1], lo: -1, hi: 1 },
  { name: 'odd vocabulary, batch 3 × 5 positions', shape: [3, 5, 17], lo: -4, hi: 4 },
  { name: 'ignored positions', shape: [7, 33], lo: -3, hi: 3, ignored: [0, 3, 6] },
  { name: 'logits of ±80', shape: [4, 101], lo: -80, hi: 80, ignored: [2] },
  { name: 'large positive logits only', shape: [5, 9], lo: 60, hi: 80 },
  { name: 'large negative logits only', shape: [5, 9], lo: -80, hi: -60 },
];

function operands(shape: number[], lo: number, hi: number, ignored: number[], seed: number): Operand[] {
  const V = shape[shape.length - 1]!;
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const targets = uniform(rows, seed + 1, 0, V).map(Math.floor);
  for (const r of ignored) targets[r] = IGNORE;
  return [
    { shape, values: uniform(rows * V, seed, lo, hi) },
    { shape: shape.slice(0, -1), values: targets, int: true },
  ];
}

/** f32 tensors of the operands, and the reference's gradient on their values in f64. */
function tensors(ops: Operand[]): { f32: Tensor[]; refGrad: Tensor } {
  const f32: Tensor[] = [{ shape: ops[0]!.shape, data: Float32Array.from(ops[0]!.values) }, { shape: ops[1]!.shape, data: Int32Array.from(ops[1]!.values) }];
  const f64: Tensor[] = [{ shape: ops[0]!.shape, data: Float64Array.from(f32[0]!.data) }, f32[1]!];
  return { f32, refGrad: KERNELS.cross_entropy_grad!(f64, { ignore_index: IGNORE }, F64) };
}

const run = (training = true): KernelContext => ({ precision: 'f32', step: 1, training });

function check(ops: Operand[], count: number, wasmF64 = false): { loss: number; grad: number } {
  const attrs = { ignore_index: IGNORE };
  const l = both('cross_entropy', ops, attrs, wasmF64);
  const g = both('cross_entropy_grad', ops, attrs, wasmF64);
  return { loss: worst(l.got, l.want, 1e-6, 1e-7), grad: worst(g.got, g.want, 1e-6, 1e-9 / Math.max(count, 1)) };
}

describe('wasm cross_entropy', () => {
  it('is the wasm table\'s kernel for both ops', () => {
    expect(WASM_KERNELS.cross_entropy).toBe(crossEntropy);
    expect(WASM_KERNELS.cross_entropy_grad).toBe(crossEntropyGrad);
  });

  for (const [i, c] of CASES.entries()) {
    it(`matches the reference: ${c.name}`, () => {
      const ignored = c.ignored ?? [];
      const rows = c.shape.slice(0, -1).reduce((a, b) => a * b, 1);
      for (const wasmF64 of [false, true]) {
        // f32 logits take the SIMD exps, f64 ones (an f64 run) the JavaScript loops
        const w = check(operands(c.shape, c.lo, c.hi, ignored, 10 + i), rows - ignored.length, wasmF64);
        expect(w.loss).toBeLessThanOrEqual(1);
        expect(w.grad).toBeLessThanOrEqual(1);
      }
    });
  }

  it('a NaN logit makes the loss NaN and its row\'s gradient NaN, as in the reference', () => {
    const ops = operands([3, 21], -2, 2, [], 41);
    (ops[0]!.values as number[])[21 + 5] = NaN;
    for (const wasmF64 of [false, true]) {
      const l = both('cross_entropy', ops, { ignore_index: IGNORE }, wasmF64);
      expect(l.got.data[0]).toBeNaN();
      expect(l.want.data[0]).toBeNaN();
      const g = both('cross_entropy_grad', ops, { ignore_index: IGNORE }, wasmF64);
      expect(worst(g.got, g.want, 1e-6, 1e-9 / 3)).toBeLessThanOrEqual(1); // NaN where the reference has NaN
      expect([...g.got.data.subarray(21, 42)].every(Number.isNaN)).toBe(true);
    }
  });

  it('no counted position: loss 0 and a zero gradient', () => {
    const ops = operands([3, 8], -2, 2, [0, 1, 2], 40);
    const { got, want } = both('cross_entropy', ops, { ignore_index: IGNORE });
    expect(got.data[0]).toBe(0);
    expect(want.data[0]).toBe(0);
    const g = both('cross_entropy_grad', ops, { ignore_index: IGNORE });
    expect([...g.got.data].every((v) => v === 0)).toBe(true);
  });

  it('a target outside the vocabulary is the reference\'s one-line error', () => {
    const ops = [
      { shape: [2, 4], data: new Float32Array(8) },
      { shape: [2], data: Int32Array.from([1, 4]) },
    ];
    const msg = 'target 4 at position 1 is outside [0, 4) and is not ignore_index -100';
    expect(() => crossEntropy(ops, { ignore_index: IGNORE }, F32)).toThrow(`cross_entropy: ${msg}`);
    expect(() => crossEntropyGrad(ops, { ignore_index: IGNORE }, F32)).toThrow(`cross_entropy_grad: ${msg}`);
  });

  it('the gradient after the loss in one training run: the loss\'s exps, same values', () => {
    const ops = operands([6, 45], -6, 6, [1, 4], 60);
    const { f32, refGrad } = tensors(ops);
    const ctx = run();
    crossEntropy(f32, { ignore_index: IGNORE }, ctx);
    const hit = crossEntropyGrad(f32, { ignore_index: IGNORE }, ctx);
    expect(worst(hit, refGrad, 1e-6, 1e-9 / 4)).toBeLessThanOrEqual(1);
    // Taken once: a second gradient computes its own, to the same tolerance.
    const again = crossEntropyGrad(f32, { ignore_index: IGNORE }, ctx);
    expect(again.data).not.toBe(hit.data);
    expect(worst(again, refGrad, 1e-6, 1e-9 / 4)).toBeLessThanOrEqual(1);
  });

  it('the kept exps are the loss\'s own: a run\'s arrays are not refilled (what makes the cache sound)', () => {
    const ops = operands([3, 10], -2, 2, [], 61);
    const { f32, refGrad } = tensors(ops);
    const ctx = run();
    crossEntropy(f32, { ignore_index: IGNORE }, ctx);
    const logits = f32[0]!.data as Float32Array;
    const saved = logits.slice();
    logits.fill(0); // the cache is keyed by the array, so it still holds the values seen by the loss
    const g = crossEntropyGrad(f32, { ignore_index: IGNORE }, ctx);
    logits.set(saved);
    expect(worst(g, refGrad, 1e-6, 1e-10)).toBeLessThanOrEqual(1);
  });

  it('does not take the exps across runs, for other targets or ignore_index, or in eval', () => {
    const ops = operands([4, 12], -3, 3, [], 62);
    const { f32 } = tensors(ops);
    const logits = f32[0]!.data as Float32Array;
    const targets = f32[1]!.data as Int32Array;
    /** The loss on the logits, then the gradient on the same array zeroed: a stale entry would give the old logits' gradient. */
    const gradAfterZeroing = (ctxLoss: KernelContext, ctxGrad: KernelContext, gradTargets: Int32Array, ignore = IGNORE) => {
      crossEntropy(f32, { ignore_index: IGNORE }, ctxLoss);
      const saved = logits.slice();
      logits.fill(0);
      const g = crossEntropyGrad([f32[0]!, { shape: [4], data: gradTargets }], { ignore_index: ignore }, ctxGrad);
      logits.set(saved);
      return g;
    };
    /** The gradient of all-zero logits: 1/(12·count), less 1/count at each counted target. */
    const ofZeros = (t: Int32Array, ignore: number): number[] => {
      const counted = [...t].filter((v) => v !== ignore).length;
      return [...t].flatMap((v) => Array.from({ length: 12 }, (_, j) => (v === ignore ? 0 : 1 / (12 * counted) - (j === v ? 1 / counted : 0))));
    };
    const expectOfZeros = (g: Tensor, t: Int32Array, ignore = IGNORE) => {
      const want = ofZeros(t, ignore);
      for (let i = 0; i < want.length; i++) expect(Math.abs(g.data[i]! - want[i]!)).toBeLessThan(1e-7);
    };
    expectOfZeros(gradAfterZeroing(run(), run(), targets), targets); // another run
    const evalRun = run(false);
    expectOfZeros(gradAfterZeroing(evalRun, evalRun, targets), targets); // eval keeps nothing
    const c = run();
    const other = Int32Array.from(targets, (v) => (v + 1) % 12);
    expectOfZeros(gradAfterZeroing(c, c, other), other); // other targets
    const d = run();
    expectOfZeros(gradAfterZeroing(d, d, targets, targets[0]!), targets, targets[0]!); // another ignore_index
    // The same targets array refilled between the two.
    const e = run();
    crossEntropy(f32, { ignore_index: IGNORE }, e);
    const saved = logits.slice();
    logits.fill(0);
    targets[0] = (targets[0]! + 1) % 12;
    expectOfZeros(crossEntropyGrad(f32, { ignore_index: IGNORE }, e), targets);
    logits.set(saved);
  });

  it('GPT-2 small\'s logits [128, 50257], four positions ignored, the gradient after the loss', () => {
    const ops = operands([1, 128, 50257], -12, 12, [0, 1, 64, 127], 77);
    const w = check(ops, 124);
    expect(w.loss).toBeLessThanOrEqual(1);
    expect(w.grad).toBeLessThanOrEqual(1);
    const { f32, refGrad } = tensors(ops);
    const ctx = run();
    crossEntropy(f32, { ignore_index: IGNORE }, ctx);
    expect(worst(crossEntropyGrad(f32, { ignore_index: IGNORE }, ctx), refGrad, 1e-6, 1e-9 / 124)).toBeLessThanOrEqual(1);
  });
});
