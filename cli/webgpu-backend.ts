// Opening the WebGPU training backend from the CLI (Node: Dawn through the `webgpu` package).
//
// `--backend webgpu` opens the adapter `--gpu` names; with `--gpu auto` the fastest present
// (a hardware GPU, else llvmpipe, else SwiftShader), saying in one line when that is a software
// adapter, which the CPU backend may beat. `--backend auto` uses WebGPU only where it pays: on
// a hardware GPU (or the adapter `--gpu` names), else the CPU backend, saying so.
import type { TrainingGraph } from '../compiler/autodiff/backward.ts';
import type { ParamStore } from '../runtime/arena.ts';
import { CpuBackend, type Backend } from '../runtime/backend.ts';
import { WebGpuBackend, type WebGpuBackendOptions } from '../runtime/webgpu/backend.ts';
import type { GpuChoice } from '../runtime/webgpu/device.ts';
import { GpuError } from '../runtime/webgpu/errors.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';
import { softwareGpuNote } from './gpu-note.ts';

const firstLine = (e: unknown): string => (e instanceof Error ? e.message.split('\n')[0]! : String(e));

export async function openWebGpuBackend(t: TrainingGraph, store: ParamStore, fallback: boolean, requested: GpuChoice = 'auto', opts: WebGpuBackendOptions = {}): Promise<Backend> {
  // --backend auto, --gpu auto: the software adapters are slower than the CPU backend.
  const choice = fallback && requested === 'auto' ? 'hardware' : requested;
  try {
    const gpu = await openNodeGpu({ gpu: choice });
    if (choice === 'auto' && gpu.info.isSoftware) process.stderr.write(`peftc: ${softwareGpuNote(gpu.info.gpuClass)}\n`);
    return new WebGpuBackend(gpu, t, store, opts);
  } catch (e) {
    if (fallback) {
      const missingGpu = requested === 'auto' && e instanceof GpuError && e.kind === 'no-adapter';
      const why = missingGpu ? 'no hardware GPU' : `no WebGPU adapter (${firstLine(e)})`;
      process.stderr.write(`peftc: ${why}; --backend auto uses the CPU backend${missingGpu ? ' (--backend webgpu --gpu llvmpipe runs a software adapter instead)' : ''}\n`);
      return new CpuBackend(t, store);
    }
    if (e instanceof GpuError && e.kind === 'no-adapter' && choice === 'hardware') throw new GpuError('no-adapter', `${e.message}, or train on the CPU backend: --backend cpu`);
    throw e;
  }
}
