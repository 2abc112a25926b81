// `peftc build FILE -o DIR`: a standalone trainer. The compiler runs here, once: the Training IR
// is lowered to plans (buffers, dispatches, WGSL) ahead of time, the initial parameters are
// drawn (seeded init, then --init), and the runtime that executes the plans is bundled for Node
// (DIR/train.mjs, needing only the `webgpu` package) and for a browser (DIR/index.html + page.js,
// needing only navigator.gpu). Neither bundle contains the compiler. See docs/build.md.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { TrainingGraph } from '../compiler/autodiff/backward.ts';
import { DEFAULT_LOSS_CHUNK_BYTES, PlanError, buildPlan, type PlanOptions } from '../compiler/lower/plan.ts';
import { recomputeOf } from '../compiler/autodiff/recompute.ts';
import { resolveData } from '../runtime/data/corpora-node.ts';
import { dataLimit } from '../runtime/data/read-node.ts';
import { sourceBytes } from '../runtime/data/source.ts';
import { buildDataset } from '../runtime/data/dataset.ts';
import { TOKENIZER_NAMES, type TokenizerName } from '../runtime/data/tokenizer.ts';
import { TRAINER_FILES, TRAINER_FORMAT, type KernelKind, type PlanSet, type TrainerManifest, type TrainerPlans } from '../runtime/standalone/manifest.ts';
import { wgslBackend } from '../codegen/wgsl/backend.ts';
import { DEFAULT_CAPS, type GpuCaps } from '../codegen/wgsl/caps.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';
import { PAGE_HTML, bundleNode, bundlePage } from './build-bundle.ts';
import { buildTorchCommand } from './build-torch.ts';
import { UserError } from './errors.ts';
import { frozenDtype, frozenPlanOptions, gpuChoice, int, optimizerFrom } from './flags.ts';
import { trainerWeightBytes } from '../runtime/standalone/weights.ts';
import { loopSettings, scheduleOf, sequenceLength, type BuildFlags } from './build-flags.ts';
import { checkOutDir, outFolder } from './out-folder.ts';
import { openSession, trainingGraph } from './session.ts';
import { vocabSize } from './tokenizer-choice.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string; dependencies: Record<string, string> });

