// linear and its weight gradient on the wasm backend's f32 gemm (gemm.ts): the reference's
// kernels (runtime/cpu/kernels/linear.ts) over another matrix product.
import { linearGradWeightOn, linearOn } from '../cpu/kernels/linear.ts';
import { gemmF32 } from './gemm.ts';

export const linear = linearOn(gemmF32);
export const linearGradWeight = linearGradWeightOn(gemmF32);
