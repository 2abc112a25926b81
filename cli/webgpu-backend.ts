// Opening the WebGPU training backend from the CLI (Node: Dawn through the `webgpu` package).
//
// `--backend webgpu` opens the adapter `--gpu` names; with `--gpu auto` the fastest present
// (a hardware GPU, else llvmpipe, else SwiftShader), saying in one line when that is a software
// adapter, which the CPU backend may beat. `--backend auto` uses WebGPU only where it pays: on
// a hardware GPU (or the adapter `--gpu` names), else the wasm backend (the fastest on the CPU), saying so
// (the CPU reference where the model does not fit the wasm backend's memory: wasm-or-reference.ts).
import type { TrainingGraph } from '../compiler/autodiff/backward.ts';
import type { Graph } from '../compiler/ir/types.ts';
import type { ParamStore } from '../runtime/arena.ts';
import type { Backend } from '../runtime/backend.ts';
import type { Decoder } from '../runtime/decode/decoder.ts';
import { servingGraph } from '../runtime/multi/set.ts';
import { GpuDecoder } from '../runtime/webgpu/decoder.ts';
import { WebGpuBackend, type WebGpuBackendOptions } from '../runtime/webgpu/backend.ts';
import type { GpuChoice } from '../runtime/webgpu/device.ts';
import { GpuError } from '../runtime/webgpu/errors.ts';
import type { Gpu } from '../runtime/webgpu/gpu.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';
import { softwareGpuNote } from './gpu-note.ts';

const firstLine = (e: unknown): string => (e instanceof Error ? e.message.split('\n')[0]! : String(e));

/** `threads`: the wasm backend's, where `--backend auto` falls back to it. */
export async function openWebGpuBackend(t: TrainingGraph, store: ParamStore, fallback: boolean, requested: GpuChoice = 'auto', opts: WebGpuBackendOptions = {}, threads?: number): Promise<Backend> {
  const gpu = await openCliGpu(fallback, requested);
  if (gpu) return new WebGpuBackend(gpu, t, store, opts);
  const { openWasmOrReference } = await import('./wasm-or-reference.ts');
  return openWasmOrReference(t, store, threads);
}

/**
 * The GPU `--backend webgpu|auto` and `--gpu` ask for, or null where `--backend auto` falls back
 * to the CPU backend (said in one line).
 */
export async function openCliGpu(fallback: boolean, requested: GpuChoice = 'auto'): Promise<Gpu | null> {
  // --backend auto, --gpu auto: the software adapters are slower than the wasm backend.
  const choice = fallback && requested === 'auto' ? 'hardware' : requested;
  try {
    const gpu = await openNodeGpu({ gpu: choice });
    if (choice === 'auto' && gpu.info.isSoftware) process.stderr.write(`peftc: ${softwareGpuNote(gpu.info.gpuClass)}\n`);
    return gpu;
  } catch (e) {
    if (fallback) {
      const missingGpu = requested === 'auto' && e instanceof GpuError && e.kind === 'no-adapter';
      const why = missingGpu ? 'no hardware GPU' : `no WebGPU adapter (${firstLine(e)})`;
      process.stderr.write(`peftc: ${why}; --backend auto uses the wasm backend (f32 on the CPU)${missingGpu ? ' (--backend webgpu --gpu llvmpipe runs a software adapter instead)' : ''}\n`);
      return null;
    }
    if (e instanceof GpuError && e.kind === 'no-adapter' && choice === 'hardware') throw new GpuError('no-adapter', `${e.message}, or train on the CPU: --backend wasm`);
    throw e;
  }
}

/** What the multi-adapter verbs run on one GPU: evaluation backends and KV-cache decoders. */
export interface GpuServing {
  /** The device, as the WebGPU backend names it: `webgpu (llvmpipe: …)`. */
  name: string;
  open(t: TrainingGraph, store: ParamStore): Backend;
  decoderOf(graph: Graph, store: ParamStore): Decoder;
}

export function gpuServing(gpu: Gpu): GpuServing {
  const i = gpu.info;
  return {
    name: `webgpu (${i.gpuClass}: ${i.description || i.device || i.vendor || 'unknown'})`,
    open: (t, store) => new WebGpuBackend(gpu, t, store),
    decoderOf: (graph, store) => new GpuDecoder(new WebGpuBackend(gpu, servingGraph(graph), store)),
  };
}
