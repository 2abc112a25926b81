// The op catalog's typed definitions: every op has a role and an attribute schema; the builder
// and the verifier check a node's attributes against it once, naming the node, the op and the
// attribute; the type-level checks at the end fail `tsc` if the tables stop being typed by it.
import { describe, expect, it } from 'vitest';
import { GRAD_RULES, gradRule, NO_GRAD } from '../../compiler/autodiff/rules.ts';
import { checkAttrs } from '../../compiler/ir/attrs.ts';
import { GraphBuilder, ShapeError } from '../../compiler/ir/builder.ts';
import { OPS, opSpec, opsWithRole, type ForwardOp, type OpAttrs } from '../../compiler/ir/ops.ts';
import { verifyGraph } from '../../compiler/ir/verify.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import { graphOf, tinySet } from '../helpers.ts';

const tiny = () => graphOf('tiny-gpt-lora.peft', tinySet('tiny-gpt-lora.peft'));

describe('op roles', () => {
  it('gives every op one role, the leaves being input and param', () => {
    const roles = Object.values(OPS).map((d) => d.role);
    expect(roles.every((r) => r === 'leaf' || r === 'forward' || r === 'backward' || r === 'decode')).toBe(true);
    expect(opsWithRole('leaf').sort()).toEqual(['input', 'param']);
  });

  it('holds the decoding ops, with their own role and no gradient entry', () => {
    expect(opsWithRole('decode').sort()).toEqual(['decode_positions', 'decode_rope', 'kv_attention']);
    for (const op of opsWithRole('decode')) expect(Object.hasOwn(GRAD_RULES, op), op).toBe(false);
  });

  it("checks a decoding op's attributes and shape like any other op's", () => {
    const rope = opSpec('decode_rope');
    expect(rope.shape([[2, 3, 8], [2]], { heads: 2, theta: 10000, inverse: false })).toEqual([2, 3, 8]);
    expect(rope.shape([[2, 3, 8], [2]], { heads: 2, theta: 10000, inverse: false, offset: 1.5 })).toMatch(/offset/);
    expect(opSpec('kv_attention').shape([[1, 1, 8], [1, 1, 8], [1, 1, 8], [1], [1]], { heads: 2, kv_heads: 2, prefix: 0 })).toMatch(/layer/);
    expect(opSpec('decode_positions').shape([[2, 5, 8], [2]], { offset: 0 })).toEqual([2, 5]);
  });

  it('calls the ops only gradient rules emit backward', () => {
    const backward = opsWithRole('backward');
    for (const op of ['linear_grad_weight', 'sum_to', 'pad', 'attention_lse', 'attention_grad_v', 'linear_gather_grad_bias']) expect(backward).toContain(op);
    for (const op of ['linear', 'attention', 'cross_entropy', 'linear_gather']) expect(opsWithRole('forward')).toContain(op);
  });
});

describe('gradient entries', () => {
  it('has one for every forward op: a rule, or a stated reason for none', () => {
    for (const op of opsWithRole('forward')) {
      const entry = GRAD_RULES[op as keyof typeof GRAD_RULES];
      expect(typeof entry === 'function' || typeof entry.none === 'string', op).toBe(true);
    }
    for (const op of ['input', 'param', 'positions']) expect(NO_GRAD.has(op), op).toBe(true);
    for (const op of NO_GRAD) expect(OPS[op as keyof typeof OPS].role === 'leaf' || typeof GRAD_RULES[op as keyof typeof GRAD_RULES] !== 'function', op).toBe(true);
  });

  it('finds no rule for leaves, backward ops and unknown names', () => {
    expect(gradRule('linear')).toBeTypeOf('function');
    for (const op of ['param', 'positions', 'linear_grad_weight', 'softmax', 'toString']) expect(gradRule(op), op).toBeUndefined();
  });
});

