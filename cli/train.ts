// `peftc train`: fine-tunes the trainable partition of a .peft model on a dataset, with
// checkpoints (atomic, resumable), an interrupt that saves, and a stop on NaN that keeps
// the last good checkpoint. It never replaces an earlier fine-tune unless told to.
import { realpathSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { adapterTensors } from '../runtime/adapter.ts';
import { packCheckpoint, restoreCheckpoint, CHECKPOINT_FORMAT, type CheckpointState, type LoadedCheckpoint } from '../runtime/checkpoint.ts';
import { holdsCheckpoint, readCheckpointDir, savedStep, writeCheckpointDir, type CheckpointDir } from '../runtime/checkpoint-node.ts';
import { Batcher } from '../runtime/data/batches.ts';
import { baseline } from '../runtime/data/bigram.ts';
import { describeDataset } from '../runtime/data/dataset.ts';
import { loadDataset } from '../runtime/data/load-node.ts';
import { labelNamesSetting, recordedLabelNames } from '../runtime/label-names.ts';
import { dataLimit } from '../runtime/data/read-node.ts';
import type { ScheduleKind } from '../runtime/schedule.ts';
import { train, validate } from '../runtime/trainer.ts';
import { UserError } from './errors.ts';
import { checkBackendFlags } from './backend-choice.ts';
import { count, makeReporter } from './progress.ts';
import { frozenSetting } from './multi.ts';
import { describeRanks, withRanks } from './rank-selection.ts';
import { promptTemplateOf } from '../compiler/peft/template.ts';
import { frozenDtype, int, num, optimizerFrom } from './flags.ts';
import { openBackend, openSession, trainingGraph, type SessionFlags } from './session.ts';
import { vocabSize } from './tokenizer-choice.ts';
import { FROZEN_DTYPE_SETTING } from './fine-tune.ts';
import { RECOMPUTE_SETTING, resumeChoices } from './resume-settings.ts';
import { recomputeOf } from '../compiler/autodiff/recompute.ts';
import { sequenceProblem, sequenceRoom } from '../compiler/positions.ts';

export interface TrainFlags extends SessionFlags {
  /** Required unless --resume: then the checkpoint's own data is the default. */
  data?: string;
  valid?: string;
  steps?: string;
  epochs?: string;
  batch: string;
  seq?: string;
  lr?: string;
  schedule: string;
  warmup: string;
  evalEvery?: string;
  out?: string;
  resume?: string;
  /** Replace the checkpoint already in --out. */
  overwrite?: boolean;
  json?: boolean;
  optimizer?: string;
  weightDecay?: string;
  clip?: string;
  baseline?: boolean;
  evalRows?: string;
  maxDataBytes?: string;
}

export async function trainCommand(file: string, flags: TrainFlags): Promise<number> {
  const opt = optimizerFrom(flags); // check the flags before any slow work
  checkBackendFlags(flags);
  const limit = dataLimit(flags.maxDataBytes);
  const resumed = flags.resume ? readCheckpointDir(flags.resume) : undefined;
  const out = flags.out ?? flags.resume ?? `runs/${basename(file, '.peft')}`;
  refuseToReplace(out, flags);
  // A resumed run rebuilds exactly what it started from: the same seed, base, settings and data.
  if (resumed) {
    flags.seed ??= String(resumed.state.seed);
    if (!flags.init && resumed.state.base) flags.init = resumed.state.base;
    if (!flags.set?.length && resumed.state.set.length) flags.set = resumed.state.set;
    // …and the step as it was planned and stored: --recompute and --frozen-dtype, unless given again.
    const chosen = resumeChoices(flags.resume!, resumed.state, flags);
    for (const n of chosen.notes) process.stderr.write(`peftc: note: ${n}\n`);
    if (chosen.recompute !== undefined) flags.recompute = chosen.recompute;
    if (chosen.frozenDtype !== undefined) flags.frozenDtype = chosen.frozenDtype;
  }
  const { data: dataSpec, valid } = dataOf(flags, resumed);
  const s = await openSession(file, { ...flags, seed: flags.seed ?? '0' });
  if (!s) return 1;
  const g = s.graph;
  const seqLen = int(flags.seq ?? String(Math.min(128, sequenceRoom(g))), '--seq', 2);
  const tooLong = sequenceProblem(g, seqLen);
  if (tooLong) throw new UserError(`--seq ${seqLen}: ${tooLong}`);
  const template = promptTemplateOf(g);
  const data = loadDataset({ data: dataSpec, ...(valid ? { valid } : {}), task: g.task, tokenizer: s.tokenizer, seqLen, modelVocab: vocabSize(g), ...numLabels(g), ...resumedLabels(resumed, flags.resume), ...(template ? { template } : {}), ...limit });
  const batcher = new Batcher(data, {
    batchSize: int(flags.batch, '--batch', 1),
    promptLength: g.promptLength,
    seed: Number(flags.seed ?? resumed?.state.seed ?? 0),
    validRows: int(flags.evalRows ?? '256', '--eval-rows', 1),
  });
  const steps = flags.steps ? int(flags.steps, '--steps', 1) : batcher.stepsFor(num(flags.epochs ?? '1', '--epochs'));
  const { backend, ranks } = withRanks(g, await openBackend(flags.backend ?? 'cpu', trainingGraph(g, opt), s.store, flags.gpu, flags.frozenDtype, flags.threads), s.store, {
    totalSteps: steps,
    seed: Number(flags.seed ?? resumed?.state.seed ?? 0),
  });
  let start = 0;
  if (resumed) {
    restoreCheckpoint(resumed, s.store, backend.optimizer, flags.resume!);
    ranks?.restore(resumed.file);
    backend.restoreOptimizer(backend.optimizer);
    start = resumed.state.step;
  }
  const log = makeReporter({ json: flags.json ?? false, tty: process.stdout.isTTY ?? false, logEvery: flags.json ? 1 : Math.max(1, Math.round(steps / 50)) });
  log.note(describeDataset(data));
  log.note(`${g.params.filter((p) => p.partition === 'trainable').length} trainable tensors, ${count(steps, 'step')} of ${batcher.batchSize}×${seqLen} tokens on ${backend.name}${resumed ? `, resuming at step ${start}` : ''}`);
  if (flags.baseline ?? true) {
    const b = baseline(batcher);
    log.note(`${b.kind} baseline on the validation split: ${b.nats.toFixed(4)} nats`);
  }
  const before = await validate(backend, batcher.validationBatches());
  log.eval(start, before);

  const state = (step: number, valLoss: number | null): CheckpointState => ({
    format: CHECKPOINT_FORMAT,
    step,
    seed: Number(flags.seed ?? '0'),
    settings: { eval_rows: flags.evalRows ?? '256', data: dataSpec, valid: valid ?? null, steps, batch: batcher.batchSize, seq: seqLen, lr: opt.lr, schedule: flags.schedule, warmup: Number(flags.warmup), optimizer: opt.kind, weight_decay: opt.weightDecay, clip: opt.clipNorm, backend: backend.name, tokenizer: s.tokenizer.name, [FROZEN_DTYPE_SETTING]: frozenDtype(flags.frozenDtype), [RECOMPUTE_SETTING]: recomputeOf(g), full: flags.full ?? false, ...frozenSetting(s.frozen), ...labelNamesSetting(data.stringLabels) },
    source: { entry: file, files: s.sources },
    set: flags.set ?? [],
    base: flags.init ?? null,
    valLoss,
  });
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log.note('interrupt: saving a checkpoint after this step (press Ctrl-C again to quit without saving)');
  };
  process.on('SIGINT', onSigint);
  // The last good checkpoint in `out`: the one resumed from, until this run saves.
  let lastSaved = resumed && sameDir(out, flags.resume!) ? start : -1;
  let step = start;
  log.start(steps, start);
  // A failed save ends the run with its error: the bar and the Ctrl-C handler go first.
  const res = await train(backend, { next: () => batcher.batch(step++), validation: () => batcher.validationBatches(), tokensPerBatch: batcher.tokensPerStep }, {
    steps,
    schedule: { kind: flags.schedule as ScheduleKind, lr: opt.lr, warmup: int(flags.warmup, '--warmup'), total: steps },
    evalEvery: flags.evalEvery ? int(flags.evalEvery, '--eval-every') : Math.max(1, Math.round(steps / 5)),
  }, {
    onStep: (i) => log.step(i),
    onEval: (st, v) => log.eval(st, v),
    shouldStop: () => interrupted,
    finite: async () => {
      await backend.sync();
      return allFinite(s.store.trainable.data);
    },
    checkpoint: async (st, valLoss) => {
      await backend.sync();
      const ck = packCheckpoint(s.store, backend.optimizer, state(st, valLoss));
      if (ranks) Object.assign(ck.tensors, ranks.tensors());
      await writeCheckpointDir(out, ck, adapterTensors(backend.training ?? trainingGraph(g, opt), s.store));
      lastSaved = st;
    },
    now: () => performance.now(),
  }, start).finally(() => {
    process.off('SIGINT', onSigint);
    log.stop();
  });
  if (res.end === 'diverged') {
    const at = res.diverged?.step ?? res.step + 1;
    const earlier = lastSaved < 0 ? savedStep(out) : null;
    const kept = lastSaved >= 0 ? `the last good checkpoint (step ${lastSaved}) is in ${out}` : `no checkpoint of this run was saved${earlier === null ? '' : ` (${out} still holds the earlier one, of step ${earlier})`}`;
    process.stderr.write(`peftc: training diverged at step ${at}: ${res.diverged?.what ?? 'the loss is not finite'}; training stopped and ${kept}. Try a lower --lr.\n`);
    return 1;
  }
  if (ranks?.hasAuto) log.note(describeRanks(ranks));
  log.note(`validation loss ${before.toFixed(4)} → ${res.valLoss?.toFixed(4)}; checkpoint in ${out}${res.end === 'interrupted' ? ` (interrupted after ${count(res.step, 'step')}; continue with --resume ${out})` : ''}`);
  return res.end === 'interrupted' ? 130 : 0;
}

