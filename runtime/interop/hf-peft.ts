// A fine-tune's trainable weights as Hugging Face PEFT adapters (and bottleneck adapters as
// AdapterHub `adapters` folders, see adapterhub.ts): which external key holds which parameter,
// and the adapter_config.json that describes them. The same description drives export (our
// tensors → keys) and import (keys → our tensors, checked against the .peft model).
//
// The graph is the program compiled with `derivedPrefix`, so its trainable parameters are
// exactly what adapter.safetensors holds (the prefix table, not its MLP).
import type { Graph, Param } from '../../compiler/ir/types.ts';
import { rankedModules, type RankedModule } from '../../compiler/peft/ranked-modules.ts';
import { ADALORA_EPS, adaloraConfig, adaloraModules } from './adalora.ts';
import { parseTemplate, prefixedLength } from '../../compiler/peft/template.ts';
import { attachHead, bottleneckPart } from './adapterhub.ts';
import { ia3Config } from './ia3.ts';
import { attentionLayers, linearLayout, modulePaths } from './graph-info.ts';
import type { HfNames } from './names.ts';
import { exactRegex, leafNames } from './patterns.ts';
import { pyFloat, type PyJson } from './pyjson.ts';

export type PartName = 'lora' | 'prompt_tuning' | 'prefix_tuning' | 'ia3' | 'bottleneck';

export interface PartEntry {
  /** The tensor's key in the adapter file. */
  key: string;
  /** Our parameter path. */
  path: string;
  /** The tensor's shape in the file (equal to the parameter's). */
  shape: number[];
  /**
   * For the prefix table: file column block b holds our block `blocks[b]` (blocks of `width`
   * columns). Absent: the same layout.
   */
  blocks?: { width: number; order: number[] };
  /**
   * A LoRA factor of a module with a selected rank (`rank = auto(…)` or `dynamic(…)`): the rows
   * (axis 0, lora_A) or columns (axis 1, lora_B) `index` of our tensor, rows multiplied by the
   * singular values at `scaleBy` (AdaLoRA's E, folded into A). With `of` (the parameter's length
   * along the axis; PEFT's ADALORA format), import puts them back, zeros elsewhere. The file holds
   * `factor` × ours (AdaLoRA's E: PEFT scales by alpha/(init_r + 1e-5), peftc by alpha/init).
   */
  select?: { axis: 0 | 1; index: number[]; scaleBy?: string; of?: number; factor?: number };
  /**
   * A PiSSA / OLoRA factor exported as PEFT's conversion to a plain LoRA on the original base
   * (save_pretrained with path_initial_model_for_weight_conversion): A' = [A; A₀] (axis 0),
   * B' = [B, −B₀] (axis 1), the initial factor at `initialKey(path)` among the values. Export only.
   */
  convert?: { axis: 0 | 1 };
  /** The weights file holding it, when not the part's weightsFile (an AdapterHub prediction head). */
  file?: string;
}

/** Where export finds a PiSSA / OLoRA factor's initial value among the adapter's values. */
export const initialKey = (path: string): string => `initial:${path}`;

export interface PartSpec {
  part: PartName;
  format: 'hf-peft' | 'adapterhub';
  /** The adapter_config.json object. */
  config: { [key: string]: PyJson };
  weightsFile: string;
  entries: PartEntry[];
  notes: string[];
  /** Further JSON files of the folder, by name (an AdapterHub head's head_config.json). */
  files?: { [name: string]: { [key: string]: PyJson } };
}

export interface ExportPlan {
  parts: PartSpec[];
  /** What could not be exported, and why. */
  skipped: string[];
  /** Why `peftc export` must fail rather than leave something out (a trained LayerNorm beside an AdapterHub adapter). */
  refuse?: string;
}

export interface ExportOptions {
  /** `base_model_name_or_path`; null when unknown. */
  baseModel: string | null;
  /** Name of a bottleneck adapter in the `adapters` library. */
  adapterName?: string;
  /**
   * Write PiSSA / OLoRA modules as they are (init_lora_weights "pissa" / "olora", applying to
   * the residual base) instead of converted: what import reads back into such a .peft.
   */
  native?: boolean;
  /**
   * The ranks kept by modules with `rank = auto(…)` (the active singular triplets) or
   * `rank = dynamic(…)` (0 … n−1), by module; a module absent here keeps all its rank.
   */
  kept?: Map<string, number[]>;
  /** `rank = auto(…)` as PEFT's ADALORA adapter (default, where PEFT can hold it) or as the plain LoRA it has become. */
  adalora?: 'adalora' | 'lora';
  /** The run's steps (AdaLoRA's total_step). */
  totalSteps?: number;
}

