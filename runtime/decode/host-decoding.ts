// What a host (CPU-side) backend lends its decoder (cpu-decoder.ts): its kernel table, whose
// linear takes a few rows fast, where the key/value cache lives, and decoding kernels of its own
// over that cache. The wasm backend lends all three (runtime/wasm/decoding.ts); the reference
// lends none, and its decoder runs the reference kernels.
import type { Kernel } from '../cpu/kernels/common.ts';
import type { CacheStorage, KvCache } from './kv-cache.ts';

export interface HostDecoding {
  kernels: Readonly<Record<string, Kernel>>;
  /** Where the cache's arrays live (default: plain arrays). */
  storage?: CacheStorage;
  /** Kernels of decoding ops (kv_attention) over the decoder's cache, replacing the reference's. */
  cacheKernels?: (cache: KvCache) => Record<string, Kernel>;
}
