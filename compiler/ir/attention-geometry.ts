// The geometry of scaled dot-product attention (ops.ts: attention, attention_lse and the three
// gradients), written once for the CPU reference (runtime/cpu/kernels/attention.ts) and the WGSL
// generators (codegen/wgsl/attention/), so that both mask and group the same way.
//
//   q [B,S,H·hd], k and v [B,Sk,KV·hd] with Sk = prefix + S; query head h reads kv head
//   ⌊h·KV/H⌋ = ⌊h/G⌋ (G = H/KV); key j is visible to query i iff j < prefix, or not causal,
//   or j − prefix ≤ i: the visible keys of query i are 0 … n(i) − 1. With the optional lengths
//   i32 [B] (non-causal only), n = prefix + lengths[b]: the padding keys of row b are masked.
//   lse [B,H,S]: log Σ_j e^(s_ij) over the visible keys, s_ij = q_i·k_j/√hd.

/** Sizes and mask of one attention: batch B, queries S, keys Sk, heads H, kv heads KV, head size hd. */
export interface AttentionGeometry {
  B: number;
  S: number;
  Sk: number;
  H: number;
  KV: number;
  hd: number;
  causal: boolean;
  prefix: number;
}

/** The attributes every attention op carries, already read as numbers and booleans. */
export interface AttentionAttrs {
  heads: number;
  kv_heads: number;
  causal: boolean;
  prefix: number;
}

/** Which operands an op has: attention (q, k, v, lengths?), attention_lse (q, k, lengths?), a gradient (q, k, v, dy, o, lse, lengths?). */
export type AttentionOperands = 'forward' | 'lse' | 'grad';

/** Operand index of the optional lengths. */
export const LENGTHS_AT: Record<AttentionOperands, number> = { forward: 3, lse: 2, grad: 6 };

const fmt = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/**
 * The geometry of q and the key-side tensors `kv` (k, and v where the op has it), checked against
 * each other; `fail` reports a mismatch in the caller's error class.
 */
export function attentionGeometry(
  q: readonly number[],
  kv: readonly (readonly [name: string, shape: readonly number[]])[],
  a: AttentionAttrs,
  fail: (message: string) => never,
): AttentionGeometry {
  const { heads: H, kv_heads: KV, causal, prefix } = a;
  if (q.length !== 3) fail(`q must be [B, S, heads·hd], got ${fmt(q)}`);
  const [B, S, qd] = q as [number, number, number];
  if (H <= 0 || qd % H !== 0) fail(`q features ${qd} are not divisible by heads ${H}`);
  if (KV <= 0 || H % KV !== 0) fail(`heads ${H} must be a multiple of kv_heads ${KV}`);
  if (prefix < 0) fail(`prefix must be ≥ 0, got ${prefix}`);
  const hd = qd / H;
  const Sk = prefix + S;
  const want = keyShape({ B, Sk, KV, hd });
  for (const [name, t] of kv) {
    if (t.length !== 3 || t.some((d, i) => d !== want[i])) fail(`${name} must be ${fmt(want)} (Sk = prefix + S = ${prefix} + ${S}), got ${fmt(t)}`);
  }
  return { B, S, Sk, H, KV, hd, causal, prefix };
}

/** The shape of k, v and their gradients: [B, Sk, KV·hd]. */
export const keyShape = (g: Pick<AttentionGeometry, 'B' | 'Sk' | 'KV' | 'hd'>): number[] => [g.B, g.Sk, g.KV * g.hd];

/** The shape of lse: [B, H, S]. */
export const lseShape = (g: Pick<AttentionGeometry, 'B' | 'H' | 'S'>): number[] => [g.B, g.H, g.S];

/** The kv head that query head h reads. */
export const kvHeadOf = (g: Pick<AttentionGeometry, 'H' | 'KV'>, h: number): number => Math.floor((h * g.KV) / g.H);

/** Lengths mask keys only in non-causal attention (causal attention masks the future already). */
export const lengthsMask = (g: Pick<AttentionGeometry, 'causal'>, given: boolean): boolean => given && !g.causal;

/** How the visible keys of a query are counted: causal (prefix + i + 1), lengths (prefix + lengths[b]) or all Sk. */
export type Visibility = 'causal' | 'lengths' | 'all';

/** The rule for this geometry, `masked` saying whether a lengths operand masks keys (lengthsMask). */
export function visibility(g: Pick<AttentionGeometry, 'causal'>, masked: boolean): Visibility {
  return g.causal ? 'causal' : masked ? 'lengths' : 'all';
}

/** Number of keys visible to query i of a row whose lengths entry is `length` (keys 0 … n − 1). */
export function visibleKeys(g: AttentionGeometry, i: number, length?: number): number {
  switch (visibility(g, length !== undefined)) {
    case 'causal':
      return g.prefix + i + 1;
    case 'lengths':
      return g.prefix + length!;
    case 'all':
      return g.Sk;
  }
}

/** Why a lengths entry cannot be used (each is in 0 … S with at least one visible key), or undefined. */
export function badLength(g: Pick<AttentionGeometry, 'S' | 'prefix'>, n: number): string | undefined {
  if (n < 0 || n > g.S || g.prefix + n === 0) return `lengths ${n} outside 1 … ${g.S} (sequence length ${g.S}, prefix ${g.prefix})`;
  return undefined;
}

/**
 * kv_attention (compiler/decode/ops.ts): a chunk of S queries over a row's key/value cache. It is
 * causal attention whose prefix is the cache's slots before the chunk, P + past[b]: `atPast`
 * gives a row's geometry, so that its visible keys and kv heads are the rules above. Checks q
 * and the chunk's k and v ([B, S, KV·hd]) against each other.
 */
export function cacheGeometry(
  q: readonly number[],
  kv: readonly (readonly [name: string, shape: readonly number[]])[],
  a: Omit<AttentionAttrs, 'causal'>,
  fail: (message: string) => never,
): AttentionGeometry {
  const g = attentionGeometry(q, [], { ...a, causal: true }, fail);
  const want = [g.B, g.S, g.KV * g.hd];
  for (const [name, t] of kv) {
    if (t.length !== 3 || t.some((d, i) => d !== want[i])) fail(`${name} must be ${fmt(want)} (this chunk's keys or values), got ${fmt(t)}`);
  }
  return g;
}

/** The geometry of a cache row holding `past` positions besides the prefix (cacheGeometry's `g`). */
export const atPast = (g: AttentionGeometry, past: number): AttentionGeometry => ({ ...g, prefix: g.prefix + past, Sk: g.prefix + past + g.S });
