// The software kernels' block of query rows against a block of keys (forward.ts, grad-q.ts).
// On CPU adapters a load whose address differs across SIMD lanes is a per-lane gather (llvmpipe
// loops over the lanes), and it, not the arithmetic, sets the speed: one query per invocation
// loads 2·hd floats per (query, key) for 2·hd multiply-adds. A block of rows shares each k / v
// vector loaded; a row keeps its vectors in registers, so the rows per block shrink as the head
// grows (tuning.ts: queryBlock).
import { u32 } from '../common.ts';
import { at, maxOf, names, treeSum } from '../unroll.ts';
import { KEY_BLOCK } from './tuning.ts';

/** A score below every real one: masked keys (the softmax starts from it; WGSL floats are finite). */
export const NEG = '-3.0e38';

/**
 * WGSL pieces for a block of QB query rows against blocks of KB keys. The caller defines, per
 * row r: n{r} (its visible keys), q{r}_0 … (its q vector), g{r}_0 … (its dy vector, when dP is
 * needed), and kb (key 0 of the kv head) and nmax (the most keys any row sees). Keys a row does
 * not see get weight 0, so the rows share every load.
 */
export class RowBlock {
  readonly rows: number[];
  readonly keys: number[];
  constructor(
    readonly QB: number,
    readonly n: number,
    readonly KB = KEY_BLOCK,
  ) {
    this.rows = Array.from({ length: QB }, (_, r) => r);
    this.keys = Array.from({ length: KB }, (_, t) => t);
  }
  perRow(f: (r: number) => string, sep = ' '): string {
    return this.rows.map(f).join(sep);
  }
  perKey(f: (t: number) => string, sep = '\n    '): string {
    return this.keys.map(f).join(sep);
  }
  /** Row r's dot product of its register vector `x` with buf[base …]. */
  rowDot(x: string, r: number, buf: string, base: string): string {
    return treeSum(names(`${x}${r}_`, this.n).map((v, c) => `dot4(${v}, ${at(buf, base, c)})`));
  }
  /** Key jb + t of the block: its row offset (clamped past SK: masked, never read out of range). */
  keyOffsets(): string {
    return this.perKey((t) => `let ko${t} = kb + min(jb + ${u32(t)}, SK - 1u) * KS;`);
  }
  /** Scores s{r}_{t} of every (row, key) of the block, NEG where the row does not see the key; with dp{r}_{t} = dy·v. */
  scores(withDp: boolean): string {
    const s = this.perKey((t) =>
      this.perRow((r) => `let s${r}_${t} = select(${NEG}, ${this.rowDot('q', r, 'k', `ko${t}`)} * SCALE, jb + ${u32(t)} < n${r});`, '\n    '),
    );
    if (!withDp) return s;
    return `${s}
    ${this.perKey((t) => this.perRow((r) => `let dp${r}_${t} = ${this.rowDot('g', r, 'v', `ko${t}`)};`, '\n    '))}`;
  }
  /** Per row: the new running max, rr{r} the rescale of what came before, the block's weights p{r}_{t}. */
  rescale(): string {
    return this.perRow(
      (r) => `let mn${r} = max(m${r}, ${maxOf(this.keys.map((t) => `s${r}_${t}`))});
    let rr${r} = exp(m${r} - mn${r});
    m${r} = mn${r};
    ${this.perKey((t) => `let p${r}_${t} = select(0.0, exp(s${r}_${t} - mn${r}), jb + ${u32(t)} < n${r});`, ' ')}`,
      '\n    ',
    );
  }
  /** The online softmax statistics of each row over its keys: declares m{r} and l{r} = Σ e^(s−m). */
  stats(): string {
    return `${this.perRow((r) => `var m${r} = ${NEG}; var l${r} = 0.0;`)}
  for (var jb = 0u; jb < nmax; jb += ${u32(this.KB)}) {
    ${this.keyOffsets()}
    ${this.scores(false)}
    ${this.rescale()}
    ${this.perRow((r) => `l${r} = l${r} * rr${r} + ${treeSum(this.keys.map((t) => `p${r}_${t}`))};`, '\n    ')}
  }`;
  }
}
