// The partition view's data: the module tree with each module's parameter counts —
// in total, trainable, and by PEFT method — its own tensors and the methods applied
// to it; and what training costs compared with a full fine-tune of the same model.
// Pure: built from the compiler's results, printed by viz/terminal.ts and viz/html.ts.
import type { Graph, Param } from '../compiler/ir/types.ts';
import type { ModuleInst } from '../compiler/modules.ts';
import { count, type ParamSummary } from '../compiler/params.ts';
import type { PeftPlan } from '../compiler/peft/assign.ts';

/**
 * What a parameter is doing in this fine-tune: frozen, or trained by a PEFT method
 * (`train` is a base module named in a `train "…"` rule, Hugging Face's modules_to_save;
 * `full` is a base parameter of a full fine-tune).
 */
export type MethodKey = 'frozen' | 'lora' | 'adapter' | 'prefix' | 'prompt' | 'ia3' | 'train' | 'full';

/** Display order of the keys, and the words the views use for them. */
export const METHOD_KEYS: readonly MethodKey[] = ['frozen', 'lora', 'adapter', 'prefix', 'prompt', 'ia3', 'train', 'full'];
export const METHOD_LABELS: Record<MethodKey, string> = {
  frozen: 'Frozen',
  lora: 'LoRA',
  adapter: 'Adapter',
  prefix: 'Prefix',
  prompt: 'Prompt',
  ia3: 'IA³',
  train: 'Trained module',
  full: 'Full fine-tune',
};

export interface VizParam {
  /** Name inside its module (`lora_A.weight`); the full path when it lives elsewhere. */
  name: string;
  path: string;
  shape: number[];
  count: number;
  partition: Param['partition'];
  origin: Param['origin'];
  method: MethodKey;
  /** Exists only during training (the prefix reparameterisation MLP). */
  transient?: boolean;
  /** The named adapter it belongs to, on a page of several adapters over one base. */
  adapter?: string;
  /** The module the PEFT method that made or trains it was applied to (`wte` for a soft prompt). */
  appliedTo?: string;
}

export interface AppliedMethod {
  name: MethodKey & ('lora' | 'adapter' | 'prefix' | 'prompt' | 'ia3' | 'train');
  settings: Record<string, number | string | boolean>;
  /** The named adapter that applies it, on a page of several adapters over one base. */
  adapter?: string;
}

/** A named adapter loaded over the base: its own program's graph (`--adapter NAME=DIR`). */
export interface NamedAdapterGraph {
  name: string;
  graph: Graph;
}

export interface VizNode {
  path: string;
  name: string;
  /** `Linear`, `Embedding`, … for layers; the block's name (`Attention`); `repeat`; `Tied`; `model` for the root; for modules a method added: `Adapter`, `PrefixEncoder`, `SoftPrompt`. */
  type: string;
  /** Parameters of this module and everything under it. */
  count: number;
  trainable: number;
  byMethod: Partial<Record<MethodKey, number>>;
  /** This module's own tensors. */
  params: VizParam[];
  /** PEFT methods applied to this module, with their settings. */
  methods: AppliedMethod[];
  children: VizNode[];
  /** For `Tied(wte)`: the module whose table it reuses. */
  tiedTo?: string;
  /** Modules reusing this one's table (`lm_head` for `wte`). */
  tiedFrom?: string[];
  /** Added by a PEFT method (`prefix_encoder`, `prompt`, an adapter's bottleneck). */
  synthetic?: boolean;
  /** Repeat count, for `repeat` modules. */
  repeat?: number;
}

/** What to call a module a PEFT method added, by the origin of its parameters. */
const SYNTHETIC_TYPES: Record<Param['origin'], string> = {
  base: 'module',
  head: 'head',
  lora: 'LoRA',
  adapter: 'Adapter',
  prefix: 'PrefixEncoder',
  prompt: 'SoftPrompt',
  ia3: 'IA3',
};

export function methodKey(p: Pick<Param, 'partition' | 'method'>): MethodKey {
  if (p.partition === 'frozen') return 'frozen';
  return p.method?.name ?? 'full';
}

