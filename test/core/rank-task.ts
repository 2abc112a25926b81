// A tiny distillation task for rank selection: a teacher is the frozen base plus a known LoRA
// update on some modules (singular values falling geometrically); the student sees random token
// rows labelled with the teacher's most likely token at every position and trains its adapters
// on them. Every student starts from the same base (parameters draw from per-path streams), and
// sees the same batches in the same order.
import { buildTrainingGraph } from '../../compiler/training.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import { createStore, type ParamStore } from '../../runtime/arena.ts';
import { CpuBackend, type Backend } from '../../runtime/backend.ts';
import { CpuExecutor, type Batch } from '../../runtime/cpu/executor.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { initParams } from '../../runtime/init.ts';
import { RankController, RankedBackend } from '../../runtime/rank-controller.ts';
import { graphOfText } from '../helpers.ts';

export const TASK_SET = ['vocab_size=32,n_positions=64,n_embd=16,n_layer=2,n_head=2', 'initializer_range=0.5'];
const SEED = 11;

export function studentGraph(rule: string): Graph {
  return graphOfText(`import "gpt2.peft"\npeft {\n  ${rule}\n}\n`, TASK_SET);
}

/** Sets module m's LoRA to B·A = Σ_i σ_i u_i v_iᵀ with σ_i = scale·decay^i (random directions). */
function plantUpdate(g: Graph, store: ParamStore, module: string, rank: number, scale: number, decay: number, rng: Random): void {
  const A = store.trainable.view(`${module}.lora_A.weight`);
  const B = store.trainable.view(`${module}.lora_B.weight`);
  const fin = A.length / rank;
  const fout = B.length / rank;
  for (let i = 0; i < rank; i++) {
    const s = scale * Math.pow(decay, i);
    for (let j = 0; j < fin; j++) A[i * fin + j] = rng.normal() / Math.sqrt(fin);
    for (let j = 0; j < fout; j++) B[j * rank + i] = (s * rng.normal()) / Math.sqrt(fout);
  }
  void g;
}

export interface TaskData {
  train: Batch[];
  valid: Batch[];
}

/** Random rows labelled by the teacher: `modules` get rank-`rank` updates. */
export function teacherData(modules: string[], rank: number, opts: { scale?: number; decay?: number; batches?: number; B?: number; T?: number; seed?: number } = {}): TaskData {
  const g = graphOfText(`import "gpt2.peft"\npeft {\n  lora(rank = ${rank}) on ${modules.map((m) => JSON.stringify(m)).join(', ')}\n}\n`, TASK_SET);
  const store = createStore(g, 'f32');
  initParams(g, store, { seed: SEED });
  const rng = new Random(opts.seed ?? 5);
  for (const m of modules) plantUpdate(g, store, m, rank, opts.scale ?? 3, opts.decay ?? 0.8, rng);
  const exec = new CpuExecutor(buildTrainingGraph(g));
  const B = opts.B ?? 8;
  const T = opts.T ?? 16;
  const V = 32;
  const make = (): Batch => {
    const tokens = { shape: [B, T], data: Int32Array.from({ length: B * T }, () => rng.int(V)) };
    const probe = { tokens, targets: { shape: [B, T], data: new Int32Array(B * T).fill(-100) } };
    const logits = exec.run(store, probe, { precision: 'f32', training: false, step: 0, backward: false }).logits.data;
    const targets = new Int32Array(B * T);
    for (let i = 0; i < B * T; i++) {
      let best = 0;
      for (let v = 1; v < V; v++) if (logits[i * V + v]! > logits[i * V + best]!) best = v;
      targets[i] = best;
    }
    return { tokens, targets: { shape: [B, T], data: targets } };
  };
  const n = opts.batches ?? 24;
  return { train: Array.from({ length: n }, make), valid: Array.from({ length: 8 }, make) };
}

export interface Student {
  graph: Graph;
  store: ParamStore;
  backend: Backend;
  ranks?: RankController;
}

/** The student of `rule` trained `steps` steps (cosine from lr to 0, AdamW without weight decay, clipping at 1). */
export async function trainStudent(rule: string, data: TaskData, steps: number, lr = 1e-2, opts: { evalRank?: number } = {}): Promise<Student> {
  const graph = studentGraph(rule);
  const store = createStore(graph, 'f32');
  initParams(graph, store, { seed: SEED });
  const t = buildTrainingGraph(graph, { kind: 'adamw', lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, momentum: 0, clipNorm: 1 });
  const cpu = new CpuBackend(t, store);
  const ranks = new RankController(graph, { totalSteps: steps, seed: 3, ...(opts.evalRank ? { evalRank: opts.evalRank } : {}) });
  const backend = ranks.modules.length ? new RankedBackend(cpu, store, ranks) : cpu;
  // A cosine schedule, as `peftc train` uses by default: the last steps settle.
  for (let s = 0; s < steps; s++) await backend.step(data.train[s % data.train.length]!, 0.5 * lr * (1 + Math.cos((Math.PI * s) / steps)));
  return { graph, store, backend, ...(ranks.modules.length ? { ranks } : {}) };
}

/** Mean validation cross-entropy (every position counts). */
export async function validLoss(backend: Backend, data: TaskData): Promise<number> {
  let sum = 0;
  for (const b of data.valid) sum += (await backend.evaluate(b)).loss;
  return sum / data.valid.length;
}
