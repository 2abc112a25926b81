// The description of one matrix product the planner asks a kernel for: C = act(alpha · op(A)·op(B)
// [+ alpha2 · op(A2)·op(B2)] + bias) (+ C when accumulating), with optional epilogues, and the
// stored layout of its operands (dense, or a window of a larger matrix for one piece of a split
// product, compiler/lower/split.ts). A code generator (codegen/wgsl/matmul/) turns it into a kernel.
//
//   A stored [M,K] (op = identity) or [K,M] (transA, op = transpose)
//   B stored [K,N] (op = identity) or [N,K] (transB)
//   C [M,N] row-major; bias [N]; batch dimensions are flattened into M by the caller.

import type { QuantTensor } from '../quant/slot.ts';

export type Activation = 'gelu' | 'gelu_erf' | 'relu' | 'silu';
/** Activations whose gradient an epilogue applies: those above and tanh (BERT's pooler). */
export type GradActivation = Activation | 'tanh';
export const GRAD_ACTIVATIONS: readonly GradActivation[] = ['gelu', 'gelu_erf', 'relu', 'silu', 'tanh'];

export interface MatmulSpec {
  M: number;
  N: number;
  K: number;
  /** A is stored [K,M] and used transposed. */
  transA?: boolean;
  /** B is stored [N,K] and used transposed. */
  transB?: boolean;
  /** Adds a bias [N] to every row (a binding between B and C). */
  bias?: boolean;
  /**
   * Applied after alpha and bias. 'gelu' is the tanh approximation (GPT-2's gelu_new), computed
   * as the elementwise kernel computes it (codegen/wgsl/elementwise.ts).
   */
  activation?: Activation;
  /** Scales the product (LoRA's alpha/r, for instance). Default 1. */
  alpha?: number;
  /**
   * C += result instead of C = result (gradient accumulation). With an epilogue that needs the
   * whole sum (activation, activationGrad, activationOut, dropout, residual) it applies to the
   * sum: C = act(C + alpha·op(A)·op(B) + bias), and so on (the last piece of a product split
   * along K, or a second product dispatched after the first).
   */
  accumulate?: boolean;
  /**
   * A window onto larger stored matrices, for one piece of a matmul split over several
   * dispatches (compiler/lower/split.ts): the row strides of the stored A, B and C (elements;
   * default dense, the stored row length) and the column where the piece starts within its
   * binding's rows (default 0). The element (row, col) of stored X is at row·ldx + xCol + col.
   */
  lda?: number;
  ldb?: number;
  ldc?: number;
  aCol?: number;
  bCol?: number;
  cCol?: number;
  /**
   * B is stored as IEEE half floats, two to a u32 (frozen weights in f16: half the memory; the
   * products still accumulate in f32). Core WGSL's unpack2x16float reads them, so no adapter
   * feature is needed. Offsets and strides are still in elements.
   */
  halfB?: boolean;
  /**
   * B is a quantized frozen weight (int8 or nf4: codes, then scales, in one binding;
   * compiler/quant/slot.ts), dequantized as it is read; the products still accumulate in f32.
   * Element (row, col) of the stored B is element row·ldb + bCol + col of the whole matrix, which
   * is always bound whole (a split piece windows A and C only).
   */
  quantB?: QuantTensor;
  /**
   * A second product of the same M × N, added before the bias and activation:
   * C = act(alpha·op(A)·op(B) + alpha2·op(A2)·op(B2) + bias), A2 and B2 bound after B, dense and
   * f32. LoRA's low-rank update (K = r) computed beside the base product, so the base's output is
   * written once instead of being written, read and written again. regblock only.
   */
  second?: SecondProduct;
  /**
   * The epilogues below read or write tensors of C's shape, addressed as C is (LDC, CC: a piece
   * of a split product binds their windows like C's). In order, after alpha, the second product
   * and the bias: result · act'(pre) (activationGrad), act (activation), the second output
   * (activationOut), dropout, + res (residual).
   *
   * activationOut: C = the result (the pre-activation) and a second output `activated` =
   * act(result), bound after C. For an activation whose gradient reads the pre-activation
   * (training), so that the forward still needs one kernel; cuBLASLt's GELU_AUX epilogue with the
   * outputs' roles swapped (C stays what the pieces of a split product accumulate into). Not
   * with activation, dropout or residual.
   */
  activationOut?: Activation;
  /**
   * result · act'(pre), `pre` bound before C: the activation's backward applied to the product
   * that computes its incoming gradient (cuBLASLt's DGELU epilogue).
   */
  activationGrad?: GradActivation;
  /** Inverted dropout after the activation, the dropout kernel's mask bit for bit (`globals` bound before C). */
  dropout?: MatmulDropout;
  /** C = res + the rest, `res` bound before C: a residual add after the product (and its dropout). */
  residual?: boolean;
}

export interface MatmulDropout {
  p: number;
  seed: number;
  /**
   * The dropout tensor's flat index of the first element of C's binding (default 0): element
   * (m, n) is index0 + m·LDC + CC + n, the index the dropout kernel hashes.
   */
  index0?: number;
}

export interface SecondProduct {
  K: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
}

/** The stored layout of each operand: row stride and first column (see MatmulSpec.lda). */
export interface Strides {
  lda: number;
  ldb: number;
  ldc: number;
  aCol: number;
  bCol: number;
  cCol: number;
}

/** Row strides and column offsets, dense unless the spec is a piece of a split matmul. */
export function stridesOf(spec: MatmulSpec): Strides {
  return {
    lda: spec.lda ?? (spec.transA ? spec.M : spec.K),
    ldb: spec.ldb ?? (spec.transB ? spec.K : spec.N),
    ldc: spec.ldc ?? spec.N,
    aCol: spec.aCol ?? 0,
    bCol: spec.bCol ?? 0,
    cCol: spec.cCol ?? 0,
  };
}

/** Elements each binding spans: rows of the stored matrix times its stride (the last row only to the piece's end). */
export function bindingElements(spec: MatmulSpec): { a: number; b: number; c: number } {
  const s = stridesOf(spec);
  const span = (rows: number, ld: number, col: number, cols: number) => (rows - 1) * ld + col + cols;
  return {
    a: spec.transA ? span(spec.K, s.lda, s.aCol, spec.M) : span(spec.M, s.lda, s.aCol, spec.K),
    b: spec.transB ? span(spec.N, s.ldb, s.bCol, spec.K) : span(spec.K, s.ldb, s.bCol, spec.N),
    c: span(spec.M, s.ldc, s.cCol, spec.N),
  };
}
