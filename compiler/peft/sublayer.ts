// Where a Transformer sub-layer (attention or feed-forward) meets its residual stream, as
// AdapterHub's BottleneckLayer sees it: the sub-layer's output h, the residual input x, and the
// layer's own norm when the layer normalises after the add. Two forms, told apart from the IR
// the module's call has just emitted:
//   post-LN (BERT): a block that returns `norm(h + x)` with x one of its inputs and the norm its
//                   own (`SelfOutput(h, residual)`); AdapterHub passes the block's LayerNorm.
//   pre-LN (GPT-2, LLaMA): a module called as `f(norm(x))` with the norm its sibling, whose
//                   output the enclosing block adds to x (`x + attn(ln_1(x))`); AdapterHub
//                   passes no norm there. That last add comes after the call and is not checked.
import type { Node } from '../ir/types.ts';
import type { MethodHost, Tensor } from '../trace-host.ts';

const NORMS = new Set(['layernorm', 'rmsnorm']);

export interface Junction {
  form: 'post' | 'pre';
  /** The sub-layer's output. */
  h: Tensor;
  /** The residual input. */
  x: Tensor;
  /** post-LN: the model's own `h + x` node (reused: it is what the norm read). */
  sum?: Tensor;
  /** post-LN: the layer's norm, re-applied as the model applies it. */
  norm?: { op: string; params: Tensor[]; attrs: Node['attrs'] };
}

/**
 * The junction around a module call with inputs `inputs` and output `y`, or null when the call is
 * neither form. A post-LN block's final norm is taken back from the graph: the adapter applies it
 * again to its own sum (and the `h + x` node too when `keepSum` is false: nothing reads it then).
 */
export function findJunction(t: MethodHost, module: string, inputs: Tensor[], y: Tensor, keepSum: (form: 'post' | 'pre') => boolean): Junction | null {
  const tensor = (id: number): Tensor => ({ kind: 'tensor', id, src: y.src });
  const out = t.b.node(y.id);
  const last = t.b.nodes.length - 1;
  if (NORMS.has(out.op) && out.id === last) {
    const sum = t.b.node(out.inputs[0]!);
    const ids = inputs.map((i) => i.id);
    const xi = sum.op === 'add' ? sum.inputs.findIndex((i) => ids.includes(i)) : -1;
    if (xi >= 0 && normOwner(t, out)?.startsWith(`${module}.`)) {
      const j: Junction = {
        form: 'post',
        h: tensor(sum.inputs[1 - xi]!),
        x: tensor(sum.inputs[xi]!),
        sum: tensor(sum.id),
        norm: { op: out.op, params: out.inputs.slice(1).map(tensor), attrs: out.attrs },
      };
      t.b.retract(out.id);
      if (!keepSum('post') && sum.id === last - 1) {
        t.b.retract(sum.id);
        delete j.sum;
      }
      return j;
    }
  }
  const into = inputs.length === 1 ? t.b.node(inputs[0]!.id) : undefined;
  const owner = into && NORMS.has(into.op) ? normOwner(t, into) : undefined;
  if (owner && parentOf(owner) === parentOf(module)) return { form: 'pre', h: y, x: tensor(into!.inputs[0]!) };
  return null;
}

/** The module whose weight a norm node reads (`h.0.ln_1`), if it has one. */
function normOwner(t: MethodHost, norm: Node): string | undefined {
  const w = norm.inputs[1] === undefined ? undefined : t.b.node(norm.inputs[1]);
  return w?.op === 'param' ? String(w.attrs.path).replace(/\.[^.]+$/, '') : undefined;
}

function parentOf(path: string): string {
  return path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '';
}
