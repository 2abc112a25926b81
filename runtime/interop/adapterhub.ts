// Bottleneck adapters, which Hugging Face PEFT lacks, in the format of the AdapterHub
// `adapters` library (github.com/adapter-hub/adapters, read at v1.2.0): a folder with
// `adapter_config.json` (`build_full_config`: model_type, hidden_size, model_name, model_class,
// name, config, version) and the weights. That library writes `pytorch_adapter.bin` (a PyTorch
// pickle) by default and `adapter.safetensors` (its SAFE_WEIGHTS_NAME) with
// `use_safetensors=True`; we write the latter, which `load_adapter(path, use_safetensors=True)`
// reads. A trained prediction head goes beside it as `save_adapter(…, with_head=True)` writes it
// (PredictionHeadLoader: head_config.json and model_head.safetensors).
//
// Where the library puts a layer's two bottleneck adapters (BottleneckLayer "mh_adapter" and
// "output_adapter"), and our module there: a preset adapter (`adapter(preset = …)`, at the
// residual junction: sublayer.ts) or a plain serial one (wrapping a module's output, the same as
// DoubleSeqBn's flags at inference):
//   gpt2   transformer.h.N.attention_adapters / output_adapters     ours: h.N.attn / h.N.mlp (both kinds)
//   llama  model.layers.N.attention_adapters / output_adapters      ours: layers.N.self_attn / layers.N.mlp
//   bert   bert.encoder.layer.N.attention.output.adapters / .output.adapters
//          ours: encoder.layer.N.attention.output / output (preset), …attention.output.dense / output.dense (plain)
// then `.adapters.<name>.adapter_down.0.{weight,bias}` (the down Linear, [m, d]) and
// `.adapter_up.{weight,bias}` ([d, m]).
import type { Graph, Param } from '../../compiler/ir/types.ts';
import { BN_CONFIGS } from '../../compiler/peft/adapter-settings.ts';
import { InteropError, listSome } from './errors.ts';
import { attentionLayers } from './graph-info.ts';
import type { PartEntry, PartSpec } from './hf-peft.ts';
import type { Family, HfNames } from './names.ts';
import { pyFloat, type PyJson } from './pyjson.ts';

export const ADAPTERHUB_WEIGHTS_FILE = 'adapter.safetensors';
/** PredictionHeadLoader's files (HEAD_CONFIG_NAME, SAFE_HEAD_WEIGHTS_NAME). */
export const ADAPTERHUB_HEAD_CONFIG = 'head_config.json';
export const ADAPTERHUB_HEAD_WEIGHTS = 'model_head.safetensors';
/** The library version whose format is written; without a version it renames activations on loading. */
const VERSION = 'adapters.1.2.0';

type Location = 'mh' | 'out';

interface Layout {
  /** Our module at each place, for a preset adapter and for a plain one. */
  preset: Record<Location, RegExp>;
  plain: Record<Location, RegExp>;
  ours: (junction: boolean, layer: number, loc: Location) => string;
  theirs: (layer: number, loc: Location) => string;
}

const LOCATIONS: Partial<Record<Family, Layout>> = {
  gpt2: {
    preset: { mh: /^h\.(\d+)\.attn$/, out: /^h\.(\d+)\.mlp$/ },
    plain: { mh: /^h\.(\d+)\.attn$/, out: /^h\.(\d+)\.mlp$/ },
    ours: (_, n, loc) => `h.${n}.${loc === 'mh' ? 'attn' : 'mlp'}`,
    theirs: (n, loc) => `transformer.h.${n}.${loc === 'mh' ? 'attention_adapters' : 'output_adapters'}`,
  },
  llama: {
    preset: { mh: /^layers\.(\d+)\.self_attn$/, out: /^layers\.(\d+)\.mlp$/ },
    plain: { mh: /^layers\.(\d+)\.self_attn$/, out: /^layers\.(\d+)\.mlp$/ },
    ours: (_, n, loc) => `layers.${n}.${loc === 'mh' ? 'self_attn' : 'mlp'}`,
    theirs: (n, loc) => `model.layers.${n}.${loc === 'mh' ? 'attention_adapters' : 'output_adapters'}`,
  },
  bert: {
    preset: { mh: /^encoder\.layer\.(\d+)\.attention\.output$/, out: /^encoder\.layer\.(\d+)\.output$/ },
    plain: { mh: /^encoder\.layer\.(\d+)\.attention\.output\.dense$/, out: /^encoder\.layer\.(\d+)\.output\.dense$/ },
    ours: (junction, n, loc) => `encoder.layer.${n}.${loc === 'mh' ? 'attention.output' : 'output'}${junction ? '' : '.dense'}`,
    theirs: (n, loc) => `bert.encoder.layer.${n}.${loc === 'mh' ? 'attention.output' : 'output'}`,
  },
};

