// Bottleneck adapters, which Hugging Face PEFT lacks, in the format of the AdapterHub
// `adapters` library (github.com/adapter-hub/adapters): a folder with `adapter_config.json`
// (`build_full_config`: model_type, hidden_size, model_name, model_class, name, config) and the
// weights. That library writes `pytorch_adapter.bin` (a PyTorch pickle) by default and
// `adapter.safetensors` (its SAFE_WEIGHTS_NAME) with `use_safetensors=True`; we write the latter,
// which `load_adapter(path, use_safetensors=True)` reads.
//
// Where the library puts a layer's two bottleneck adapters (BottleneckLayer "mh_adapter" and
// "output_adapter"), and the module of ours whose output they wrap:
//   gpt2   transformer.h.N.attention_adapters / output_adapters       ours: h.N.attn / h.N.mlp
//   llama  model.layers.N.attention_adapters / output_adapters        ours: layers.N.self_attn / layers.N.mlp
//   bert   bert.encoder.layer.N.attention.output.adapters / .output.adapters
//                                          ours: encoder.layer.N.attention.output.dense / output.dense
// then `.adapters.<name>.adapter_down.0.{weight,bias}` (the down Linear, [m, d]) and
// `.adapter_up.{weight,bias}` ([d, m]). With original_ln_before = false and residual_before_ln =
// true (Houlsby's DoubleSeqBn flags) the library computes h + scaling·up(act(down(h))) on the
// sub-layer's output h before the residual add (and BERT's LayerNorm): our serial adapter.
// Parallel adapters read a different input there (the sub-layer's residual stream), so they are
// not exported.
import type { Graph, Param } from '../../compiler/ir/types.ts';
import { attentionLayers } from './graph-info.ts';
import type { PartEntry, PartSpec } from './hf-peft.ts';
import type { Family, HfNames } from './names.ts';
import { pyFloat, type PyJson } from './pyjson.ts';

export const ADAPTERHUB_WEIGHTS_FILE = 'adapter.safetensors';

type Location = 'mh' | 'out';

const LOCATIONS: Partial<Record<Family, { ours: Record<Location, RegExp>; theirs: (layer: number, loc: Location) => string }>> = {
  gpt2: {
    ours: { mh: /^h\.(\d+)\.attn$/, out: /^h\.(\d+)\.mlp$/ },
    theirs: (n, loc) => `transformer.h.${n}.${loc === 'mh' ? 'attention_adapters' : 'output_adapters'}`,
  },
  llama: {
    ours: { mh: /^layers\.(\d+)\.self_attn$/, out: /^layers\.(\d+)\.mlp$/ },
    theirs: (n, loc) => `model.layers.${n}.${loc === 'mh' ? 'attention_adapters' : 'output_adapters'}`,
  },
  bert: {
    ours: { mh: /^encoder\.layer\.(\d+)\.attention\.output\.dense$/, out: /^encoder\.layer\.(\d+)\.output\.dense$/ },
    theirs: (n, loc) => `bert.encoder.layer.${n}.${loc === 'mh' ? 'attention.output' : 'output'}`,
  },
};

/** Our activation names → the library's (transformers' ACT2FN names: "gelu" exact, "gelu_new" the tanh form). */
export const ACTIVATION_NAMES: Record<string, string> = { relu: 'relu', gelu: 'gelu', gelu_tanh: 'gelu_new', silu: 'silu', tanh: 'tanh' };

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
    const loc = (['mh', 'out'] as Location[]).find((l) => where.ours[l].test(m));
    if (!loc || s.placement !== 'serial') {
      misplaced.push(m + (loc ? ' (parallel)' : ''));
      continue;
    }
    placed.push({ module: m, layer: Number(where.ours[loc].exec(m)![1]), loc, width: p.shape[0]!, settings: s });
  }
  if (misplaced.length) {
    const want = names.family === 'bert' ? '`encoder.layer.N.attention.output.dense` and `encoder.layer.N.output.dense`' : names.family === 'gpt2' ? '`h.N.attn` and `h.N.mlp`' : '`layers.N.self_attn` and `layers.N.mlp`';
    return `bottleneck adapters on ${misplaced.join(', ')}: the \`adapters\` library has serial adapters only on ${want}`;
  }
  return placed;
}

export function bottleneckPart(g: Graph, names: HfNames, params: Param[], name: string, baseModel: string | null): PartSpec | string {
  const placed = placeAdapters(names, params);
  if (typeof placed === 'string') return placed;
  const layers = attentionLayers(g).length;
  const d = params.find((p) => p.path.endsWith('.adapter.down.weight'))!.shape[1]!;
  const first = placed[0]!.settings;
  for (const key of ['activation', 'scale', 'dropout', 'init'] as const) {
    if (placed.some((p) => p.settings[key] !== first[key])) return `bottleneck adapters with different ${key}s: one \`adapters\` config has one ${key}`;
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
  const config = {
    adapter_residual_before_ln: false, cross_adapter: false, dropout: pyFloat((first.dropout as number | undefined) ?? 0), factorized_phm_W: true, factorized_phm_rule: false,
    // The library's names: "bert" (its default), "mam_adapter" (up at zero: ours by default).
    hypercomplex_nonlinearity: 'glorot-uniform', init_weights: first.init === 'bert' ? 'bert' : 'mam_adapter', inv_adapter: null, inv_adapter_reduction_factor: null,
    is_parallel: false, learn_phm: true, leave_out: range(layers).filter((l) => !used.includes(l)), ln_after: false, ln_before: false,
    mh_adapter: mh, non_linearity: ACTIVATION_NAMES[first.activation as string]!, original_ln_after: true, original_ln_before: false,
    output_adapter: out, phm_bias: true, phm_c_init: 'normal', phm_dim: 4, phm_init_range: pyFloat(0.0001), phm_layer: false, phm_rank: 1,
    reduction_factor: reduction, residual_before_ln: true, scaling: pyFloat(first.scale as number), shared_W_phm: false,
    shared_phm_rule: true, stochastic_depth: pyFloat(0), use_gating: false,
  };
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
  const full = {
    config,
    hidden_size: d,
    model_class: names.modelClass,
    model_name: baseModel,
    model_type: names.modelType,
    name,
  };
  return { part: 'bottleneck', format: 'adapterhub', config: full, weightsFile: ADAPTERHUB_WEIGHTS_FILE, entries, notes: [] };
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
