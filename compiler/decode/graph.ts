// The decoding transform: from a causal language model's Model IR, the two graphs that generate
// with a key/value cache (docs/generate.md).
//
//   prefill  the prompt (soft prompt tokens prepended, as in training) → the logits of each row's
//            last real position; every attention writes its keys and values to the cache.
//   step     the next token(s) of each row → their last logits, attending to the cache.
//
// What changes against the traced graph: attention becomes kv_attention (its keys and values go
// through the cache; prefix keys and values are the cache's first entries, given once, in the
// prefill), positions and rope count from each row's cache length (`decode_past`), the soft prompt
// is prepended only in the prefill, and the language-model head sees one position per row
// (`decode_count`: the row's real positions in the chunk; pool `last` picks the last of them).
// Targets and the loss are gone. A graph the transform cannot prove position-wise elsewhere (an
// op mixing sequence positions it does not know) is refused with the reason.
import { isOp, opSpec } from '../ir/ops.ts';
import type { Attrs, Graph, Node, Shape } from '../ir/types.ts';

/** i32 [B]: positions each row holds in the cache before this chunk, prefix not counted. */
export const PAST = 'decode_past';
/** i32 [B]: real positions of each row in this chunk (1 … S); the logits are those of the last. */
export const COUNT = 'decode_count';
/** i32 [B]: the cache row each batch row reads and extends. */
export const ROWS = 'decode_rows';

export interface CacheLayer {
  /** The attention's key/value width (kv_heads · head size). */
  kvd: number;
  /** Its key/value heads (kv_heads). */
  kvHeads: number;
  /** Prefix keys and values held at the front of this layer's cache. */
  prefix: number;
}

export interface DecodeGraphs {
  prefill: Graph;
  step: Graph;
  /** One per attention, in graph order (kv_attention's `layer`). */
  layers: CacheLayer[];
}

export class DecodeUnsupported extends Error {
  override name = 'DecodeUnsupported';
}

/** Both decoding graphs of `g`; throws DecodeUnsupported (with the reason) for graphs that cannot decode incrementally. */
export function decodeGraphs(g: Graph): DecodeGraphs {
  if (g.task !== 'causal_lm') throw new DecodeUnsupported('only a language model generates');
  const layers: CacheLayer[] = [];
  const prefill = rewrite(g, true, layers);
  const step = rewrite(g, false, []);
  return { prefill, step, layers };
}

/** Whether `n` works along the sequence axis of a [B, S, …] tensor. */
function alongSequence(g: Graph, n: Node): boolean {
  const x = g.nodes[n.inputs[0]!]!;
  const axis = n.attrs.axis as number;
  return x.shape[0] === 'B' && (axis < 0 ? axis + x.shape.length : axis) === 1;
}

/** The soft prompt's concat: concat(expand_batch(prompt param), embeddings) along the sequence. */
function isPromptConcat(g: Graph, n: Node): boolean {
  if (n.op !== 'concat' || !alongSequence(g, n)) return false;
  const e = g.nodes[n.inputs[0]!]!;
  if (e.op !== 'expand_batch') return false;
  const p = g.nodes[e.inputs[0]!]!;
  return p.op === 'param' && g.params.find((q) => q.path === p.attrs.path)?.origin === 'prompt';
}

/** k (or v) of a prefix-tuned attention: concat(expand_batch(prefix slice), new) → [prefix slice, new]. */
function splitPrefix(g: Graph, id: number, what: string): [number, number] {
  const c = g.nodes[id]!;
  const e = g.nodes[c.inputs[0]!];
  if (c.op !== 'concat' || e?.op !== 'expand_batch') throw new DecodeUnsupported(`the prefix ${what} of %${id} are not concat(expand_batch(prefix), …)`);
  return [e.inputs[0]!, c.inputs[1]!];
}

