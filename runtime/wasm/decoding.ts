// The wasm backend's decoding: its kernels (few-row products on every thread, gemm.wat), the
// key/value cache in its WebAssembly memory, and kv_attention on the products over that cache.
import type { HostDecoding } from '../decode/host-decoding.ts';
import { heapCacheStorage, kvAttention } from './attention/kv.ts';
import { WASM_KERNELS } from './kernels.ts';

export const WASM_DECODING: HostDecoding = {
  kernels: WASM_KERNELS,
  storage: heapCacheStorage,
  cacheKernels: (cache) => ({ kv_attention: kvAttention(cache) }),
};