/** Our activation names → the library's (transformers' ACT2FN names: "gelu" exact, "gelu_new" the tanh form). */
export const ACTIVATION_NAMES: Record<string, string> = { relu: 'relu', gelu: 'gelu', gelu_tanh: 'gelu_new', silu: 'silu', tanh: 'tanh' };
/** What the library's loader does to a config without "version" (utils.ACTIVATION_RENAME). */
const LEGACY_ACTIVATIONS: Record<string, string> = { gelu: 'gelu_new', gelu_orig: 'gelu' };

/** The computation a BnConfig describes, in peftc's terms. */
export interface BnFlags {
  parallel: boolean;
  lnBefore: boolean;
  lnAfter: boolean;
  residualBeforeLn: boolean | 'post_add';
}

/** A plain serial adapter is DoubleSeqBn's computation (on a module output, before the residual add). */
const PLAIN: BnFlags = { parallel: false, lnBefore: false, lnAfter: true, residualBeforeLn: true };

export interface BottleneckConfig extends BnFlags {
  kind: 'bottleneck';
  name: string;
  hiddenSize: number | null;
  mh: boolean;
  out: boolean;
  /** Reduction factor per layer ("default" for the others). */
  reduction: number | Record<string, number>;
  activation: string;
  scale: number;
  leaveOut: number[];
  /** The library's init_weights ("bert", "mam_adapter", …) and dropout. */
  init: string;
  dropout: number;
}

function flagsOf(s: Record<string, number | string | boolean>): BnFlags {
  if (!s.preset) return PLAIN;
  return { parallel: s.placement === 'parallel', lnBefore: s.original_ln_before === true, lnAfter: s.original_ln_after === true, residualBeforeLn: s.residual_before_ln as boolean | 'post_add' };
}

interface Placed {
  module: string;
  layer: number;
  loc: Location;
  width: number;
  settings: Record<string, number | string | boolean>;
}

/** Where each of our adapted modules goes in the library, or why it cannot. */
export function placeAdapters(names: HfNames, params: Param[]): Placed[] | string {
  const where = LOCATIONS[names.family];
  const modules = [...new Set(params.map((p) => p.method!.module))];
  if (!where) return `bottleneck adapters on ${modules.length} module(s): the \`adapters\` library's layout is known here for gpt2, llama and bert names, not for a ${names.family} model`;
  const placed: Placed[] = [];
  const misplaced: string[] = [];
  for (const m of modules) {
    const p = params.find((x) => x.method!.module === m && x.path.endsWith('.adapter.down.weight'))!;
    const s = p.method!.settings;
    const at = s.preset ? where.preset : where.plain;
    const loc = (['mh', 'out'] as Location[]).find((l) => at[l].test(m));
    if (!loc || (!s.preset && s.placement !== 'serial')) {
      misplaced.push(m + (loc ? ' (parallel)' : ''));
      continue;
    }
    placed.push({ module: m, layer: Number(at[loc].exec(m)![1]), loc, width: p.shape[0]!, settings: s });
  }
  if (misplaced.length) {
    const plain = names.family === 'bert' ? '`encoder.layer.N.attention.output.dense` and `encoder.layer.N.output.dense`' : names.family === 'gpt2' ? '`h.N.attn` and `h.N.mlp`' : '`layers.N.self_attn` and `layers.N.mlp`';
    const preset = names.family === 'bert' ? '`encoder.layer.N.attention.output` and `encoder.layer.N.output`' : 'the same modules';
    return `bottleneck adapters on ${misplaced.join(', ')}: the \`adapters\` library has plain serial adapters only on ${plain}, and \`adapter(preset = …)\` ones on ${preset} (a parallel adapter: \`preset = par_bn\`)`;
  }
  return placed;
}

