// Builtin functions of forward bodies: activations, attention, split, dropout,
// positions, pooling. Each binds its arguments, checks them and emits IR ops.
import type { Call } from '../grammar/ast.ts';
import type { SourceRange } from '../grammar/diagnostics.ts';
import { Codes } from './codes.ts';
import type { ModuleInst } from './modules.ts';
import type { Tensor, TracerHost as Tracer } from './trace-host.ts';
import { didYouMean } from './suggest.ts';
import { describe, POISON, type Value } from './values.ts';
import { TOKEN_TYPES } from './ir/types.ts';

interface FnParam {
  name: string;
  type: 'tensor' | 'number' | 'bool' | 'option';
  default?: Value;
  options?: string[];
}

interface FnSpec {
  params: FnParam[];
  doc: string;
  run(t: Tracer, a: Args, range: SourceRange, m: ModuleInst): Value;
}

type Args = Record<string, Value>;
const T = (name: string): FnParam => ({ name, type: 'tensor' });
const N = (name: string, d?: number): FnParam => (d === undefined ? { name, type: 'number' } : { name, type: 'number', default: { kind: 'num', v: d } });
const B = (name: string, d: boolean): FnParam => ({ name, type: 'bool', default: { kind: 'bool', v: d } });
const tensor = (a: Args, k: string) => a[k] as Tensor;
const number = (a: Args, k: string) => (a[k] as { v: number }).v;
const flag = (a: Args, k: string) => (a[k] as { v: boolean }).v;

const unary = (op: string, doc: string): FnSpec => ({
  params: [T('x')],
  doc,
  run: (t, a, r) => t.op(op, [tensor(a, 'x')], {}, r),
});

/** The graph input `token_types` i32 [B, S] for x [B, S, …] (fill 0: a batch may leave it out). */
function tokenTypes(t: Tracer, x: Tensor, r: SourceRange): Value {
  const s = t.shapeOf(x);
  if (s.length < 2) {
    t.r.error(Codes.ShapeMismatch, `token_types needs a [B, S, …] input, got [${s.join(', ')}]`, r);
    return POISON;
  }
  let id = t.inputs[TOKEN_TYPES];
  if (id === undefined) {
    id = t.b.input(TOKEN_TYPES, [s[0]!, s[1]!], 'i32');
    t.b.node(id).attrs.fill = 0;
    t.inputs[TOKEN_TYPES] = id;
  } else if (String(t.shapeOf({ kind: 'tensor', id, src: r })[1]) !== String(s[1])) {
    t.r.error(Codes.ShapeMismatch, `token_types is asked for sequences of ${String(s[1])} positions here and of ${String(t.shapeOf({ kind: 'tensor', id, src: r })[1])} before; a model has one`, r);
    return POISON;
  }
  return { kind: 'tensor', id, src: r };
}

/** Whether `name` is a builtin function (an own entry: `toString` is not one). */
export function isFunction(name: string): boolean {
  return Object.hasOwn(FUNCTIONS, name);
}

