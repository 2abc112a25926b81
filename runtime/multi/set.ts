// Several adapters over one frozen base, held once (docs/multi-adapter.md).
//
// Memory: one frozen arena (the base), one bank arena for every adapter that can share a pass
// (LoRA and bottleneck adapters: their weights stacked [N, …], each adapter one slice), and one
// small arena per adapter that cannot (prompt, prefix, trained base modules, a stack of adapters).
//
// Passes: a batch may mix sequences for different adapters. Sequences of bank adapters, and
// sequences with no adapter (index −1: the base alone), run in one pass of the bank graph, each
// reading its own slice through linear_gather; each other adapter runs its own graph over its
// sequences. Logits come back per sequence, in batch order.
import type { TrainingGraph } from '../../compiler/autodiff/backward.ts';
import { DEFAULT_OPTIMIZER } from '../../compiler/autodiff/backward.ts';
import { ADAPTER_IDS, bankGraph, bankPaths, type BankSpec } from '../../compiler/multi/bank.ts';
import { describeAdapter, type AdapterShape } from '../../compiler/multi/describe.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import { Arena, type ParamStore } from '../arena.ts';
import type { Backend, StepResult } from '../backend.ts';
import { CpuExecutor, type Batch } from '../cpu/executor.ts';
import type { FloatTensor, Tensor } from '../cpu/tensor.ts';
import type { OptimizerState } from '../optim.ts';
import { IGNORE } from '../targets.ts';

export class AdapterSetError extends Error {
  override name = 'AdapterSetError';
}

/** One adapter, as loaded: its own program (compiled as used after training) and its weights. */
export interface LoadedAdapter {
  name: string;
  graph: Graph;
  /** Its kept trainable parameters by path (what adapter.safetensors holds). */
  values: Map<string, Float32Array>;
  /** Where it came from, for messages. */
  source: string;
  /** Never in the bank: runs its own graph (a stack of adapters built by combine.ts). */
  standalone?: boolean;
  /** Multiplies its output in the bank (folded into B / up); default 1. */
  weight?: number;
}

/** The shared base: its program (no PEFT) and one arena with every base parameter. */
export interface BaseModel {
  graph: Graph;
  arena: Arena;
}

export type Placement = { kind: 'bank'; slot: number } | { kind: 'own' };

export interface AdapterInfo {
  name: string;
  source: string;
  shape: AdapterShape;
  placement: Placement;
  /** Values loaded (its own parameters). */
  params: number;
}

export interface MemoryReport {
  base: { params: number; bytes: number };
  /** The stacked bank: N slices, padded to the largest rank / width at each module. */
  bank: { slots: number; params: number; bytes: number } | null;
  /** Per adapter: its own values, and where they live. */
  adapters: { name: string; params: number; bytes: number; placement: string }[];
  /** Everything held: base + bank + own arenas. */
  totalBytes: number;
}

interface Runner {
  graph: Graph;
  store: ParamStore;
  exec?: CpuExecutor;
  /** The backend `backend(name, open)` made for this runner, kept for the others it serves. */
  opened?: Backend;
}

const NAME = /^[A-Za-z0-9_-]+$/;
const BYTES = 4;

/** A forward-only training graph (what the executors take). */
export function servingGraph(graph: Graph): TrainingGraph {
  return { graph, forwardEnd: graph.nodes.length, grads: [], optimizer: DEFAULT_OPTIMIZER };
}

export class AdapterSet {
  readonly infos: AdapterInfo[];
  /** The bank graph (base + stacked adapters, input `adapter_ids`), or the base alone when no adapter is in the bank. */
  readonly bank: Runner;
  private readonly own = new Map<string, Runner>();
  private readonly layout: Layout;