describe('attribute schemas', () => {
  it('accepts what the tracer writes and names the first problem otherwise', () => {
    expect(checkAttrs(OPS.slice.attrs, { axis: -1, start: 0, size: 'T' })).toBeUndefined();
    expect(checkAttrs(OPS.slice.attrs, { axis: -1, start: 0 })).toBe('missing attribute size');
    expect(checkAttrs(OPS.slice.attrs, { axis: 1.5, start: 0, size: 2 })).toBe('attribute axis must be an integer, got 1.5');
    expect(checkAttrs(OPS.linear.attrs, { layout: 'rows' })).toBe('attribute layout must be one of in_out, out_in, got "rows"');
    expect(checkAttrs(OPS.layernorm.attrs, { eps: Infinity })).toMatch(/eps must be a finite number/);
    expect(checkAttrs(OPS.attention.attrs, { heads: 2, kv_heads: 2, causal: 1, prefix: 0 })).toBe('attribute causal must be a boolean, got 1');
    expect(checkAttrs(OPS.add.attrs, { axis: 0 })).toBe('unknown attribute axis');
    // rope's offset may be left out (0); input's fill too.
    expect(checkAttrs(OPS.rope.attrs, { heads: 1, theta: 1e4, inverse: false })).toBeUndefined();
    expect(checkAttrs(OPS.input.attrs, { name: 'tokens' })).toBeUndefined();
  });

  it('makes the builder refuse a node with bad attributes before its shape rule reads them', () => {
    const b = new GraphBuilder();
    const x = b.input('x', [2, 4], 'f32');
    expect(() => b.op('slice', [x], { axis: 1, start: 0 })).toThrow(new ShapeError('missing attribute size'));
    expect(() => b.op('scale', [x], { factor: '2' })).toThrow(/factor must be a finite number, got "2"/);
    expect(b.nodes[b.op('slice', [x], { axis: 1, start: 1, size: 2 })]!.shape).toEqual([2, 2]);
  });

  it('makes the verifier report a mistyped, missing or unknown attribute of a traced graph by node and op', () => {
    const g = tiny();
    expect(verifyGraph(g)).toEqual([]);
    const edit = (op: string, f: (attrs: Record<string, unknown>) => void): string[] => {
      const copy: Graph = { ...g, nodes: g.nodes.map((n) => ({ ...n, attrs: { ...n.attrs } })) };
      const n = copy.nodes.find((m) => m.op === op)!;
      f(n.attrs);
      return verifyGraph(copy).map((p) => p.replace(/^%\d+/, '%N'));
    };
    expect(edit('layernorm', (a) => delete a.eps)).toEqual(['%N (layernorm): missing attribute eps']);
    expect(edit('linear', (a) => (a.layout = 'inout'))).toEqual(['%N (linear): attribute layout must be one of in_out, out_in, got "inout"']);
    expect(edit('slice', (a) => (a.start = 0.5))).toEqual(['%N (slice): attribute start must be an integer, got 0.5']);
    expect(edit('attention', (a) => (a.window = 4))).toEqual(['%N (attention): unknown attribute window']);
    expect(edit('input', (a) => (a.name = 3))).toEqual(['%N (input): attribute name must be a string, got 3']);
  });

  it('keeps the catalog and its runtime view the same op for op', () => {
    for (const op of Object.keys(OPS)) {
      const spec = opSpec(op);
      expect(spec.inputs).toBe(OPS[op as keyof typeof OPS].inputs);
      expect(spec.role).toBe(OPS[op as keyof typeof OPS].role);
    }
    expect(() => opSpec('softmax')).toThrow('unknown op softmax');
  });
});

// ------------------------------------------------------------------ type level (checked by tsc)

// A table keyed by forward op must name every forward op.
// @ts-expect-error: linear's entry alone is not a complete table
const incomplete: Record<ForwardOp, true> = { linear: true };
// Attributes are typed by the catalog: slice's axis is a number, linear's layout one of two strings.
const sliceAttrs: OpAttrs<'slice'> = { axis: -1, start: 0, size: 'T' };
// @ts-expect-error: layout is 'in_out' or 'out_in'
const badLayout: OpAttrs<'linear'> = { layout: 'rows' };
// @ts-expect-error: positions is not an op with a `size`
const wrongOp: OpAttrs<'positions'> = { size: 1 };
// @ts-expect-error: the gradient table without linear's entry
const noLinear: typeof GRAD_RULES = { ...GRAD_RULES, linear: undefined };
void [incomplete, sliceAttrs, badLayout, wrongOp, noLinear];
