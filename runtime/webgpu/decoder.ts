// Incremental decoding on WebGPU: the decoding graphs (compiler/decode/graph.ts) planned for the
// GPU with the key/value cache in GPU buffers (compiler/lower/kv-cache.ts). A prefill plan per
// batch size and length bucket, a step plan per batch size, all reading the backend's parameter
// buffers and one cache; each run writes the chunk's tokens and the rows' cache lengths, and
// reads back the logits of each row's last position only. Nothing runs on the CPU.
//
// The cache's size is fixed when it is made (reserve(): the rows and positions a generation can
// reach), since its slots are constants in the kernels; reserving more later makes a new cache.
// Batches are padded with rows that read and write a scratch row of the cache (its last): a step
// always runs all reserved rows and a prefill a power of two of them, so that rows finishing at
// different times do not plan (and compile) a batch size each.
import type { TrainingGraph } from '../../compiler/autodiff/backward.ts';
import { COUNT, decodeGraphs, PAST, ROWS, type DecodeGraphs } from '../../compiler/decode/graph.ts';
import type { KvCacheSize } from '../../compiler/lower/kv-cache-spec.ts';
import { buildPlan, PlanError, type Plan } from '../../compiler/lower/plan.ts';
import { wgslBackend } from '../../codegen/wgsl/backend.ts';
import type { Tensor } from '../cpu/tensor.ts';
import { positionOffset } from '../decode/cpu-decoder.ts';
import type { Decoder } from '../decode/decoder.ts';
import { KvCache } from '../decode/kv-cache.ts';
import type { WebGpuBackend } from './backend.ts';
import { GpuError } from './errors.ts';
import type { GpuExecutor } from './executor.ts';

const i32 = (data: number[]): Tensor => ({ shape: [data.length], data: Int32Array.from(data) });

export class GpuDecoder implements Decoder {
  readonly name: string;
  readonly promptLength: number;
  readonly positionOffset: number;
  private readonly graphs: { prefill: TrainingGraph; step: TrainingGraph };
  private readonly layers: DecodeGraphs['layers'];
  /** Row bookkeeping (lengths, free rows); the keys and values themselves are on the GPU. */
  private rows: KvCache;
  private size?: KvCacheSize;
  /** Executors by plan (`prefill B×T`, `step B`); the first holds the cache the others borrow. */
  private readonly execs = new Map<string, GpuExecutor>();
  private readonly rowInputs = new Map<number, Record<string, number>>();

  constructor(private readonly backend: WebGpuBackend) {
    const g = backend.training.graph;
    const d = decodeGraphs(g);
    const t = (graph: DecodeGraphs['prefill']): TrainingGraph => ({ graph, forwardEnd: graph.nodes.length, grads: [], optimizer: backend.training.optimizer });
    this.graphs = { prefill: t(d.prefill), step: t(d.step) };
    this.layers = d.layers;
    this.rows = new KvCache(d.layers);
    this.name = backend.name;
    this.promptLength = g.promptLength;
    this.positionOffset = positionOffset(g);
  }

  /** Sizes the cache for `rows` sequences of up to `positions` positions (soft prompt tokens included) each. */
  reserve(rows: number, positions: number): void {
    if (this.size && this.size.rows >= rows && this.size.positions >= positions) return;
    this.close();
    this.rows = new KvCache(this.layers);
    this.rowInputs.clear();
    this.size = { rows, positions };
  }

  async start(prompts: number[][], rowInputs: Record<string, number[]> = {}) {
    const size = this.sized();
    const rows = prompts.map((_, i) => {
      const r = this.rows.add();
      this.rowInputs.set(r, Object.fromEntries(Object.entries(rowInputs).map(([k, v]) => [k, v[i]!])));
      return r;
    });
    const room = size.positions - this.promptLength;
    const T = Math.max(...prompts.map((p) => p.length));
    if (rows.some((r) => r >= size.rows) || T > room) throw new GpuError('validation', `internal: the key/value cache holds ${size.rows} rows of ${room} tokens; asked for row ${Math.max(...rows)} and ${T} tokens`);
    // Right padding up to a power of two (within the cache's room): fewer plans, and causal attention never reads it.
    const bucket = Math.min(2 ** Math.ceil(Math.log2(T)), room);
    const tokens = new Int32Array(prompts.length * bucket);
    prompts.forEach((p, b) => tokens.set(p, b * bucket));
    const counts = prompts.map((p) => this.promptLength + p.length);
    const logits = await this.run('prefill', rows, bucket, tokens, counts);
    rows.forEach((r, b) => this.rows.advance(r, counts[b]!));
    return { rows, logits };
  }