export const HF_CONFIG_FILE = 'adapter_config.json';
export const HF_WEIGHTS_FILE = 'adapter_model.safetensors';
const LORA_PREFIX = 'base_model.model.';
/** Prompt learning keeps the transformers model itself as `base_model`. */
const PROMPT_PREFIX = 'base_model.';

/** Describes every exportable part of the fine-tune compiled as `g`. */
export function planExport(g: Graph, names: HfNames, opts: ExportOptions): ExportPlan {
  const kept = g.params.filter((p) => p.partition === 'trainable' && !p.transient);
  const by = (m: string) => kept.filter((p) => p.method?.name === m);
  const plan: ExportPlan = { parts: [], skipped: [] };
  const lora = by('lora');
  const dora = new Set(loraModules(g).map((m) => m.dora));
  // PEFT's use_dora is one setting for every LoRA module of an adapter.
  if (dora.size > 1) plan.skipped.push('LoRA with DoRA on some modules only: Hugging Face PEFT\'s use_dora applies to every LoRA module of an adapter');
  else if (lora.length) plan.parts.push(loraOrAdalora(g, names, opts, lora));
  const prompt = by('prompt');
  const template = prompt[0]?.method?.settings.template;
  if (typeof template === 'string' && template !== '') {
    // A template exports when it is the prefixed form `[P:n] {field}`: prompt_embeddings.0 is the prompt.
    const t = parseTemplate(template);
    if (typeof t !== 'string' && prefixedLength(t) !== null) plan.parts.push(promptPart(g, names, opts, prompt[0]!));
    else plan.skipped.push(`prompt template ${JSON.stringify(template)}: Hugging Face PEFT's prompt tuning puts every virtual token before the text; only a template "[P:n] {field}" exports`);
  } else if (prompt.length) plan.parts.push(promptPart(g, names, opts, prompt[0]!));
  const prefix = by('prefix');
  if (prefix.length) {
    const res = prefixPart(g, names, opts, prefix[0]!);
    if (typeof res === 'string') plan.skipped.push(res);
    else plan.parts.push(res);
  }
  if (by('ia3').length) {
    const { config, entries } = ia3Config(g, names);
    plan.parts.push({ part: 'ia3', format: 'hf-peft', config: { ...common(opts, names), ...config }, weightsFile: HF_WEIGHTS_FILE, entries, notes: [] });
  }
  const adapters = by('adapter');
  if (adapters.length) {
    const res = bottleneckPart(g, names, adapters, opts.adapterName ?? 'peftc', opts.baseModel);
    if (typeof res === 'string') plan.skipped.push(res);
    else plan.parts.push(res);
  }
  attachTrained(names, by('train'), plan);
  const full = kept.filter((p) => p.origin === 'base' && !p.method);
  if (full.length) plan.skipped.push(`${full.length} base parameter(s) trained in full (${full.slice(0, 3).map((p) => p.path).join(', ')}, …): no adapter format holds them; \`peftc merge\` writes the whole model`);
  return plan;
}

/** `train` modules ride along as modules_to_save of the first Hugging Face PEFT part. */
function attachTrained(names: HfNames, trained: Param[], plan: ExportPlan): void {
  if (!trained.length) return;
  const host = plan.parts.find((p) => p.format === 'hf-peft');
  const modules = [...new Set(trained.map((p) => p.method!.module))];
  const bottleneck = plan.parts.find((p) => p.part === 'bottleneck');
  if (!host && bottleneck) {
    const why = attachHead(bottleneck, names, trained);
    if (why) plan.skipped.push((plan.refuse = why));
    return;
  }
  if (!host) {
    plan.skipped.push(`trained modules ${modules.join(', ')}: Hugging Face PEFT saves them (modules_to_save) only alongside a LoRA, IA³, prompt or prefix adapter`);
    return;
  }
  const prefix = host.part === 'lora' || host.part === 'ia3' ? LORA_PREFIX : PROMPT_PREFIX;
  host.config.modules_to_save = modules.map((m) => names.toHf(m));
  for (const p of trained) host.entries.push({ key: prefix + names.toHf(p.path), path: p.path, shape: p.shape });
}

