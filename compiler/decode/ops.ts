// The ops of decoding graphs (graph.ts): the forward pass over a chunk of new positions that
// continues sequences whose earlier keys and values sit in a cache. They never appear in a
// traced model; the decoding transform writes them in place of the position-dependent ops.
//
//   kv_attention      q [B,S,H·hd], k and v [B,S,KV·hd] (this chunk's), past i32 [B], rows i32 [B],
//                     prefix_k? and prefix_v? [P,KV·hd]  →  [B,S,H·hd]
//   decode_positions  x [B,S,…], past i32 [B]  →  i32 [B,S]
//   decode_rope       x [B,S,heads·hd], past i32 [B]  →  x's shape
//
// `past[b]` counts the positions row b already holds in the cache besides the prefix (soft prompt
// tokens included); `rows[b]` is the cache row batch row b reads and extends. Chunk position i of
// row b is cache slot P + past[b] + i, where P is the attention's prefix length.
//
// They are part of the op catalog (compiler/ir/ops.ts) with the role `decode`: the verifier and
// the code generators check their attributes against these schemas as for every other op.
import { formatShape } from '../ir/dims.ts';
import { defineOp, opt } from '../ir/op-spec.ts';

export const DECODE_OPS = {
  kv_attention: defineOp({
    role: 'decode',
    inputs: ['q', 'k', 'v', 'past', 'rows', 'prefix_k?', 'prefix_v?'],
    attrs: { heads: 'int', kv_heads: 'int', prefix: 'int', layer: 'int' },
    doc:
      'Causal attention over cache `layer`: writes k, v of chunk position i to slot prefix + past[b] + i of cache row rows[b], ' +
      'then query i reads slots 0 … prefix + past[b] + i (as `attention` with causal = true over the whole sequence). ' +
      'prefix_k / prefix_v, given when a row starts (past = 0), fill slots 0 … prefix−1.',
    shape: ([q]) => (q!.length === 3 ? q! : `q must be [B, S, heads·hd], got ${formatShape(q!)}`),
  }),
  decode_positions: defineOp({
    role: 'decode',
    inputs: ['x', 'past'],
    attrs: { offset: 'int' },
    doc: 'The position ids of a chunk: out[b,i] = offset + past[b] + i (positions of the whole sequence, per row).',
    shape: ([x]) => (x!.length >= 2 ? [x![0]!, x![1]!] : `positions needs a [B, S, …] input, got ${formatShape(x!)}`),
    dtype: 'i32',
  }),
  decode_rope: defineOp({
    role: 'decode',
    inputs: ['x', 'past'],
    attrs: { heads: 'int', theta: 'number', inverse: 'bool', offset: opt('int') },
    doc: 'rope with the position of chunk index s of row b at offset + past[b] + s (`offset` is 0 when absent, as rope\'s).',
    shape: ([x]) => x!,
  }),
};
