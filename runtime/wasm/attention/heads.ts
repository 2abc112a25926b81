// One head's matrices as strided views of the [B, T, heads·hd] tensors, for gemmF32: no
// head-major copies. Query row i of head h in batch row b starts at ((b·S + i)·H + h)·hd, the
// next row H·hd further; key (and value) row j of kv head g at ((b·Sk + j)·KV + g)·hd, rows
// KV·hd apart. A block of consecutive query rows of one head is then one product's operand.
import { kvHeadOf } from '../../../compiler/ir/attention-geometry.ts';
import type { FloatArray } from '../../cpu/tensor.ts';
import { visibleKeysOf, type Geometry } from './operands.ts';

/**
 * Query rows per block: one product covers a block of a head's queries against the keys its last
 * row sees (with causal masking the blocks above the diagonal are skipped), and the block's
 * score rows (ROWS · Sk values) bound the scratch memory whatever the sequence length.
 */
export const ROWS = 64;

/** A block of `len` consecutive queries i0 … i0+len−1 of head h in batch row b. */
export interface Block {
  b: number;
  h: number;
  i0: number;
  len: number;
  /** Keys the block's last query sees (the block's products span keys 0 … keys−1). */
  keys: number;
  /** Offset of the block's first query row in q (and dy, o, dq). */
  qOff: number;
  /** Offset of key 0 of the head's kv head in k (and v, dk, dv). */
  kOff: number;
}

/** Calls `fn` for every block of every head, batch row by batch row, head by head, in query order. */
export function forEachBlock(g: Geometry, fn: (blk: Block) => void): void {
  const { B, S, Sk, H, KV, hd } = g;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kOff = (b * Sk * KV + kvHeadOf(g, h)) * hd;
      for (let i0 = 0; i0 < S; i0 += ROWS) {
        const len = Math.min(ROWS, S - i0);
        fn({ b, h, i0, len, keys: visibleKeysOf(g, b, i0 + len - 1), qOff: ((b * S + i0) * H + h) * hd, kOff });
      }
    }
  }
}

/** The view of x starting at `offset` (gemmF32 indexes its operands from 0). */
export const at = (x: FloatArray, offset: number): FloatArray => (offset === 0 ? x : x.subarray(offset));

/** Copies the block's rows c [len × hd] (row-major) into x's rows qOff + t·stride. */
export function storeRows(c: FloatArray, len: number, hd: number, x: FloatArray, qOff: number, stride: number): void {
  for (let t = 0; t < len; t++) x.set(c.subarray(t * hd, (t + 1) * hd), qOff + t * stride);
}

/** Adds c [rows × hd] (row-major) onto x's rows kOff + j·stride. */
export function addRows(c: FloatArray, rows: number, hd: number, x: FloatArray, kOff: number, stride: number): void {
  for (let j = 0; j < rows; j++) {
    const xo = kOff + j * stride, co = j * hd;
    for (let e = 0; e < hd; e++) x[xo + e] += c[co + e]!;
  }
}
