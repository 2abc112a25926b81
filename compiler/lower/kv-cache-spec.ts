// What a decoding plan's key/value cache is and what the kernel backend is asked for it: the
// types the planner's parts (lowering.ts, kernels.ts, kv-cache.ts) and the WGSL generator share.
// A file of its own so that those import it without importing each other.

/** What a cache holds: `rows` sequences of at most `positions` positions each besides an attention's prefix. */
export interface KvCacheSize {
  rows: number;
  positions: number;
}

export interface KvAttentionSpec {
  /** Rows in the batch, positions in the chunk. */
  B: number;
  S: number;
  heads: number;
  kvHeads: number;
  /** Features per head. */
  hd: number;
  /** Prefix keys and values at the front of every row (prefix tuning). */
  prefix: number;
  /** Cache rows allocated and slots per row. */
  rows: number;
  slots: number;
  /** Whether the prefix keys and values are operands (a prefill: rows that start write them); default true. */
  prefixGiven?: boolean;
}

export interface KvKernel {
  label: string;
  wgsl: string;
  /**
   * Storage buffers in @binding order: `q`, `k`, `v`, `past`, `rows`, `prefix_k`, `prefix_v` (the
   * op's operands), `cache_k`, `cache_v` (written by append) and `out` (written by attend).
   */
  bindings: readonly string[];
  workgroups: [number, number, number];
  /** The sizes the source leaves open (kernels.ts, Kernel.sizes): the chunk's length and the invocations. */
  sizes?: number[];
}

/** kv_attention's two kernels: append (the chunk's keys and values into the cache), then attend. */
export interface KvKernels {
  append: KvKernel;
  attend: KvKernel;
}