/**
 * The module tree with per-module aggregates. Parameters whose module is not in the
 * declared tree (PEFT additions like `prefix_encoder`) get synthetic modules on their path.
 * With `adapters`, the trainable parameters of each named adapter join the (frozen) base's
 * tree, tagged with the adapter's name: what the base and every adapter hold together.
 */
export function buildVizTree(graph: Graph, root: ModuleInst, plan?: PeftPlan, adapters: readonly NamedAdapterGraph[] = []): VizNode {
  const byPath = new Map<string, VizNode>();
  const convert = (m: ModuleInst): VizNode => {
    const n: VizNode = {
      path: m.path,
      name: m.path === '' ? (m.decl?.name.name ?? 'model') : m.name,
      type: m.path === '' ? 'model' : m.kind === 'block' ? (m.decl?.name.name ?? 'block') : m.kind,
      count: 0,
      trainable: 0,
      byMethod: {},
      params: [],
      methods: [],
      children: [],
    };
    if (m.kind === 'repeat') n.repeat = m.children.length;
    if (m.tiedTo) n.tiedTo = m.tiedTo.path;
    byPath.set(n.path, n);
    n.children = m.children.map(convert);
    return n;
  };
  const tree = convert(root);
  for (const n of byPath.values()) {
    if (n.tiedTo) (byPath.get(n.tiedTo)!.tiedFrom ??= []).push(n.path);
  }

  const moduleAt = (path: string, origin: Param['origin']): VizNode => {
    const found = byPath.get(path);
    if (found) return found;
    const dot = path.lastIndexOf('.');
    const parent = dot < 0 ? tree : moduleAt(path.slice(0, dot), origin);
    const n: VizNode = { path, name: path.slice(dot + 1), type: SYNTHETIC_TYPES[origin], count: 0, trainable: 0, byMethod: {}, params: [], methods: [], children: [], synthetic: true };
    parent.children.push(n);
    byPath.set(path, n);
    return n;
  };

  const addParam = (p: Param, adapter?: string) => {
    const owner = moduleAt(p.module, p.origin);
    const name = p.module && p.path.startsWith(`${p.module}.`) ? p.path.slice(p.module.length + 1) : p.path;
    const row: VizParam = { name, path: p.path, shape: p.shape, count: count(p.shape), partition: p.partition, origin: p.origin, method: methodKey(p) };
    if (p.transient) row.transient = true;
    if (adapter !== undefined) row.adapter = adapter;
    if (p.method) row.appliedTo = p.method.module;
    owner.params.push(row);
  };
  // Next to named adapters the base is frozen: it is served, each adapter trained on it.
  for (const p of graph.params) addParam(adapters.length ? { ...p, partition: 'frozen', method: undefined } : p);
  for (const a of adapters) for (const p of a.graph.params) if (p.partition === 'trainable') addParam(p, a.name);

  for (const [path, m] of appliedMethods(graph, plan)) byPath.get(path)?.methods.push(...m);
  for (const a of adapters) {
    for (const [path, m] of appliedMethods(a.graph)) byPath.get(path)?.methods.push(...m.map((x) => ({ ...x, adapter: a.name })));
  }
  for (const n of byPath.values()) resolveAdapterWidth(n);
  aggregate(tree);
  return tree;
}

/**
 * `adapter(reduction = 16)` is stored as `bottleneck = 0, reduction = 16`; the views show the
 * width it resolved to (`bottleneck = 48`), read from the down-projection's shape, and leave
 * out the setting that was not given (`reduction = 0`).
 */
function resolveAdapterWidth(n: VizNode): void {
  for (const m of n.methods) {
    if (m.name !== 'adapter') continue;
    const { bottleneck, reduction, ...rest } = m.settings;
    const down = n.children.find((c) => c.name === 'adapter')?.params.find((p) => p.name === 'down.weight' && p.adapter === m.adapter);
    const width = bottleneck === 0 && down ? down.shape[0]! : bottleneck;
    m.settings = { ...(width !== undefined ? { bottleneck: width } : {}), ...(reduction ? { reduction } : {}), ...rest };
  }
}