function common(config: ExportOptions, names: HfNames): { [key: string]: PyJson } {
  return { auto_mapping: null, base_model_name_or_path: config.baseModel, inference_mode: true, revision: null, task_type: names.taskType };
}

/** The most common value (the first one on a tie). */
function mode<T>(values: T[]): T {
  const counts = new Map<T, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: T = values[0] as T;
  for (const v of values) if (counts.get(v)! > counts.get(best)!) best = v;
  return best;
}

export type LoraInit = 'kaiming' | 'gaussian' | 'pissa' | 'olora';
const DECOMPOSED = (init: LoraInit) => init === 'pissa' || init === 'olora';

export interface LoraModule {
  module: string;
  rank: number;
  alpha: number;
  rslora: boolean;
  dropout: number;
  /** DoRA: a magnitude vector `<module>.lora_magnitude_vector` beside A and B. */
  dora: boolean;
  /**
   * A's initialisation (PEFT's init_lora_weights: True or "gaussian", on which a trained adapter
   * does not depend; "pissa" or "olora", whose adapter applies to the residual base).
   */
  init: LoraInit;
  /** `init = pissa(niter = K)`: the randomised SVD, whose residual base no PEFT folder shares. */
  niter?: number;
}

/** The LoRA'd modules of a graph with their settings, in model order. */
export function loraModules(g: Graph): LoraModule[] {
  const out: LoraModule[] = [];
  for (const p of g.params) {
    // A Linear's lora_A.weight, or an embedding's lora_embedding_A (PEFT's names, no `.weight`).
    if (p.method?.name !== 'lora' || !(p.path.endsWith('.lora_A.weight') || p.path.endsWith('.lora_embedding_A'))) continue;
    const s = p.method.settings;
    out.push({ module: p.method.module, rank: p.shape[0]!, alpha: s.alpha as number, rslora: s.rslora === true, dropout: s.dropout as number, dora: s.dora === true, init: typeof s.init === 'string' ? (s.init as LoraInit) : 'kaiming', ...(typeof s.niter === 'number' ? { niter: s.niter } : {}) });
  }
  return out;
}

export function loraScaleOf(m: { rank: number; alpha: number; rslora: boolean }): number {
  return m.rslora ? m.alpha / Math.sqrt(m.rank) : m.alpha / m.rank;
}

/** AdaLoRA as PEFT's ADALORA where it can be one (adalora.ts), else (and on request) plain LoRA. */
function loraOrAdalora(g: Graph, names: HfNames, opts: ExportOptions, params: Param[]): PartSpec {
  if (opts.adalora === 'lora' || !rankedModules(g).some((m) => m.mode === 'auto')) return loraPart(g, names, opts, params);
  const auto = adaloraModules(g, params);
  if (typeof auto !== 'string') return adaloraPart(g, names, opts, params, auto);
  const part = loraPart(g, names, opts, params);
  part.notes.unshift(`written as the plain LoRA it has become, not as AdaLoRA: ${auto}`);
  return part;
}

function adaloraPart(g: Graph, names: HfNames, opts: ExportOptions, params: Param[], auto: RankedModule[]): PartSpec {
  const notes: string[] = [];
  const dropouts = auto.map((m) => m.settings.dropout as number);
  const dropout = mode(dropouts);
  if (dropouts.some((d) => d !== dropout)) notes.push(`lora_dropout differs per module; wrote the most common, ${dropout} (dropout does not change the trained weights)`);
  const targets = auto.map((m) => m.module);
  const layouts = targets.map((m) => linearLayout(g, m));
  const config = {
    ...common(opts, names),
    alpha_pattern: {},
    bias: 'none',
    fan_in_fan_out: layouts.every((l) => l === 'in_out'),
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: auto[0]!.alpha,
    lora_dropout: pyFloat(dropout),
    modules_to_save: null,
    target_modules: leafNames(targets, modulePaths(g)) ?? exactRegex(targets.map((t) => names.toHf(t))),
    use_dora: false,
    use_rslora: false,
    ...adaloraConfig(g, auto, names, opts.kept, opts.totalSteps),
  };
  const byModule = new Map(auto.map((m) => [m.module, m]));
  const entries = params.map((p): PartEntry => {
    const m = byModule.get(p.method!.module)!;
    const index = opts.kept?.get(m.module) ?? [...Array(m.rank).keys()];
    const key = `${LORA_PREFIX}${names.toHf(m.module)}.${p.path === m.A ? 'lora_A' : p.path === m.B ? 'lora_B' : 'lora_E'}`;
    if (p.path === m.B) return { key, path: p.path, shape: [p.shape[0]!, index.length], select: { axis: 1, index, of: m.rank } };
    if (p.path === m.A) return { key, path: p.path, shape: [index.length, p.shape[1]!], select: { axis: 0, index, of: m.rank } };
    return { key, path: p.path, shape: [index.length, 1], select: { axis: 0, index, of: m.rank, factor: (m.rank + ADALORA_EPS) / m.rank } };
  });
  return { part: 'lora', format: 'hf-peft', config, weightsFile: HF_WEIGHTS_FILE, entries, notes };
}