  private constructor(readonly base: BaseModel, adapters: LoadedAdapter[]) {
    for (const a of adapters) checkBase(base, a);
    const layout = layoutAdapters(base.graph, adapters);
    this.infos = layout.infos;
    this.layout = layout;
    if (layout.bank) {
      const arena = new Arena(layout.bank.graph.params.filter((p) => p.partition === 'trainable'), 'f32');
      layout.bank.adapters.forEach((a, k) => packSlot(arena, k, a, describeAdapter(a.graph), layout.bank!.rank, layout.bank!.width));
      this.bank = { graph: layout.bank.graph, store: { frozen: base.arena, trainable: arena } };
    } else {
      this.bank = { graph: relabel(base.graph, new Set()), store: { frozen: base.arena, trainable: new Arena([], 'f32') } };
    }
    adapters.forEach((a, i) => {
      if (layout.infos[i]!.placement.kind === 'own') this.own.set(a.name, ownRunner(base, a));
    });
  }

  static create(base: BaseModel, adapters: LoadedAdapter[]): AdapterSet {
    return new AdapterSet(base, adapters);
  }

  get names(): string[] {
    return this.infos.map((i) => i.name);
  }

  info(name: string): AdapterInfo {
    const i = this.infos.find((x) => x.name === name);
    if (!i) throw new AdapterSetError(`no adapter named \`${name}\` is loaded (loaded: ${this.names.join(', ') || 'none'})`);
    return i;
  }

  /** The graph that runs `name`'s sequences (null: the base alone). */
  graphOf(name: string | null): Graph {
    return this.runnerOf(name).graph;
  }

  /** Soft prompt tokens the adapter's graph prepends (its logits and targets are that much longer). */
  promptLength(name: string | null): number {
    return this.graphOf(name).promptLength;
  }

  /** The graph, weights and bank slot (−1: none) that run `name`'s sequences: what a decoder needs. */
  serving(name: string | null): { graph: Graph; store: ParamStore; slot: number } {
    const r = this.runnerOf(name);
    return { graph: r.graph, store: r.store, slot: this.slotOf(name) };
  }

  private runnerOf(name: string | null): Runner {
    if (name === null) return this.bank;
    const info = this.info(name);
    return info.placement.kind === 'bank' ? this.bank : this.own.get(name)!;
  }

  private slotOf(name: string | null): number {
    if (name === null) return -1;
    const p = this.info(name).placement;
    return p.kind === 'bank' ? p.slot : -1;
  }

  /** The bank's arena (second arena of the bank graph), for GPU upload and memory tests. */
  get bankStore(): ParamStore {
    return this.bank.store;
  }

  /** What is held: the base once, the bank, each own arena. */
  memory(): MemoryReport {
    return this.layout.memory;
  }

  /**
   * Logits of a batch whose sequence b uses adapter use[b] (null: the base alone): [B, T, V] for a
   * language model (soft prompt positions removed, so every row lines up with its tokens), [B, C]
   * for a classifier. One pass for the bank's sequences, one per other adapter used.
   */
  logits(tokens: Tensor, use: readonly (string | null)[]): FloatTensor {
    const [B, T] = tokens.shape as [number, number];
    if (use.length !== B) throw new AdapterSetError(`${use.length} adapter choices for a batch of ${B} sequences`);
    const groups = new Map<Runner, number[]>();
    use.forEach((name, b) => {
      const r = this.runnerOf(name);
      groups.set(r, [...(groups.get(r) ?? []), b]);
    });
    let out: FloatTensor | undefined;
    for (const [runner, rows] of groups) {
      const sub: Tensor = { shape: [rows.length, T], data: Int32Array.from(rows.flatMap((b) => Array.from(tokens.data.subarray(b * T, (b + 1) * T)))) };
      const ids = runner === this.bank ? rows.map((b) => this.slotOf(use[b]!)) : undefined;
      const logits = this.run(runner, sub, ids);
      const P = runner.graph.promptLength;
      const lm = logits.shape.length === 3;
      const V = logits.shape[logits.shape.length - 1]!;
      const per = lm ? T * V : V;
      out ??= { shape: lm ? [B, T, V] : [B, V], data: new Float32Array(B * per) };
      rows.forEach((b, i) => {
        const from = lm ? (i * (P + T) + P) * V : i * V;
        out!.data.set(logits.data.subarray(from, from + per), b * per);
      });
    }
    return out!;
  }