export const FUNCTIONS: Record<string, FnSpec> = {
  // The IR op `gelu` is the tanh form (fused into matmul epilogues); `gelu_erf` the exact one.
  gelu: unary('gelu_erf', 'GELU, exact: 0.5·x·(1 + erf(x/√2)) (BERT\'s and torch\'s `gelu`).'),
  gelu_tanh: unary('gelu', 'GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (GPT-2\'s `gelu_new`).'),
  relu: unary('relu', 'max(x, 0).'),
  silu: unary('silu', 'x · sigmoid(x).'),
  tanh: unary('tanh', 'tanh(x).'),
  swiglu: {
    params: [T('gate'), T('up')],
    doc: 'silu(gate) * up, the SwiGLU feed-forward gate.',
    run: (t, a, r) => {
      const g = t.op('silu', [tensor(a, 'gate')], {}, r);
      return g.kind === 'tensor' ? t.op('mul', [g, tensor(a, 'up')], {}, r, 'swiglu') : POISON;
    },
  },
  dropout: {
    params: [T('x'), N('p')],
    doc: 'Inverted dropout with probability p during training; identity in evaluation.',
    run: (t, a, r) => {
      const p = number(a, 'p');
      if (!(p >= 0 && p < 1)) return fail(t, r, `dropout probability must be in [0, 1), found ${p}`);
      return t.dropout(tensor(a, 'x'), p, r);
    },
  },
  positions: {
    params: [T('x')],
    doc: 'The positions 0 … S−1 of x [B, S, …], as ids for a position embedding.',
    run: (t, a, r) => t.op('positions', [tensor(a, 'x')], { offset: t.prefix.length }, r),
  },
  token_types: {
    params: [T('x')],
    doc: 'The token types (segments) of x [B, S, …]: 0 for a single text or the first text of a pair, 1 for the second (BERT\'s token_type_ids), as ids for a token type embedding.',
    run: (t, a, r) => tokenTypes(t, tensor(a, 'x'), r),
  },
  pool: {
    params: [T('x'), { name: 'mode', type: 'option', options: ['first', 'last', 'mean'], default: { kind: 'sym', name: 'first' } }],
    doc: 'x [B, S, D] → [B, D]: the first position (CLS), the last, or the mean.',
    // `lengths` (the rows' real positions) keeps padding out of `last` and `mean`.
    run: (t, a, r) => t.op('pool', [tensor(a, 'x'), t.lengths()], { mode: (a.mode as { name: string }).name }, r),
  },
  split: {
    params: [T('x'), N('parts')],
    doc: 'Splits the last axis into `parts` equal pieces: `q, k, v = split(c_attn(x), 3)`.',
    run: (t, a, r) => split(t, tensor(a, 'x'), number(a, 'parts'), r),
  },
  attention: {
    params: [T('q'), T('k'), T('v'), N('heads'), N('kv_heads', 0), B('causal', true), B('rotary', false), N('rope_theta', 10000)],
    doc: 'Multi-head scaled dot-product attention over [B, S, heads·hd] inputs; grouped kv heads; optional rotary positions.',
    run: attention,
  },
};

function fail(t: Tracer, range: SourceRange, msg: string, code: string = Codes.TypeMismatch): Value {
  t.r.error(code, msg, range);
  return POISON;
}

function split(t: Tracer, x: Tensor, parts: number, range: SourceRange): Value {
  const shape = t.shapeOf(x);
  const d = shape[shape.length - 1];
  if (!Number.isInteger(parts) || parts < 1) return fail(t, range, `split needs a positive integer number of parts, found ${parts}`);
  if (typeof d !== 'number' || d % parts !== 0) {
    return fail(t, range, `cannot split ${d} features into ${parts} equal parts`, Codes.ShapeMismatch);
  }
  const size = d / parts;
  const items: Value[] = [];
  for (let i = 0; i < parts; i++) items.push(t.op('slice', [x], { axis: -1, start: i * size, size }, range));
  return { kind: 'tuple', items };
}