  async next(rows: number[], tokens: number[]) {
    const size = this.sized();
    const full = rows.find((r) => this.rows.length(r) >= size.positions);
    if (full !== undefined) throw new GpuError('validation', `internal: row ${full} fills the key/value cache's ${size.positions} positions`);
    const logits = await this.run('step', rows, 1, Int32Array.from(tokens), rows.map(() => 1));
    for (const r of rows) this.rows.advance(r, 1);
    return logits;
  }

  drop(rows: number[]): void {
    for (const r of rows) {
      this.rows.drop(r);
      this.rowInputs.delete(r);
    }
  }

  /** Frees the cache and the plans' buffers (the backend's parameters stay). */
  close(): void {
    for (const e of this.execs.values()) if (!this.backend.ownsParameters(e)) e.destroy();
    this.execs.clear();
  }

  /** The plans made so far (`prefill B×T`, `step B`), in order. */
  get plans(): string[] {
    return [...this.execs.keys()];
  }

  private sized(): KvCacheSize {
    if (!this.size) throw new GpuError('validation', 'internal: reserve() the key/value cache before decoding on WebGPU');
    return this.size;
  }

  /** One chunk of T tokens a row (`tokens`, row-major), padded to the plan's batch; each real row's logits. */
  private async run(which: 'prefill' | 'step', rows: number[], T: number, tokens: Int32Array, counts: number[]): Promise<Float32Array[]> {
    const R = this.sized().rows;
    const B = which === 'step' ? R : Math.min(2 ** Math.ceil(Math.log2(rows.length)), R);
    const exec = await this.executor(which, B, T);
    const pad = <X>(real: X[], filler: X): X[] => [...real, ...new Array<X>(B - real.length).fill(filler)];
    // Padding rows: the scratch row R, from position 0, one real position (pool reads one).
    const extra: Record<string, Tensor> = { [PAST]: i32(pad(rows.map((r) => this.rows.length(r)), 0)), [COUNT]: i32(pad(counts, 1)), [ROWS]: i32(pad(rows, R)) };
    for (const name of Object.keys(this.rowInputs.get(rows[0]!) ?? {})) extra[name] = i32(pad(rows.map((r) => this.rowInputs.get(r)![name]!), -1));
    const padded = new Int32Array(B * T);
    padded.set(tokens);
    const out = await exec.logits({ tokens: { shape: [B, T], data: padded }, targets: { shape: [0], data: new Int32Array(0) }, extra });
    const V = out.shape[1]!;
    return rows.map((_, b) => out.data.subarray(b * V, (b + 1) * V) as Float32Array);
  }

  private async executor(which: 'prefill' | 'step', B: number, T: number): Promise<GpuExecutor> {
    const key = which === 'step' ? `step ${B}` : `prefill ${B}×${T}`;
    const have = this.execs.get(key);
    if (have) return have;
    const t = this.graphs[which];
    // One more cache row than reserved: the padding rows' scratch row.
    const size = this.sized();
    let plan: Plan;
    try {
      plan = buildPlan(t, { B, T }, wgslBackend(this.backend.gpu.info), { ...this.backend.planOptions(), backward: false, dropout: 'eval', kvCache: { rows: size.rows + 1, positions: size.positions } });
    } catch (e) {
      // Over an adapter limit (a cache larger than one binding, say): the user's request, said in one line.
      if (e instanceof PlanError) throw new GpuError('limit', e.message, `decoding plan (${key})`);
      throw e;
    }
    const exec = await this.backend.decodeExecutor(plan, t, this.execs.values().next().value);
    this.execs.set(key, exec);
    return exec;
  }
}