export function bottleneckPart(g: Graph, names: HfNames, params: Param[], name: string, baseModel: string | null): PartSpec | string {
  const placed = placeAdapters(names, params);
  if (typeof placed === 'string') return placed;
  const layers = attentionLayers(g).length;
  const d = params.find((p) => p.path.endsWith('.adapter.down.weight'))!.shape[1]!;
  const first = placed[0]!.settings;
  for (const key of ['preset', 'activation', 'scale', 'dropout', 'init', 'original_ln_before', 'original_ln_after', 'residual_before_ln', 'placement'] as const) {
    const other = placed.find((p) => p.settings[key] !== first[key]);
    // Name one module of each value, so the user sees which lines of the .peft disagree.
    if (other) return `bottleneck adapters with different ${key} settings (${placed[0]!.module}: ${String(first[key] ?? 'none')}, ${other.module}: ${String(other.settings[key] ?? 'none')}): one \`adapters\` config has one ${key}`;
  }
  const mh = placed.some((p) => p.loc === 'mh');
  const out = placed.some((p) => p.loc === 'out');
  const used = [...new Set(placed.map((p) => p.layer))].sort((a, b) => a - b);
  for (const l of used) {
    const here = placed.filter((p) => p.layer === l);
    if (here.length !== Number(mh) + Number(out)) return `bottleneck adapters: layer ${l} has ${here.map((p) => p.module).join(', ')} but others have both places; an \`adapters\` config places them the same in every layer`;
    if (here.some((p) => p.width !== here[0]!.width)) return `bottleneck adapters: layer ${l}'s two adapters differ in width; an \`adapters\` config has one reduction factor per layer`;
  }
  const rf = new Map(used.map((l) => [l, reductionFactor(d, placed.find((p) => p.layer === l)!.width)]));
  const common = mostCommon([...rf.values()]);
  const asRf = (v: number): PyJson => (Number.isInteger(v) ? v : pyFloat(v));
  const reduction: PyJson = [...rf.values()].every((v) => v === common)
    ? asRf(common)
    : { default: asRf(common), ...Object.fromEntries([...rf].filter(([, v]) => v !== common).map(([l, v]) => [String(l), asRf(v)])) };
  const flags = flagsOf(first);
  const preset = typeof first.preset === 'string' ? first.preset : undefined;
  // DoubleSeqBnConfig writes "swish"; transformers' ACT2FN reads it and "silu" alike.
  const act = preset && BN_CONFIGS[preset]!.activation === first.activation && preset === 'double_seq_bn' ? 'swish' : ACTIVATION_NAMES[first.activation as string]!;
  const config = bnConfigDict({
    mh_adapter: mh, output_adapter: out, reduction_factor: reduction, non_linearity: act,
    original_ln_before: flags.lnBefore, original_ln_after: flags.lnAfter, residual_before_ln: flags.residualBeforeLn, is_parallel: flags.parallel,
    // The library's names: "bert" (its default), "mam_adapter" (down kaiming-uniform, up at zero).
    init_weights: first.init === 'bert' ? 'bert' : 'mam_adapter',
    scaling: pyFloat(first.scale as number), dropout: pyFloat((first.dropout as number | undefined) ?? 0),
    leave_out: range(layers).filter((l) => !used.includes(l)),
  });
  const entries: PartEntry[] = [];
  const where = LOCATIONS[names.family]!;
  for (const p of placed) {
    const at = `${where.theirs(p.layer, p.loc)}.adapters.${name}`;
    const ours = `${p.module}.adapter`;
    const shape = (suffix: string) => params.find((x) => x.path === `${ours}.${suffix}`)!.shape;
    entries.push(
      { key: `${at}.adapter_down.0.weight`, path: `${ours}.down.weight`, shape: shape('down.weight') },
      { key: `${at}.adapter_down.0.bias`, path: `${ours}.down.bias`, shape: shape('down.bias') },
      { key: `${at}.adapter_up.weight`, path: `${ours}.up.weight`, shape: shape('up.weight') },
      { key: `${at}.adapter_up.bias`, path: `${ours}.up.bias`, shape: shape('up.bias') },
    );
  }
  const full = { config, hidden_size: d, model_class: names.modelClass, model_name: baseModel, model_type: names.modelType, name, version: VERSION };
  return { part: 'bottleneck', format: 'adapterhub', config: full, weightsFile: ADAPTERHUB_WEIGHTS_FILE, entries, notes: [] };
}

