// The grouping of compiler/lower/fuse.ts on small hand-built graphs: which nodes one dispatch
// computes for each epilogue fusion, and what blocks one (a kept value, another reader, an
// operand computed too late, a binding limit, the kind switched off). Whole models are in
// test/compiler/plan.test.ts.
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../compiler/ir/builder.ts';
import type { Graph, Partition } from '../../compiler/ir/types.ts';
import { FUSION_KINDS, type FusionKind, type Group, groupNodes } from '../../compiler/lower/fuse.ts';

/** A graph from a builder, every node live through the `keep` nodes. */
function graphOf(b: GraphBuilder): Graph {
  return { params: b.params, nodes: b.nodes, inputs: {}, outputs: { logits: -1, loss: -1 }, task: 'causal_lm', promptLength: 0, config: {} };
}

function param(b: GraphBuilder, path: string, shape: number[], partition: Partition = 'frozen'): number {
  return b.param({ path, shape, dtype: 'f32', init: { kind: 'zeros' }, partition, origin: 'base', module: path });
}

/** x [8, 4] and a linear layer 4 → 6 with bias (frozen). */
function start(): { b: GraphBuilder; x: number; lin: (input: number, name?: string, n?: number) => number } {
  const b = new GraphBuilder();
  const x = b.input('x', [8, 4], 'f32');
  const lin = (input: number, name = 'fc', n = 6) => {
    const k = b.node(input).shape.at(-1) as number;
    return b.op('linear', [input, param(b, `${name}.weight`, [k, n]), param(b, `${name}.bias`, [n])], { layout: 'in_out' });
  };
  return { b, x, lin };
}

function group(b: GraphBuilder, keep: number[], opts: { enabled?: readonly FusionKind[]; alias?: Map<number, number>; maxBindings?: number } = {}): Group[] {
  return groupNodes({
    graph: graphOf(b),
    end: b.nodes.length,
    keep: new Set(keep),
    enabled: new Set(opts.enabled ?? FUSION_KINDS),
    ...(opts.alias ? { alias: opts.alias } : {}),
    ...(opts.maxBindings !== undefined ? { maxBindings: opts.maxBindings } : {}),
  });
}

const groupOf = (groups: Group[], node: number): Group | undefined => groups.find((g) => g.nodes.includes(node));

describe('fuse: activation_aux', () => {
  /** pre = linear(x); act = gelu(pre); out = gelu_grad(pre, act): pre has two readers. */
  const build = (op = 'gelu') => {
    const { b, x, lin } = start();
    const pre = lin(x);
    const act = b.op(op, [pre]);
    const grad = b.op(`${op}_grad`, [pre, act]);
    return { b, pre, act, grad };
  };

  it('a linear read by its activation and more: one group writing both, the activation as extraOutput', () => {
    for (const op of ['gelu', 'relu', 'silu']) {
      const { b, pre, act, grad } = build(op);
      const g = group(b, [grad]);
      const fused = groupOf(g, act)!;
      expect(fused).toMatchObject({ output: pre, extraOutput: act, nodes: [pre, act], epilogue: { kind: 'activation_aux', nodes: [act] } });
      expect(fused.fusion).toBeUndefined();
      expect(g).toHaveLength(2); // and the gradient
    }
  });

  it('a linear read only by its activation is bias_activation (no second output)', () => {
    const { b, x, lin } = start();
    const pre = lin(x);
    const act = b.op('gelu', [pre]);
    const g = group(b, [act]);
    expect(g).toEqual([{ output: act, nodes: [pre, act], fusion: 'bias_activation' }]);
  });

  it('not when switched off, nor past the binding limit (A, B, bias, C and the second output are 5)', () => {
    const { b, act, grad } = build();
    expect(groupOf(group(b, [grad], { enabled: FUSION_KINDS.filter((k) => k !== 'activation_aux') }), act)!.nodes).toEqual([act]);
    expect(groupOf(group(b, [grad], { maxBindings: 4 }), act)!.nodes).toEqual([act]);
    expect(groupOf(group(b, [grad], { maxBindings: 5 }), act)!.nodes).toHaveLength(2);
  });
});

