// `peftc build FILE --target torch -o DIR`: the program as a PyTorch trainer folder (model.py,
// train.py, …; see codegen/torch/ and docs/torch-target.md). The compiler runs here: the model
// is generated from the Model IR, the initial weights drawn (seeded init, then --init) and the
// data tokenized into rows, so that the folder needs only Python and torch.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Graph } from '../compiler/ir/types.ts';
import { CodegenError } from '../codegen/codegen-error.ts';
import { TORCH_FILES, torchFolder, type ExportPart, type LoraRanks, type TrainerDefaults } from '../codegen/torch/index.ts';
import { rankedModules } from '../compiler/peft/ranked-modules.ts';
import type { ParamStore } from '../runtime/arena.ts';
import { Batcher } from '../runtime/data/batches.ts';
import { resolveData } from '../runtime/data/corpora-node.ts';
import { buildDataset, type DataSource, type Row } from '../runtime/data/dataset.ts';
import type { Tokenizer } from '../runtime/data/tokenizer.ts';
import { dataLimit } from '../runtime/data/read-node.ts';
import { modulePaths } from '../runtime/interop/graph-info.ts';
import { loraModules, planExport } from '../runtime/interop/hf-peft.ts';
import { hfNameMap, type HfNames } from '../runtime/interop/names.ts';
import { pyDumps } from '../runtime/interop/pyjson.ts';
import { serializeSafetensors, type WriteTensor } from '../runtime/io/safetensors.ts';
import { loopSettings, scheduleOf, sequenceLength, type BuildFlags } from './build-flags.ts';
import { checkOutDir, outFolder } from './out-folder.ts';
import { compileFile } from './common.ts';
import { UserError } from './errors.ts';
import { int, optimizerFrom } from './flags.ts';
import { openSession } from './session.ts';
import { vocabSize } from './tokenizer-choice.ts';

export async function buildTorchCommand(file: string, flags: BuildFlags): Promise<number> {
  const opt = optimizerFrom(flags);
  const schedule = scheduleOf(flags);
  for (const [flag, v] of [['--kernels', flags.kernels], ['--gpu', flags.gpu]] as const) if (v !== undefined) throw new UserError(`${flag} plans WebGPU kernels; --target torch has none`);
  // Both shape peftc's own plans; train.py would hold an f32 base and keep what autograd keeps.
  if (flags.frozenDtype !== undefined && flags.frozenDtype !== 'f32') throw new UserError(`--frozen-dtype ${flags.frozenDtype} stores the frozen base of peftc's own plans; --target torch writes it in f32 (quantize it in PyTorch, e.g. with bitsandbytes)`);
  if (flags.recompute !== undefined) throw new UserError("--recompute plans peftc's backward pass; --target torch's train.py keeps what PyTorch's autograd keeps");
  const B = int(flags.batch, '--batch', 1);
  checkOutDir(flags.out, (entries) => entries.includes(TORCH_FILES.config) && entries.includes(TORCH_FILES.model), 'the folder exists and is not a torch trainer built before');
  const s = await openSession(file, flags);
  if (!s) return 1;
  const g = s.graph;
  const derived = compileFile(file, flags, { derivedPrefix: true }).graph;
  if (!derived) throw new UserError(`${file}: does not compile with the prefix table in place of its MLP`);
  const T = sequenceLength(g, flags);
  const data = flags.data ? dataRows(g, s.tokenizer, T, resolveData(flags.data, dataLimit(flags.maxDataBytes))) : undefined;

  const loop = loopSettings(flags);
  const defaults: TrainerDefaults = {
    batch: B,
    steps: loop.steps || null,
    lr: opt.lr,
    schedule,
    warmup: loop.warmup,
    weight_decay: opt.weightDecay,
    clip: opt.clipNorm,
    eval_every: flags.evalEvery ? int(flags.evalEvery, '--eval-every', 1) : null,
    eval_rows: loop.evalRows,
    seed: loop.seed,
    data: data ? TORCH_FILES.data : null,
  };
  const exported = exportParts(derived, flags.init ?? null);
  let files: Map<string, string>;
  try {
    files = torchFolder({
      source: file,
      graph: g,
      ...exported,
      prefixTablePath: derived.params.find((p) => p.origin === 'prefix' && p.partition === 'trainable')?.path,
      optimizer: { kind: opt.kind, beta1: opt.beta1, beta2: opt.beta2, eps: opt.eps, momentum: opt.momentum },
      vocab: tokenIds(g),
      defaults,
      ...(data ? { seqLen: T } : {}),
    });
  } catch (e) {
    if (e instanceof CodegenError) throw new UserError(`${file}: ${e.detail}`);
    throw e;
  }
  for (const skipped of exported.exportSkipped) process.stderr.write(`peftc: warning: train.py's adapter folders will leave out: ${skipped}\n`);
  outFolder(flags.out);
  for (const [name, text] of files) writeFileSync(join(flags.out, name), text);
  writeFileSync(join(flags.out, TORCH_FILES.weights), weightsFile(s.store));
  if (data) writeFileSync(join(flags.out, TORCH_FILES.data), data.bytes);
  const trainable = s.store.trainable.size;
  process.stdout.write([
    `built ${flags.out}: a PyTorch trainer (${trainable.toLocaleString('en')} trainable of ${(trainable + s.store.frozen.size).toLocaleString('en')} parameters)${data ? `, ${data.rows} training rows of ${T} tokens` : ''}`,
    `  one process:  python3 ${join(flags.out, TORCH_FILES.train)} ${data ? '' : '--data DATA.safetensors '}--steps N --out RUN_DIR`,
    `  distributed:  torchrun --nproc_per_node N ${join(flags.out, TORCH_FILES.train)} --out RUN_DIR`,
  ].join('\n') + '\n');
  return 0;
}