/** BnConfig.to_dict(): every field, the library's defaults under `fields` (no "architecture": BnConfig has none). */
function bnConfigDict(fields: { [key: string]: PyJson }): { [key: string]: PyJson } {
  return {
    adapter_residual_before_ln: false, cross_adapter: false, dropout: pyFloat(0), factorized_phm_W: true, factorized_phm_rule: false,
    hypercomplex_nonlinearity: 'glorot-uniform', init_weights: 'bert', init_weights_seed: null, inv_adapter: null, inv_adapter_reduction_factor: null,
    is_parallel: false, learn_phm: true, leave_out: [], ln_after: false, ln_before: false, original_ln_after: true, original_ln_before: false,
    phm_bias: true, phm_c_init: 'normal', phm_dim: 4, phm_init_range: pyFloat(0.0001), phm_layer: false, phm_rank: 1,
    residual_before_ln: true, scaling: pyFloat(1), shared_W_phm: false, shared_phm_rule: true, stochastic_depth: pyFloat(0), use_gating: false,
    ...fields,
  };
}

/**
 * A trained prediction head beside the adapter, as `save_adapter(…, with_head=True)` writes a
 * static head (model classes such as BertForSequenceClassification): head_config.json with the
 * model's label map and no head config, the head's weights under their own names. Any other
 * trained module has no place in such a folder: the reason, which `peftc export` refuses with.
 */
export function attachHead(part: PartSpec, names: HfNames, trained: Param[]): string | undefined {
  const modules = [...new Set(trained.map((p) => p.method!.module))];
  const other = modules.filter((m) => !names.heads.some((h) => m === h || m.startsWith(`${h}.`)));
  if (other.length) {
    const heads = modules.filter((m) => !other.includes(m));
    const headsToo = heads.length ? ` (and with them the head ${listSome(heads)}, which is not written alone)` : '';
    return `trained module(s) ${listSome(other)}${headsToo}: an AdapterHub adapter folder holds the bottleneck adapter and a prediction head only; train them with a LoRA or IA³ beside the adapter (exported as its modules_to_save), leave them frozen, or \`peftc merge\` the whole model`;
  }
  for (const p of trained) part.entries.push({ key: names.toHf(p.path), path: p.path, shape: p.shape, file: ADAPTERHUB_HEAD_WEIGHTS });
  const labels = trained.find((p) => p.shape.length === 2)?.shape[0] ?? 0;
  part.files = {
    ...part.files,
    [ADAPTERHUB_HEAD_CONFIG]: {
      config: null, hidden_size: part.config.hidden_size!, label2id: Object.fromEntries(range(labels).map((i) => [`LABEL_${i}`, i])),
      model_class: names.modelClass, model_name: part.config.model_name!, model_type: names.modelType, name: null, num_labels: labels, version: VERSION,
    },
  };
  return undefined;
}

type Obj = Record<string, unknown>;