export async function buildCommand(file: string, flags: BuildFlags): Promise<number> {
  const targetKind = flags.target ?? 'webgpu';
  if (targetKind === 'torch') return buildTorchCommand(file, flags);
  if (targetKind !== 'webgpu') throw new UserError(`--target must be webgpu or torch, not \`${targetKind}\``);
  // Flags first, before any slow work.
  const opt = optimizerFrom(flags);
  const schedule = scheduleOf(flags);
  const kernels = flags.kernels ?? 'both';
  if (kernels !== 'hardware' && kernels !== 'software' && kernels !== 'both') throw new UserError(`--kernels must be hardware, software or both, not \`${kernels}\``);
  if (flags.gpu !== undefined && flags.kernels !== undefined) throw new UserError('--gpu plans for that adapter (and its kind of kernels); leave out --kernels');
  const B = int(flags.batch, '--batch', 1);
  checkOutDir(flags.out, (entries) => entries.includes(TRAINER_FILES.manifest), 'the folder exists and is not a built trainer');

  const s = await openSession(file, flags);
  if (!s) return 1;
  if (!TOKENIZER_NAMES.includes(s.tokenizer.name as TokenizerName)) throw new UserError(`built trainers carry a built-in tokenizer (${TOKENIZER_NAMES.join(', ')}), not a tokenizer.json (${s.tokenizer.name}); train with \`peftc train --tokenizer\` instead`);
  const g = s.graph;
  const T = sequenceLength(g, flags);
  if (g.prefixTable !== undefined) {
    throw new UserError('built trainers do not support prefix tuning with a reparameterisation MLP yet (its adapter file keeps the table the MLP computes); train it with `peftc train`, or use `prefix(…)` without `reparam`');
  }
  const vocab = vocabSize(g);
  const numLabels = g.task === 'classification' ? (g.nodes[g.outputs.logits]!.shape[1] as number) : undefined;

  // The sample, checked now as the trainer will read it: a bad file fails the build, not the run.
  const sample = flags.data ? resolveData(flags.data, dataLimit(flags.maxDataBytes)) : undefined;
  if (sample) buildDataset(sample, { task: g.task, tokenizer: s.tokenizer, seqLen: T, ...(vocab !== undefined ? { modelVocab: vocab } : {}), ...(numLabels !== undefined ? { numLabels } : {}) });
  const sampleBytes = sample ? sourceBytes(sample) : new Uint8Array(0);

  const t = trainingGraph(g, opt);
  const target = await targetFor(flags.gpu, kernels === 'both' ? ['hardware', 'software'] : [kernels]);
  const plans: PlanSet = {};
  // As the in-process WebGPU trainer plans a step: the frozen dtype asked for, the loss over chunks of rows.
  const planOpts: TrainerPlanOptions = { ...frozenPlanOptions(flags.frozenDtype), lossChunkBytes: flags.lossChunkBytes ?? DEFAULT_LOSS_CHUNK_BYTES };
  for (const kind of target.kinds) plans[kind] = planAll(t, { B, T }, { ...target.caps, isSoftware: kind === 'software' }, planOpts);
  const kinds = target.kinds;

  const out = flags.out;
  outFolder(out);
  const sampleFile = sample?.format === 'jsonl' ? TRAINER_FILES.sampleJsonl : TRAINER_FILES.sample;
  const trainable = s.store.trainable.size;
  const manifest: TrainerManifest = {
    format: TRAINER_FORMAT,
    model: {
      name: g.config.name !== undefined ? String(g.config.name) : basename(file, '.peft'),
      entry: file,
      set: flags.set ?? [],
      full: flags.full ?? false,
      sources: s.sources,
      base: flags.init ?? null,
      task: g.task,
      promptLength: g.promptLength,
      ...(vocab !== undefined ? { vocab } : {}),
      ...(numLabels !== undefined ? { numLabels } : {}),
      frozenDtype: frozenDtype(flags.frozenDtype),
      recompute: recomputeOf(g),
    },
    params: g.params.map(({ src: _, ...p }) => p),
    tokenizer: s.tokenizer.name as TokenizerName,
    dims: { B, T },
    optimizer: opt,
    settings: {
      ...loopSettings(flags),
      lr: opt.lr,
      schedule,
      evalEvery: flags.evalEvery ? int(flags.evalEvery, '--eval-every') : null,
      validFraction: 0.1,
    },
    target: { name: target.name, kernels: kinds, limits: { ...target.caps.limits }, features: [...target.caps.features] },
    sample: sample ? { file: sampleFile, source: basename(sample.name), bytes: sampleBytes.length } : null,
    stats: {
      trainable,
      total: trainable + s.store.frozen.size,
      dispatches: Object.fromEntries(kinds.map((k) => [k, plans[k]!.train.steps.length])),
      shaders: Object.fromEntries(kinds.map((k) => [k, plans[k]!.train.shaders.length])),
    },
    builtBy: `peftc ${VERSION.version}`,
  };

  const [node, page] = await Promise.all([bundleNode({ tokenizer: manifest.tokenizer }), bundlePage({ tokenizer: manifest.tokenizer })]);
  // Quantized frozen matrices go out as their codes and scales (runtime/standalone/weights.ts).
  const weightBytes = trainerWeightBytes(s.store, plans[kinds[0]!]!.train.frozen);
  writeFileSync(join(out, TRAINER_FILES.manifest), JSON.stringify(manifest, null, 1) + '\n');
  writeFileSync(join(out, TRAINER_FILES.plan), JSON.stringify(plans));
  writeFileSync(join(out, TRAINER_FILES.weights), weightBytes);
  if (sample) writeFileSync(join(out, sampleFile), sampleBytes);
  writeFileSync(join(out, TRAINER_FILES.node), node.code);
  writeFileSync(join(out, TRAINER_FILES.pageScript), page.code);
  writeFileSync(join(out, TRAINER_FILES.page), readFileSync(PAGE_HTML, 'utf8'));
  writeFileSync(join(out, 'package.json'), JSON.stringify({
    name: `peftc-trainer-${basename(file, '.peft').toLowerCase().replace(/[^a-z0-9-]/g, '-')}`,
    private: true,
    type: 'module',
    description: `A standalone trainer for ${file}, built by peftc ${VERSION.version}`,
    scripts: { train: 'node train.mjs', serve: 'node train.mjs --serve 8080' },
    dependencies: { webgpu: VERSION.dependencies.webgpu ?? '^0.6.2' },
  }, null, 2) + '\n');

  const mib = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;
  process.stdout.write([
    `built ${out}: a ${B}×${T} training step planned for ${target.name}: ${kinds.map((k) => `${k} kernels ${manifest.stats.dispatches[k]} dispatches (${manifest.stats.shaders[k]} shaders)`).join(', ')}${plans[kinds[0]!]!.eval ? '; evaluation plans too (dropout)' : ''}`,
    `  weights ${mib(weightBytes.length)}${manifest.model.frozenDtype !== 'f32' ? `, frozen matrices in ${manifest.model.frozenDtype}` : ''} (${trainable.toLocaleString('en')} trainable of ${manifest.stats.total.toLocaleString('en')}), train.mjs ${mib(node.code.length)}, page.js ${mib(page.code.length)}${sample ? `, sample ${sample.name}` : ''}`,
    `  Node:    node ${join(out, TRAINER_FILES.node)} ${sample ? '[--data FILE]' : '--data FILE'} --steps N --out CHECKPOINT_DIR`,
    `  browser: node ${join(out, TRAINER_FILES.node)} --serve 8080, then open http://127.0.0.1:8080/`,
  ].join('\n') + '\n');
  return 0;
}

