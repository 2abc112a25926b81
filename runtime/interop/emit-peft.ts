// adapter_config.json → .peft text: an `import` of the base model and a `peft { … }` block that
// builds the same fine-tune. Targets are resolved against the base model as Hugging Face would
// resolve them, then written back as the shortest patterns that pick exactly those modules
// (`"c_attn"`, `"h.*.attn"`, or the paths); per-module ranks and alphas become `override` lines.
import type { Graph } from '../../compiler/ir/types.ts';
import { AUTO_DEFAULTS } from '../../compiler/peft/rank-settings.ts';
import type { AdaLoraSettings } from './adalora.ts';
import { bottleneckRules } from './adapterhub.ts';
import type { SafetensorsFile } from '../io/safetensors.ts';
import { InteropError } from './errors.ts';
import { attentionLayers, modulePaths, tokenEmbedding } from './graph-info.ts';
import { pyRegex, resolveBottleneck, resolveLora, resolveModulesToSave, type AdapterConfig } from './hf-config.ts';
import { resolveIa3 } from './ia3.ts';
import type { HfNames } from './names.ts';
import { pefPatterns } from './patterns.ts';

export interface EmitSource {
  where: string;
  config: AdapterConfig;
  /** The folder's tensors: an AdapterHub folder's prediction head (model_head.safetensors) is among them. */
  weights?: SafetensorsFile;
}

/** The .peft text for adapters in `sources`, over the base model `g` imported as `basePath`. */
export function emitPeft(sources: EmitSource[], g: Graph, names: HfNames, basePath: string, header: string): string {
  const rules: string[] = [];
  const train = new Set<string>();
  for (const { where, config: c, weights } of sources) {
    if (c.kind !== 'bottleneck') for (const m of resolveModulesToSave(c.modulesToSave, g, names, where)) train.add(m);
    else for (const m of headModules(weights, names)) train.add(m);
    rules.push(...rulesFor(c, g, names, where));
  }
  if (train.size) rules.push(`train ${quoteAll([...train])}`);
  const lines = [`# ${header}`, `import ${JSON.stringify(basePath)}`, '', 'peft {', ...rules.map((r) => `  ${r}`), '}', ''];
  return lines.join('\n');
}

