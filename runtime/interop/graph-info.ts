// What interop needs to know about a compiled model, read from its Model IR: the layout of a
// Linear's weight, the attention layers (heads, key width, which prefix slots they read) and
// the token embedding.
import type { Graph, Node } from '../../compiler/ir/types.ts';

/** The `layout` of the linear op that reads `<module>.weight` (in_out: Conv1D [in, out]). */
export function linearLayout(g: Graph, module: string): 'in_out' | 'out_in' | undefined {
  const w = g.nodes.find((n) => n.op === 'param' && n.attrs.path === `${module}.weight`);
  if (!w) return undefined;
  const use = g.nodes.find((n) => n.op === 'linear' && n.inputs[1] === w.id);
  return use ? (use.attrs.layout as 'in_out' | 'out_in') : undefined;
}

export interface AttentionLayer {
  /** The block that called `attention` (`h.3.attn`). */
  scope: string;
  heads: number;
  kvHeads: number;
  /** Width of the keys (kv_heads · head_dim). */
  kvd: number;
  /** The prefix-table slot of this layer's keys (values at slot + 1), if it is prefix-tuned. */
  prefixSlot?: number;
}

/** The attention calls in execution order (layer 0 first). */
export function attentionLayers(g: Graph): AttentionLayer[] {
  return g.nodes.filter((n) => n.op === 'attention').map((n) => {
    const k = g.nodes[n.inputs[1]!]!;
    const kvd = k.shape[k.shape.length - 1] as number;
    const layer: AttentionLayer = { scope: n.scope, heads: n.attrs.heads as number, kvHeads: n.attrs.kv_heads as number, kvd };
    const slice = Number(n.attrs.prefix) > 0 ? prefixSlice(g, k) : undefined;
    if (slice) layer.prefixSlot = (slice.attrs.start as number) / kvd;
    return layer;
  });
}

/** concat(expand_batch(slice(table)), k) → the slice. */
function prefixSlice(g: Graph, k: Node): Node | undefined {
  if (k.op !== 'concat') return undefined;
  const expand = g.nodes[k.inputs[0]!]!;
  const slice = expand.op === 'expand_batch' ? g.nodes[expand.inputs[0]!]! : undefined;
  return slice?.op === 'slice' ? slice : undefined;
}

/** The embedding that reads the token ids: its module, vocabulary and width. */
export function tokenEmbedding(g: Graph): { module: string; vocab: number; dim: number } | undefined {
  // (A prompt template makes it a soft_embedding, whose ids are operand 2.)
  const emb = g.nodes.find((n) => (n.op === 'embedding' && g.nodes[n.inputs[1]!]!.op === 'input') || (n.op === 'soft_embedding' && g.nodes[n.inputs[2]!]!.op === 'input'));
  const table = emb ? g.nodes[emb.inputs[0]!]! : undefined;
  if (!table || table.op !== 'param') return undefined;
  const p = g.params.find((x) => x.path === table.attrs.path);
  return p ? { module: p.module, vocab: p.shape[0]!, dim: p.shape[1]! } : undefined;
}

/** Every module path of the model: the modules that own parameters and their ancestors. */
export function modulePaths(g: Graph): Set<string> {
  const out = new Set<string>();
  for (const p of g.params) {
    if (p.origin !== 'base') continue;
    const parts = p.module.split('.');
    for (let i = 1; i <= parts.length; i++) out.add(parts.slice(0, i).join('.'));
  }
  for (const n of g.nodes) if (n.op === 'attention' && n.scope) out.add(n.scope);
  return out;
}

/** The modules whose table a base `embedding` op looks up (LoRA-able too, as PEFT's lora.Embedding). */
export function embeddingModules(g: Graph): string[] {
  const out = new Set<string>();
  for (const n of g.nodes) {
    if (n.op !== 'embedding') continue;
    const w = g.nodes[n.inputs[0]!]!;
    const p = w.op === 'param' ? g.params.find((x) => x.path === w.attrs.path) : undefined;
    if (p && p.origin === 'base' && p.path === `${p.module}.weight`) out.add(p.module);
  }
  return [...out];
}

/** The modules whose weight a base `linear` op reads (the LoRA-able layers), in model order. */
export function linearModules(g: Graph): string[] {
  const out: string[] = [];
  for (const n of g.nodes) {
    if (n.op !== 'linear') continue;
    const w = g.nodes[n.inputs[1]!]!;
    const p = w.op === 'param' ? g.params.find((x) => x.path === w.attrs.path) : undefined;
    if (p && p.origin === 'base' && p.path === `${p.module}.weight` && g.params.some((x) => x.path === p.path) && !out.includes(p.module)) {
      // A tied head reads the embedding's table: that module is an Embedding, not a Linear.
      if (!g.nodes.some((e) => (e.op === 'embedding' || e.op === 'soft_embedding') && e.inputs[0] === w.id)) out.push(p.module);
    }
  }
  return out;
}
