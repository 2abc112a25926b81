// The text form of the Model IR (docs/ir.md). One line per parameter and per node:
//   param h.0.attn.c_attn.lora_A.weight [8, 768] trainable lora init=uniform(0.0360844) method=lora(rank=8, …)
//   %12 = linear %10, %11 {layout=in_out} : f32[B, T, 2304]  # h.0.attn.c_attn
// parse.ts reads it back; print∘parse∘print is the identity (golden-tested).
import type { AttrValue, Graph, InitRule, Node, Param } from './types.ts';

export function printGraph(g: Graph): string {
  const lines: string[] = [];
  lines.push(`graph task=${g.task} prompt=${g.promptLength}`);
  for (const [k, v] of Object.entries(g.config)) lines.push(`config ${k} = ${JSON.stringify(v)}`);
  for (const p of g.params) lines.push(printParam(p));
  for (const n of g.nodes) lines.push(printNode(n));
  lines.push(`inputs ${Object.entries(g.inputs).map(([k, v]) => `${k}=%${v}`).join(' ')}`);
  lines.push(`outputs logits=%${g.outputs.logits} loss=%${g.outputs.loss}`);
  return lines.join('\n') + '\n';
}

export function printParam(p: Param): string {
  const parts = [`param ${p.path}`, `[${p.shape.join(', ')}]`, p.partition, p.origin, `module=${p.module || '.'}`, `init=${printInit(p.init)}`];
  if (p.method) {
    const s = Object.entries(p.method.settings).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
    parts.push(`method=${p.method.name}@${p.method.module}(${s.join(', ')})`);
  }
  if (p.transient) parts.push('transient');
  return parts.join(' ');
}

export function printInit(i: InitRule): string {
  switch (i.kind) {
    case 'zeros':
    case 'ones':
      return i.kind;
    case 'normal':
      return `normal(${i.std})`;
    case 'uniform':
      return `uniform(${i.bound})`;
    case 'vocab':
      return `vocab(${i.table})`;
    case 'text':
      return `text(${i.table}, ${JSON.stringify(i.text)})`;
    case 'row_norm':
      return `row_norm(${i.weight}, ${i.layout})`;
    case 'pissa':
    case 'olora':
      return `${i.kind}(${i.weight}, ${i.layout}, ${i.factor}, ${i.scale}${i.niter === undefined ? '' : `, ${i.niter}`})`;
  }
}

export function printAttr(v: AttrValue): string {
  return Array.isArray(v) ? `[${v.join(',')}]` : typeof v === 'string' ? v : String(v);
}

export function printNode(n: Node): string {
  const args = n.inputs.map((i) => `%${i}`).join(', ');
  const attrs = Object.entries(n.attrs);
  const a = attrs.length ? ` {${attrs.map(([k, v]) => `${k}=${printAttr(v)}`).join(', ')}}` : '';
  const scope = n.scope ? `  # ${n.scope}` : '';
  return `%${n.id} = ${n.op}${args ? ' ' + args : ''}${a} : ${n.dtype}[${n.shape.join(', ')}]${scope}`;
}

/** The Training IR: forward, backward (pruned), the gradients and the update. */
export function printTrainingGraph(t: {
  graph: Graph;
  forwardEnd: number;
  grads: { path: string; node: number }[];
  optimizer: object;
}): string {
  const g = t.graph;
  const lines: string[] = [`training-graph task=${g.task} prompt=${g.promptLength}`];
  for (const p of g.params) lines.push(printParam(p));
  lines.push('# forward');
  for (const n of g.nodes.slice(0, t.forwardEnd)) lines.push(printNode(n));
  lines.push(`# backward (${g.nodes.length - t.forwardEnd} ops)`);
  for (const n of g.nodes.slice(t.forwardEnd)) lines.push(printNode(n));
  lines.push('# gradients of the trainable partition');
  for (const gr of t.grads) lines.push(`grad ${gr.path} = %${gr.node}`);
  const opt = Object.entries(t.optimizer).map(([k, v]) => `${k}=${String(v)}`).join(' ');
  lines.push(`update ${opt} over ${t.grads.length} trainable tensors`);
  lines.push(`outputs logits=%${g.outputs.logits} loss=%${g.outputs.loss}`);
  return lines.join('\n') + '\n';
}
