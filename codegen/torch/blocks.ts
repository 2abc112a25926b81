// Finding the repeated layers of a Model IR graph (`h.0`, `h.1`, … or `model.layers.N`): the
// nodes each layer computes, what flows in and out, and a signature that is equal for layers
// that compute the same thing, so that model.py writes one nn.Module class per kind of layer.
import type { Graph, Node } from '../../compiler/ir/types.ts';

export interface Segment {
  /** The layer's module path (`h.3`). */
  prefix: string;
  /** Nodes the layer's forward computes, in graph order (parameters excluded). */
  members: number[];
  /** Values from outside, in order of first use: node ids (graph values or foreign parameters). */
  inputs: number[];
  /** Member values read after the layer, in id order. */
  outputs: number[];
  /** Equal for layers that compute the same function of their inputs and own parameters. */
  signature: string;
}

export interface LayerList {
  /** The ModuleList path (`h`, `model.layers`). */
  list: string;
  segments: Segment[];
}

/** The list of layers with the most members, when every layer is a clean segment of the graph. */
export function findLayers(g: Graph): LayerList | undefined {
  for (const { list, count } of layerLists(g)) {
    const segments: Segment[] = [];
    for (let i = 0; i < count; i++) {
      const s = segment(g, `${list}.${i}`);
      if (!s) break;
      segments.push(s);
    }
    if (segments.length === count) return { list, segments };
  }
  return undefined;
}

/** Candidate ModuleLists: a path whose children are 0 … n−1 (n ≥ 2), most children first. */
function layerLists(g: Graph): { list: string; count: number }[] {
  const children = new Map<string, Set<number>>();
  for (const p of g.params) {
    const parts = p.path.split('.');
    for (let i = 1; i < parts.length - 1; i++) {
      if (!/^\d+$/.test(parts[i]!)) continue;
      const list = parts.slice(0, i).join('.');
      if (!children.has(list)) children.set(list, new Set());
      children.get(list)!.add(Number(parts[i]));
    }
  }
  return [...children]
    .filter(([, s]) => s.size >= 2 && [...s].every((i) => i < s.size))
    .map(([list, s]) => ({ list, count: s.size }))
    .sort((a, b) => b.count - a.count || a.list.length - b.list.length);
}

const under = (path: string, prefix: string) => path === prefix || path.startsWith(prefix + '.');

function segment(g: Graph, prefix: string): Segment | undefined {
  const own = (n: Node) => n.op === 'param' && under(n.attrs.path as string, prefix);
  const inScope = g.nodes.filter((n) => n.op !== 'param' && under(n.scope, prefix));
  if (!inScope.length) return undefined;
  // Values that depend only on what comes from outside (a prefix table's slices, rank masks) are
  // computed by the caller: the layer then stays the same function in every layer.
  const member = new Set<number>();
  for (const n of inScope) {
    if (n.inputs.some((i) => member.has(i) || own(g.nodes[i]!))) member.add(n.id);
  }
  const members = inScope.filter((n) => member.has(n.id)).map((n) => n.id);
  if (!members.length) return undefined;
  const first = members[0]!;
  const last = members[members.length - 1]!;
  // A node outside the layer that sits among its nodes must not read them: the layer is one call.
  for (let id = first; id <= last; id++) {
    const n = g.nodes[id]!;
    if (!member.has(id) && n.inputs.some((i) => member.has(i))) return undefined;
  }
  const inputs: number[] = [];
  for (const id of members) {
    for (const i of g.nodes[id]!.inputs) if (!member.has(i) && !own(g.nodes[i]!) && !inputs.includes(i)) inputs.push(i);
  }
  const read = new Set<number>([g.outputs.logits, g.outputs.loss, ...(g.prefixTable !== undefined ? [g.prefixTable] : [])]);
  for (const n of g.nodes) if (!member.has(n.id)) for (const i of n.inputs) read.add(i);
  const outputs = members.filter((id) => read.has(id));
  return { prefix, members, inputs, outputs, signature: signatureOf(g, prefix, members, inputs, outputs) };
}

/** The layer's computation with its own node ids and parameter paths taken out. */
function signatureOf(g: Graph, prefix: string, members: number[], inputs: number[], outputs: number[]): string {
  const local = new Map(members.map((id, k) => [id, k]));
  const ref = (i: number): string => {
    if (local.has(i)) return `L${local.get(i)}`;
    const k = inputs.indexOf(i);
    if (k >= 0) return `E${k}`;
    const p = g.nodes[i]!;
    return `P${(p.attrs.path as string).slice(prefix.length)}`;
  };
  const lines = members.map((id) => {
    const n = g.nodes[id]!;
    // A dropout's seed draws peftc's masks; PyTorch draws its own, so layers differing only there are alike.
    const { seed: _, ...unseeded } = n.attrs;
    const attrs = n.op === 'dropout' ? unseeded : n.attrs;
    return `${n.op} ${JSON.stringify(attrs)} ${n.shape.join(',')} ${n.inputs.map(ref).join(',')}`;
  });
  const params = g.params.filter((p) => under(p.path, prefix)).map((p) => `${p.path.slice(prefix.length)} ${p.shape.join(',')} ${p.partition}`);
  return [...params, ...lines, `out ${outputs.map(ref).join(',')}`].join('\n');
}