/** The planner's options a built trainer's plans are made with. */
export type TrainerPlanOptions = Pick<PlanOptions, 'frozenF16' | 'frozenQuant' | 'lossChunkBytes'>;

/** The training plan, and the evaluation plan when some dropout draws a mask. */
export function planAll(t: TrainingGraph, dims: { B: number; T: number }, caps: GpuCaps, opts: TrainerPlanOptions = {}): TrainerPlans {
  try {
    const train = buildPlan(t, dims, wgslBackend(caps), { ...opts, dropout: 'train' });
    const extra = Object.entries(train.io.extra ?? {}).filter(([, r]) => r.fill === undefined).map(([n]) => n);
    if (extra.length) throw new UserError(`built trainers do not support models with inputs besides the tokens (${extra.join(', ')}: several adapters, rank masks) yet; train it with \`peftc train\``);
    const masks = t.graph.nodes.some((n) => n.op === 'dropout' && (n.attrs.p as number) > 0);
    const plans: TrainerPlans = { train };
    if (masks) plans.eval = buildPlan(t, dims, wgslBackend(caps), { ...opts, dropout: 'eval' });
    return plans;
  } catch (e) {
    if (e instanceof PlanError) throw new UserError(e.message);
    throw e;
  }
}

/**
 * WebGPU's default limits (every adapter meets them) with the kinds of kernels asked for, or the
 * limits and the kernels of the adapter --gpu names.
 */
async function targetFor(gpu: string | undefined, kinds: KernelKind[]): Promise<{ name: string; caps: GpuCaps; kinds: KernelKind[] }> {
  if (gpu === undefined) return { name: "WebGPU's default limits", caps: DEFAULT_CAPS, kinds };
  const opened = await openNodeGpu({ gpu: gpuChoice(gpu) });
  const { isSoftware, limits, features, gpuClass, description, device } = opened.info;
  opened.destroy();
  return { name: `the limits of the ${gpuClass} adapter (${description || device})`, caps: { isSoftware, limits, features }, kinds: [isSoftware ? 'software' : 'hardware'] };
}

/** DIR must be new, empty, or a trainer folder built before (its files are replaced). */