function loraPart(g: Graph, names: HfNames, opts: ExportOptions, params: Param[]): PartSpec {
  const notes: string[] = [];
  // Selected ranks are exported as the plain LoRA they are: AdaLoRA's E folded into A (rows of
  // the kept triplets), DyLoRA's first n ranks; alpha keeps the scale (alpha/init, alpha/n).
  const ranked = new Map(rankedModules(g).map((m) => [m.module, m]));
  const select = new Map<string, number[]>();
  for (const m of ranked.values()) select.set(m.module, opts.kept?.get(m.module) ?? [...Array(m.rank).keys()]);
  const mods = loraModules(g).flatMap((m): LoraModule[] => {
    const rm = ranked.get(m.module);
    // PEFT's conversion of PiSSA / OLoRA: rank 2r with the same scale (alpha·2, or ·√2 with rsLoRA).
    if (DECOMPOSED(m.init) && !opts.native) return [{ ...m, rank: 2 * m.rank, alpha: m.rslora ? m.alpha * Math.SQRT2 : 2 * m.alpha, init: 'kaiming' }];
    if (!rm) return [m];
    const n = select.get(m.module)!.length;
    if (n === 0) {
      notes.push(`${m.module}: rank = auto(…) kept none of its singular values; it is left out of the adapter`);
      return [];
    }
    const scale = rm.mode === 'auto' ? rm.alpha / rm.rank : rm.alpha / n;
    return [{ ...m, rank: n, alpha: scale * n, rslora: false }];
  });
  if (!mods.length) notes.push('no LoRA module kept a rank');
  const converted = loraModules(g).filter((m) => DECOMPOSED(m.init));
  if (converted.length && !opts.native) notes.push(`init = ${converted[0]!.init}: written as PEFT's conversion to a plain LoRA of rank 2r on the original base ([A; A₀], [B, −B₀]), as save_pretrained(…, path_initial_model_for_weight_conversion=…) writes it`);
  const r = mode(mods.map((m) => m.rank));
  const rs = mode(mods.map((m) => m.rslora));
  // PEFT has one use_rslora: a module with the other setting keeps its scale through its alpha.
  const alphaOf = (m: LoraModule) => (m.rslora === rs ? m.alpha : rs ? loraScaleOf(m) * Math.sqrt(m.rank) : loraScaleOf(m) * m.rank);
  const alpha = mode(mods.map(alphaOf));
  const rankPattern: { [k: string]: PyJson } = {};
  const alphaPattern: { [k: string]: PyJson } = {};
  for (const m of mods) {
    if (m.rank !== r) rankPattern[m.module] = m.rank;
    if (alphaOf(m) !== alpha) alphaPattern[m.module] = alphaOf(m);
  }
  const dropout = mode(mods.map((m) => m.dropout));
  if (mods.some((m) => m.dropout !== dropout)) notes.push(`lora_dropout differs per module; wrote the most common, ${dropout} (dropout does not change the trained weights)`);
  const targets = mods.map((m) => m.module);
  const leaves = leafNames(targets, modulePaths(g));
  // fan_in_fan_out is about the Linear layers; an embedding's factors have one layout.
  const embeddings = new Set(params.filter((p) => p.path.endsWith('.lora_embedding_A')).map((p) => p.method!.module));
  const layouts = mods.filter((m) => !embeddings.has(m.module)).map((m) => linearLayout(g, m.module));
  const config = {
    ...common(opts, names),
    alpha_pattern: alphaPattern,
    bias: 'none',
    fan_in_fan_out: layouts.length > 0 && layouts.every((l) => l === 'in_out'),
    init_lora_weights: initWeights(mode(mods.map((m) => m.init))),
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: alpha,
    lora_dropout: pyFloat(dropout),
    modules_to_save: null,
    peft_type: 'LORA',
    r,
    rank_pattern: rankPattern,
    target_modules: leaves ?? exactRegex(targets.map((t) => names.toHf(t))),
    use_dora: mods.some((m) => m.dora),
    use_rslora: rs,
  };
  const exported = new Set(mods.map((m) => m.module));
  const entries = params.flatMap((p): PartEntry[] => {
    const module = p.method!.module;
    const rm = ranked.get(module);
    const init = p.method!.settings.init;
    if ((init === 'pissa' || init === 'olora') && !opts.native) {
      const axis = p.path.endsWith('.lora_A.weight') ? 0 : 1;
      const shape = axis === 0 ? [2 * p.shape[0]!, p.shape[1]!] : [p.shape[0]!, 2 * p.shape[1]!];
      return [{ key: LORA_PREFIX + names.toHf(p.path), path: p.path, shape, convert: { axis } }];
    }
    if (!rm) return [{ key: LORA_PREFIX + names.toHf(p.path), path: p.path, shape: p.shape }];
    if (!exported.has(module) || p.path === rm.E) return [];
    const index = select.get(module)!;
    const key = LORA_PREFIX + names.toHf(p.path);
    return p.path === rm.A
      ? [{ key, path: p.path, shape: [index.length, p.shape[1]!], select: { axis: 0, index, ...(rm.E ? { scaleBy: rm.E } : {}) } }]
      : [{ key, path: p.path, shape: [p.shape[0]!, index.length], select: { axis: 1, index } }];
  });
  return { part: 'lora', format: 'hf-peft', config, weightsFile: HF_WEIGHTS_FILE, entries, notes };
}

