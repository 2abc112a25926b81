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

export async function startTorch(t: TrainingGraph, method: 'lora' | 'full', threads: number): Promise<TorchPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'peftc-bench-'));
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [path, p] of paramsByPath(benchStore(t.graph))) tensors[path] = p;
  const o = t.optimizer;
  const config = {
    n_embd: MODEL.embd, n_head: MODEL.heads, n_layer: MODEL.layers, eps: MODEL.eps, r: MODEL.rank, alpha: MODEL.alpha,
    lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps_adam: o.eps, clip: o.clipNorm,
  };
  await writeSafetensorsFile(join(dir, 'weights.safetensors'), tensors, { config: JSON.stringify(config) });
  const batch = benchBatch();
  const rows = (d: ArrayLike<number>) => Array.from({ length: BATCH.B }, (_, b) => Array.from(d).slice(b * BATCH.T, (b + 1) * BATCH.T));
  writeFileSync(join(dir, 'batch.json'), JSON.stringify({ tokens: rows(batch.tokens.data), targets: rows(batch.targets.data) }));

  const script = resolve(import.meta.dirname, '../torch_gpt2_lora.py');
  const args = [script, '--weights', join(dir, 'weights.safetensors'), '--batch', join(dir, 'batch.json'), '--threads', String(threads), '--method', method, '--serve'];
  const child: ChildProcessWithoutNullStreams = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const r = await lines.next();
    if (r.done) throw new Error(`the PyTorch reference ended: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return JSON.parse(r.value) as Record<string, unknown>;
  };
  const head = await next();
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
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
