// Reading adapter_config.json (Hugging Face PEFT's LORA, IA3, PROMPT_TUNING, PREFIX_TUNING, and the
// AdapterHub `adapters` library's bottleneck config) and resolving it against a compiled model
// the way those libraries would: which modules get LoRA with which rank and alpha, which get an
// adapter of which width. Everything unsupported is an InteropError that says what and why.
import type { Graph } from '../../compiler/ir/types.ts';
import { parseBnConfig, type BottleneckConfig } from './adapterhub.ts';
import { InteropError, listSome } from './errors.ts';
import type { Ia3Config } from './ia3.ts';
import { attentionLayers, embeddingModules, linearModules, modulePaths } from './graph-info.ts';
import type { LoraInit } from './hf-peft.ts';
import { parseAdaLora, type AdaLoraSettings } from './adalora.ts';
import { isHeadPath, type HfNames } from './names.ts';

export interface LoraConfig {
  kind: 'lora';
  r: number;
  alpha: number;
  dropout: number;
  rslora: boolean;
  /** use_dora: DoRA's magnitude vectors beside A and B. */
  dora: boolean;
  /** init_lora_weights: how A started (True: kaiming-uniform, "gaussian", or "pissa" / "olora": on the residual base). */
  init: LoraInit;
  targets: string[] | string;
  exclude: string[] | string | null;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  layersToTransform: number[] | null;
  layersPattern: string[] | null;
  modulesToSave: string[];
  /** peft_type ADALORA: AdaLoraConfig's settings (r is then init_r; rank_pattern is its own). */
  adalora?: AdaLoraSettings;
}

export interface PromptConfig {
  kind: 'prompt';
  length: number;
  tokenDim: number | null;
  init: 'random' | 'vocab' | 'text';
  text: string | null;
  modulesToSave: string[];
}

export interface PrefixConfig {
  kind: 'prefix';
  length: number;
  tokenDim: number | null;
  layers: number | null;
  heads: number | null;
  modulesToSave: string[];
}

// AdapterHub's config, and where its adapters go: adapterhub.ts.
export { resolveBottleneck, type BottleneckConfig, type ResolvedAdapter } from './adapterhub.ts';

export type AdapterConfig = LoraConfig | Ia3Config | PromptConfig | PrefixConfig | BottleneckConfig;

export const SUPPORTED_PEFT_TYPES = ['LORA', 'ADALORA', 'IA3', 'PROMPT_TUNING', 'PREFIX_TUNING'];

type Obj = Record<string, unknown>;

