// `peftc grad`: loss, logits and the gradient of every trainable parameter for given
// weights and tokens, written to safetensors — how users (and the tests) compare the
// project's numbers with PyTorch's for the same weights.
import { readFileSync } from 'node:fs';
import type { TrainingGraph } from '../compiler/autodiff/backward.ts';
import { buildTrainingGraph } from '../compiler/training.ts';
import type { Graph } from '../compiler/ir/types.ts';
import { createStore, type ParamStore } from '../runtime/arena.ts';
import { CpuExecutor, type Batch } from '../runtime/cpu/executor.ts';
import type { FloatTensor } from '../runtime/cpu/tensor.ts';
import { initParams } from '../runtime/init.ts';
import { readWeightsFile } from '../runtime/io/read-weights-node.ts';
import { writeSafetensorsFile } from '../runtime/io/safetensors-node.ts';
import type { WriteTensor } from '../runtime/io/safetensors.ts';
import { parseGradBatch } from '../runtime/grad-batch.ts';
import { loadWeights } from '../runtime/weights.ts';
import { compileFile, report, type CompileFlags } from './common.ts';
import { UserError } from './errors.ts';
import { backendName, threadCount } from './backend-choice.ts';
import { FROZEN_DTYPES, frozenDtypeOf, isQuantDtype } from '../compiler/quant/dtype.ts';
import type { QuantDtype } from '../compiler/quant/weight.ts';
import { quantizeFrozen } from '../runtime/quantize-store.ts';

export interface GradFlags extends CompileFlags {
  init?: string;
  tokens: string;
  out: string;
  backend?: string;
  /** `--threads N` for --backend wasm. */
  threads?: string;
  /** WebGPU adapter for --backend webgpu (`--gpu`). */
  gpu?: string;
  seed?: string;
  /** `--allow-nonfinite`: accept NaN/±Inf weights in --init. */
  allowNonfinite?: boolean;
  /** `--frozen-dtype int8|nf4|nf4dq`: compute with the frozen base quantized (docs/quantization.md). */
  frozenDtype?: string;
}

export async function gradCommand(file: string, flags: GradFlags): Promise<number> {
  const res = compileFile(file, flags);
  if (report(res)) return 1;
  const g = res.graph!;
  // `auto` would pick for the user; grad compares numbers, so it computes where it is told.
  const backend = backendName(flags.backend, ['cpu', 'wasm', 'webgpu']);
  const threads = threadCount(flags.threads);
  const store = createStore(g, 'f32');
  // The file's weights first, then the rest initialised: inits that read weights (DoRA's
  // magnitudes, PiSSA/OLoRA's factors and residual) read the loaded ones.
  const loaded = flags.init ? loadWeights(g, store, await readWeightsFile(flags.init, { allowNonFinite: flags.allowNonfinite ?? false }), { where: flags.init, model: file }) : new Set<string>();
  initParams(g, store, { seed: Number(flags.seed ?? 0), skip: loaded });
  const dtype = frozenDtypeOf(flags.frozenDtype);
  if (!dtype || dtype === 'f16') throw new UserError(`--frozen-dtype must be one of ${FROZEN_DTYPES.filter((d) => d !== 'f16').join(', ')}, not \`${flags.frozenDtype}\``);
  // The host store holds the values the quantized base stands for; the GPU stores codes and scales.
  if (isQuantDtype(dtype)) quantizeFrozen(g, store, dtype);
  // A language model's targets come from its tokens; a classifier's batch gives labels (grad-batch.ts).
  const batch = parseGradBatch(readText(flags.tokens), g, vocabOf(g), flags.tokens);
  const t = buildTrainingGraph(g);
  const out = backend === 'webgpu' ? await gpuGrad(t, store, batch, flags.gpu, isQuantDtype(dtype) ? dtype : undefined) : backend === 'wasm' ? await wasmGrad(t, store, batch, threads) : new CpuExecutor(t).run(store, batch, { precision: 'f32', training: false, step: 0 });
  const tensors: Record<string, WriteTensor> = {
    loss: { dtype: 'F32', shape: [1], data: Float32Array.of(out.loss) },
    logits: { dtype: 'F32', shape: out.logits.shape, data: Float32Array.from(out.logits.data) },
  };
  for (const [path, gr] of out.grads) tensors[`grad.${path}`] = { dtype: 'F32', shape: gr.shape, data: Float32Array.from(gr.data) };
  await writeSafetensorsFile(flags.out, tensors, { source: file, backend });
  process.stdout.write(`loss ${out.loss}\n`);
  return 0;
}

/** The same numbers on the wasm backend: f32 kernels, within the tolerances of docs/wasm-backend.md. */
async function wasmGrad(t: TrainingGraph, store: ParamStore, batch: Batch, threads: number): Promise<{ loss: number; logits: FloatTensor; grads: Map<string, FloatTensor> }> {
  const { openWasmBackend } = await import('../runtime/wasm/backend.ts');
  return openWasmBackend(t, store, { threads }).gradientsOf(batch);
}

/** The same numbers on a WebGPU adapter: one forward and backward, everything read back. */
async function gpuGrad(t: TrainingGraph, store: ParamStore, batch: Batch, gpuName: string | undefined, frozenQuant?: QuantDtype): Promise<{ loss: number; logits: FloatTensor; grads: Map<string, FloatTensor> }> {
  const { gpuChoice } = await import('./flags.ts');
  const { openNodeGpu } = await import('../runtime/webgpu/node-gpu.ts');
  const { createExecutor } = await import('../runtime/webgpu/plans.ts');
  const gpu = await openNodeGpu({ gpu: gpuChoice(gpuName) });
  try {
    const [B, T] = batch.tokens.shape as [number, number];
    const exec = await createExecutor(gpu, t, { B, T }, { store, ...(frozenQuant ? { plan: { frozenQuant } } : {}) });
    const res = await exec.run(batch, { training: false, step: 0 });
    return { loss: res.loss, logits: res.logits!, grads: res.grads };
  } finally {
    gpu.destroy();
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new UserError(`cannot read \`${path}\``);
  }
}

function vocabOf(g: Graph): number {
  const emb = g.nodes.find((n) => n.op === 'embedding' && g.nodes[n.inputs[1]!]!.op === 'input');
  // A prompt template's virtual tokens are the ids past the vocabulary (soft_embedding).
  const soft = g.nodes.find((n) => n.op === 'soft_embedding' && g.nodes[n.inputs[2]!]!.op === 'input');
  if (soft) return (g.nodes[soft.inputs[0]!]!.shape[0] as number) + (g.nodes[soft.inputs[1]!]!.shape[0] as number);
  return emb ? (g.nodes[emb.inputs[0]!]!.shape[0] as number) : Number.MAX_SAFE_INTEGER;
}
