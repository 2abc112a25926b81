// linear and its weight gradient on the wasm backend's f32 gemm (gemm.ts): the reference's
// strided views (linear.ts of runtime/cpu/kernels), f32 sums.
import { floatIn, floatOut, optFloatIn, rowsOf, type KernelOf } from '../cpu/kernels/common.ts';
import { gemmF32 } from './gemm.ts';

/** linear: x [..., in], w [in,out] (in_out) or [out,in] (out_in), b? [out] → [..., out]. */
export const linear: KernelOf<'linear'> = (inputs, { layout }, ctx) => {
  const op = 'linear';
  const x = floatIn(op, inputs, 0, 'x');
  const w = floatIn(op, inputs, 1, 'w');
  const b = optFloatIn(op, inputs, 2, 'b');
  const [rows, nIn] = rowsOf(op, x.shape);
  const wo = layout === 'in_out' ? w.shape[1]! : w.shape[0]!;
  const y = floatOut([...x.shape.slice(0, -1), wo], ctx);
  if (layout === 'in_out') gemmF32(rows, wo, nIn, x.data, nIn, 1, w.data, wo, 1, y.data, b?.data ?? null);
  else gemmF32(rows, wo, nIn, x.data, nIn, 1, w.data, 1, nIn, y.data, b?.data ?? null);
  return y;
};

/** linear_grad_weight: in_out: xᵀ·dy [in,out]; out_in: dyᵀ·x [out,in], summed over all rows. */
export const linearGradWeight: KernelOf<'linear_grad_weight'> = (inputs, { layout }, ctx) => {
  const op = 'linear_grad_weight';
  const x = floatIn(op, inputs, 0, 'x');
  const dy = floatIn(op, inputs, 1, 'dy');
  const [rows, nIn] = rowsOf(op, x.shape);
  const nOut = dy.shape[dy.shape.length - 1]!;
  if (layout === 'in_out') {
    const g = floatOut([nIn, nOut], ctx);
    gemmF32(nIn, nOut, rows, x.data, 1, nIn, dy.data, nOut, 1, g.data);
    return g;
  }
  const g = floatOut([nOut, nIn], ctx);
  gemmF32(nOut, nIn, rows, dy.data, 1, nOut, x.data, nIn, 1, g.data);
  return g;
};