function rulesFor(c: AdapterConfig, g: Graph, names: HfNames, where: string): string[] {
  const universe = modulePaths(g);
  switch (c.kind) {
    case 'lora': {
      const mods = resolveLora(c, g, names, where);
      if (c.adalora) return [`lora(rank = ${autoRank(c.adalora)}, alpha = ${num(c.alpha)}${c.dropout ? `, dropout = ${num(c.dropout)}` : ''}) on ${quoteAll(pefPatterns(mods.map((m) => m.module), universe))}`];
      const key = (m: { rank: number; alpha: number }) => `${m.rank}/${m.alpha}`;
      const counts = new Map<string, number>();
      for (const m of mods) counts.set(key(m), (counts.get(key(m)) ?? 0) + 1);
      const base = mods.find((m) => key(m) === `${c.r}/${c.alpha}`) ?? mods.reduce((b, m) => (counts.get(key(m))! > counts.get(key(b))! ? m : b));
      const args = [`rank = ${base.rank}`, `alpha = ${num(base.alpha)}`];
      if (c.dropout) args.push(`dropout = ${num(c.dropout)}`);
      if (c.rslora) args.push('rslora = true');
      if (c.dora) args.push('dora = true');
      if (c.init !== 'kaiming') args.push(`init = ${c.init}`);
      const lines = [`lora(${args.join(', ')}) on ${quoteAll(pefPatterns(mods.map((m) => m.module), universe))}`];
      const groups = new Map<string, string[]>();
      for (const m of mods) if (key(m) !== key(base)) groups.set(key(m), [...(groups.get(key(m)) ?? []), m.module]);
      for (const [k, group] of groups) {
        const [rank, alpha] = k.split('/');
        for (const p of pefPatterns(group, universe)) lines.push(`  override ${JSON.stringify(p)} (rank = ${rank}, alpha = ${num(Number(alpha))})`);
      }
      return lines;
    }
    case 'ia3': {
      const mods = resolveIa3(c, g, names, where, (p) => pyRegex(p, where));
      const plain = mods.filter((m) => !m.feedforward).map((m) => m.module);
      const ff = mods.filter((m) => m.feedforward).map((m) => m.module);
      return [
        ...(plain.length ? [`ia3 on ${quoteAll(pefPatterns(plain, universe))}`] : []),
        ...(ff.length ? [`ia3(feedforward = true) on ${quoteAll(pefPatterns(ff, universe))}`] : []),
      ];
    }
    case 'prompt': {
      const emb = tokenEmbedding(g);
      if (!emb) throw new InteropError(`${where}: prompt tuning needs a token embedding; the base model has none`);
      if (c.tokenDim !== null && c.tokenDim !== emb.dim) throw new InteropError(`${where}: token_dim is ${c.tokenDim}, the base model's embedding is ${emb.dim} wide`);
      const init = c.init === 'text' ? `text(${JSON.stringify(c.text)})` : c.init;
      return [`prompt(length = ${c.length}, init = ${init}) on ${JSON.stringify(emb.module)}`];
    }
    case 'prefix': {
      const layers = attentionLayers(g);
      if (c.layers !== null && c.layers !== layers.length) throw new InteropError(`${where}: num_layers is ${c.layers}, the base model has ${layers.length} attention layers`);
      const kvd = layers[0]?.kvd;
      if (c.tokenDim !== null && kvd !== undefined && c.tokenDim !== kvd) {
        throw new InteropError(`${where}: token_dim is ${c.tokenDim}, but this model's keys are ${kvd} wide (with grouped key/value heads PEFT ≥ 0.12 writes the key width)`);
      }
      return [`prefix(length = ${c.length}) on ${quoteAll(pefPatterns(layers.map((l) => l.scope), universe))}`];
    }
    case 'bottleneck': {
      const emb = tokenEmbedding(g);
      const d = c.hiddenSize ?? emb?.dim ?? 0;
      return bottleneckRules(c, resolveBottleneck(c, g, names, d, where)).map((r) => `adapter(${r.settings}) on ${quoteAll(pefPatterns(r.modules, universe))}`);
    }
  }
}

/** The prediction head an AdapterHub folder carries beside its adapter (trained with it: `train "classifier"`). */
function headModules(weights: SafetensorsFile | undefined, names: HfNames): string[] {
  const keys = [...(weights?.tensors.keys() ?? [])].filter((k) => !k.includes('.adapters.'));
  const modules = keys.map((k) => names.fromHf(k).replace(/\.(weight|bias)$/, ''));
  return [...new Set(modules.filter((m) => names.heads.some((h) => m === h || m.startsWith(`${h}.`))))];
}

/** PEFT's AdaLoraConfig as `auto(…)`: target and init always, the rest where not the default. */
function autoRank(a: AdaLoraSettings): string {
  const args = [`target = ${a.targetR}`, `init = ${a.initR}`];
  const rest: [string, number, number][] = [['tinit', a.tinit, AUTO_DEFAULTS.tinit], ['tfinal', a.tfinal, AUTO_DEFAULTS.tfinal], ['delta_t', a.deltaT, AUTO_DEFAULTS.delta_t], ['beta1', a.beta1, AUTO_DEFAULTS.beta1], ['beta2', a.beta2, AUTO_DEFAULTS.beta2], ['orth', a.orth, AUTO_DEFAULTS.orth]];
  for (const [k, v, d] of rest) if (v !== d) args.push(`${k} = ${num(v)}`);
  return `auto(${args.join(', ')})`;
}

function quoteAll(xs: string[]): string {
  return xs.map((x) => JSON.stringify(x)).join(', ');
}

function num(x: number): string {
  return String(x);
}
