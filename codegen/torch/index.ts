// The torch target: the text files of a PyTorch trainer folder for one compiled .peft program.
// model.py is generated from the Model IR; ops.py, safetensors_io.py and train.py are fixed
// files (py/) that read what varies from config.json. Weights and data are the caller's (they
// need the runtime). See docs/torch-target.md.
import { readFileSync } from 'node:fs';
import type { Graph } from '../../compiler/ir/types.ts';
import { lrScale } from '../../compiler/peft/lora-plus.ts';
import { CodegenError } from '../codegen-error.ts';
import { FORWARD_INPUTS, modelPy } from './model-py.ts';
import { rankSelection } from './rank-config.ts';
import { readmeMd } from './readme.ts';

/** Fixed files copied into every folder. */
const FIXED = ['ops.py', 'rank.py', 'safetensors_io.py', 'train.py'] as const;

export interface TrainerDefaults {
  batch: number;
  steps: number | null;
  lr: number;
  schedule: 'constant' | 'cosine';
  warmup: number;
  weight_decay: number;
  clip: number;
  eval_every: number | null;
  eval_rows: number;
  seed: number;
  /** The data file train.py reads by default (`data.safetensors` when one was built), else null. */
  data: string | null;
}

export interface TorchTarget {
  /** The .peft file, for messages and file metadata. */
  source: string;
  /** The program as trained (the prefix reparameterisation MLP included). */
  graph: Graph;
  /** The adapter folders train.py saves (Hugging Face PEFT, AdapterHub for bottleneck adapters). */
  exportParts: ExportPart[];
  /** What no adapter format holds, in words (listed in config.json). */
  exportSkipped: string[];
  /** The derived graph's parameter that replaces the prefix MLP in adapter files, if any. */
  prefixTablePath?: string;
  /** peftc's optimizer: AdamW's betas and eps, SGD's momentum. */
  optimizer: { kind: 'adamw' | 'sgd'; beta1: number; beta2: number; eps: number; momentum: number };
  /** Token ids are below this (a prompt template's virtual tokens included); null when unknown. */
  vocab: number | null;
  defaults: TrainerDefaults;
  /** Sequence length of the built data rows, if any (for the README). */
  seqLen?: number;
}

/** One adapter folder: its config file's text and which parameter each tensor key holds. */
export interface ExportPart {
  /** `lora`, `prefix_tuning`, …: the subfolder when there are several parts. */
  part: string;
  format: 'hf-peft' | 'adapterhub';
  weightsFile: string;
  /** adapter_config.json as written. */
  configText: string;
  /** File key → our parameter path; `blocks`: the prefix table's column blocks in the file's order. */
  entries: { key: string; path: string; shape: number[]; blocks?: { width: number; order: number[] }; select?: { axis: 0 | 1; scaleBy?: string; of?: number; factor?: number } }[];
  /** LoRA parts: what train.py needs to write the config for the ranks rank selection kept. */
  lora?: LoraRanks;
}

/** The LoRA modules of a part (model order) and every module path, for `target_modules`. */
export interface LoraRanks {
  modules: { module: string; hf: string; rank: number; alpha: number; rslora: boolean; mode: 'fixed' | 'auto' | 'dynamic' }[];
  universe: string[];
}

export const TORCH_FILES = { model: 'model.py', train: 'train.py', config: 'config.json', readme: 'README.md', weights: 'weights.safetensors', data: 'data.safetensors' } as const;

/** File name → text, for every text file of the folder. */
export function torchFolder(t: TorchTarget): Map<string, string> {
  const g = t.graph;
  if (g.task !== 'causal_lm' && g.task !== 'classification') throw new CodegenError('validation', `task ${g.task as string} is not supported`, 'model.py');
  // PiSSA / OLoRA: weights.safetensors would hold the residual base, and the adapters train.py
  // exports would need the initial factors to apply to the original one.
  const residual = g.params.find((p) => p.init.kind === 'pissa' || p.init.kind === 'olora');
  if (residual) throw new CodegenError('validation', `LoRA init = ${residual.init.kind} (on \`${residual.method!.module}\`) is not supported by the torch target: it trains on a residual of the base, which train.py's exported adapters cannot undo; train it here and \`peftc export\` it`, 'train.py');
  const files = new Map<string, string>();
  files.set(TORCH_FILES.model, modelPy(g, `The model of ${t.source}, as PyTorch modules.`));
  for (const f of FIXED) files.set(f, readFileSync(new URL(`./py/${f}`, import.meta.url), 'utf8'));
  files.set(TORCH_FILES.config, JSON.stringify(configJson(t), null, 1) + '\n');
  files.set(TORCH_FILES.readme, readmeMd(t));
  return files;
}

function configJson(t: TorchTarget): Record<string, unknown> {
  const parts = t.exportParts;
  return {
    source: t.source,
    task: t.graph.task,
    prompt_length: t.graph.promptLength,
    vocab: t.vocab,
    inputs: FORWARD_INPUTS.filter((n) => t.graph.inputs[n] !== undefined),
    optimizer: t.optimizer,
    // LoRA+: the parameters stepped at another rate than the rest (train.py's optimizer groups)
    lr_scale: Object.fromEntries(t.graph.params.filter((p) => p.partition === 'trainable' && lrScale(p) !== 1).map((p) => [p.path, lrScale(p)])),
    defaults: t.defaults,
    prefix_table: t.graph.prefixTable !== undefined ? (t.prefixTablePath ?? null) : null,
    export: parts.map((p) => ({
      folder: parts.length === 1 ? '' : p.part,
      format: p.format,
      weights: p.weightsFile,
      config: p.configText,
      entries: p.entries.map((e) => ({ key: e.key, path: e.path, shape: e.shape, ...(e.blocks ? { blocks: e.blocks } : {}), ...(e.select ? { select: e.select } : {}) })),
      ...(p.lora ? { lora: p.lora } : {}),
    })),
    export_skipped: t.exportSkipped,
    ranks: rankSelection(t.graph),
  };
}