  private run(runner: Runner, tokens: Tensor, ids?: number[]): FloatTensor {
    const batch = this.batchFor(runner.graph, tokens, ids);
    runner.exec ??= new CpuExecutor(servingGraph(runner.graph));
    return runner.exec.run(runner.store, batch, { precision: 'f32', training: false, step: 0, backward: false }).logits;
  }

  /** A batch for `graph` with ignored targets (logits only), and the adapter indices if it takes them. */
  batchFor(graph: Graph, tokens: Tensor, ids?: number[]): Batch {
    const [B, T] = tokens.shape as [number, number];
    const lm = graph.task === 'causal_lm';
    const S = lm ? graph.promptLength + T : 0;
    const targets = { shape: lm ? [B, S] : [B], data: new Int32Array(lm ? B * S : B).fill(IGNORE) };
    const batch: Batch = { tokens, targets };
    if (graph.inputs[ADAPTER_IDS] !== undefined) batch.extra = { [ADAPTER_IDS]: { shape: [B], data: Int32Array.from(ids ?? new Array<number>(B).fill(-1)) } };
    return batch;
  }

  /**
   * A Backend that evaluates every batch with one adapter (null: the base alone): what eval,
   * generate and the trainer's validate() take. Batches carry the adapter's own targets
   * (with its soft prompt's length, `promptLength(name)`).
   */
  /**
   * A backend that evaluates `name`'s sequences: on the CPU executor by default, or on the
   * backend `open` makes for the runner's serving graph and weights (a WebGPU one from the CLI).
   * Every name served by one graph (the bank's adapters, the base) shares the one backend `open`
   * made, so the base is uploaded once.
   */
  backend(name: string | null, open?: (t: TrainingGraph, store: ParamStore) => Backend): Backend {
    const runner = this.runnerOf(name);
    const slot = this.slotOf(name);
    const withIds = (batch: Batch): Batch => (runner.graph.inputs[ADAPTER_IDS] === undefined ? batch : { ...batch, extra: { ...batch.extra, [ADAPTER_IDS]: { shape: [batch.tokens.shape[0]!], data: new Int32Array(batch.tokens.shape[0]!).fill(slot) } } });
    if (open) {
      const inner = (runner.opened ??= open(servingGraph(runner.graph), runner.store));
      return new ServingBackend(`${inner.name} (adapter ${name ?? 'base'})`, inner.training, (batch) => inner.evaluate(withIds(batch)));
    }
    runner.exec ??= new CpuExecutor(servingGraph(runner.graph));
    return new ServingBackend(`cpu (adapter ${name ?? 'base'})`, servingGraph(runner.graph), async (batch) => {
      const r = runner.exec!.run(runner.store, withIds(batch), { precision: 'f32', training: false, step: 0, backward: false });
      return { loss: r.loss, logits: r.logits };
    });
  }
}

export interface Layout {
  infos: AdapterInfo[];
  /** The bank: its graph, the adapters in slot order, the padded rank / width per module. */
  bank: { graph: Graph; adapters: LoadedAdapter[]; rank: Map<string, number>; width: Map<string, { width: number; activation: string; placement: 'serial' | 'parallel' }> } | null;
  memory: MemoryReport;
}

/**
 * Where each adapter goes and what memory that takes, without allocating anything: LoRA and
 * bottleneck adapters share the bank (a bottleneck module only with the same activation,
 * placement and sizes as the adapters already there), the rest get their own arenas.
 */