/** PEFT's init_lora_weights for our init. */
function initWeights(init: LoraInit): PyJson {
  return init === 'kaiming' ? true : init;
}

function promptPart(g: Graph, names: HfNames, opts: ExportOptions, p: Param): PartSpec {
  const s = p.method!.settings;
  const layers = attentionLayers(g);
  const notes: string[] = [];
  let init = s.init === 'vocab' ? 'SAMPLE_VOCAB' : s.init === 'text' ? 'TEXT' : 'RANDOM';
  if (init === 'TEXT' && opts.baseModel === null) {
    // PEFT refuses TEXT without a tokenizer; the init does not matter for a trained adapter.
    init = 'RANDOM';
    notes.push('prompt init text(…) written as RANDOM: PEFT needs a tokenizer name for TEXT, and no base model was named (--base-model)');
  }
  const config = {
    ...common(opts, names),
    num_attention_heads: layers[0]?.heads ?? null,
    num_layers: layers.length,
    num_transformer_submodules: 1,
    num_virtual_tokens: p.shape[0]!,
    peft_type: 'PROMPT_TUNING',
    prompt_tuning_init: init,
    prompt_tuning_init_text: init === 'TEXT' ? (s.text as string) : null,
    token_dim: p.shape[1]!,
    tokenizer_kwargs: null,
    tokenizer_name_or_path: init === 'TEXT' ? opts.baseModel : null,
  };
  return { part: 'prompt_tuning', format: 'hf-peft', config, weightsFile: HF_WEIGHTS_FILE, entries: [{ key: 'prompt_embeddings', path: p.path, shape: p.shape }], notes };
}

function prefixPart(g: Graph, names: HfNames, opts: ExportOptions, p: Param): PartSpec | string {
  const layers = attentionLayers(g);
  const tuned = layers.filter((l) => l.prefixSlot !== undefined);
  if (tuned.length !== layers.length) {
    return `prefix tuning of ${tuned.length} of ${layers.length} attention layers: Hugging Face PEFT prefixes every layer`;
  }
  const kvd = layers[0]!.kvd;
  const order = layers.flatMap((l) => [l.prefixSlot!, l.prefixSlot! + 1]);
  const entry: PartEntry = { key: 'prompt_embeddings', path: p.path, shape: p.shape };
  if (order.some((b, i) => b !== i)) entry.blocks = { width: kvd, order };
  const config = {
    ...common(opts, names),
    encoder_hidden_size: null,
    num_attention_heads: layers[0]!.kvHeads,
    num_layers: layers.length,
    num_transformer_submodules: 1,
    num_virtual_tokens: p.shape[0]!,
    peft_type: 'PREFIX_TUNING',
    prefix_projection: false,
    token_dim: kvd,
  };
  const notes = layers[0]!.kvHeads !== layers[0]!.heads ? [`grouped key/value heads: token_dim ${kvd} and num_attention_heads ${layers[0]!.kvHeads} are the key width and kv heads, as PEFT sets them`] : [];
  return { part: 'prefix_tuning', format: 'hf-peft', config, weightsFile: HF_WEIGHTS_FILE, entries: [entry], notes };
}

