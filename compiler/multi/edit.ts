// Graph surgery for several adapters over one base: copy a Model IR node by node, inserting
// new nodes after chosen ones and redirecting every later use of a node to its replacement.
// Used to put a bank of stacked adapters (bank.ts) or frozen adapters (stack.ts) into a graph.
//
// Where adapters attach is found from the graph itself: LoRA at the base `linear` of a Linear
// module (its weight is `<module>.weight`), a bottleneck adapter at a module's output, the one
// value computed inside the module (by node scope) that is used outside it.
import { opSpec } from '../ir/ops.ts';
import type { Attrs, DType, Graph, Node, Param, Shape } from '../ir/types.ts';
import { verifyGraph } from '../ir/verify.ts';

/** After old node `id` is copied: returns the new value that replaces it (or `current`). */
export type Hook = (ed: GraphEditor, current: number) => number;

export class MultiGraphError extends Error {
  override name = 'MultiGraphError';
}

export class GraphEditor {
  readonly nodes: Node[] = [];
  readonly params: Param[] = [];
  readonly inputs: Record<string, number> = {};
  /** Old node id → the new id now standing for it. */
  private readonly map: number[] = [];
  private readonly paramIds = new Map<string, number>();
  scope = '';

  constructor(readonly old: Graph) {}

  /** The new value standing for old node `id` (its copy, or what a hook replaced it with). */
  value(id: number): number {
    const v = this.map[id];
    if (v === undefined) throw new MultiGraphError(`internal: %${id} is used before it is copied`);
    return v;
  }

  shape(id: number): Shape {
    return this.nodes[id]!.shape;
  }

  emit(op: string, inputs: number[], attrs: Attrs = {}): number {
    const shape = opSpec(op).shape(inputs.map((i) => this.nodes[i]!.shape), attrs);
    if (typeof shape === 'string') throw new MultiGraphError(`internal: ${op}: ${shape}`);
    return this.push({ op, inputs, attrs, shape, dtype: opSpec(op).dtype ?? 'f32', scope: this.scope });
  }

  input(name: string, shape: Shape, dtype: DType): number {
    const id = this.push({ op: 'input', inputs: [], attrs: { name }, shape, dtype, scope: '' });
    this.inputs[name] = id;
    return id;
  }

  /** A new parameter and its node. */
  param(p: Param): number {
    if (this.paramIds.has(p.path) || this.old.params.some((q) => q.path === p.path)) throw new MultiGraphError(`parameter ${p.path} exists twice`);
    this.params.push(p);
    const id = this.push({ op: 'param', inputs: [], attrs: { path: p.path }, shape: [...p.shape], dtype: 'f32', scope: this.scope });
    this.paramIds.set(p.path, id);
    return id;
  }

  private push(n: Omit<Node, 'id'>): number {
    const id = this.nodes.length;
    this.nodes.push({ id, ...n });
    return id;
  }

  /**
   * The old graph with `before` run first (new inputs) and the hooks of each old node run right
   * after its copy, in order. Old parameters come first, then the new ones. Verified.
   */
  build(hooks: Map<number, Hook[]>, before?: (ed: GraphEditor) => void): Graph {
    before?.(this);
    for (const n of this.old.nodes) {
      const copy: Omit<Node, 'id'> = { op: n.op, inputs: n.inputs.map((i) => this.value(i)), attrs: { ...n.attrs }, shape: [...n.shape], dtype: n.dtype, scope: n.scope };
      if (n.src) copy.src = n.src;
      let cur = this.push(copy);
      this.map[n.id] = cur;
      for (const h of hooks.get(n.id) ?? []) {
        const saved = this.scope;
        cur = h(this, cur);
        this.scope = saved;
        this.map[n.id] = cur;
      }
    }
    const o = this.old;
    const g: Graph = {
      ...o,
      params: [...o.params.map((p) => ({ ...p })), ...this.params],
      nodes: this.nodes,
      inputs: { ...Object.fromEntries(Object.entries(o.inputs).map(([k, v]) => [k, this.value(v)])), ...this.inputs },
      outputs: { logits: this.value(o.outputs.logits), loss: this.value(o.outputs.loss) },
    };
    if (o.prefixTable !== undefined) g.prefixTable = this.value(o.prefixTable);
    const problems = verifyGraph(g);
    if (problems.length) throw new MultiGraphError(`internal: the edited IR failed verification: ${problems.slice(0, 3).join('; ')}`);
    return g;
  }
}

