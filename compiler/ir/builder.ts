// Appends nodes to a graph, inferring each output shape from the op catalog.
import type { SourceRange } from '../../grammar/diagnostics.ts';
import { opSpec } from './ops.ts';
import type { Attrs, DType, Node, Param, Shape } from './types.ts';

export class ShapeError extends Error {}

export class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly params: Param[] = [];
  private readonly paramNodes = new Map<string, number>();
  private readonly paramIndex = new Map<string, Param>();
  scope = '';

  node(id: number): Node {
    return this.nodes[id]!;
  }

  /** Adds an op; throws ShapeError with the catalog's message when shapes disagree. */
  op(op: string, inputs: number[], attrs: Attrs = {}, src?: SourceRange): number {
    const spec = opSpec(op);
    const shape = spec.shape(
      inputs.map((i) => this.nodes[i]!.shape),
      attrs,
    );
    if (typeof shape === 'string') throw new ShapeError(shape);
    return this.push(op, inputs, attrs, shape, spec.dtype ?? 'f32', src);
  }

  input(name: string, shape: Shape, dtype: DType): number {
    return this.push('input', [], { name }, shape, dtype);
  }

  /** Registers a parameter (once) and returns its `param` node. */
  param(p: Param): number {
    const existing = this.paramNodes.get(p.path);
    if (existing !== undefined) return existing;
    this.params.push(p);
    this.paramIndex.set(p.path, p);
    const id = this.push('param', [], { path: p.path }, [...p.shape], 'f32', p.src);
    this.paramNodes.set(p.path, id);
    return id;
  }

  /**
   * Takes back the last node, which nothing uses yet: a rewrite that replaces the final op of the
   * call it wraps (peft/sublayer.ts: an adapter at a post-LN residual junction re-applies the norm).
   */
  retract(id: number): void {
    if (id !== this.nodes.length - 1 || this.nodes[id]!.op === 'param') throw new Error(`internal: node ${id} is not the last op`);
    this.nodes.pop();
  }

  hasParam(path: string): boolean {
    return this.paramIndex.has(path);
  }

  private push(op: string, inputs: number[], attrs: Attrs, shape: Shape, dtype: DType, src?: SourceRange): number {
    const id = this.nodes.length;
    const n: Node = { id, op, inputs, attrs, shape, dtype, scope: this.scope };
    if (src) n.src = src;
    this.nodes.push(n);
    return id;
  }
}
