// Planning a Training IR for a device: the plans a GpuExecutor runs, made with the WGSL
// generators for the adapter's capabilities, and the executor over them. The executor itself
// never plans (a built trainer carries its plans and no compiler).
import type { TrainingGraph } from '../../compiler/autodiff/backward.ts';
import { type PlanOptions, buildPlan } from '../../compiler/lower/plan.ts';
import { wgslBackend } from '../../codegen/wgsl/backend.ts';
import type { GpuCaps } from '../../codegen/wgsl/caps.ts';
import type { ParamStore } from '../arena.ts';
import { type ExecutorPlans, GpuExecutor } from './executor.ts';
import type { Gpu } from './gpu.ts';

/** The training plan and, when dropout draws masks, the evaluation plan (dropout as the identity). */
export function planGraph(t: TrainingGraph, dims: { B: number; T: number }, caps: GpuCaps, opts: PlanOptions = {}): ExecutorPlans {
  const backend = wgslBackend(caps);
  const train = buildPlan(t, dims, backend, { ...opts, dropout: 'train' });
  const masks = t.graph.nodes.some((n) => n.op === 'dropout' && (n.attrs.p as number) > 0);
  return masks ? { train, eval: buildPlan(t, dims, backend, { ...opts, dropout: 'eval' }) } : { train };
}

export interface CreateExecutorOptions {
  /** Parameters to upload (else the arenas start at zero; call upload() later). */
  store?: ParamStore;
  /** Planner options (fusions, reuse, f16 frozen weights, no backward). */
  plan?: Omit<PlanOptions, 'dropout'>;
  /** Plan for these capabilities instead of the device's (only ever stricter: e.g. a smaller binding limit). */
  caps?: GpuCaps;
  /** Read this executor's parameter buffers instead of allocating (and uploading) copies. */
  params?: GpuExecutor;
}

/** Plans `t` for batches of dims.B × dims.T on `gpu`'s adapter and opens an executor of the plans. */
export function createExecutor(gpu: Gpu, t: TrainingGraph, dims: { B: number; T: number }, opts: CreateExecutorOptions = {}): Promise<GpuExecutor> {
  return GpuExecutor.fromPlan(gpu, planGraph(t, dims, opts.caps ?? gpu.info, opts.plan), { ...(opts.store ? { store: opts.store } : {}), ...(opts.params ? { params: opts.params } : {}), graph: t });
}

/**
 * A forward-only executor of `t` for dims.B × dims.T batches (dropout as the identity), reading
 * the parameter arenas of `params` when given (else its own, uploaded from opts.store).
 */
export function createEvalExecutor(gpu: Gpu, t: TrainingGraph, dims: { B: number; T: number }, opts: CreateExecutorOptions = {}): Promise<GpuExecutor> {
  const plan = buildPlan(t, dims, wgslBackend(opts.caps ?? gpu.info), { ...opts.plan, backward: false, dropout: 'eval' });
  return GpuExecutor.fromPlan(gpu, { train: plan }, { ...(opts.store && !opts.params ? { store: opts.store } : {}), ...(opts.params ? { params: opts.params } : {}), graph: t });
}
