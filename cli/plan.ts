// `peftc compile --emit plan|wgsl`: the WebGPU plan of one training step for a batch of
// --batch × --seq tokens, planned for an adapter's limits (--gpu) or WebGPU's defaults.
import { buildTrainingGraph } from '../compiler/training.ts';
import type { Graph } from '../compiler/ir/types.ts';
import { formatPlan, formatWgsl } from '../compiler/lower/format.ts';
import { PlanError, buildPlan } from '../compiler/lower/plan.ts';
import { wgslBackend } from '../codegen/wgsl/backend.ts';
import { DEFAULT_CAPS, type GpuCaps } from '../codegen/wgsl/caps.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';
import { UserError } from './errors.ts';
import { gpuChoice, frozenPlanOptions, positiveInt } from './flags.ts';

export interface PlanFlags {
  batch?: string;
  seq?: string;
  gpu?: string;
  frozenDtype?: string;
}



/** The caps of the adapter the user named (opened and closed again), or WebGPU's defaults. */
export async function capsFor(gpuName: string | undefined): Promise<GpuCaps> {
  if (gpuName === undefined) return DEFAULT_CAPS;
  const gpu = await openNodeGpu({ gpu: gpuChoice(gpuName) });
  const { isSoftware, limits, features } = gpu.info;
  gpu.destroy();
  return { isSoftware, limits, features };
}

export async function planText(g: Graph, emit: 'plan' | 'wgsl', flags: PlanFlags): Promise<string> {
  const dims = { B: positiveInt('--batch', flags.batch, 8), T: positiveInt('--seq', flags.seq, 128) };
  const caps = await capsFor(flags.gpu);
  try {
    const plan = buildPlan(buildTrainingGraph(g), dims, wgslBackend(caps), frozenPlanOptions(flags.frozenDtype));
    return emit === 'plan' ? formatPlan(plan) : formatWgsl(plan);
  } catch (e) {
    if (e instanceof PlanError) throw new UserError(e.message);
    throw e;
  }
}
