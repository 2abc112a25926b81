// add, mul and scale of f32 operands of one shape in WebAssembly SIMD (vector.wat). Four lanes
// of f32 arithmetic give the reference's values bit for bit: the reference rounds the exact f64
// sum or product of two f32 values to f32, as f32x4.add and f32x4.mul do (scale only where its
// factor is exact in f32). Broadcasting, f64 runs and inexact factors are the reference's kernels.
import { add as refAdd, mul as refMul, scale as refScale } from '../../cpu/kernels/elementwise.ts';
import { floatIn, floatOut, sameShape, type Kernel, type KernelOf } from '../../cpu/kernels/common.ts';
import { simd, type BinaryLoop } from './vector.ts';

function binary(op: 'add' | 'mul', reference: Kernel): Kernel {
  return (inputs, attrs, ctx) => {
    const a = floatIn(op, inputs, 0, 'a');
    const b = floatIn(op, inputs, 1, 'b');
    const v = simd();
    if (!v || ctx.precision !== 'f32' || !sameShape(a.shape, b.shape) || !(a.data instanceof Float32Array) || !(b.data instanceof Float32Array)) return reference(inputs, attrs, ctx);
    const out = floatOut(a.shape, ctx);
    v.binary(op satisfies BinaryLoop, a.data, b.data, out.data as Float32Array);
    return out;
  };
}

export const add = binary('add', refAdd);
export const mul = binary('mul', refMul);

/** scale: factor·x. */
export const scale: KernelOf<'scale'> = (inputs, attrs, ctx) => {
  const x = floatIn('scale', inputs, 0, 'x');
  const f = attrs.factor;
  const v = simd();
  if (!v || ctx.precision !== 'f32' || Math.fround(f) !== f || !(x.data instanceof Float32Array)) return refScale(inputs, attrs, ctx);
  const out = floatOut(x.shape, ctx);
  v.scale(x.data, f, out.data as Float32Array);
  return out;
};
