// kv_attention on the GPU (compiler/decode/ops.ts): causal attention of a chunk of new positions
// over a key/value cache that lives in GPU buffers across calls. Two kernels, because every key of
// the chunk must be in the cache before any query reads it (a dispatch boundary orders them):
//
//   append  writes the chunk's k and v to slots P + past[b] + i of cache row rows[b] (and, for a
//           row that starts, past[b] = 0, the P prefix keys and values to slots 0 … P−1);
//   attend  query i of row b, head h, reads slots 0 … P + past[b] + i of its row: two passes
//           (the maximum score, then exp-weighted values), as the CPU reference
//           (runtime/decode/kernels.ts) does in f64, here in f32.
//
// Cache layout: cache_k and cache_v f32 [rows, L, kv_heads·hd]; the caller keeps P + past + S ≤ L.
// The geometry is attention's (compiler/ir/attention-geometry.ts: cacheGeometry): row b's chunk is
// causal attention with P + past[b] slots before it, so query i sees P + past[b] + i + 1 keys, and
// head h reads kv head ⌊h·KV/H⌋ = ⌊h/G⌋. The cache's sizes are constants; the chunk's length S
// and the number of queries N are open (the sizes uniform), so every prefill bucket shares the
// pipelines.
import { cacheGeometry, visibility } from '../../compiler/ir/attention-geometry.ts';
import type { KvAttentionSpec, KvKernel } from '../../compiler/lower/kv-cache-spec.ts';
import { CodegenError } from '../codegen-error.ts';
import { SIZES_UNIFORM } from '../../compiler/lower/kernels.ts';
import { f32, u32 } from './common.ts';

export type { KvAttentionSpec, KvKernel } from '../../compiler/lower/kv-cache-spec.ts';

const WG = 64;

function check(s: KvAttentionSpec): void {
  const bad = (message: string): never => {
    throw new CodegenError('validation', `kv_attention: ${message}`);
  };
  for (const [k, v] of Object.entries(s)) if (k !== 'prefixGiven' && (!Number.isInteger(v) || v < 0)) bad(`${k} must be a non-negative integer, got ${v}`);
  const g = cacheGeometry([s.B, s.S, s.heads * s.hd], [], { heads: s.heads, kv_heads: s.kvHeads, prefix: s.prefix }, bad);
  if (visibility(g, false) !== 'causal') bad('a cache is read causally');
  if (s.prefix + s.S > s.slots) bad(`${s.prefix} prefix slots and a chunk of ${s.S} exceed the cache's ${s.slots} slots`);
}

const storage = (names: [string, 'read' | 'read_write', 'f32' | 'i32'][]) =>
  names.map(([n, access, t], i) => `@group(0) @binding(${i}) var<storage, ${access}> ${n}: array<${t}>;`).join('\n');

/** The append kernel: binds k, v, past, rows, (prefix_k, prefix_v,) cache_k, cache_v. */
export function kvAppend(s: KvAttentionSpec): KvKernel {
  check(s);
  const kvd = s.kvHeads * s.hd;
  const withPrefix = s.prefix > 0 && s.prefixGiven !== false;
  const names: [string, 'read' | 'read_write', 'f32' | 'i32'][] = [['k', 'read', 'f32'], ['v', 'read', 'f32'], ['past', 'read', 'i32'], ['rows', 'read', 'i32']];
  if (withPrefix) names.push(['prefix_k', 'read', 'f32'], ['prefix_v', 'read', 'f32']);
  names.push(['cache_k', 'read_write', 'f32'], ['cache_v', 'read_write', 'f32']);
  const wgsl = `${storage(names)}
${SIZES_UNIFORM(names.length)}
const P = ${u32(s.prefix)}; const KVD = ${u32(kvd)}; const L = ${u32(s.slots)};
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let S = sizes.x;
  let c = gid.x; let slot = gid.y; let b = gid.z;
  if (c >= KVD) { return; }
  let row = u32(rows[b]) * L * KVD;
  if (slot < P) {${withPrefix ? `
    if (past[b] == 0) {
      cache_k[row + slot * KVD + c] = prefix_k[slot * KVD + c];
      cache_v[row + slot * KVD + c] = prefix_v[slot * KVD + c];
    }` : ''}
    return;
  }
  let i = slot - P;
  let at = row + (P + u32(past[b]) + i) * KVD + c;
  cache_k[at] = k[(b * S + i) * KVD + c];
  cache_v[at] = v[(b * S + i) * KVD + c];
}`;
  return { label: 'kv_append', wgsl, bindings: names.map(([n]) => n), workgroups: [Math.ceil(kvd / WG), s.prefix + s.S, s.B], sizes: [s.S] };
}

/** The attend kernel: binds q, past, rows, cache_k, cache_v, out [B, S, heads·hd]. */
export function kvAttend(s: KvAttentionSpec): KvKernel {
  check(s);
  const kvd = s.kvHeads * s.hd;
  const names: [string, 'read' | 'read_write', 'f32' | 'i32'][] = [['q', 'read', 'f32'], ['past', 'read', 'i32'], ['rows', 'read', 'i32'], ['cache_k', 'read', 'f32'], ['cache_v', 'read', 'f32'], ['out', 'read_write', 'f32']];
  const wgsl = `${storage(names)}
${SIZES_UNIFORM(names.length)}
const H = ${u32(s.heads)}; const G = ${u32(s.heads / s.kvHeads)}; const HD = ${u32(s.hd)};
const P = ${u32(s.prefix)}; const KVD = ${u32(kvd)}; const L = ${u32(s.slots)};
var<private> S: u32; // the chunk's length: sizes.x
var<private> N: u32; // queries B·S·H: sizes.y
const SCALE = ${f32(1 / Math.sqrt(s.hd))};
// visibleKeys of the row's geometry: causal, with P + past[b] slots before the chunk
fn visible(b: u32, i: u32) -> u32 { return P + u32(past[b]) + i + 1u; }
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  S = sizes.x;
  N = sizes.y;
  let t = gid.x;
  if (t >= N) { return; }
  let h = t % H; let i = (t / H) % S; let b = t / (H * S);
  let n = min(visible(b, i), L);
  let row = u32(rows[b]) * L * KVD;
  let base = (h / G) * HD; // kvHeadOf
  let qo = (b * S + i) * H * HD + h * HD;
  var m = -3.0e38; // below every score (n ≥ 1: one is always read)
  for (var j = 0u; j < n; j++) {
    var dot = 0.0;
    for (var c = 0u; c < HD; c++) { dot += q[qo + c] * cache_k[row + j * KVD + base + c]; }
    m = max(m, dot * SCALE);
  }
  var acc: array<f32, ${s.hd}>;
  var sum = 0.0;
  for (var j = 0u; j < n; j++) {
    var dot = 0.0;
    for (var c = 0u; c < HD; c++) { dot += q[qo + c] * cache_k[row + j * KVD + base + c]; }
    let e = exp(dot * SCALE - m);
    sum += e;
    for (var c = 0u; c < HD; c++) { acc[c] += e * cache_v[row + j * KVD + base + c]; }
  }
  for (var c = 0u; c < HD; c++) { out[qo + c] = acc[c] / sum; }
}`;
  return { label: 'kv_attend', wgsl, bindings: names.map(([n]) => n), workgroups: [Math.ceil((s.B * s.S * s.heads) / WG), 1, 1], sizes: [s.S, s.B * s.S * s.heads] };
}
