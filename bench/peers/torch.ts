// The PyTorch reference (CPU): bench/torch_gpt2_lora.py in --serve mode under Debian's
// /usr/bin/python3, fed the benchmark's weights and batch, stepped one line at a time so that
// bench/train.ts can interleave its steps with the GPU's. Absent torch is not an error: the
// benchmark reports it as skipped.
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { TrainingGraph } from '../../compiler/autodiff/backward.ts';
import { writeSafetensorsFile } from '../../runtime/io/safetensors-node.ts';
import { BATCH, benchBatch, benchStore, MODEL, paramsByPath } from '../model.ts';

/** Debian's Python, where python3-torch installs PyTorch (PEFTC_BENCH_PYTHON names another). */
export const PYTHON = process.env.PEFTC_BENCH_PYTHON ?? '/usr/bin/python3';

export interface TorchPeer {
  version: string;
  threads: number;
  step(): Promise<{ ms: number; loss: number }>;
  close(): void;
}

/** Why PyTorch cannot run here, or undefined when it can. */
export function torchMissing(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) return `${PYTHON} not found (${r.error.message})`;
  if (r.status !== 0) return `PyTorch is not installed for ${PYTHON} (apt-get install python3-torch): ${r.stderr.trim().split('\n').pop()}`;
  return undefined;
}

/** What the peer trains: weights by path, the model's settings, one fixed batch (rows of tokens and targets). */
export interface TorchJob {
  tensors: Record<string, { shape: number[]; data: Float32Array }>;
  config: Record<string, number>;
  tokens: number[][];
  targets: number[][];
  method: 'lora' | 'full';
  threads: number;
  /** Variables for the Python process (e.g. OPENBLAS_CORETYPE); the rest of the environment is inherited. */
  env?: Record<string, string>;
  /** Variables removed from the inherited environment. */
  unset?: string[];
}

/** The benchmark model's job (bench/model.ts): its weights, batch and optimizer settings. */
export async function startTorch(t: TrainingGraph, method: 'lora' | 'full', threads: number, env?: Record<string, string>): Promise<TorchPeer> {
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [path, p] of paramsByPath(benchStore(t.graph))) tensors[path] = p;
  const o = t.optimizer;
  const config = {
    n_embd: MODEL.embd, n_head: MODEL.heads, n_layer: MODEL.layers, eps: MODEL.eps, r: MODEL.rank, alpha: MODEL.alpha,
    lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps_adam: o.eps, clip: o.clipNorm,
  };
  const batch = benchBatch();
  const rows = (d: ArrayLike<number>) => Array.from({ length: BATCH.B }, (_, b) => Array.from(d).slice(b * BATCH.T, (b + 1) * BATCH.T));
  return startTorchJob({ tensors, config, tokens: rows(batch.tokens.data), targets: rows(batch.targets.data), method, threads, ...(env ? { env } : {}) });
}

/** Starts bench/torch_gpt2_lora.py --serve on a job; steps it one line at a time. */
export async function startTorchJob(job: TorchJob): Promise<TorchPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'peftc-bench-'));
  await writeSafetensorsFile(join(dir, 'weights.safetensors'), job.tensors, { config: JSON.stringify(job.config) });
  writeFileSync(join(dir, 'batch.json'), JSON.stringify({ tokens: job.tokens, targets: job.targets }));

  const script = resolve(import.meta.dirname, '../torch_gpt2_lora.py');
  const args = [script, '--weights', join(dir, 'weights.safetensors'), '--batch', join(dir, 'batch.json'), '--threads', String(job.threads), '--method', job.method, '--serve'];
  const env: NodeJS.ProcessEnv = { ...process.env, ...job.env };
  for (const k of job.unset ?? []) delete env[k];
  const child: ChildProcessWithoutNullStreams = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const r = await lines.next();
    if (r.done) throw new Error(`the PyTorch reference ended: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return JSON.parse(r.value) as Record<string, unknown>;
  };
  const head = await next().catch((e: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  // The weights are loaded: the files are no longer needed (they can be hundreds of MB).
  rmSync(dir, { recursive: true, force: true });
  return {
    version: String(head.torch),
    threads: Number(head.threads),
    async step() {
      child.stdin.write('step\n');
      const r = await next();
      return { ms: Number(r.ms), loss: Number(r.loss) };
    },
    close() {
      child.stdin.end('quit\n');
    },
  };
}
