// What a built trainer (`peftc build`) is made of: `trainer.json`, the manifest that says how
// to train (model, batch shape, tokenizer, training settings, parameter list, what the plans
// were made for), `plan.json` (the training plan and, when dropout draws masks, the evaluation
// plan: buffers, dispatches, WGSL), `weights.safetensors` (every parameter's initial value) and
// an optional sample text. Plain data, read the same way in Node and in a browser.
import type { OptimizerConfig } from '../../compiler/autodiff/backward.ts';
import type { Param, Task } from '../../compiler/ir/types.ts';
import type { Plan } from '../../compiler/lower/types.ts';
import type { TokenizerName } from '../data/tokenizer.ts';
import type { ScheduleKind } from '../schedule.ts';
import { RUNTIME_LIMITS, type AdapterInfo, type RuntimeLimits } from '../webgpu/device.ts';
import { GpuError } from '../webgpu/errors.ts';

export const TRAINER_FORMAT = 'peftc-trainer/1';

/** A built trainer's files are missing, malformed or do not fit together: one line for the user. */
export class TrainerError extends Error {
  override name = 'TrainerError';
}

/** The files of a built trainer's folder. */
export const TRAINER_FILES = {
  manifest: 'trainer.json',
  plan: 'plan.json',
  weights: 'weights.safetensors',
  sample: 'sample.txt',
  sampleJsonl: 'sample.jsonl',
  node: 'train.mjs',
  page: 'index.html',
  pageScript: 'page.js',
} as const;

/** The plans of one training step: `eval` only where the training plan's dropout draws masks. */
export interface TrainerPlans {
  train: Plan;
  eval?: Plan;
}

/** Which kernels a plan calls: `hardware` tiles through workgroup memory; `software` avoids barriers (CPU adapters). */
export type KernelKind = 'hardware' | 'software';

/** plan.json: the plans for each kind of kernels built; a device runs the kind that suits it. */
export type PlanSet = Partial<Record<KernelKind, TrainerPlans>>;

/** The plans for this adapter: its own kind of kernels if built, else the other kind. */
export function plansFor(set: PlanSet, info: Pick<AdapterInfo, 'isSoftware'>): { kind: KernelKind; plans: TrainerPlans } {
  const order: KernelKind[] = info.isSoftware ? ['software', 'hardware'] : ['hardware', 'software'];
  for (const kind of order) {
    const plans = set[kind];
    if (plans) return { kind, plans };
  }
  throw new TrainerError('plan.json holds no plan; rebuild the trainer');
}

/** Defaults of a run; the Node entry's flags and the page's fields override the first six. */
export interface TrainerSettings {
  /** Optimizer steps; 0: one epoch of the data the run is given. */
  steps: number;
  lr: number;
  schedule: ScheduleKind;
  warmup: number;
  /** Validate and checkpoint every this many steps; null: five times per run (as `peftc train`). */
  evalEvery: number | null;
  /** The seed of the data order (the initial parameters were drawn at build time). */
  seed: number;
  /** Validation rows evaluated, evenly spaced over the split. */
  evalRows: number;
  /** Held out for validation when no separate validation data is given. */
  validFraction: number;
}

export interface TrainerManifest {
  format: typeof TRAINER_FORMAT;
  /** The .peft program as `peftc build` compiled it; `sources` go into every checkpoint. */
  model: {
    name: string;
    entry: string;
    set: string[];
    full: boolean;
    sources: Record<string, string>;
    /** The base weights (`--init`) the initial parameters came from, if any. */
    base: string | null;
    task: Task;
    promptLength: number;
    /** The token table's rows (ids must be below it), when the model has one. */
    vocab?: number;
    /** Classification: the number of labels. */
    numLabels?: number;
  };
  /** Every parameter (frozen and trainable) in the graph's order: the arenas' layout. */
  params: Param[];
  tokenizer: TokenizerName;
  /** The batch shape the plans were made for: B sequences of T tokens. */
  dims: { B: number; T: number };
  optimizer: OptimizerConfig;
  settings: TrainerSettings;
  /**
   * What the plans were made for: WebGPU's default limits (which every adapter meets) unless
   * `--gpu` named an adapter, and the kinds of kernels planned (plan.json has one plan set per
   * kind). A device below these limits is refused at load.
   */
  target: { name: string; kernels: KernelKind[]; limits: RuntimeLimits; features: string[] };
  /** The bundled sample data, if any: its file name in the trainer folder and where it came from. */
  sample: { file: string; source: string; bytes: number } | null;
  /** Dispatches and distinct shaders per training step, for each kind of kernels. */
  stats: { trainable: number; total: number; dispatches: Partial<Record<KernelKind, number>>; shaders: Partial<Record<KernelKind, number>> };
  /** peftc's version that built it. */
  builtBy: string;
}

/** Throws GpuError('limit') naming every limit or feature of `target` that the device lacks. */
export function checkTarget(target: TrainerManifest['target'], info: AdapterInfo): void {
  const short: string[] = [];
  for (const name of RUNTIME_LIMITS) {
    const need = target.limits[name];
    if (need !== undefined && info.limits[name] < need) short.push(`${name} ${info.limits[name]} < ${need}`);
  }
  for (const f of target.features) if (!info.features.includes(f)) short.push(`feature ${f} missing`);
  if (short.length) {
    throw new GpuError('limit', `this trainer was planned for ${target.name}; this adapter (${info.adapterClass}) falls short: ${short.join(', ')}. Rebuild it with \`peftc build\` without --gpu (WebGPU's default limits)`);
  }
}

/** Checks the manifest's format and shape enough to fail with one clear line instead of later. */
export function parseManifest(text: string, where: string): TrainerManifest {
  let m: TrainerManifest;
  try {
    m = JSON.parse(text) as TrainerManifest;
  } catch {
    throw new TrainerError(`${where}: not JSON`);
  }
  if (m?.format !== TRAINER_FORMAT) throw new TrainerError(`${where}: format ${String(m?.format)}; this trainer reads ${TRAINER_FORMAT}`);
  return m;
}
