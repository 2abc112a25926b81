// The registry covers the whole catalog, and the finite-difference cases exercise every
// backward op (and every differentiable forward op); backward and forward by the catalog's roles.
import { describe, expect, it } from 'vitest';
import { NO_GRAD } from '../../compiler/autodiff/rules.ts';
import { OPS, opsWithRole } from '../../compiler/ir/ops.ts';
import { KERNELS } from '../../runtime/cpu/kernels/index.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { randomNormal } from '../../runtime/cpu/tensor.ts';
import { GRAD_CASES } from './grad-cases.ts';
import { recordOps } from './helpers.ts';

const LEAVES: string[] = opsWithRole('leaf');
/** The decoding ops: their CPU kernels are bound to a key/value cache (runtime/decode/kernels.ts). */
const DECODING: string[] = opsWithRole('decode');
/** The backward ops: those the catalog gives the role `backward` (the ops only gradient rules emit). */
const BACKWARD: string[] = opsWithRole('backward');
/** Forward ops whose gradient entry says they have none (positions: an integer output). */
const NOT_DIFFERENTIABLE: string[] = opsWithRole('forward').filter((op) => NO_GRAD.has(op));

describe('coverage of the op catalog', () => {
  it('has a kernel for every op except the leaves and the decoding ops (runtime/decode/), and no kernel outside the catalog', () => {
    const expected = Object.keys(OPS).filter((op) => !LEAVES.includes(op) && !DECODING.includes(op)).sort();
    expect(Object.keys(KERNELS).sort()).toEqual(expected);
  });

  it('finds the backward ops by role', () => {
    const known = ['linear_grad_weight', 'sum_to', 'pad', 'layernorm_grad_x', 'rmsnorm_grad_gamma', 'attention_grad_k', 'attention_lse', 'cross_entropy_grad'];
    expect(known.filter((op) => !BACKWARD.includes(op))).toEqual([]);
    expect(BACKWARD.filter((op) => OPS[op as keyof typeof OPS].role !== 'backward')).toEqual([]);
    expect(LEAVES.sort()).toEqual(['input', 'param']);
    expect(NOT_DIFFERENTIABLE.sort()).toEqual(['inv_row_norm', 'positions']); // DoRA's norm is a constant of the backward pass
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
    const forward = opsWithRole('forward').filter((op) => !NO_GRAD.has(op));
    expect(forward.filter((op) => !used.has(op))).toEqual([]);
  });
});
