// The registry covers the whole catalog, and the finite-difference cases exercise every
// backward op (and every differentiable forward op).
import { describe, expect, it } from 'vitest';
import { OPS } from '../../compiler/ir/ops.ts';
import { KERNELS } from '../../runtime/cpu/kernels/index.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { randomNormal } from '../../runtime/cpu/tensor.ts';
import { GRAD_CASES } from './grad-cases.ts';
import { recordOps } from './helpers.ts';

const LEAVES = ['input', 'param'];
/** The backward ops: every `*_grad*` op, plus pad (slice's backward), sum_to (broadcasting's) and attention_lse (saved for attention's). */
const BACKWARD = Object.keys(OPS).filter((op) => op.includes('_grad') || op === 'pad' || op === 'sum_to' || op === 'attention_lse');
/** Forward ops with no gradient: positions has an integer output. */
const NOT_DIFFERENTIABLE = ['positions'];

describe('coverage of the op catalog', () => {
  it('has a kernel for every op except the leaves, and no kernel outside the catalog', () => {
    const expected = Object.keys(OPS).filter((op) => !LEAVES.includes(op)).sort();
    expect(Object.keys(KERNELS).sort()).toEqual(expected);
  });

  it('finds the backward ops by name', () => {
    const known = ['linear_grad_weight', 'sum_to', 'pad', 'layernorm_grad_x', 'rmsnorm_grad_gamma', 'attention_grad_k', 'cross_entropy_grad'];
    expect(known.filter((op) => !BACKWARD.includes(op))).toEqual([]);
    expect(BACKWARD.length).toBe(21); // 17 + linear_gather_grad_weight, linear_gather_grad_bias, soft_embedding_grad, attention_lse
  });

  it('exercises every backward op in a finite-difference case', () => {
    const used = recordOps(() => {
      for (const c of GRAD_CASES) c.backward(c.inputs, randomNormal(c.forward(c.inputs).shape, new Random(1)));
    });
    expect(BACKWARD.filter((op) => !used.has(op))).toEqual([]);
  });

  it('differentiates every differentiable forward op in a finite-difference case', () => {
    const used = recordOps(() => {
      for (const c of GRAD_CASES) c.forward(c.inputs);
    });
    const forward = Object.keys(OPS).filter((op) => !LEAVES.includes(op) && !BACKWARD.includes(op) && !NOT_DIFFERENTIABLE.includes(op));
    expect(forward.filter((op) => !used.has(op))).toEqual([]);
  });
});