function attention(t: Tracer, a: Args, range: SourceRange, m: ModuleInst): Value {
  let q = tensor(a, 'q');
  let k = tensor(a, 'k');
  let v = tensor(a, 'v');
  const heads = number(a, 'heads');
  const kvHeads = number(a, 'kv_heads') || heads;
  const qd = last(t, q);
  const kd = last(t, k);
  if (!Number.isInteger(heads) || heads < 1 || qd % heads !== 0) {
    return fail(t, range, `attention: ${qd} query features do not split into ${heads} heads`, Codes.ShapeMismatch);
  }
  const hd = qd / heads;
  if (!Number.isInteger(kvHeads) || heads % kvHeads !== 0) return fail(t, range, `attention: ${heads} heads do not group into ${kvHeads} key/value heads`);
  if (kd !== kvHeads * hd || last(t, v) !== kd) {
    return fail(t, range, `attention: keys and values need ${kvHeads}·${hd} = ${kvHeads * hd} features (kv_heads · head size); found k ${kd}, v ${last(t, v)}`, Codes.ShapeMismatch);
  }
  if (flag(a, 'rotary')) {
    if (hd % 2 !== 0) return fail(t, range, `rotary positions need an even head size, found ${hd}`, Codes.ShapeMismatch);
    const theta = number(a, 'rope_theta');
    const rq = t.op('rope', [q], { heads, theta, inverse: false, offset: t.prefix.length }, range);
    const rk = t.op('rope', [k], { heads: kvHeads, theta, inverse: false, offset: t.prefix.length }, range);
    if (rq.kind !== 'tensor' || rk.kind !== 'tensor') return POISON;
    [q, k] = [rq, rk];
  }
  const block = t.stack[t.stack.length - 1]!;
  t.attentionCalls.set(block.path, (t.attentionCalls.get(block.path) ?? 0) + 1);
  let prefix = 0;
  const pkv = t.prefix.kv(t, block, q, kd, range);
  if (pkv) {
    const kk = t.op('concat', [pkv.k, k], { axis: 1 }, range);
    const vv = t.op('concat', [pkv.v, v], { axis: 1 }, range);
    if (kk.kind !== 'tensor' || vv.kind !== 'tensor') return POISON;
    [k, v, prefix] = [kk, vv, pkv.length];
  }
  void m;
  const causal = flag(a, 'causal');
  // Bidirectional attention masks padding keys with `lengths`; causal attention needs no mask
  // (padding is on the right, after every real query).
  const ins = causal ? [q, k, v] : [q, k, v, t.lengths()];
  return t.op('attention', ins, { heads, kv_heads: kvHeads, causal, prefix }, range);
}

function last(t: Tracer, x: Tensor): number {
  const s = t.shapeOf(x);
  return s[s.length - 1] as number;
}

/** Evaluates a builtin call's arguments, binds them to its parameters and runs it. */
export function callFunction(t: Tracer, m: ModuleInst, e: Call, env: Map<string, Value>): Value {
  const name = e.callee.name;
  const spec = FUNCTIONS[name]!;
  const args: Args = {};
  let pos = 0;
  let ok = true;
  for (const arg of e.args) {
    const p = arg.name ? spec.params.find((x) => x.name === arg.name!.name) : spec.params[pos++];
    if (!p) {
      const names = spec.params.map((x) => x.name);
      const msg = arg.name
        ? `\`${name}\` has no parameter \`${arg.name.name}\`.${didYouMean(arg.name.name, names) || ` Its parameters: ${names.join(', ')}.`}`
        : `\`${name}\` takes at most ${spec.params.length} arguments`;
      t.r.error(Codes.BadArguments, msg, arg.range);
      ok = false;
      continue;
    }
    const v = p.type === 'option' && arg.value.kind === 'ident' ? { kind: 'sym' as const, name: arg.value.name } : t.expr(m, arg.value, env);
    if (v.kind === 'poison') ok = false;
    else if (!fits(p, v)) {
      t.r.error(Codes.TypeMismatch, `\`${name}\`'s ${p.name} must be ${want(p)}; found ${describe(v)}`, arg.range);
      ok = false;
    }
    args[p.name] = v;
  }
  for (const p of spec.params) {
    if (args[p.name]) continue;
    if (p.default) args[p.name] = p.default;
    else if (ok) {
      t.r.error(Codes.BadArguments, `\`${name}\` needs the argument \`${p.name}\``, e.range);
      ok = false;
    }
  }
  return ok ? spec.run(t, args, e.range, m) : POISON;
}

function fits(p: FnParam, v: Value): boolean {
  switch (p.type) {
    case 'tensor':
      return v.kind === 'tensor';
    case 'number':
      return v.kind === 'num';
    case 'bool':
      return v.kind === 'bool';
    case 'option':
      return v.kind === 'sym' && (p.options ?? []).includes(v.name);
  }
}

function want(p: FnParam): string {
  return p.type === 'option' ? `one of ${(p.options ?? []).join(', ')}` : p.type === 'bool' ? '`true` or `false`' : `a ${p.type}`;
}