/** The library's full config (model_type, hidden_size, name, config) → ours; what peftc cannot compute is refused. */
export function parseBnConfig(c: Obj, where: string): BottleneckConfig {
  const a = c.config as Obj;
  const arch = a.architecture;
  if (arch !== undefined && arch !== null && arch !== 'bottleneck') throw new InteropError(`${where}: an \`adapters\` ${String(arch)} adapter; peftc imports bottleneck adapters from that library`);
  const unsupported: [string, unknown, string][] = [
    ['ln_before', true, 'a new LayerNorm before the bottleneck'], ['ln_after', true, 'a new LayerNorm after the bottleneck'], ['phm_layer', true, 'PHM layers'],
    ['use_gating', true, 'gating'], ['adapter_residual_before_ln', true, 'adapter_residual_before_ln'], ['cross_adapter', true, 'cross-attention adapters'],
  ];
  for (const [key, v, what] of unsupported) if (a[key] === v) throw new InteropError(`${where}: ${key} = ${String(v)} (${what}) has no counterpart in peftc's adapter`);
  if (a.inv_adapter !== undefined && a.inv_adapter !== null) throw new InteropError(`${where}: invertible adapters (inv_adapter) are not supported`);
  if (typeof a.stochastic_depth === 'number' && a.stochastic_depth > 0) throw new InteropError(`${where}: stochastic_depth ${a.stochastic_depth} is not supported`);
  const raw = String(a.non_linearity).toLowerCase();
  const act = c.version === undefined ? (LEGACY_ACTIVATIONS[raw] ?? raw) : raw;
  const ours = Object.entries(ACTIVATION_NAMES).find(([, theirs]) => theirs === act || (act === 'swish' && theirs === 'silu'))?.[0];
  if (!ours) throw new InteropError(`${where}: non_linearity ${JSON.stringify(a.non_linearity)} has no exact counterpart here (relu, gelu, gelu_new, silu/swish, tanh)`);
  const rf = a.reduction_factor;
  const reduction = typeof rf === 'number' && rf > 0 ? rf : numbers(a, 'reduction_factor', where);
  if (typeof reduction === 'object' && reduction.default === undefined) throw new InteropError(`${where}: reduction_factor per layer needs a "default"`);
  const scale = a.scaling === undefined ? 1 : a.scaling;
  if (typeof scale !== 'number') throw new InteropError(`${where}: scaling ${JSON.stringify(a.scaling)} is not supported (a learned scaling has no counterpart here)`);
  const rbl = a.residual_before_ln === undefined ? true : a.residual_before_ln;
  if (!(typeof rbl === 'boolean' || rbl === 'post_add')) throw new InteropError(`${where}: residual_before_ln ${JSON.stringify(rbl)} must be true, false or "post_add"`);
  const leave = a.leave_out;
  if (!(leave === undefined || leave === null || (Array.isArray(leave) && leave.every((l) => Number.isInteger(l))))) throw new InteropError(`${where}: leave_out must be a list of layer numbers`);
  const dropout = a.dropout === undefined ? 0 : a.dropout;
  if (typeof dropout !== 'number') throw new InteropError(`${where}: dropout must be a number`);
  return {
    kind: 'bottleneck', name: typeof c.name === 'string' ? c.name : 'adapter', hiddenSize: typeof c.hidden_size === 'number' ? c.hidden_size : null,
    mh: a.mh_adapter === true, out: a.output_adapter === true, reduction, activation: ours, scale,
    leaveOut: (leave ?? []) as number[], init: typeof a.init_weights === 'string' ? a.init_weights : 'bert', dropout,
    parallel: a.is_parallel === true, lnBefore: a.original_ln_before === true, lnAfter: a.original_ln_after !== false, residualBeforeLn: rbl,
  };
}

function numbers(a: Obj, key: string, where: string): Record<string, number> {
  const v = a[key];
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'number')) throw new InteropError(`${where}: ${key} must be a positive number or an object of numbers`);
  return v as Record<string, number>;
}

export interface ResolvedAdapter {
  module: string;
  width: number;
}

/**
 * Where the library would put bottleneck adapters in this model, and their widths: at the
 * preset modules, unless the .peft `g` has plain adapters (then theirs, e.g. BERT's `.dense`).
 */
export function resolveBottleneck(cfg: BottleneckConfig, g: Graph, names: HfNames, d: number, where: string): ResolvedAdapter[] {
  const L = attentionLayers(g).length;
  if (cfg.hiddenSize !== null && cfg.hiddenSize !== d) throw new InteropError(`${where}: hidden_size ${cfg.hiddenSize}, this model's is ${d}`);
  const at = LOCATIONS[names.family];
  if (!at) throw new InteropError(`${where}: the \`adapters\` library's layout is known here for gpt2, llama and bert models, not for a ${names.family} model`);
  const junction = !g.params.some((p) => p.method?.name === 'adapter' && !p.method.settings.preset);
  const out: ResolvedAdapter[] = [];
  for (let n = 0; n < L; n++) {
    if (cfg.leaveOut.includes(n)) continue;
    const rf = typeof cfg.reduction === 'number' ? cfg.reduction : (cfg.reduction[String(n)] ?? cfg.reduction.default!);
    const width = Math.max(1, Math.floor(d / rf));
    if (cfg.mh) out.push({ module: at.ours(junction, n, 'mh'), width });
    if (cfg.out) out.push({ module: at.ours(junction, n, 'out'), width });
  }
  if (!out.length) throw new InteropError(`${where}: the config places no adapter (mh_adapter and output_adapter are false, or leave_out names every layer)`);
  return out;
}

