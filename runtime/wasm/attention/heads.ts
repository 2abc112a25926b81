// The operands in head-major order, and the blocks of a head's queries that each product covers.
//
// x [B, T, heads·hd] is copied once into f32 [B, heads, T, hd] (as the reference copies into f64):
// a head's vectors then lie together, so each product reads exactly one head's rows, one
// contiguous view of the length it needs (gemmF32 copies operands that are not in its memory
// whole: a strided view into the [B, T, heads·hd] tensor would drag every head's rows along).
import { kvHeadOf } from '../../../compiler/ir/attention-geometry.ts';
import type { FloatArray } from '../../cpu/tensor.ts';
import { visibleKeysOf, type Geometry } from '../../cpu/kernels/attention-operands.ts';

/**
 * Query rows per block: one product covers a block of a head's queries against the keys its last
 * row sees (with causal masking, keys past the block's last query are skipped), and the block's
 * score rows (ROWS · Sk values) bound the scratch memory whatever the sequence length.
 */
export const ROWS = 64;

/** x [B, T, heads·hd] as f32 [B, heads, T, hd]. */
export function headMajor(x: FloatArray, B: number, T: number, heads: number, hd: number): Float32Array {
  const out = new Float32Array(B * T * heads * hd);
  for (let b = 0, o = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let t = 0; t < T; t++, o += hd) {
        const src = ((b * T + t) * heads + h) * hd;
        for (let e = 0; e < hd; e++) out[o + e] = x[src + e]!;
      }
    }
  }
  return out;
}

/** A head-major [B, heads, T, hd] array into x [B, T, heads·hd]. */
export function rowMajorInto(xh: Float32Array, x: FloatArray, B: number, T: number, heads: number, hd: number): void {
  for (let b = 0, o = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let t = 0; t < T; t++, o += hd) {
        const dst = ((b * T + t) * heads + h) * hd;
        for (let e = 0; e < hd; e++) x[dst + e] = xh[o + e]!;
      }
    }
  }
}

/** A block of `len` consecutive queries i0 … i0+len−1 of head h in batch row b. */
export interface Block {
  b: number;
  h: number;
  i0: number;
  len: number;
  /** Keys the block's last query sees (the block's products span keys 0 … keys−1). */
  keys: number;
  /** Offset of the block's first query in the head-major q (and dy). */
  qh: number;
  /** Index of the block's first query in lse [B, H, S]. */
  lo: number;
  /** Offset of key 0 of the head's kv head in the head-major k (and v, dk, dv). */
  kh: number;
  /** Offset of the block's first query row in the [B, S, H·hd] tensors (o, dq). */
  row: number;
  /** Whether it is the first block that reads its kv head (of the first head sharing it). */
  first: boolean;
}

/** Calls `fn` for every block of every head, batch row by batch row, head by head, in query order. */
export function forEachBlock(g: Geometry, fn: (blk: Block) => void): void {
  const { B, S, Sk, H, KV, hd } = g;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kv = kvHeadOf(g, h), kh = (b * KV + kv) * Sk * hd;
      const first = h === 0 || kvHeadOf(g, h - 1) !== kv;
      for (let i0 = 0; i0 < S; i0 += ROWS) {
        const len = Math.min(ROWS, S - i0);
        const keys = visibleKeysOf(g, b, i0 + len - 1);
        fn({ b, h, i0, len, keys, qh: ((b * H + h) * S + i0) * hd, lo: (b * H + h) * S + i0, kh, row: ((b * S + i0) * H + h) * hd, first: first && i0 === 0 });
      }
    }
  }
}

/** The `rows` × `cols` matrix at `offset` of x, as a view of exactly its values. */
export const view = (x: Float32Array, offset: number, rows: number, cols: number): Float32Array => x.subarray(offset, offset + rows * cols);

/** Copies the block's rows c [len × hd] (row-major) into x's rows row + t·stride. */
export function storeRows(c: Float32Array, len: number, hd: number, x: FloatArray, row: number, stride: number): void {
  for (let t = 0; t < len; t++) {
    const dst = row + t * stride, src = t * hd;
    for (let e = 0; e < hd; e++) x[dst + e] = c[src + e]!;
  }
}

/** x[at + i] += c[i] for i < n. */
export function addInto(c: Float32Array, n: number, x: Float32Array, at: number): void {
  for (let i = 0; i < n; i++) x[at + i] += c[i]!;
}

/** The scores of every block together (Σ len · keys): the size of the forward's kept probabilities. */
export function blockScores(g: Geometry): number {
  let n = 0;
  forEachBlock(g, ({ len, keys }) => (n += len * keys));
  return n;
}
