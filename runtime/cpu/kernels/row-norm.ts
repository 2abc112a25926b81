// inv_row_norm: 1/‖x_i‖ for each row of x [M, N], the reciprocal of DoRA's weight norm. The op
// has no gradient (compiler/autodiff/rules.ts): DoRA treats the norm as a constant in the
// backward pass, as Hugging Face PEFT does (it detaches it).
import { allocFloat, formatDims } from '../tensor.ts';
import { fail, floatIn, type Kernel } from './common.ts';

export const invRowNorm: Kernel = (inputs, _attrs, ctx) => {
  const op = 'inv_row_norm';
  const x = floatIn(op, inputs, 0, 'x');
  if (x.shape.length !== 2) fail(op, `takes a 2-D tensor, got ${formatDims(x.shape)}`);
  const [m, n] = x.shape as [number, number];
  const data = allocFloat(m, ctx.precision);
  for (let i = 0; i < m; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += x.data[i * n + j]! * x.data[i * n + j]!;
    data[i] = 1 / Math.sqrt(s);
  }
  return { shape: [m], data };
};