/** How a folder's config and the .peft's adapters differ in what they compute (empty when they agree). */
export function bottleneckProblems(c: BottleneckConfig, g: Graph, names: HfNames, where: string): string[] {
  const down = g.params.filter((p) => p.method?.name === 'adapter' && p.path.endsWith('.adapter.down.weight'));
  const d = down[0]!.shape[1]!;
  const s = down[0]!.method!.settings;
  const problems: string[] = [];
  if (s.activation !== c.activation) problems.push(`its activation is ${c.activation}, the .peft's ${String(s.activation)}`);
  if (s.scale !== c.scale) problems.push(`its scaling is ${c.scale}, the .peft's scale ${String(s.scale)}`);
  const ours = flagsOf(s);
  const theirs: Record<string, [unknown, unknown]> = {
    is_parallel: [c.parallel, ours.parallel], original_ln_before: [c.lnBefore, ours.lnBefore], original_ln_after: [c.lnAfter, ours.lnAfter], residual_before_ln: [c.residualBeforeLn, ours.residualBeforeLn],
  };
  for (const [key, [t, o]] of Object.entries(theirs)) {
    if (t !== o) problems.push(`its ${key} is ${JSON.stringify(t)}, the .peft's ${s.preset ? `\`adapter(preset = ${String(s.preset)})\` has ${JSON.stringify(o)}` : `plain adapter computes ${JSON.stringify(o)} (write \`adapter(preset = …)\`: \`peftc import --emit-peft\` prints it)`}`);
  }
  const placed = new Map(resolveBottleneck(c, g, names, d, where).map((a) => [a.module, a.width]));
  const unplaced: string[] = [];
  for (const p of down) {
    const w = placed.get(p.method!.module);
    if (w === undefined) unplaced.push(p.method!.module);
    else if (w !== p.shape[0]) problems.push(`\`${p.method!.module}\`'s adapter is ${w} wide there, ${p.shape[0]} in the .peft`);
    placed.delete(p.method!.module);
  }
  if (unplaced.length) problems.push(`the .peft has adapters on ${listSome(unplaced.map((m) => `\`${m}\``))}, the folder none`);
  if (placed.size) problems.push(`the folder places adapters on ${listSome([...placed.keys()])}, which the .peft leaves alone`);
  return problems;
}

/**
 * The `adapter(…)` settings that build the folder's adapters, one line per width: the preset its
 * flags name (par_bn if parallel, seq_bn with original_ln_before, else double_seq_bn) and what
 * differs from that preset's defaults.
 */
export function bottleneckRules(c: BottleneckConfig, placed: ResolvedAdapter[]): { settings: string; modules: string[] }[] {
  const preset = c.parallel ? 'par_bn' : c.lnBefore ? 'seq_bn' : 'double_seq_bn';
  const base = BN_CONFIGS[preset]!;
  const want: Record<string, number | string | boolean> = {
    activation: c.activation, scale: c.scale, init: c.init === 'mam_adapter' ? 'mam' : 'bert',
    original_ln_before: c.lnBefore, original_ln_after: c.lnAfter, residual_before_ln: c.residualBeforeLn,
  };
  const extra = Object.entries(want).filter(([k, v]) => base[k] !== v && !(c.parallel && k === 'original_ln_before')).map(([k, v]) => `${k} = ${String(v)}`);
  if (c.dropout) extra.push(`dropout = ${c.dropout}`);
  // One reduction factor: the preset's (left out) or `reduction = …`; per-layer widths: `bottleneck = …` per line.
  if (typeof c.reduction === 'number') {
    const rf = c.reduction === base.reduction ? [] : [`reduction = ${c.reduction}`];
    return [{ settings: [`preset = ${preset}`, ...rf, ...extra].join(', '), modules: placed.map((p) => p.module) }];
  }
  return [...new Set(placed.map((p) => p.width))].map((w) => ({
    settings: [`preset = ${preset}`, `bottleneck = ${w}`, ...extra].join(', '),
    modules: placed.filter((p) => p.width === w).map((p) => p.module),
  }));
}

/** d / width as the library reads it back: int(d // rf) must give the width. */
export function reductionFactor(d: number, width: number): number {
  let rf = d / width;
  // Nudge down until floor(d / rf) is the width (d / (d / w) can round below w).
  while (Math.floor(d / rf) < width) rf = rf * (1 - 1e-12);
  return rf;
}

function mostCommon(values: number[]): number {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return values.reduce((best, v) => (counts.get(v)! > counts.get(best)! ? v : best), values[0]!);
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