function rewrite(g: Graph, prefill: boolean, layers: CacheLayer[]): Graph {
  const nodes: Node[] = [];
  const map = new Map<number, number>();
  const push = (n: Omit<Node, 'id'>): number => {
    nodes.push({ ...n, shape: inferShape(n.op, n.inputs.map((i) => nodes[i]!.shape), n.attrs, n.shape), id: nodes.length });
    return nodes.length - 1;
  };
  const m = (id: number) => {
    const to = map.get(id);
    if (to === undefined) throw new DecodeUnsupported(`%${id} (prefix keys or values) is read outside its attention`);
    return to;
  };
  const past = push({ op: 'input', inputs: [], attrs: { name: PAST }, shape: ['B'], dtype: 'i32', scope: '' });
  const count = push({ op: 'input', inputs: [], attrs: { name: COUNT }, shape: ['B'], dtype: 'i32', scope: '' });
  const rows = push({ op: 'input', inputs: [], attrs: { name: ROWS }, shape: ['B'], dtype: 'i32', scope: '' });
  const inputs: Record<string, number> = { [PAST]: past, [COUNT]: count, [ROWS]: rows };
  const logits = g.outputs.logits;
  let layer = 0;
  // The prefix concats feed their attention only; kv_attention takes their operands instead.
  const prefixConcats = new Set(g.nodes.filter((n) => n.op === 'attention' && (n.attrs.prefix as number) > 0).flatMap((n) => [n.inputs[1]!, n.inputs[2]!]));
  for (const n of g.nodes.slice(0, logits + 1)) {
    if (prefixConcats.has(n.id)) continue;
    const at = { scope: n.scope, ...(n.src ? { src: n.src } : {}) };
    const copy = (inputs = n.inputs.map(m)) => push({ ...at, op: n.op, inputs, attrs: n.attrs, shape: n.shape, dtype: n.dtype });
    let id: number;
    if (n.op === 'input') {
      if (n.attrs.name === 'targets') continue;
      id = copy([]);
      inputs[n.attrs.name as string] = id;
    } else if (n.op === 'positions') {
      id = push({ ...at, op: 'decode_positions', inputs: [m(n.inputs[0]!), past], attrs: { offset: n.attrs.offset ?? 0 }, shape: ['B', n.shape[0]!], dtype: 'i32' });
    } else if (n.op === 'rope') {
      id = push({ ...at, op: 'decode_rope', inputs: [m(n.inputs[0]!), past], attrs: n.attrs, shape: n.shape, dtype: n.dtype });
    } else if (n.op === 'attention') {
      id = attention(g, n, layer++, prefill, layers, m, [past, rows], (x) => push({ ...at, ...x }));
    } else if (isPromptConcat(g, n)) {
      id = prefill ? copy() : m(n.inputs[1]!);
    } else if (n.op === 'pool' || n.op === 'pad' || ((n.op === 'concat' || n.op === 'slice') && alongSequence(g, n))) {
      throw new DecodeUnsupported(`%${n.id} (${n.op}) mixes sequence positions outside attention`);
    } else if (n.id === logits && (n.op === 'linear' || n.op === 'linear_gather')) {
      // The head on the last position only: its input pooled to [B, D] first.
      const x = g.nodes[n.inputs[0]!]!;
      const last = push({ ...at, op: 'pool', inputs: [m(x.id), count], attrs: { mode: 'last' }, shape: [x.shape[0]!, x.shape[2]!], dtype: 'f32' });
      id = push({ ...at, op: n.op, inputs: [last, ...n.inputs.slice(1).map(m)], attrs: n.attrs, shape: [n.shape[0]!, n.shape[2]!], dtype: n.dtype });
    } else {
      id = copy();
    }
    if (n.id === logits && nodes[id]!.shape.length === 3) {
      id = push({ ...at, op: 'pool', inputs: [id, count], attrs: { mode: 'last' }, shape: [n.shape[0]!, n.shape[2]!], dtype: 'f32' });
    }
    map.set(n.id, id);
  }
  return prune({ ...g, nodes, inputs, outputs: { logits: m(logits), loss: m(logits) }, promptLength: prefill ? g.promptLength : 0 });
}

function attention(
  g: Graph, n: Node, layer: number, prefill: boolean, layers: CacheLayer[], m: (id: number) => number, [past, rows]: [number, number],
  push: (x: Omit<Node, 'id' | 'scope'>) => number,
): number {
  if (n.attrs.causal !== true) throw new DecodeUnsupported(`%${n.id} is bidirectional attention: later tokens change earlier positions`);
  const P = n.attrs.prefix as number;
  let [k, v] = [n.inputs[1]!, n.inputs[2]!];
  const extra: number[] = [];
  if (P > 0) {
    const [pk, kNew] = splitPrefix(g, k, 'keys');
    const [pv, vNew] = splitPrefix(g, v, 'values');
    [k, v] = [kNew, vNew];
    if (prefill) extra.push(m(pk), m(pv));
  }
  const kv = g.nodes[k]!.shape;
  if (prefill) layers.push({ kvd: kv[kv.length - 1] as number, kvHeads: n.attrs.kv_heads as number, prefix: P });
  return push({
    op: 'kv_attention',
    inputs: [m(n.inputs[0]!), m(k), m(v), past, rows, ...extra],
    attrs: { heads: n.attrs.heads!, kv_heads: n.attrs.kv_heads!, prefix: P, layer },
    shape: n.shape,
    dtype: n.dtype,
    ...(n.src ? { src: n.src } : {}),
  });
}

/**
 * A node's shape from its operands' (the catalog's rules): the chunk has its own length (a step's
 * is 1, and has no soft prompt), and position ids are per row ([B, S], not [S]). Leaves keep theirs.
 */
function inferShape(op: string, inputs: Shape[], attrs: Attrs, given: Shape): Shape {
  if (op === 'input' || op === 'param') return given;
  // The decoding ops are in the catalog too (role `decode`).
  const s = isOp(op) ? opSpec(op).shape(inputs, attrs) : undefined;
  return s === undefined || typeof s === 'string' ? given : s;
}

/**
 * Drops the nodes the logits do not need (the prefix's expansion, the soft prompt in a step) and
 * renumbers. The parameter list stays the model's, so that a plan of either graph lays out the
 * parameter arenas as the model's plans do and reads the same buffers (runtime/webgpu).
 */
function prune(g: Graph): Graph {
  const live = new Set<number>([g.outputs.logits]);
  for (let i = g.outputs.logits; i >= 0; i--) if (live.has(i)) for (const j of g.nodes[i]!.inputs) live.add(j);
  for (const id of Object.values(g.inputs)) live.add(id);
  const renum = new Map<number, number>();
  const nodes: Node[] = [];
  for (const n of g.nodes) {
    if (!live.has(n.id)) continue;
    renum.set(n.id, nodes.length);
    nodes.push({ ...n, id: nodes.length, inputs: n.inputs.map((i) => renum.get(i)!) });
  }
  const inputs = Object.fromEntries(Object.entries(g.inputs).map(([k, v]) => [k, renum.get(v)!]));
  const logits = renum.get(g.outputs.logits)!;
  const { prefixTable: _, ...rest } = g;
  return { ...rest, nodes, inputs, outputs: { logits, loss: logits } };
}
