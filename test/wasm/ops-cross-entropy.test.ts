// The wasm backend's cross_entropy and cross_entropy_grad (runtime/wasm/ops/cross-entropy.ts)
// on f32 logits against the reference's in f64 on the same values: odd vocabularies, ignored
// positions, a row of all-ignored targets, logits of ±80, and GPT-2 small's [128, 50257].
// Tolerances: loss |Δ| ≤ 1e-6·|ref| + 1e-7; gradient |Δ| ≤ 1e-6·|ref| + 1e-9/count.
import { describe, expect, it } from 'vitest';
import { crossEntropy, crossEntropyGrad } from '../../runtime/wasm/ops/cross-entropy.ts';
import { WASM_KERNELS } from '../../runtime/wasm/kernels.ts';
import { F32 } from '../cpu/helpers.ts';
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

function check(ops: Operand[], count: number): { loss: number; grad: number } {
  const attrs = { ignore_index: IGNORE };
  const l = both('cross_entropy', ops, attrs);
  const g = both('cross_entropy_grad', ops, attrs);
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
      const w = check(operands(c.shape, c.lo, c.hi, ignored, 10 + i), rows - ignored.length);
      expect(w.loss).toBeLessThanOrEqual(1);
      expect(w.grad).toBeLessThanOrEqual(1);
    });
  }

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

  it('GPT-2 small\'s logits [128, 50257], four positions ignored', () => {
    const w = check(operands([1, 128, 50257], -12, 12, [0, 1, 64, 127], 77), 124);
    expect(w.loss).toBeLessThanOrEqual(1);
    expect(w.grad).toBeLessThanOrEqual(1);
  });
});