/** Our tensor → the file's layout (prefix blocks reordered; selected ranks, `values` giving E). */
export function toFileLayout(e: PartEntry, data: Float32Array, values?: Map<string, Float32Array>): Float32Array {
  if (e.select) return selectRanks(e, data, values);
  if (e.convert) return withInitial(e, data, values?.get(initialKey(e.path)));
  if (!e.blocks) return data;
  return permuteBlocks(data, e.shape, e.blocks.width, e.blocks.order, false);
}

/** [A; A₀] or [B, −B₀]. */
function withInitial(e: PartEntry, data: Float32Array, initial?: Float32Array): Float32Array {
  if (!initial) throw new Error(`internal: exporting ${e.path} needs its initial value`);
  const [rows, cols] = e.shape as [number, number];
  const out = new Float32Array(rows * cols);
  if (e.convert!.axis === 0) {
    out.set(data);
    out.set(initial, data.length);
  } else {
    const r = cols / 2;
    for (let i = 0; i < rows; i++) {
      for (let k = 0; k < r; k++) {
        out[i * cols + k] = data[i * r + k]!;
        out[i * cols + r + k] = -initial[i * r + k]!;
      }
    }
  }
  return out;
}

/** The kept rows of A (times E) or columns of B. */
function selectRanks(e: PartEntry, data: Float32Array, values?: Map<string, Float32Array>): Float32Array {
  const { axis, index, scaleBy, factor = 1 } = e.select!;
  const E = scaleBy ? values?.get(scaleBy) : undefined;
  if (scaleBy && !E) throw new Error(`internal: exporting ${e.path} needs the singular values ${scaleBy}`);
  const [rows, cols] = e.shape as [number, number];
  const out = new Float32Array(rows * cols);
  if (axis === 0) {
    const width = cols;
    index.forEach((r, k) => {
      const s = (E ? E[r]! : 1) * factor;
      for (let j = 0; j < width; j++) out[k * width + j] = s * data[r * width + j]!;
    });
  } else {
    const full = data.length / rows;
    for (let i = 0; i < rows; i++) index.forEach((c, k) => (out[i * cols + k] = data[i * full + c]!));
  }
  return out;
}

/** The file's tensor → our layout. */
export function fromFileLayout(e: PartEntry, data: Float32Array): Float32Array {
  if (e.select?.of !== undefined) return unselectRanks(e, data);
  if (!e.blocks) return data;
  return permuteBlocks(data, e.shape, e.blocks.width, e.blocks.order, true);
}

/** The kept rows or columns back in place in a tensor of the parameter's shape, zeros elsewhere. */
function unselectRanks(e: PartEntry, data: Float32Array): Float32Array {
  const { axis, index, of, factor = 1 } = e.select!;
  const [rows, cols] = e.shape as [number, number];
  if (axis === 0) {
    const out = new Float32Array(of! * cols);
    index.forEach((r, k) => {
      for (let j = 0; j < cols; j++) out[r * cols + j] = data[k * cols + j]! / factor;
    });
    return out;
  }
  const out = new Float32Array(rows * of!);
  for (let i = 0; i < rows; i++) index.forEach((c, k) => (out[i * of! + c] = data[i * cols + k]!));
  return out;
}

/** out block b = in block order[b] (or the inverse). */
function permuteBlocks(data: Float32Array, shape: number[], width: number, order: number[], inverse: boolean): Float32Array {
  const [rows, cols] = shape as [number, number];
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < order.length; b++) {
      const [dst, src] = inverse ? [order[b]!, b] : [b, order[b]!];
      out.set(data.subarray(r * cols + src * width, r * cols + (src + 1) * width), r * cols + dst * width);
    }
  }
  return out;
}