export function layoutAdapters(baseGraph: Graph, adapters: LoadedAdapter[]): Layout {
  const seen = new Set<string>();
  for (const a of adapters) {
    if (!NAME.test(a.name)) throw new AdapterSetError(`adapter name \`${a.name}\` must be letters, digits, _ or -`);
    if (seen.has(a.name)) throw new AdapterSetError(`two adapters are named \`${a.name}\``);
    seen.add(a.name);
  }
  const shapes = adapters.map((a) => describeAdapter(a.graph));
  const inBank = adapters.map((a, i) => !a.standalone && bankable(shapes[i]!));
  const key = (b: AdapterShape['adapters'][number]) => `${b.activation}/${b.placement}/${b.din}/${b.dout}`;
  const modules = new Map<string, string>();
  adapters.forEach((_, i) => {
    if (!inBank[i]) return;
    if (shapes[i]!.adapters.some((b) => modules.has(b.module) && modules.get(b.module) !== key(b))) inBank[i] = false;
    else for (const b of shapes[i]!.adapters) modules.set(b.module, key(b));
  });
  const banked = adapters.filter((_, i) => inBank[i]);
  const count = (v: Map<string, Float32Array>) => [...v.values()].reduce((n, x) => n + x.length, 0);
  const infos: AdapterInfo[] = adapters.map((a, i) => ({
    name: a.name,
    source: a.source,
    shape: shapes[i]!,
    placement: inBank[i] ? { kind: 'bank', slot: banked.indexOf(a) } : { kind: 'own' },
    params: count(a.values),
  }));
  let bank: Layout['bank'] = null;
  if (banked.length) {
    const rank = new Map<string, number>();
    const width = new Map<string, { width: number; activation: string; placement: 'serial' | 'parallel' }>();
    for (const a of banked) {
      const s = shapes[adapters.indexOf(a)]!;
      for (const l of s.lora) rank.set(l.module, Math.max(rank.get(l.module) ?? 0, l.rank));
      for (const b of s.adapters) width.set(b.module, { width: Math.max(width.get(b.module)?.width ?? 0, b.width), activation: b.activation, placement: b.placement });
    }
    const spec: BankSpec = { count: banked.length, lora: [...rank].map(([module, r]) => ({ module, rank: r })), adapters: [...width].map(([module, w]) => ({ module, ...w })) };
    bank = { graph: bankGraph(baseGraph, spec), adapters: banked, rank, width };
  }
  const size = (shape: number[]) => shape.reduce((x, y) => x * y, 1);
  const baseParams = baseGraph.params.reduce((n, p) => n + size(p.shape), 0);
  const bankParams = bank ? bank.graph.params.filter((p) => p.partition === 'trainable').reduce((n, p) => n + size(p.shape), 0) : 0;
  const ownParams = infos.filter((i) => i.placement.kind === 'own').reduce((n, i) => n + i.params, 0);
  const memory: MemoryReport = {
    base: { params: baseParams, bytes: BYTES * baseParams },
    bank: bank ? { slots: banked.length, params: bankParams, bytes: BYTES * bankParams } : null,
    adapters: infos.map((i) => ({
      name: i.name,
      params: i.params,
      bytes: BYTES * (i.placement.kind === 'bank' ? bankParams / banked.length : i.params),
      placement: i.placement.kind === 'bank' ? `bank slot ${i.placement.slot}` : 'own arena',
    })),
    totalBytes: BYTES * (baseParams + bankParams + ownParams),
  };
  return { infos, bank, memory };
}

/** Evaluation only: step() is refused (train an adapter with `peftc train`). */
class ServingBackend implements Backend {
  readonly optimizer: OptimizerState = { step: 0, m: new Float32Array(0), v: new Float32Array(0) };
  constructor(
    readonly name: string,
    readonly training: TrainingGraph,
    private readonly evalFn: (b: Batch) => Promise<{ loss: number; logits: FloatTensor }>,
  ) {}
  step(): Promise<StepResult> {
    throw new AdapterSetError('a serving backend evaluates; it does not train');
  }
  evaluate(batch: Batch) {
    return this.evalFn(batch);
  }
  async sync(): Promise<void> {}
  restoreOptimizer(): void {}
}

function bankable(s: AdapterShape): boolean {
  return s.prompt === 0 && s.prefix === 0 && s.train.length === 0 && s.other.length === 0 && (s.lora.length > 0 || s.adapters.length > 0);
}

