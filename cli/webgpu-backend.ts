// The WebGPU training backend for the CLI. Until the GPU executor lands, `auto` falls back
// to the CPU reference and an explicit `webgpu` says it is not available.
import type { TrainingGraph } from '../compiler/autodiff/backward.ts';
import type { ParamStore } from '../runtime/arena.ts';
import { CpuBackend, type Backend } from '../runtime/backend.ts';
import { UserError } from './grad.ts';

export async function openWebGpuBackend(t: TrainingGraph, store: ParamStore, fallback: boolean): Promise<Backend> {
  if (fallback) return new CpuBackend(t, store);
  throw new UserError('the webgpu training backend is not available yet; use --backend cpu');
}
