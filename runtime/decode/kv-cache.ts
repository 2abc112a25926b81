// The key/value cache of incremental decoding: per sequence (row) and per attention layer, the
// keys and values of every position so far, slot = prefix + position. Each layer's array is
// head-major, [kv heads, capacity, head size]: attention reads one head's keys and values at a
// time, and a head's then lie together in memory (read as one stream, where a [slots, kv width]
// layout strides across every head's vectors: at GPT-2 small's 512th token that took twice as
// long on the CPU). Rows come and go independently (a finished sequence is dropped; a slid window
// starts a new row), so each row owns its arrays; they grow by doubling. The arrays come from a
// storage: plain arrays, or memory that a backend's kernels read in place (the wasm backend's heap).
import type { CacheLayer } from '../../compiler/decode/graph.ts';
import type { FloatArray } from '../cpu/tensor.ts';

/** Where a cache's arrays live. */
export interface CacheStorage {
  /** `n` zeroed floats. */
  alloc(n: number): Float32Array;
  /** Gives back an array alloc made (no longer used). */
  free(x: Float32Array): void;
}

const PLAIN: CacheStorage = { alloc: (n) => new Float32Array(n), free: () => {} };

interface RowCache {
  k: Float32Array[];
  v: Float32Array[];
  /** Slots each layer's arrays hold per head. */
  capacity: number[];
  /** Positions held besides the prefix (soft prompt tokens included). */
  length: number;
}

/** A layer's keys and values of one row: head h's slot j at (h · capacity + j) · hd. */
export interface LayerCache {
  k: Float32Array;
  v: Float32Array;
  capacity: number;
  /** Head size. */
  hd: number;
}

export class KvCache {
  private readonly rows: (RowCache | undefined)[] = [];

  constructor(
    readonly layers: readonly CacheLayer[],
    private readonly storage: CacheStorage = PLAIN,
  ) {}

  /** A new empty row; its index. */
  add(): number {
    const empty = () => this.layers.map(() => new Float32Array(0));
    const row: RowCache = { k: empty(), v: empty(), capacity: this.layers.map(() => 0), length: 0 };
    const free = this.rows.indexOf(undefined);
    if (free >= 0) {
      this.rows[free] = row;
      return free;
    }
    this.rows.push(row);
    return this.rows.length - 1;
  }

  drop(r: number): void {
    const row = this.rows[r];
    if (row) for (const x of [...row.k, ...row.v]) this.storage.free(x);
    this.rows[r] = undefined;
  }

  private row(r: number): RowCache {
    const row = this.rows[r];
    if (!row) throw new Error(`kv cache: row ${r} was dropped or never added`);
    return row;
  }

  /** Positions row r holds besides the prefix. */
  length(r: number): number {
    return this.row(r).length;
  }

  /** Records that the last chunk added n real positions to row r (its padding slots are overwritten later). */
  advance(r: number, n: number): void {
    this.row(r).length += n;
  }

  /** Layer l's keys and values of row r, with room for at least `slots` slots. */
  reserve(r: number, l: number, slots: number): LayerCache {
    const row = this.row(r);
    const { kvd, kvHeads } = this.layers[l]!;
    const hd = kvd / kvHeads;
    const had = row.capacity[l]!;
    if (had < slots) {
      const cap = Math.max(slots, 2 * had, 16);
      for (const side of [row.k, row.v]) {
        const grown = this.storage.alloc(cap * kvd);
        // each head's slots move to the start of its new, longer block
        for (let h = 0; h < kvHeads; h++) grown.set(side[l]!.subarray(h * had * hd, (h + 1) * had * hd), h * cap * hd);
        this.storage.free(side[l]!);
        side[l] = grown;
      }
      row.capacity[l] = cap;
    }
    return { k: row.k[l]!, v: row.v[l]!, capacity: row.capacity[l]!, hd };
  }

  /**
   * Writes n slots from `slot` on of layer l's keys and values, given slot-major ([n, kvd], as
   * the model computes them), into row r's head-major arrays (room reserved first).
   */
  write(r: number, l: number, slot: number, keys: FloatArray, values: FloatArray, n: number): LayerCache {
    const c = this.reserve(r, l, slot + n);
    const { kvHeads, kvd } = this.layers[l]!;
    for (let h = 0; h < kvHeads; h++) {
      for (let j = 0; j < n; j++) {
        const from = j * kvd + h * c.hd, to = (h * c.capacity + slot + j) * c.hd;
        c.k.set(keys.subarray(from, from + c.hd), to);
        c.v.set(values.subarray(from, from + c.hd), to);
      }
    }
    return c;
  }

  /** Float values held by every row (for memory notes and tests). */
  size(): number {
    return this.rows.reduce((n, row) => n + (row ? row.k.reduce((a, x) => a + 2 * x.length, 0) : 0), 0);
  }
}