/** Every base parameter the adapter's graph reads must be the base's, with the same shape. */
function checkBase(base: BaseModel, a: LoadedAdapter): void {
  const problems: string[] = [];
  for (const p of a.graph.params) {
    if (a.values.has(p.path)) continue;
    if (!base.arena.has(p.path)) problems.push(`\`${p.path}\` is not a parameter of the base`);
    else {
      const s = base.arena.slot(p.path).param.shape;
      if (s.length !== p.shape.length || s.some((d, i) => d !== p.shape[i])) problems.push(`\`${p.path}\` is [${p.shape.join(', ')}], the base's [${s.join(', ')}]`);
    }
  }
  for (const [path, v] of a.values) {
    const p = a.graph.params.find((q) => q.path === path);
    if (!p) problems.push(`it holds \`${path}\`, which its model does not have`);
    else if (p.shape.reduce((x, y) => x * y, 1) !== v.length) problems.push(`\`${path}\` has ${v.length} values for [${p.shape.join(', ')}]`);
  }
  if (problems.length) throw new AdapterSetError(`adapter \`${a.name}\` (${a.source}) does not fit the base: ${problems.slice(0, 4).join('; ')}${problems.length > 4 ? '; …' : ''}`);
}

/** The graph with `own` parameters in the second arena and everything else frozen. */
function relabel(g: Graph, own: Set<string>): Graph {
  return { ...g, params: g.params.map((p) => ({ ...p, partition: own.has(p.path) ? 'trainable' : 'frozen' })) };
}

function ownRunner(base: BaseModel, a: LoadedAdapter): Runner {
  const graph = relabel(a.graph, new Set(a.values.keys()));
  const arena = new Arena(graph.params.filter((p) => p.partition === 'trainable'), 'f32');
  for (const [path, v] of a.values) arena.view(path).set(v);
  return { graph, store: { frozen: base.arena, trainable: arena } };
}

/**
 * Writes adapter k into slice k of the stacked tensors: A's rows and B's columns up to its rank
 * (the rest stay zero), with its scale (and weight) folded into B; likewise down/up for
 * bottleneck adapters, the scale folded into up's weight and bias.
 */
function packSlot(
  arena: Arena, k: number, a: LoadedAdapter, s: AdapterShape,
  rank: Map<string, number>, width: Map<string, { width: number }>,
): void {
  const w = a.weight ?? 1;
  const get = (path: string) => {
    const v = a.values.get(path);
    if (!v) throw new AdapterSetError(`adapter \`${a.name}\` lacks \`${path}\``);
    return v;
  };
  for (const l of s.lora) {
    const R = rank.get(l.module)!;
    const A = get(`${l.module}.lora_A.weight`);
    const B = get(`${l.module}.lora_B.weight`);
    const As = arena.view(bankPaths.loraA(l.module));
    const Bs = arena.view(bankPaths.loraB(l.module));
    As.set(A, k * R * l.fin); // rows 0 … r−1 of [R, in]
    const f = l.scale * w;
    const bo = k * l.fout * R;
    for (let o = 0; o < l.fout; o++) for (let j = 0; j < l.rank; j++) Bs[bo + o * R + j] = f * B[o * l.rank + j]!;
  }
  for (const ad of s.adapters) {
    const W = width.get(ad.module)!.width;
    const m = ad.module;
    const f = ad.scale * w;
    arena.view(bankPaths.down(m)).set(get(`${m}.adapter.down.weight`), k * W * ad.din);
    arena.view(bankPaths.downBias(m)).set(get(`${m}.adapter.down.bias`), k * W);
    const U = get(`${m}.adapter.up.weight`);
    const Us = arena.view(bankPaths.up(m));
    const uo = k * ad.dout * W;
    for (let o = 0; o < ad.dout; o++) for (let j = 0; j < ad.width; j++) Us[uo + o * W + j] = f * U[o * ad.width + j]!;
    const bU = get(`${m}.adapter.up.bias`);
    const bUs = arena.view(bankPaths.upBias(m));
    for (let o = 0; o < ad.dout; o++) bUs[k * ad.dout + o] = f * bU[o]!;
  }
}