/** Refuses an --out that holds a checkpoint, unless the run resumes it or --overwrite says to replace it. */
function refuseToReplace(out: string, flags: TrainFlags): void {
  if (flags.overwrite || !holdsCheckpoint(out)) return;
  if (flags.resume && sameDir(out, flags.resume)) return;
  const step = savedStep(out);
  const what = step === null ? 'a checkpoint' : `a checkpoint of step ${step}`;
  throw new UserError(`${out} already holds ${what}; pass --resume ${out} to continue it, or --overwrite to replace it${flags.out ? '' : ' (or --out DIR to train into another directory)'}`);
}

/** The training and validation data: the flags', else (resuming) the checkpoint's. */
function dataOf(flags: TrainFlags, resumed: CheckpointDir | undefined): { data: string; valid: string | undefined } {
  if (flags.data) return { data: flags.data, valid: flags.valid };
  if (!resumed) throw new UserError('--data is required: the training data (a text or .jsonl file, or a bundled corpus)');
  const { data, valid } = resumed.state.settings;
  if (typeof data !== 'string' || !data) throw new UserError(`--data is required: the checkpoint in ${flags.resume} records no training data`);
  return { data, valid: flags.valid ?? (typeof valid === 'string' ? valid : undefined) };
}

function sameDir(a: string, b: string): boolean {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  return real(a) === real(b);
}

function allFinite(values: Float32Array | Float64Array): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return false;
  return true;
}

function numLabels(g: import('../compiler/ir/types.ts').Graph): { numLabels?: number } {
  return g.task === 'classification' ? { numLabels: g.nodes[g.outputs.logits]!.shape[1] as number } : {};
}

/** A resumed classifier keeps the label ids it was trained with. */
function resumedLabels(resumed: LoadedCheckpoint | undefined, dir: string | undefined): { labelNames?: string[] } {
  const names = resumed && recordedLabelNames(resumed.state.settings, dir ?? 'the checkpoint');
  return names ? { labelNames: names } : {};
}