describe('fuse: activation_grad', () => {
  /** pre = linear(x) (forward), g = linear(dy) read only by gelu_grad(pre, g). */
  const build = (op = 'gelu_grad') => {
    const { b, x, lin } = start();
    const pre = lin(x);
    const dy = b.input('dy', [8, 5], 'f32');
    const g = lin(dy, 'proj');
    const grad = b.op(op, [pre, g]);
    return { b, pre, g, grad, lin };
  };

  it('the gradient through gelu/relu/silu/tanh of a product read only by it: one group, pre as the operand', () => {
    for (const op of ['gelu_grad', 'relu_grad', 'silu_grad', 'tanh_grad']) {
      const { b, pre, g, grad } = build(op);
      const groups = group(b, [grad]);
      expect(groups).toHaveLength(2);
      expect(groupOf(groups, grad)).toEqual({ output: grad, nodes: [g, grad], epilogue: { kind: 'activation_grad', nodes: [grad], operand: pre } });
    }
  });

  it('not when the product has another reader or is kept, nor when the product is the pre-activation', () => {
    const { b, g, grad } = build();
    const other = b.op('scale', [g], { factor: 2 });
    expect(groupOf(group(b, [grad, other]), grad)!.nodes).toEqual([grad]);
    const kept = build();
    expect(groupOf(group(kept.b, [kept.grad, kept.g]), kept.grad)!.nodes).toEqual([kept.grad]);
    // gelu_grad(g, g): the product would be its own pre-activation
    const self = start();
    const g2 = self.lin(self.x);
    const grad2 = self.b.op('gelu_grad', [g2, g2]);
    expect(groupOf(group(self.b, [grad2]), grad2)!.nodes).toEqual([grad2]);
  });

  it('not when the pre-activation is computed after the product', () => {
    const { b, x, lin } = start();
    const dy = b.input('dy', [8, 5], 'f32');
    const g = lin(dy, 'proj');
    const pre = lin(x);
    const grad = b.op('gelu_grad', [pre, g]);
    expect(groupOf(group(b, [grad]), grad)!.nodes).toEqual([grad]);
  });
});

describe('fuse: residual', () => {
  /** h = x' + dropout(linear(a)), x' also read by layernorm (so accumulate cannot write into it). */
  const build = (p = 0.1) => {
    const { b, lin } = start();
    const x = b.input('res', [8, 6], 'f32');
    const xs = b.op('scale', [x], { factor: 1 }); // a computed residual stream
    const ln = b.op('layernorm', [xs], { eps: 1e-5 });
    const a = b.input('a', [8, 4], 'f32');
    const y = lin(a, 'proj');
    const d = b.op('dropout', [y], { p, seed: 3 });
    const h = b.op('add', [xs, d]);
    return { b, xs, ln, y, d, h };
  };

  it('add(x, dropout(linear)) with x read elsewhere too: one group writing x + dropout(product), the mask drawn in the epilogue', () => {
    const { b, xs, ln, y, d, h } = build();
    const groups = group(b, [h, ln]);
    expect(groupOf(groups, h)).toEqual({ output: h, nodes: [y, d, h], epilogue: { kind: 'residual', nodes: [d, h], operand: xs, dropout: d } });
    expect(groups.filter((g) => g.nodes.includes(xs))).toHaveLength(1); // x is its own group's, only read here
  });

  it('in evaluation the dropout is the product itself: not in the group, no mask', () => {
    const { b, xs, ln, y, d, h } = build();
    const groups = group(b, [h, ln], { alias: new Map([[d, y]]) });
    expect(groupOf(groups, h)).toEqual({ output: h, nodes: [y, h], epilogue: { kind: 'residual', nodes: [h], operand: xs } });
  });

  it('a dropout with p = 0 is a copy: absorbed, no mask', () => {
    const { b, xs, ln, y, d, h } = build(0);
    expect(groupOf(group(b, [h, ln]), h)!.epilogue).toEqual({ kind: 'residual', nodes: [d, h], operand: xs });
    expect(groupOf(group(b, [h, ln]), h)!.nodes).toEqual([y, d, h]);
  });

  it('accumulate first, where the add is the other operand\'s only reader (it then writes in place)', () => {
    const { b, lin } = start();
    const x = b.op('scale', [b.input('res', [8, 6], 'f32')], { factor: 1 });
    const y = lin(b.input('a', [8, 4], 'f32'), 'proj');
    const h = b.op('add', [x, y]);
    const out = b.op('scale', [h], { factor: 2 }); // (a kept add is never accumulated: its memory would be x's)
    expect(groupOf(group(b, [out]), h)).toMatchObject({ output: h, nodes: [y, h], into: x });
    expect(groupOf(group(b, [out], { enabled: FUSION_KINDS.filter((k) => k !== 'accumulate') }), h)).toMatchObject({ output: h, nodes: [y, h], epilogue: { kind: 'residual', operand: x } });
  });

  it('not when the dropout or the product is kept, has another reader, or the kind is off', () => {
    for (const extra of ['d', 'y'] as const) {
      const t = build();
      expect(groupOf(group(t.b, [t.h, t.ln, t[extra]]), t.h)!.nodes).toEqual([t.h]);
      const u = build();
      const other = u.b.op('scale', [u[extra]], { factor: 2 });
      expect(groupOf(group(u.b, [u.h, u.ln, other]), u.h)!.nodes).toEqual([u.h]);
    }
    const t = build();
    expect(groupOf(group(t.b, [t.h, t.ln], { enabled: FUSION_KINDS.filter((k) => k !== 'residual') }), t.h)!.nodes).toEqual([t.h]);
  });

  it('not when the other operand is computed after the product, or broadcasts', () => {
    const { b, lin } = start();
    const y = lin(b.input('a', [8, 4], 'f32'), 'proj');
    const x = b.op('scale', [b.input('res', [8, 6], 'f32')], { factor: 1 });
    const h = b.op('add', [x, y]);
    expect(groupOf(group(b, [h], { enabled: FUSION_KINDS.filter((k) => k !== 'accumulate') }), h)!.nodes).toEqual([h]);
    const c = start();
    const y2 = c.lin(c.b.input('a', [8, 4], 'f32'), 'proj');
    const row = c.b.input('row', [6], 'f32');
    const h2 = c.b.op('add', [y2, row]);
    expect(groupOf(group(c.b, [h2]), h2)!.nodes).toEqual([h2]);
  });

  it('the mask needs the step (globals): one binding more than without dropout', () => {
    const t = build();
    // A, B, bias, res, C = 5; with the mask's globals 6.
    expect(groupOf(group(t.b, [t.h, t.ln], { maxBindings: 5 }), t.h)!.nodes).toEqual([t.h]);
    expect(groupOf(group(t.b, [t.h, t.ln], { maxBindings: 6 }), t.h)!.nodes).toEqual([t.y, t.d, t.h]);
  });
});

