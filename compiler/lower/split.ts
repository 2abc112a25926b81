// Splitting one op over several dispatches when a tensor it binds is larger than the adapter's
// maxStorageBufferBindingSize (128 MiB by default in WebGPU; GPT-2's token table is 147 MiB and
// its logits for 8 × 128 tokens 196 MiB). The tensor stays whole in its buffer; each piece binds
// a window of it (a range of whole rows) and works on the part of the op those rows determine.
//
// Windows start at a multiple of 64 rows, so their byte offsets are multiples of 256 (a row is
// at least 4 bytes; an f16 row has an even length): every adapter accepts them as binding
// offsets. Pure: sizes and offsets only.
import { slotBytes } from '../quant/slot.ts';
import { type MatmulSpec, stridesOf } from './matmul-spec.ts';

/** Rows per window start at multiples of this (64 rows × ≥ 4 bytes = a 256-byte offset). */
export const ROW_QUANTUM = 64;

/** A byte range of an operand, relative to the operand's first byte. */
export interface Window {
  offset: number;
  bytes: number;
}

/** One dispatch of a split matmul: its spec (a window onto the whole product) and its windows. */
export interface MatmulPiece {
  spec: MatmulSpec;
  a: Window;
  b: Window;
  c: Window;
  bias?: Window;
}

export class SplitError extends Error {
  override name = 'SplitError';
}

/** The most rows of `rowBytes` each that fit in `limit`, a multiple of ROW_QUANTUM unless all rows fit. */
export function rowsPerWindow(rows: number, rowBytes: number, limit: number, what: string): number {
  if (rows * rowBytes <= limit) return rows;
  const fit = Math.floor(limit / rowBytes / ROW_QUANTUM) * ROW_QUANTUM;
  if (fit < ROW_QUANTUM) {
    throw new SplitError(`${what}: one window of ${ROW_QUANTUM} rows takes ${ROW_QUANTUM * rowBytes} bytes, more than the binding limit (${limit})`);
  }
  return fit;
}

/** [start, count) ranges of `rows` rows, `per` at a time. */
export function chunks(rows: number, per: number): { start: number; count: number }[] {
  const out: { start: number; count: number }[] = [];
  for (let s = 0; s < rows; s += per) out.push({ start: s, count: Math.min(per, rows - s) });
  return out;
}


/**
 * Pieces of C = act(alpha·op(A)·op(B) + bias) whose every binding fits in `limit` bytes, or
 * null when the product needs no split. Rows of C split M, rows of a stored-transposed B split
 * N (C is then written a column range at a time), and rows of B (or of a transposed A) split K:
 * the K pieces after the first accumulate into C and leave the bias out, and the epilogues that
 * need the whole sum (activation and its gradient or second output, dropout, residual) are
 * applied by the last of them. Those epilogues' tensors have C's shape: a piece binds the same
 * window of them as of C (the planner uses `c` for both), and dropout's element indices start at
 * the window's first row.
 *
 * `kSlice` (split-K): the most of K one dispatch reduces, whether or not the operands fit (a long
 * K loop runs at half the rate on CPU adapters, codegen/wgsl/matmul/tuning.ts); rounded down to
 * whole ROW_QUANTUMs. The slices add into C one after another, so the sum's order is fixed. A
 * non-transposed A's slice is bound from its first column (aCol 0, the window offset by k), so
 * every full slice has the same kernel.
 */
