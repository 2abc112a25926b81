// The IR verifier, run after every pass: structure, operand counts, topological order,
// parameter references, attributes (each checked against its op's schema) and shapes (each
// node's shape is recomputed from the catalog). Downstream (the autodiff's rules, the plan, the
// kernels) reads a verified graph's attributes as typed and trusts its shapes.
import { shapeEq, formatShape } from './dims.ts';
import { checkAttrs } from './attrs.ts';
import { isOp, opSpec } from './ops.ts';
import type { Graph } from './types.ts';

export function verifyGraph(g: Graph): string[] {
  const problems: string[] = [];
  const params = new Map(g.params.map((p) => [p.path, p]));
  if (params.size !== g.params.length) problems.push('duplicate parameter paths');
  g.nodes.forEach((n, i) => {
    const where = `%${n.id} (${n.op})`;
    if (n.id !== i) problems.push(`${where}: id does not match its position ${i}`);
    if (!isOp(n.op)) {
      problems.push(`${where}: unknown op`);
      return;
    }
    const spec = opSpec(n.op);
    const required = spec.inputs.filter((s) => !s.endsWith('?')).length;
    if (n.inputs.length < required || n.inputs.length > spec.inputs.length) {
      problems.push(`${where}: ${n.inputs.length} operands, expected ${required}..${spec.inputs.length}`);
    }
    for (const a of n.inputs) if (!(a >= 0 && a < n.id)) problems.push(`${where}: operand %${a} is not defined before it`);
    if (n.op === 'param') {
      const p = params.get(n.attrs.path as string);
      if (!p) problems.push(`${where}: no parameter ${String(n.attrs.path)}`);
      else if (!shapeEq(p.shape, n.shape)) problems.push(`${where}: shape ${formatShape(n.shape)} differs from parameter ${formatShape(p.shape)}`);
      return;
    }
    if (n.op === 'input') {
      const bad = checkAttrs(spec.attrs, n.attrs);
      if (bad) problems.push(`${where}: ${bad}`);
      return;
    }
    // The shape rule checks the attributes first (opSpec).
    const s = spec.shape(n.inputs.map((a) => g.nodes[a]?.shape ?? []), n.attrs);
    if (typeof s === 'string') problems.push(`${where}: ${s}`);
    else if (!shapeEq(s, n.shape)) problems.push(`${where}: recorded shape ${formatShape(n.shape)} but the rule gives ${formatShape(s)}`);
  });
  const loss = g.nodes[g.outputs.loss];
  if (!loss || loss.shape.length !== 0) problems.push('the loss is not a scalar node');
  if (!g.nodes[g.outputs.logits]) problems.push('the logits node is missing');
  for (const p of g.params) {
    if (p.partition !== 'frozen' && p.partition !== 'trainable') problems.push(`parameter ${p.path}: bad partition`);
  }
  return problems;
}
