// Incremental decoding on the CPU: the decoding graphs (compiler/decode/graph.ts) run by the
// reference kernels over a KvCache. A prefill batches prompts of different lengths (padded on the
// right, which causal attention never reads); a step runs one position per row.
import { COUNT, decodeGraphs, PAST, ROWS, type DecodeGraphs } from '../../compiler/decode/graph.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import { paramView, type ParamStore } from '../arena.ts';
import type { Tensor } from '../cpu/tensor.ts';
import type { Decoder } from './decoder.ts';
import type { Kernel } from '../cpu/kernels/common.ts';
import type { HostDecoding } from './host-decoding.ts';
import { decodeKernels } from './kernels.ts';
import { linearFewRows } from './matvec.ts';
import { KvCache } from './kv-cache.ts';
import { WasmMatvec } from './matvec-wasm.ts';
import { lastUses, runDecodeGraph } from './run.ts';

const i32 = (data: number[]): Tensor => ({ shape: [data.length], data: Int32Array.from(data) });

export class CpuDecoder implements Decoder {
  readonly name = 'cpu';
  readonly promptLength: number;
  readonly positionOffset: number;
  readonly cache: KvCache;
  private readonly graphs: DecodeGraphs;
  private readonly last: { prefill: number[]; step: number[] };
  private readonly kernels: Record<string, Kernel>;
  /** Per-row integer inputs (adapter_ids), by row. */
  private readonly rowInputs = new Map<number, Record<string, number>>();

  /**
   * `extra`: inputs every batch takes as they are (LoRA rank masks). `host`: what a backend lends
   * its decoder (host-decoding.ts: the wasm backend's kernels, cache storage and kv_attention,
   * over `store`, the store it runs on); without it the reference kernels run, the linears on
   * WebAssembly copies of the weights (matvec-wasm.ts).
   */
  constructor(
    graph: Graph,
    private readonly store: ParamStore,
    private readonly extra: Record<string, Tensor> = {},
    host?: HostDecoding,
  ) {
    this.graphs = decodeGraphs(graph);
    this.last = { prefill: lastUses(this.graphs.prefill), step: lastUses(this.graphs.step) };
    this.cache = new KvCache(this.graphs.layers, host?.storage);
    this.kernels = host
      ? { ...host.kernels, ...decodeKernels(this.cache, host.kernels.linear!), ...host.cacheKernels?.(this.cache) }
      : decodeKernels(this.cache, linearFewRows(WasmMatvec.create(linearWeights(this.graphs, store))));
    this.promptLength = graph.promptLength;
    this.positionOffset = positionOffset(graph);
  }

  async start(prompts: number[][], rowInputs: Record<string, number[]> = {}) {
    const rows = prompts.map((_, i) => {
      const r = this.cache.add();
      this.rowInputs.set(r, Object.fromEntries(Object.entries(rowInputs).map(([k, v]) => [k, v[i]!])));
      return r;
    });
    const T = Math.max(...prompts.map((p) => p.length));
    const tokens = new Int32Array(prompts.length * T);
    prompts.forEach((p, b) => tokens.set(p, b * T));
    const counts = prompts.map((p) => this.promptLength + p.length);
    const logits = this.run('prefill', rows, { shape: [prompts.length, T], data: tokens }, counts);
    rows.forEach((r, b) => this.cache.advance(r, counts[b]!));
    return { rows, logits };
  }

  async next(rows: number[], tokens: number[]) {
    const logits = this.run('step', rows, { shape: [rows.length, 1], data: Int32Array.from(tokens) }, rows.map(() => 1));
    for (const r of rows) this.cache.advance(r, 1);
    return logits;
  }

  drop(rows: number[]): void {
    for (const r of rows) {
      this.cache.drop(r);
      this.rowInputs.delete(r);
    }
  }

  private run(which: 'prefill' | 'step', rows: number[], tokens: Tensor, counts: number[]): Float32Array[] {
    const g = this.graphs[which];
    const inputs: Record<string, Tensor> = {
      ...this.extra,
      tokens,
      [PAST]: i32(rows.map((r) => this.cache.length(r))),
      [COUNT]: i32(counts),
      [ROWS]: i32(rows),
    };
    for (const name of Object.keys(this.rowInputs.get(rows[0]!) ?? {})) inputs[name] = i32(rows.map((r) => this.rowInputs.get(r)![name]!));
    const out = runDecodeGraph(g, this.last[which], this.store, inputs, this.kernels);
    const V = out.shape[1]!;
    return rows.map((_, b) => out.data.subarray(b * V, (b + 1) * V) as Float32Array);
  }
}

/** The offset of the model's position ids (the prefix length under prefix tuning; 0 without positions). */
export function positionOffset(g: Graph): number {
  const n = g.nodes.find((x) => x.op === 'positions' || x.op === 'rope');
  return n ? ((n.attrs.offset as number | undefined) ?? 0) : 0;
}

/** The parameters the decoding graphs' linears multiply by: what the WebAssembly products may keep. */
function linearWeights(graphs: DecodeGraphs, store: ParamStore): Float32Array[] {
  const paths = new Set<string>();
  for (const g of [graphs.prefill, graphs.step]) {
    for (const n of g.nodes) {
      const w = n.op === 'linear' ? g.nodes[n.inputs[1]!] : undefined;
      if (w?.op === 'param') paths.add(w.attrs.path as string);
    }
  }
  return [...paths].map((p) => paramView(store, p)).filter((v): v is Float32Array => v instanceof Float32Array);
}
