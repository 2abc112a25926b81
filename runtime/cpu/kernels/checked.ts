// The CPU kernels for callers whose operands no verifier has seen (tests, tools). Its own file:
// it reads the op catalog, which a built trainer's bundle (cli/build-bundle.ts) must not carry,
// while the executor's by-name table (index.ts) needs none of it.
import { opSpec } from '../../../compiler/ir/ops.ts';
import { KernelError, type Kernel } from './common.ts';
import { KERNELS } from './index.ts';

/**
 * The kernel of `op` for a caller whose operands no verifier has seen (tests, tools): the operand
 * count, the attributes and the shapes are checked against the catalog first, as the verifier
 * checks a graph's nodes, and a mismatch is a KernelError naming the op. Throws for leaves and
 * unknown ops.
 */
export function kernel(op: string): Kernel {
  const k = Object.hasOwn(KERNELS, op) ? KERNELS[op] : undefined;
  if (!k) throw new Error(`no CPU kernel for op ${op}`);
  const spec = opSpec(op);
  const required = spec.inputs.filter((s) => !s.endsWith('?')).length;
  return (inputs, attrs, ctx) => {
    if (inputs.length < required || inputs.length > spec.inputs.length) {
      throw new KernelError(op, `${inputs.length} operands, expected ${required === spec.inputs.length ? required : `${required} to ${spec.inputs.length}`} (${spec.inputs.join(', ')})`);
    }
    const shape = spec.shape(inputs.map((t) => t.shape), attrs);
    if (typeof shape === 'string') throw new KernelError(op, shape);
    return k(inputs, attrs, ctx);
  };
}