/** The adapter folders train.py writes: the parts `peftc export` writes for this program. */
function exportParts(derived: Graph, baseModel: string | null): { exportParts: ExportPart[]; exportSkipped: string[] } {
  const names = hfNameMap(derived);
  const plan = planExport(derived, names, { baseModel });
  return {
    exportParts: plan.parts.map((p) => ({
      part: p.part,
      format: p.format,
      weightsFile: p.weightsFile,
      configText: pyDumps(p.config),
      // Which ranks a selected-rank factor keeps is the run's: train.py picks them (py/rank.py).
      // An AdapterHub head's own file (e.file) is `peftc export`'s to write: train.py writes the adapter.
      entries: p.entries.filter((e) => !e.file).map(({ select, ...e }) => ({ ...e, ...(select ? { select: { axis: select.axis, ...(select.scaleBy ? { scaleBy: select.scaleBy } : {}), ...(select.of !== undefined ? { of: select.of } : {}), ...(select.factor !== undefined ? { factor: select.factor } : {}) } } : {}) })),
      ...(p.part === 'lora' && rankedModules(derived).length ? { lora: loraRanks(derived, names) } : {}),
    })),
    exportSkipped: [...plan.skipped, ...(plan.parts.some((p) => p.entries.some((e) => e.file)) ? ['the prediction head beside the AdapterHub adapter (train.py writes the adapter alone; `peftc export` of a peftc checkpoint writes the head too)'] : [])],
  };
}

/** The LoRA modules as the adapter config describes them, for the ranks train.py's run keeps. */
function loraRanks(g: Graph, names: HfNames): LoraRanks {
  const ranked = new Map(rankedModules(g).map((m) => [m.module, m]));
  return {
    modules: loraModules(g).map((m) => ({ module: m.module, hf: names.toHf(m.module), rank: ranked.get(m.module)?.rank ?? m.rank, alpha: m.alpha, rslora: m.rslora, mode: ranked.get(m.module)?.mode ?? 'fixed' })),
    universe: [...modulePaths(g)],
  };
}

/** How many token ids the model reads: its vocabulary, plus a prompt template's virtual tokens. */
function tokenIds(g: Graph): number | null {
  const soft = g.nodes.find((n) => n.op === 'soft_embedding' && g.nodes[n.inputs[2]!]!.op === 'input');
  if (soft) return (g.nodes[soft.inputs[0]!]!.shape[0] as number) + (g.nodes[soft.inputs[1]!]!.shape[0] as number);
  return vocabSize(g) ?? null;
}

/** Every parameter's initial value, by path. */
function weightsFile(store: ParamStore): Uint8Array {
  const weights: Record<string, WriteTensor> = {};
  for (const arena of [store.frozen, store.trainable]) {
    for (const slot of arena.slots) weights[slot.param.path] = { dtype: 'F32', shape: slot.param.shape, data: Float32Array.from(arena.data.subarray(slot.offset, slot.offset + slot.size)) };
  }
  return serializeSafetensors(weights, { format: 'peftc-initial-weights/1' });
}

/**
 * The data tokenized and split as `peftc train` does (or, with `valid`, validated on all of it as
 * `peftc eval` does), each row encoded as the trainer's batches
 * encode it (padded tokens, targets with the loss mask applied, lengths): train.py only indexes.
 */
export function dataRows(g: Graph, tokenizer: Tokenizer, T: number, source: DataSource, valid?: DataSource): { bytes: Uint8Array; rows: number } {
  if (g.params.some((p) => p.method?.name === 'prompt' && typeof p.method.settings.template === 'string' && p.method.settings.template !== '')) {
    throw new UserError('--target torch does not encode data for prompt templates yet; train it with `peftc train`');
  }
  const vocab = vocabSize(g);
  const numLabels = g.task === 'classification' ? (g.nodes[g.outputs.logits]!.shape[1] as number) : undefined;
  const ds = buildDataset(source, { task: g.task, tokenizer, seqLen: T, ...(vocab !== undefined ? { modelVocab: vocab } : {}), ...(numLabels !== undefined ? { numLabels } : {}) }, valid);
  const one = new Batcher(ds, { batchSize: 1, promptLength: g.promptLength, shuffle: false });
  const tensors: Record<string, WriteTensor> = {};
  encodeSplit(tensors, 'train', ds.train, one, g);
  encodeSplit(tensors, 'valid', ds.valid, one, g);
  return { bytes: serializeSafetensors(tensors, { format: 'peftc-rows/1', source: source.name }), rows: ds.train.length };
}

function encodeSplit(out: Record<string, WriteTensor>, split: string, rows: readonly Row[], one: Batcher, g: Graph): void {
  const T = one.seqLen;
  const S = g.task === 'classification' ? 1 : g.promptLength + T;
  const tokens = new Int32Array(rows.length * T);
  const targets = new Int32Array(rows.length * S);
  const lengths = new Int32Array(rows.length);
  rows.forEach((r, i) => {
    const b = one.encode([r]);
    tokens.set(b.tokens.data, i * T);
    targets.set(b.targets.data, i * S);
    lengths[i] = b.extra.lengths.data[0]!;
  });
  out[`${split}.tokens`] = { dtype: 'I32', shape: [rows.length, T], data: tokens };
  out[`${split}.targets`] = { dtype: 'I32', shape: g.task === 'classification' ? [rows.length] : [rows.length, S], data: targets };
  out[`${split}.lengths`] = { dtype: 'I32', shape: [rows.length], data: lengths };
}

/** DIR must be new, empty, or a torch trainer folder built before (its files are replaced). */