/** Parses and checks the text of an adapter_config.json; `where` names it in messages. */
export function parseAdapterConfig(text: string, where: string): AdapterConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new InteropError(`${where}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InteropError(`${where}: expected a JSON object`);
  const c = raw as Obj;
  const f = new Fields(c, where);
  if (c.peft_type === undefined && typeof c.config === 'object' && c.config !== null) return parseBnConfig(c, where);
  const type = c.peft_type;
  if (typeof type !== 'string') throw new InteropError(`${where}: no \`peft_type\`; is this a Hugging Face PEFT adapter folder?`);
  if (!SUPPORTED_PEFT_TYPES.includes(type)) {
    throw new InteropError(`${where}: peft_type ${type} is not supported; peftc imports ${SUPPORTED_PEFT_TYPES.join(', ')} (and AdapterHub bottleneck adapters)`);
  }
  const modulesToSave = f.strings('modules_to_save', true) ?? [];
  if (type === 'LORA' || type === 'ADALORA') {
    if (c.bias !== undefined && c.bias !== 'none') throw new InteropError(`${where}: bias is ${JSON.stringify(c.bias)}; only "none" is supported (peftc's LoRA trains no bias terms)`);
    for (const k of ['layer_replication', 'megatron_config']) if (c[k] !== undefined && c[k] !== null) throw new InteropError(`${where}: ${k} is not supported`);
    const init = c.init_lora_weights;
    // PiSSA and OLoRA adapters apply to the residual base, which peftc recomputes as PEFT does on
    // loading; others (randomised SVD, CorDA, LoftQ, …) to a residual it cannot reproduce.
    if (typeof init === 'string' && !['gaussian', 'pissa', 'olora'].includes(init)) throw new InteropError(`${where}: init_lora_weights is ${JSON.stringify(init)}; such an adapter applies to its residual base model, not the original one: convert it to a plain LoRA with PEFT (save_pretrained(…, path_initial_model_for_weight_conversion=…)) first`);
    const targets = c.target_modules;
    if (!(typeof targets === 'string' || (Array.isArray(targets) && targets.length && targets.every((t) => typeof t === 'string')))) {
      throw new InteropError(`${where}: target_modules must be a list of module names or a regular expression, found ${JSON.stringify(targets)}`);
    }
    // PEFT's LoraConfig defaults: r = 8, lora_alpha = 8.
    const adalora = type === 'ADALORA' ? parseAdaLora(c, where) : undefined;
    const r = adalora ? adalora.initR : c.r === undefined ? 8 : f.int('r');
    const layers = c.layers_to_transform;
    if (adalora) {
      // AdaLoRA ignores LoRA's per-module patterns: every module has init_r and lora_alpha.
      return {
        kind: 'lora', r, alpha: f.number('lora_alpha', 8), dropout: f.number('lora_dropout', 0), rslora: false, dora: false, init: 'kaiming',
        targets: targets as string[] | string, exclude: (f.strings('exclude_modules', true) ?? (typeof c.exclude_modules === 'string' ? c.exclude_modules : null)),
        rankPattern: {}, alphaPattern: {},
        layersToTransform: layers === undefined || layers === null ? null : typeof layers === 'number' ? [layers] : f.ints('layers_to_transform'),
        layersPattern: typeof c.layers_pattern === 'string' ? [c.layers_pattern] : f.strings('layers_pattern', true),
        modulesToSave, adalora,
      };
    }
    return {
      kind: 'lora', r, alpha: f.number('lora_alpha', 8), dropout: f.number('lora_dropout', 0), rslora: c.use_rslora === true, dora: c.use_dora === true, init: typeof init === 'string' ? (init as LoraInit) : 'kaiming',
      targets: targets as string[] | string,
      exclude: (f.strings('exclude_modules', true) ?? (typeof c.exclude_modules === 'string' ? c.exclude_modules : null)),
      rankPattern: f.numbers('rank_pattern'), alphaPattern: f.numbers('alpha_pattern'),
      layersToTransform: layers === undefined || layers === null ? null : typeof layers === 'number' ? [layers] : f.ints('layers_to_transform'),
      layersPattern: typeof c.layers_pattern === 'string' ? [c.layers_pattern] : f.strings('layers_pattern', true),
      modulesToSave,
    };
  }
  if (type === 'IA3') {
    if (c.init_ia3_weights === false) throw new InteropError(`${where}: init_ia3_weights is false; peftc's IA³ starts at one, as PEFT's default`);
    const spec = (key: string, fallback: string[] | null): string[] | string | null => {
      const v = c[key];
      if (v === undefined || v === null) return fallback;
      if (typeof v === 'string' || (Array.isArray(v) && v.every((t) => typeof t === 'string'))) return v as string[] | string;
      throw new InteropError(`${where}: ${key} must be a list of module names or a regular expression, found ${JSON.stringify(v)}`);
    };
    const targets = spec('target_modules', null);
    if (targets === null || (Array.isArray(targets) && !targets.length)) throw new InteropError(`${where}: target_modules must name the modules IA³ scales`);
    return { kind: 'ia3', targets, feedforward: spec('feedforward_modules', [])!, exclude: spec('exclude_modules', null), modulesToSave };
  }
  if (c.num_transformer_submodules !== undefined && c.num_transformer_submodules !== null && c.num_transformer_submodules !== 1) {
    throw new InteropError(`${where}: num_transformer_submodules is ${String(c.num_transformer_submodules)}; only decoder-only and encoder-only models (1) are supported`);
  }
  if (type === 'PROMPT_TUNING') {
    const init = c.prompt_tuning_init;
    const kind = init === 'TEXT' ? 'text' : init === 'SAMPLE_VOCAB' ? 'vocab' : 'random';
    const text = typeof c.prompt_tuning_init_text === 'string' ? c.prompt_tuning_init_text : null;
    return { kind: 'prompt', length: f.int('num_virtual_tokens'), tokenDim: f.optInt('token_dim'), init: kind === 'text' && text === null ? 'random' : kind, text, modulesToSave };
  }
  return { kind: 'prefix', length: f.int('num_virtual_tokens'), tokenDim: f.optInt('token_dim'), layers: f.optInt('num_layers'), heads: f.optInt('num_attention_heads'), modulesToSave };
}

class Fields {
  constructor(
    private readonly c: Obj,
    private readonly where: string,
  ) {}

  private bad(key: string, want: string): never {
    throw new InteropError(`${this.where}: \`${key}\` must be ${want}, found ${JSON.stringify(this.c[key]) ?? 'nothing'}`);
  }

  int(key: string): number {
    const v = this.c[key];
    return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : this.bad(key, 'a positive integer');
  }

  optInt(key: string): number | null {
    return this.c[key] === undefined || this.c[key] === null ? null : this.int(key);
  }