export function splitMatmul(spec: MatmulSpec, limit: number, kSlice = Infinity): MatmulPiece[] | null {
  const { M, N, K } = spec;
  const tA = !!spec.transA;
  const tB = !!spec.transB;
  const dense = stridesOf({ M, N, K, transA: tA, transB: tB });
  if (spec.halfB && dense.ldb % 2 !== 0) throw new SplitError('a half-float B needs an even row length');
  if ([spec.lda, spec.ldb, spec.ldc, spec.aCol, spec.bCol, spec.cCol].some((x) => x !== undefined)) {
    throw new SplitError('splitMatmul takes a dense product, not a piece of one');
  }
  const bSize = spec.halfB ? 2 : 4; // bytes per element of B (frozen weights may be f16)
  // A quantized B (codes, then scales) is bound whole in every piece: it never splits N or K.
  const qB = spec.quantB ? slotBytes(spec.quantB) : 0;
  if (qB > limit) throw new SplitError(`a quantized B of ${qB} bytes is larger than one binding (${limit}) and cannot be split`);
  const fits = (elems: number, size = 4) => size * elems <= limit;
  // A quantized B is bound whole, so its K never splits (below).
  const slice = qB ? K : Math.max(ROW_QUANTUM, Math.floor(kSlice / ROW_QUANTUM) * ROW_QUANTUM);
  if (fits(M * K) && (qB > 0 || fits(K * N, bSize)) && fits(M * N) && slice >= K) return null;
  const what = `matmul ${M}×${K}·${K}×${N}`;
  // Rows of the stored A are M (or K when transposed) rows of length lda; likewise B and C.
  const mc = Math.min(rowsPerWindow(M, 4 * N, limit, what), tA ? M : rowsPerWindow(M, 4 * K, limit, what));
  const nc = tB && !qB ? rowsPerWindow(N, bSize * K, limit, what) : N;
  const kc = Math.min(slice, tA ? rowsPerWindow(K, 4 * M, limit, what) : K, tB || qB ? K : rowsPerWindow(K, bSize * N, limit, what));
  if (qB && kc < K) throw new SplitError(`${what}: a quantized B cannot be split along K`);
  const pieces: MatmulPiece[] = [];
  for (const m of chunks(M, mc)) {
    for (const n of chunks(N, nc)) {
      for (const k of chunks(K, kc)) {
        const first = k.start === 0;
        const lastK = k.start + k.count === K;
        const piece: MatmulSpec = {
          M: m.count,
          N: n.count,
          K: k.count,
          ...(tA ? { transA: true } : {}),
          ...(tB ? { transB: true } : {}),
          ...(spec.halfB ? { halfB: true } : {}),
          ...(spec.quantB ? { quantB: spec.quantB } : {}),
          ...(spec.alpha !== undefined ? { alpha: spec.alpha } : {}),
          ...(lastK ? wholeSumEpilogue(spec, m.start * dense.ldc) : {}),
          ...(spec.bias && first ? { bias: true } : {}),
          ...(spec.accumulate || !first ? { accumulate: true } : {}),
          lda: dense.lda,
          ldb: dense.ldb,
          ldc: dense.ldc,
          aCol: tA ? m.start : 0,
          bCol: tB ? k.start : n.start,
          cCol: n.start,
        };
        pieces.push({
          spec: piece,
          a: tA ? rowWindow(k.start, k.count, 4 * M) : sliceWindow(m.start, m.count, k.start, k.count, K),
          b: qB ? { offset: 0, bytes: qB } : tB ? rowWindow(n.start, n.count, bSize * K) : rowWindow(k.start, k.count, bSize * N),
          c: rowWindow(m.start, m.count, 4 * N),
          ...(piece.bias ? { bias: rowWindow(n.start, n.count, 4) } : {}),
        });
      }
    }
  }
  return pieces;
}

/** The epilogues of a product that need its whole sum, for the last K piece of rows from element `first` of C. */
function wholeSumEpilogue(spec: MatmulSpec, first: number): Partial<MatmulSpec> {
  return {
    ...(spec.activation ? { activation: spec.activation } : {}),
    ...(spec.activationGrad ? { activationGrad: spec.activationGrad } : {}),
    ...(spec.activationOut ? { activationOut: spec.activationOut } : {}),
    ...(spec.dropout ? { dropout: { ...spec.dropout, index0: (spec.dropout.index0 ?? 0) + first } } : {}),
    ...(spec.residual ? { residual: true } : {}),
  };
}

/** Ops whose output element i depends only on element i of each operand: split into flat ranges when the shapes are equal. */
export const FLAT_OPS: ReadonlySet<string> = new Set(['add', 'mul', 'scale', 'gelu', 'gelu_erf', 'relu', 'silu', 'tanh', 'gelu_grad', 'gelu_erf_grad', 'relu_grad', 'silu_grad', 'tanh_grad']);

/** Rows m of a [·, ld] f32 matrix from column k on, `cols` wide: the last row ends at the slice's end. */
const sliceWindow = (m: number, rows: number, k: number, cols: number, ld: number): Window => ({ offset: 4 * (m * ld + k), bytes: 4 * ((rows - 1) * ld + cols) });

/** The window of `count` rows of `rowBytes` from row `start`. */
export const rowWindow = (start: number, count: number, rowBytes: number): Window => ({ offset: start * rowBytes, bytes: count * rowBytes });
