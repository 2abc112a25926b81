// The key/value cache of incremental decoding: per sequence (row) and per attention layer, the
// keys and values of every position so far, [slots, kvd] row-major, slot = prefix + position.
// Rows come and go independently (a finished sequence is dropped; a slid window starts a new
// row), so each row owns its arrays; they grow by doubling. The arrays come from a storage: plain
// arrays, or memory that a backend's kernels read in place (the wasm backend's heap).
import type { CacheLayer } from '../../compiler/decode/graph.ts';

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
  /** Positions held besides the prefix (soft prompt tokens included). */
  length: number;
}

export class KvCache {
  private readonly rows: (RowCache | undefined)[] = [];

  constructor(
    readonly layers: readonly CacheLayer[],
    private readonly storage: CacheStorage = PLAIN,
  ) {}

  /** A new empty row; its index. */
  add(): number {
    const row: RowCache = { k: this.layers.map(() => new Float32Array(0)), v: this.layers.map(() => new Float32Array(0)), length: 0 };
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
  reserve(r: number, l: number, slots: number): { k: Float32Array; v: Float32Array } {
    const row = this.row(r);
    const kvd = this.layers[l]!.kvd;
    if (row.k[l]!.length < slots * kvd) {
      const cap = Math.max(slots, 2 * (row.k[l]!.length / kvd), 16) * kvd;
      for (const side of [row.k, row.v]) {
        const grown = this.storage.alloc(cap);
        grown.set(side[l]!);
        this.storage.free(side[l]!);
        side[l] = grown;
      }
    }
    return { k: row.k[l]!, v: row.v[l]! };
  }

  /** Float values held by every row (for memory notes and tests). */
  size(): number {
    return this.rows.reduce((n, row) => n + (row ? row.k.reduce((a, x) => a + 2 * x.length, 0) : 0), 0);
  }
}