  number(key: string, fallback: number): number {
    const v = this.c[key];
    if (v === undefined || v === null) return fallback;
    return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : this.bad(key, 'a non-negative number');
  }

  strings(key: string, optional: boolean): string[] | null {
    const v = this.c[key];
    if ((v === undefined || v === null) && optional) return null;
    return Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : typeof v === 'string' ? null : this.bad(key, 'a list of strings');
  }

  ints(key: string): number[] {
    const v = this.c[key];
    return Array.isArray(v) && v.every((x) => Number.isInteger(x)) ? (v as number[]) : this.bad(key, 'a list of layer indices');
  }

  numbers(key: string): Record<string, number> {
    const v = this.c[key];
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'number')) this.bad(key, 'an object of numbers');
    return v as Record<string, number>;
  }
}

export interface ResolvedLora {
  module: string;
  rank: number;
  alpha: number;
  rslora: boolean;
  dropout: number;
}

/** The modules Hugging Face PEFT would give LoRA in this model, with their rank and alpha. */
export function resolveLora(cfg: LoraConfig, g: Graph, names: HfNames, where: string): ResolvedLora[] {
  const linear = linearModules(g);
  const all = [...modulePaths(g)];
  const matchName = (spec: string[] | string, key: string) =>
    typeof spec === 'string' ? pyRegex(spec, where).test(key) : spec.some((t) => key === t || key.endsWith(`.${t}`));
  let hits: string[];
  if (cfg.targets === 'all-linear') hits = linear.filter((m) => !isHeadPath(names, m));
  else hits = all.filter((m) => matchName(cfg.targets, names.toHf(m)));
  if (cfg.exclude) hits = hits.filter((m) => !matchName(cfg.exclude!, names.toHf(m)));
  if (cfg.layersToTransform) {
    const pats = cfg.layersPattern ?? ['layers', 'h', 'block', 'blocks', 'layer'];
    hits = hits.filter((m) => {
      const key = names.toHf(m);
      const idx = pats.map((p) => new RegExp(`.*\\.${p}\\.(\\d+)\\.`).exec(key)).find((x) => x);
      return idx !== undefined && cfg.layersToTransform!.includes(Number(idx![1]));
    });
  }
  if (hits.length === 0) throw new InteropError(`${where}: target_modules ${JSON.stringify(cfg.targets)} matches no module of this model (Linear layers: ${listSome(linear.map(names.toHf), 4)})`);
  const embeddings = embeddingModules(g);
  const notLinear = hits.filter((m) => !linear.includes(m) && !embeddings.includes(m));
  if (notLinear.length) throw new InteropError(`${where}: target_modules matches ${listSome(notLinear)}, which ${notLinear.length > 1 ? 'are' : 'is'} neither a Linear nor an Embedding layer`);
  const pattern = (pats: Record<string, number>, key: string) => Object.keys(pats).find((p) => pyRegex(`(?:.*\\.)?(?:${p})`, where).test(key));
  return hits.map((m) => {
    const key = names.toHf(m);
    const rp = pattern(cfg.rankPattern, key);
    const ap = pattern(cfg.alphaPattern, key);
    return { module: m, rank: rp ? cfg.rankPattern[rp]! : cfg.r, alpha: ap ? cfg.alphaPattern[ap]! : cfg.alpha, rslora: cfg.rslora, dropout: cfg.dropout };
  });
}

/** modules_to_save → our module paths (PEFT matches a module whose full name ends with the entry). */
export function resolveModulesToSave(list: string[], g: Graph, names: HfNames, where: string): string[] {
  const all = [...modulePaths(g)];
  const out: string[] = [];
  for (const entry of list) {
    const hit = all.filter((m) => names.toHf(m).endsWith(entry) && (names.toHf(m) === entry || names.toHf(m).endsWith(`.${entry}`)));
    // PEFT adds the usual head names ("classifier", "score") for classification by itself.
    if (!hit.length && ['classifier', 'score'].includes(entry)) continue;
    if (!hit.length) throw new InteropError(`${where}: modules_to_save entry \`${entry}\` matches no module of this model`);
    // The outermost matching modules: a match's children come with it.
    for (const m of hit) if (!hit.some((h) => h !== m && m.startsWith(`${h}.`)) && !out.includes(m)) out.push(m);
  }
  return out;
}

/** A Python `re` pattern for full matching; the common subset is JavaScript's too. */
export function pyRegex(p: string, where: string): RegExp {
  try {
    return new RegExp(`^(?:${p.replace(/\(\?P</g, '(?<')})$`);
  } catch {
    throw new InteropError(`${where}: ${JSON.stringify(p)} is not a regular expression peftc can read`);
  }
}