/** Methods by module path: from the PEFT plan when there is one, else from the parameters. */
function appliedMethods(graph: Graph, plan?: PeftPlan): Map<string, AppliedMethod[]> {
  const out = new Map<string, AppliedMethod[]>();
  const add = (path: string, m: AppliedMethod) => {
    const list = out.get(path) ?? [];
    if (!list.some((x) => x.name === m.name)) list.push(m);
    out.set(path, list);
  };
  if (plan) {
    for (const a of plan.apps) add(a.module.path, { name: a.method, settings: { ...a.settings } });
    for (const path of plan.train.keys()) add(path, { name: 'train', settings: {} });
  } else {
    for (const p of graph.params) if (p.method) add(p.method.module, { name: p.method.name, settings: { ...p.method.settings } });
  }
  return out;
}

function aggregate(n: VizNode): void {
  n.count = 0;
  n.trainable = 0;
  n.byMethod = {};
  const addTo = (key: MethodKey, c: number) => (n.byMethod[key] = (n.byMethod[key] ?? 0) + c);
  for (const p of n.params) {
    n.count += p.count;
    if (p.partition === 'trainable') n.trainable += p.count;
    addTo(p.method, p.count);
  }
  for (const c of n.children) {
    aggregate(c);
    n.count += c.count;
    n.trainable += c.trainable;
    for (const k of METHOD_KEYS) if (c.byMethod[k]) addTo(k, c.byMethod[k]!);
  }
}

/** Every module in pre-order. */
export function* walkViz(n: VizNode): Generator<VizNode> {
  yield n;
  for (const c of n.children) yield* walkViz(c);
}

/** The method keys present in the tree, in display order. */
export function methodsPresent(tree: VizNode): MethodKey[] {
  return METHOD_KEYS.filter((k) => (tree.byMethod[k] ?? 0) > 0);
}

// ── What training costs ─────────────────────────────────────────────────────────────

/** fp32 weights and gradients. */
export const BYTES_PER_PARAM = 4;
/** AdamW keeps two fp32 moments per trainable parameter. */
export const ADAMW_BYTES_PER_PARAM = 8;

export interface FineTuneCosts {
  total: number;
  trainable: number;
  trainablePercent: number;
  /** One fp32 gradient per trainable parameter. */
  gradientBytes: number;
  /** AdamW's two fp32 moments per trainable parameter. */
  optimizerBytes: number;
  /** A checkpoint that resumes training: the trainable weights plus the optimizer state. */
  checkpointBytes: number;
  /** What is shipped after training: the adapter alone (kept trainable weights), or the whole model for a full fine-tune. */
  exportBytes: number;
  /** Whether exportBytes is an adapter (true) or a whole model (false). */
  adapterOnly: boolean;
}

export function fineTuneCosts(s: Pick<ParamSummary, 'total' | 'trainable' | 'kept'>): FineTuneCosts {
  const adapterOnly = s.trainable < s.total;
  return {
    total: s.total,
    trainable: s.trainable,
    trainablePercent: s.total === 0 ? 0 : (100 * s.trainable) / s.total,
    gradientBytes: BYTES_PER_PARAM * s.trainable,
    optimizerBytes: ADAMW_BYTES_PER_PARAM * s.trainable,
    checkpointBytes: (BYTES_PER_PARAM + ADAMW_BYTES_PER_PARAM) * s.trainable,
    exportBytes: BYTES_PER_PARAM * (adapterOnly ? s.kept.trainable : s.kept.total),
    adapterOnly,
  };
}

export interface Comparison {
  /** This program as compiled. */
  peft: FineTuneCosts;
  /** The same program compiled with `full: true`. */
  full: FineTuneCosts;
}

export function compareWithFull(peft: ParamSummary, full: ParamSummary): Comparison {
  return { peft: fineTuneCosts(peft), full: fineTuneCosts(full) };
}
