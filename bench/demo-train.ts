// Benchmark (not a test): the README demo's LoRA fine-tune (examples/tiny-gpt-lora.peft on a
// text) on one backend, reporting the validation loss before and after and the median
// tokens/s of the steps after warm-up. Runs from a bundle too (no compiler CLI needed), so
// it can be carried to a machine with a GPU:
//   npx tsx bench/demo-train.ts --data FILE|sotu --backend cpu|wasm|webgpu [--gpu hardware] [--steps N]
import { resolve } from 'node:path';
import { DEFAULT_OPTIMIZER } from '../compiler/autodiff/backward.ts';
import { buildTrainingGraph } from '../compiler/training.ts';
import { compile } from '../compiler/build.ts';
import { nodeHost } from '../cli/node-host.ts';
import { createStore } from '../runtime/arena.ts';
import { CpuBackend, type Backend } from '../runtime/backend.ts';
import { Batcher } from '../runtime/data/batches.ts';
import { loadDataset } from '../runtime/data/load-node.ts';
import { tokenizerByName } from '../runtime/data/tokenizer.ts';
import { initParams } from '../runtime/init.ts';
import { loadInit } from '../runtime/interop/hf-weights-node.ts';
import { train, validate } from '../runtime/trainer.ts';
import { WebGpuBackend } from '../runtime/webgpu/backend.ts';
import type { GpuChoice } from '../runtime/webgpu/device.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const root = arg('--root', resolve(import.meta.dirname ?? '.', '..'));
const steps = Number(arg('--steps', '100'));
const batch = Number(arg('--batch', '16'));
const seq = Number(arg('--seq', '64'));

const g = compile(resolve(root, arg('--model', 'examples/tiny-gpt-lora.peft')), nodeHost, {}).graph!;
const t = buildTrainingGraph(g, { ...DEFAULT_OPTIMIZER, lr: 3e-3 });
const store = createStore(g, 'f32');
const loaded = (await loadInit(resolve(root, arg('--init', 'examples/tiny-gpt.safetensors')), g, store)).loaded;
initParams(g, store, { seed: 1, skip: loaded });
const data = loadDataset({ data: arg('--data', 'sotu:1990-2021'), task: g.task, tokenizer: tokenizerByName('byte'), seqLen: seq });
const batcher = new Batcher(data, { batchSize: batch, promptLength: g.promptLength, seed: 1, validRows: 128 });
const backend: Backend = await openDemoBackend(arg('--backend', 'cpu'));

async function openDemoBackend(name: string): Promise<Backend> {
  if (name === 'cpu') return new CpuBackend(t, store);
  if (name === 'wasm') return (await import('../runtime/wasm/backend.ts')).openWasmBackend(t, store, {});
  return new WebGpuBackend(await openNodeGpu({ gpu: arg('--gpu', 'auto') as GpuChoice }), t, store);
}

const before = await validate(backend, batcher.validationBatches());
const times: number[] = [];
let last = performance.now();
let step = 0;
const res = await train(backend, { next: () => batcher.batch(step++), validation: () => batcher.validationBatches(), tokensPerBatch: batcher.tokensPerStep }, {
  steps,
  schedule: { kind: 'cosine', lr: 3e-3, warmup: 10, total: steps },
  evalEvery: 0,
}, {
  onStep: () => {
    const now = performance.now();
    times.push(now - last);
    last = now;
  },
});
const warm = times.slice(Math.min(5, times.length - 1)).sort((a, b) => a - b);
const median = warm[Math.floor(warm.length / 2)]!;
console.log(JSON.stringify({
  backend: backend.name,
  steps,
  batch: `${batch}x${seq}`,
  val_loss_before: before,
  val_loss_after: res.valLoss,
  median_step_ms: median,
  tokens_per_s: Math.round((batch * seq * 1000) / median),
  step_ms_range: [warm[0], warm[warm.length - 1]],
}));
process.exit(0);
