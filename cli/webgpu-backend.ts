// Opening the WebGPU training backend from the CLI (Node: Dawn through the `webgpu`
// package). `auto` uses WebGPU when an adapter opens and falls back to the CPU reference,
// saying so; an explicit `webgpu` fails with what to install.
import type { TrainingGraph } from '../compiler/autodiff/backward.ts';
import type { ParamStore } from '../runtime/arena.ts';
import { CpuBackend, type Backend } from '../runtime/backend.ts';
import { WebGpuBackend } from '../runtime/webgpu/backend.ts';
import type { AdapterChoice } from '../runtime/webgpu/device.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';

export async function openWebGpuBackend(t: TrainingGraph, store: ParamStore, fallback: boolean, adapter: AdapterChoice = 'auto', opts: { frozenF16?: boolean } = {}): Promise<Backend> {
  try {
    return new WebGpuBackend(await openNodeGpu({ adapter }), t, store, opts);
  } catch (e) {
    if (!fallback) throw e;
    process.stderr.write(`peftc: no WebGPU adapter (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); using the CPU backend\n`);
    return new CpuBackend(t, store);
  }
}
