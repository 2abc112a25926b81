// What a built trainer (`peftc build`) is made of: `trainer.json`, the manifest that says how
// to train (model, batch shape, tokenizer, training settings, parameter list, what the plans
// were made for), `plan.json` (the training plan and, when dropout draws masks, the evaluation
// plan: buffers, dispatches, WGSL), `weights.safetensors` (every parameter's initial value) and
// an optional sample text. Plain data, read the same way in Node and in a browser.
import type { OptimizerConfig } from '../../compiler/autodiff/backward.ts';
import type { Param, Task } from '../../compiler/ir/types.ts';
import type { Plan } from '../../compiler/lower/types.ts';
import { FROZEN_DTYPES, type FrozenDtype } from '../../compiler/quant/dtype.ts';
import type { ScheduleKind } from '../schedule.ts';
import { TOKENIZER_NAMES, type TokenizerName } from '../data/tokenizer.ts';
import { RUNTIME_LIMITS, type GpuInfo, type RuntimeLimits } from '../webgpu/device.ts';
import { GpuError } from '../webgpu/errors.ts';
import { JsonFields } from './fields.ts';
import { TrainerError } from './trainer-error.ts';

export { TrainerError };

export const TRAINER_FORMAT = 'peftc-trainer/1';

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
export function plansFor(set: PlanSet, info: Pick<GpuInfo, 'isSoftware'>): { kind: KernelKind; plans: TrainerPlans } {
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
    /** How the plans store the frozen weight matrices (`--frozen-dtype`); absent in trainers built before it was recorded. */
    frozenDtype?: FrozenDtype;
    /** Whether the plans recompute each repeated block in the backward pass (`--recompute`). */
    recompute?: 'none' | 'blocks';
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
export function checkTarget(target: TrainerManifest['target'], info: GpuInfo): void {
  const short: string[] = [];
  for (const name of RUNTIME_LIMITS) {
    const need = target.limits[name];
    if (need !== undefined && info.limits[name] < need) short.push(`${name} ${info.limits[name]} < ${need}`);
  }
  for (const f of target.features) if (!info.features.includes(f)) short.push(`feature ${f} missing`);
  if (short.length) {
    throw new GpuError('limit', `this trainer was planned for ${target.name}; this adapter (${info.gpuClass}) falls short: ${short.join(', ')}. Rebuild it with \`peftc build\` without --gpu (WebGPU's default limits)`);
  }
}

/**
 * Parses trainer.json and checks every field the runtime reads (types, ranges, the names of
 * the sample file), so that a corrupt or hand-edited manifest fails at load with one line
 * naming the field instead of later, inside the trainer.
 */
export function parseManifest(text: string, where: string): TrainerManifest {
  const f = new JsonFields(where);
  const m = f.object(f.parse(text), 'the manifest');
  if (m.format !== TRAINER_FORMAT) throw new TrainerError(`${where}: format ${JSON.stringify(m.format)?.slice(0, 40)}; this trainer reads ${TRAINER_FORMAT}`);
  checkModel(f, m.model);
  const params = f.array(m.params, 'params', (p, path) => {
    const o = f.object(p, path);
    f.string(o.path, `${path}.path`);
    f.ints(o.shape, `${path}.shape`, 1);
    f.oneOf(o.partition, `${path}.partition`, ['frozen', 'trainable'] as const);
    f.optional(o.transient, `${path}.transient`, (v, q) => f.bool(v, q));
    return o.path as string;
  });
  const dup = params.find((p, i) => params.indexOf(p) !== i);
  if (dup !== undefined) throw new TrainerError(`${where}: params names ${dup} twice; rebuild the trainer with \`peftc build\``);
  f.oneOf(m.tokenizer, 'tokenizer', TOKENIZER_NAMES);
  const dims = f.object(m.dims, 'dims');
  f.int(dims.B, 'dims.B', 1, 1 << 16);
  f.int(dims.T, 'dims.T', 1, 1 << 20);
  const opt = f.object(m.optimizer, 'optimizer');
  f.oneOf(opt.kind, 'optimizer.kind', ['adamw', 'sgd'] as const);
  for (const k of ['lr', 'beta1', 'beta2', 'eps', 'weightDecay', 'momentum', 'clipNorm']) f.number(opt[k], `optimizer.${k}`);
  checkSettings(f, m.settings);
  const target = f.object(m.target, 'target');
  f.string(target.name, 'target.name');
  const kernels = f.array(target.kernels, 'target.kernels', (k, p) => f.oneOf(k, p, ['hardware', 'software'] as const));
  if (kernels.length === 0) f.fail('target.kernels', 'hardware, software or both', kernels);
  const limits = f.object(target.limits, 'target.limits');
  for (const name of RUNTIME_LIMITS) f.int(limits[name], `target.limits.${name}`);
  f.strings(target.features, 'target.features');
  if (m.sample !== null) {
    const s = f.object(m.sample, 'sample');
    f.oneOf(s.file, 'sample.file', [TRAINER_FILES.sample, TRAINER_FILES.sampleJsonl]);
    f.string(s.source, 'sample.source');
    f.int(s.bytes, 'sample.bytes');
  }
  const stats = f.object(m.stats, 'stats');
  f.int(stats.trainable, 'stats.trainable');
  f.int(stats.total, 'stats.total');
  const dispatches = f.record(stats.dispatches, 'stats.dispatches', (v, p) => f.int(v, p));
  const shaders = f.record(stats.shaders, 'stats.shaders', (v, p) => f.int(v, p));
  for (const k of kernels) {
    f.int(dispatches[k], `stats.dispatches.${k}`);
    f.int(shaders[k], `stats.shaders.${k}`);
  }
  f.string(m.builtBy, 'builtBy');
  return m as unknown as TrainerManifest;
}

function checkModel(f: JsonFields, v: unknown): void {
  const model = f.object(v, 'model');
  f.string(model.name, 'model.name');
  f.string(model.entry, 'model.entry');
  f.strings(model.set, 'model.set');
  f.bool(model.full, 'model.full');
  f.record(model.sources, 'model.sources', (x, p) => f.string(x, p));
  if (model.base !== null) f.string(model.base, 'model.base');
  f.oneOf(model.task, 'model.task', ['causal_lm', 'classification'] as const);
  f.int(model.promptLength, 'model.promptLength');
  f.optional(model.vocab, 'model.vocab', (x, p) => f.int(x, p, 1));
  f.optional(model.numLabels, 'model.numLabels', (x, p) => f.int(x, p, 1));
  f.optional(model.frozenDtype, 'model.frozenDtype', (x, p) => f.oneOf(x, p, FROZEN_DTYPES));
  f.optional(model.recompute, 'model.recompute', (x, p) => f.oneOf(x, p, ['none', 'blocks'] as const));
}

function checkSettings(f: JsonFields, v: unknown): void {
  const s = f.object(v, 'settings');
  f.int(s.steps, 'settings.steps');
  f.number(s.lr, 'settings.lr');
  f.oneOf(s.schedule, 'settings.schedule', ['constant', 'cosine'] as const);
  f.int(s.warmup, 'settings.warmup');
  if (s.evalEvery !== null) f.int(s.evalEvery, 'settings.evalEvery');
  f.int(s.seed, 'settings.seed', Number.MIN_SAFE_INTEGER);
  f.int(s.evalRows, 'settings.evalRows', 1);
  f.number(s.validFraction, 'settings.validFraction', 0);
  if ((s.validFraction as number) >= 1) f.fail('settings.validFraction', 'a number below 1', s.validFraction);
}
