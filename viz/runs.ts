// Consecutive identical layers (`h.0`…`h.11` of a model whose every layer is alike): found
// by comparing each subtree's structure — types, tensor names, shapes, partitions, methods
// and settings — never its name, so that a run can be drawn once with totals over its layers.
import type { VizNode } from './tree.ts';

export interface Run {
  /** Index of the first layer of the run among its siblings. */
  index: number;
  members: VizNode[];
}

/** Text that identifies a subtree's structure (not its own name): equal for layers that are copies. */
export function structureSignature(): (n: VizNode) => string {
  const memo = new Map<VizNode, string>();
  const sig = (n: VizNode): string => {
    let s = memo.get(n);
    if (s === undefined) {
      const params = n.params.map((p) => `${p.adapter ?? ''}:${p.name}:${p.shape.join('x')}:${p.method}:${p.partition}`).join(',');
      s = `${n.type}|${params}|${JSON.stringify(n.methods)}|${n.tiedTo ?? ''}[${n.children.map((c) => `${c.name}=${sig(c)}`).join(';')}]`;
      memo.set(n, s);
    }
    return s;
  };
  return sig;
}

/** The layers of a repeat as runs of identical consecutive layers. */
export function layerRuns(layers: readonly VizNode[], sig = structureSignature()): Run[] {
  const out: Run[] = [];
  layers.forEach((c, i) => {
    const last = out[out.length - 1];
    if (last && sig(last.members[0]!) === sig(c)) last.members.push(c);
    else out.push({ index: i, members: [c] });
  });
  return out;
}
