// kv_attention on the wasm backend: a decoder's attention over its key/value cache. The cache
// lives in the backend's WebAssembly memory (the decoder's cache storage is the heap's alloc), so
// the products read the cached keys and values where they are, without a copy. Per batch row and
// head, per block of up to ROWS queries: the scores Q·Kᵀ and the output P·V are products of
// gemmF32 (a decoding step's one query runs gemm.wat's few-row products), the softmax in between
// one exp per visible score (softmax.ts). f32 sums; the reference (runtime/decode/kernels.ts)
// keeps its f64 scores.
import { kvHeadOf, visibleKeys } from '../../../compiler/ir/attention-geometry.ts';
import { floatOut, type Kernel } from '../../cpu/kernels/common.ts';
import { kvAppend, kvOperands } from '../../decode/kernels.ts';
import type { CacheStorage, KvCache } from '../../decode/kv-cache.ts';
import { gemmF32 } from '../gemm.ts';
import { wasmHeap } from '../heap.ts';
import { ROWS, storeRows } from './heads.ts';
import { softmaxRows } from './softmax.ts';

/** The cache's arrays in the backend's memory. */
export const heapCacheStorage: CacheStorage = {
  alloc: (n) => wasmHeap().alloc(n, 'the key/value cache'),
  free: (x) => wasmHeap().free(x),
};

/** kv_attention over `cache` (whose storage is heapCacheStorage: else its arrays are copied per product). */
export function kvAttention(cache: KvCache): Kernel {
  return (inputs, attrs, ctx) => {
    const o = kvOperands(inputs, attrs as Parameters<typeof kvOperands>[1]);
    const { q, geo, qd } = o;
    const { B, S, H, hd } = geo;
    const out = floatOut(q.shape, ctx);
    const scale = 1 / Math.sqrt(hd);
    const rows = Math.min(ROWS, S);
    const Ot = new Float32Array(rows * hd);
    const lse = new Float64Array(rows);
    let P = new Float32Array(0);
    for (let b = 0; b < B; b++) {
      const { k: ck, v: cv, capacity, row } = kvAppend(cache, o, b);
      for (let h = 0; h < H; h++) {
        // head-major cache: this head's keys and values are [capacity, hd] from base
        const base = kvHeadOf(row, h) * capacity * hd;
        for (let i0 = 0; i0 < S; i0 += ROWS) {
          const len = Math.min(ROWS, S - i0);
          // causal: the block's last query sees the most keys
          const keys = visibleKeys(row, i0 + len - 1);
          if (P.length < len * keys) P = new Float32Array(len * keys);
          const Pb = P.subarray(0, len * keys);
          const at = (b * S + i0) * qd + h * hd;
          // q's rows of this head only (a view past them would be staged whole)
          const qb = q.data.subarray(at, at + (len - 1) * qd + hd);
          gemmF32(len, keys, hd, qb, qd, 1, ck.subarray(base), 1, hd, Pb);
          softmaxRows(Pb, len, keys, (t) => visibleKeys(row, i0 + t), scale, lse, 0);
          const Ob = Ot.subarray(0, len * hd);
          gemmF32(len, hd, keys, Pb, keys, 1, cv.subarray(base), hd, 1, Ob);
          storeRows(Ob, len, hd, out.data, at, qd);
        }
      }
    }
    return out;
  };
}
