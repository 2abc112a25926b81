// One IR op as a PyTorch expression: the mapping docs/torch-target.md tabulates. Operand
// expressions come in already spelled (a variable, or a parameter's attribute path); ops without
// a one-call PyTorch form call the helpers of py/ops.py.
import type { Node } from '../../compiler/ir/types.ts';
import { CodegenError } from '../codegen-error.ts';
import { pyFloat, pyLiteral, pyTuple } from './python.ts';

export interface ExprContext {
  /** An expression of a float tensor whose dtype and device constant inputs take (a parameter). */
  like: string;
}

export function opExpr(n: Node, args: string[], ctx: ExprContext): string {
  const a = n.attrs;
  const [x, y, z] = args;
  switch (n.op) {
    case 'embedding':
      return `F.embedding(${y}, ${x})`;
    case 'soft_embedding':
      return `soft_embedding(${x}, ${y}, ${z})`;
    case 'positions':
      return `positions(${x}, ${a.offset})`;
    case 'linear':
      return a.layout === 'in_out' ? `linear_in_out(${args.join(', ')})` : `F.linear(${args.join(', ')})`;
    case 'add':
      return `${x} + ${y}`;
    case 'mul':
      return `${x} * ${y}`;
    case 'scale':
      return `${pyFloat(a.factor as number)} * ${x}`;
    case 'layernorm': {
      const d = n.shape[n.shape.length - 1]!;
      return `F.layer_norm(${x}, (${d},), ${y ?? 'None'}, ${z ?? 'None'}, eps=${pyLiteral(a.eps as number)})`;
    }
    case 'rmsnorm':
      return `rmsnorm(${x}, ${y}, eps=${pyLiteral(a.eps as number)})`;
    case 'gelu':
      return `F.gelu(${x}, approximate='tanh')`;
    case 'gelu_erf':
      return `F.gelu(${x})`;
    case 'relu':
      return `F.relu(${x})`;
    case 'silu':
      return `F.silu(${x})`;
    case 'tanh':
      return `torch.tanh(${x})`;
    case 'slice':
      return sliceExpr(x!, n);
    case 'inv_row_norm':
      return `1 / torch.linalg.norm(${x}.detach(), dim=1)`;
    case 'transpose':
      return `${x}.t()`;
    case 'concat':
      return `torch.cat([${x}, ${y}], ${a.axis})`;
    case 'rope':
      if (a.inverse) break;
      return `rope(${x}, heads=${a.heads}, theta=${pyFloat(a.theta as number)}, offset=${a.offset})`;
    case 'attention':
      return `attention(${x}, ${y}, ${z}, heads=${a.heads}, kv_heads=${a.kv_heads}, causal=${pyLiteral(a.causal as boolean)}, prefix=${a.prefix}${args[3] ? `, lengths=${args[3]}` : ''})`;
    case 'expand_batch':
      return `expand_batch(${x}, ${y})`;
    case 'dropout':
      return `F.dropout(${x}, p=${pyFloat(a.p as number)}, training=self.training)`;
    case 'pool':
      return `pool(${x}, ${pyLiteral(a.mode as string)}${y ? `, lengths=${y}` : ''})`;
    case 'cross_entropy':
      return `cross_entropy(${x}, ${y}, ignore_index=${a.ignore_index})`;
    case 'input':
      // A LoRA rank mask is the one train.py sets for the step (rank selection), else the fill.
      if (a.fill !== undefined && String(a.name).startsWith('rank_mask.')) return `self.rank_mask(${JSON.stringify(a.name)}, ${pyTuple(n.shape as number[])}, ${pyFloat(a.fill as number)})`;
      if (a.fill !== undefined) return `torch.full(${pyTuple(n.shape as number[])}, ${pyFloat(a.fill as number)}, dtype=${ctx.like}.dtype, device=${ctx.like}.device)`;
      break;
  }
  throw new CodegenError('validation', `the torch target has no translation of the op \`${n.op}\`${n.scope ? ` (in ${n.scope})` : ''}: models with several adapters in one batch are not supported`, 'model.py');
}

/** `x[..., 0:64]` along the last axis, `x.narrow(axis, start, size)` elsewhere. */
function sliceExpr(x: string, n: Node): string {
  const { axis, start, size } = n.attrs as { axis: number; start: number; size: number };
  const rank = n.shape.length;
  const ax = axis < 0 ? axis + rank : axis;
  if (ax === rank - 1) return `${x}[..., ${start}:${start + size}]`;
  if (ax === 0) return `${x}[${start}:${start + size}]`;
  return `${x}.narrow(${ax}, ${start}, ${size})`;
}