describe('fuse: epilogues after sum_of_products', () => {
  it('a LoRA-style sum read by gelu and gelu_grad: one group with both products and the second output', () => {
    const b = new GraphBuilder();
    const x = b.input('x', [8, 4], 'f32');
    const base = b.op('linear', [x, param(b, 'w', [4, 6]), param(b, 'bias', [6])], { layout: 'in_out' });
    const down = b.op('linear', [x, param(b, 'A', [2, 4], 'trainable')], { layout: 'out_in' });
    const up = b.op('linear', [down, param(b, 'B', [6, 2], 'trainable')], { layout: 'out_in' });
    const sum = b.op('add', [base, up]);
    const act = b.op('gelu', [sum]);
    const grad = b.op('gelu_grad', [sum, act]);
    const groups = group(b, [grad]);
    const fused = groupOf(groups, act)!;
    expect(fused).toMatchObject({ output: sum, extraOutput: act, fusion: 'sum_of_products', epilogue: { kind: 'activation_aux', nodes: [act] } });
    expect(fused.nodes).toEqual([base, up, sum, act]);
    expect(fused.products!.second.nodes).toEqual([up]);
  });
});

describe('fuse: norm_residual', () => {
  const build = (op: 'layernorm_grad_x' | 'rmsnorm_grad_x') => {
    const b = new GraphBuilder();
    const x = b.input('x', [8, 6], 'f32');
    const g = b.op('scale', [b.input('g', [8, 6], 'f32')], { factor: 1 }); // the residual stream's gradient
    const dy = b.input('dy', [8, 6], 'f32');
    const gamma = param(b, 'gamma', [6]);
    const dx = b.op(op, [x, dy, gamma], { eps: 1e-5 });
    const sum = b.op('add', [g, dx]);
    const other = b.op('scale', [g], { factor: 3 }); // g has another reader
    return { b, g, dx, sum, other };
  };

  it('add(g, norm gradient): one group adding g in the gradient kernel', () => {
    for (const op of ['layernorm_grad_x', 'rmsnorm_grad_x'] as const) {
      const { b, g, dx, sum, other } = build(op);
      expect(groupOf(group(b, [sum, other]), sum)).toEqual({ output: sum, nodes: [dx, sum], fusion: 'norm_residual', addend: g });
    }
  });

  it('not when the gradient is kept or read elsewhere, nor when switched off', () => {
    const t = build('layernorm_grad_x');
    expect(groupOf(group(t.b, [t.sum, t.other, t.dx]), t.sum)!.nodes).toEqual([t.sum]);
    const reader = t.b.op('scale', [t.dx], { factor: 2 });
    expect(groupOf(group(t.b, [t.sum, t.other, reader]), t.sum)!.nodes).toEqual([t.sum]);
    const u = build('layernorm_grad_x');
    expect(groupOf(group(u.b, [u.sum, u.other], { enabled: [] }), u.sum)!.nodes).toEqual([u.sum]);
  });
});