/** Adds `hook` after old node `at`. */
export function addHook(hooks: Map<number, Hook[]>, at: number, hook: Hook): void {
  hooks.set(at, [...(hooks.get(at) ?? []), hook]);
}

const inside = (scope: string, module: string) => scope === module || scope.startsWith(`${module}.`);

/** The base linear of Linear module `m`: its node, input, and feature sizes. */
export interface LinearSite {
  node: number;
  x: number;
  fin: number;
  fout: number;
}

export function linearSite(g: Graph, m: string): LinearSite {
  const weight = `${m}.weight`;
  const hits = g.nodes.filter((n) => n.op === 'linear' && n.scope === m && g.nodes[n.inputs[1]!]?.op === 'param' && g.nodes[n.inputs[1]!]!.attrs.path === weight);
  if (hits.length !== 1) throw new MultiGraphError(`\`${m}\` is ${hits.length ? 'called more than once' : 'not a Linear layer of this model'}; LoRA cannot be placed there`);
  const n = hits[0]!;
  const w = g.params.find((p) => p.path === weight)!.shape;
  const [fin, fout] = n.attrs.layout === 'in_out' ? [w[0]!, w[1]!] : [w[1]!, w[0]!];
  return { node: n.id, x: n.inputs[0]!, fin, fout };
}

/** Where a bottleneck adapter on module `m` attaches: its input (if unique) and its raw output. */
export interface ModuleSite {
  /** The module's output before any adapter of its own (an adapter's `add` in the graph is skipped). */
  output: number;
  /** The tensor the module was called with, when the graph shows exactly one. */
  input?: number;
}

export function moduleSite(g: Graph, m: string): ModuleSite {
  const users = new Map<number, Node[]>();
  for (const n of g.nodes) for (const i of n.inputs) users.set(i, [...(users.get(i) ?? []), n]);
  const computed = (n: Node) => n.op !== 'param' && n.op !== 'input' && inside(n.scope, m);
  const exported = g.nodes.filter((n) => computed(n) && ((users.get(n.id) ?? []).some((u) => !inside(u.scope, m)) || n.id === g.outputs.logits));
  if (exported.length !== 1) {
    throw new MultiGraphError(exported.length === 0 ? `\`${m}\` computes nothing in this model; an adapter cannot wrap it` : `\`${m}\` has ${exported.length} outputs; an adapter wraps a module with one`);
  }
  let output = exported[0]!.id;
  const out = g.nodes[output]!;
  // The graph's own adapter on m is the last step: attach below it (frozen adapters first, the trained one on top).
  if (out.op === 'add' && out.scope === `${m}.adapter`) output = out.inputs[0]!;
  const reads = new Set<number>();
  for (const n of g.nodes) {
    if (!computed(n)) continue;
    for (const i of n.inputs) {
      const src = g.nodes[i]!;
      if (src.op !== 'param' && !inside(src.scope, m)) reads.add(i);
    }
  }
  return reads.size === 1 ? { output, input: [...reads][0]! } : { output };
}

/** Every Linear module path of a graph (a `linear` whose weight is `<scope>.weight`). */
export function linearModules(g: Graph): string[] {
  return g.nodes
    .filter((n) => n.op === 'linear' && g.nodes[n.inputs[1]!]?.op === 'param' && g.nodes[n.inputs[1]!]!.attrs.path === `${n.scope}.weight`)
    .map((n) => n.scope);
}
