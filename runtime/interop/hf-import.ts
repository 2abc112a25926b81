// Importing adapter folders into the parameters of a .peft model: the folder's config must
// describe the same fine-tune as the .peft (same LoRA modules with the same rank and scale, the
// same prompt or prefix length, the same adapters), and its tensors must be exactly the ones
// that model's export would write. Every disagreement is reported; nothing is half-imported.
import type { Graph } from '../../compiler/ir/types.ts';
import { rankedModules } from '../../compiler/peft/ranked-modules.ts';
import { getFloat32, type SafetensorsFile } from '../io/safetensors.ts';
import { fmtShape, InteropError, listSome } from './errors.ts';
import { attentionLayers } from './graph-info.ts';
import { bottleneckProblems } from './adapterhub.ts';
import {
  pyRegex, resolveLora, resolveModulesToSave,
  type AdapterConfig, type BottleneckConfig, type LoraConfig,
} from './hf-config.ts';
import { fromFileLayout, loraModules, loraScaleOf, planExport, type PartName, type PartSpec } from './hf-peft.ts';
import { checkIa3, resolveIa3 } from './ia3.ts';
import { adaloraProblems, keptByPattern } from './adalora.ts';
import type { HfNames } from './names.ts';

export interface AdapterFolder {
  /** Where it came from, for messages. */
  where: string;
  config: AdapterConfig;
  weights: SafetensorsFile;
}

const PART_OF: Record<AdapterConfig['kind'], PartName> = { lora: 'lora', ia3: 'ia3', prompt: 'prompt_tuning', prefix: 'prefix_tuning', bottleneck: 'bottleneck' };
const METHOD_OF: Record<AdapterConfig['kind'], string> = { lora: 'lora', ia3: 'ia3', prompt: 'prompt', prefix: 'prefix', bottleneck: 'adapter' };

/** The values of every trainable parameter of `g` (compiled with derivedPrefix), from the folders. */
export function importAdapters(g: Graph, names: HfNames, folders: AdapterFolder[]): Map<string, Float32Array> {
  const ranks = adaloraKept(g, names, folders);
  const plan = planExport(g, names, { baseModel: null, adapterName: bottleneckName(folders), native: true, ...(ranks ? { kept: ranks } : {}) });
  const values = new Map<string, Float32Array>();
  const seen = new Set<string>();
  for (const f of folders) {
    const part = PART_OF[f.config.kind];
    if (seen.has(part)) throw new InteropError(`${f.where}: a second ${part} adapter; a .peft model has one of each`);
    seen.add(part);
    const spec = plan.parts.find((p) => p.part === part);
    if (!spec) {
      const why = plan.skipped.find((s) => s.includes(METHOD_OF[f.config.kind]!));
      throw new InteropError(`${f.where}: a ${part} adapter, but the .peft model has ${why ? `one that cannot be exchanged (${why})` : `no ${METHOD_OF[f.config.kind]}`}`);
    }
    checkConfig(f, g, names, spec);
    for (const [path, v] of readEntries(f, spec)) values.set(path, v);
  }
  const kept = g.params.filter((p) => p.partition === 'trainable' && !p.transient);
  const missing = kept.filter((p) => !values.has(p.path)).map((p) => p.path);
  if (missing.length) throw new InteropError(`the .peft model has ${missing.length} trainable parameter(s) no adapter folder provides: ${listSome(missing)}`);
  return values;
}

/**
 * The triplets each `rank = auto(…)` module keeps by the ADALORA folder's rank_pattern; a .peft
 * that selects ranks takes only such a folder, and such a folder only such a .peft.
 */
export function adaloraKept(g: Graph, names: HfNames, folders: AdapterFolder[]): Map<string, number[]> | undefined {
  const ada = folders.find((f) => f.config.kind === 'lora' && f.config.adalora);
  const ranked = rankedModules(g);
  const other = ranked.find((m) => m.mode !== 'auto') ?? (ada ? undefined : ranked[0]);
  if (other) {
    throw new InteropError(
      `the .peft model selects LoRA ranks (\`${other.module}\` has rank = ${other.mode}(…)); ${other.mode === 'auto' ? 'only a PEFT ADALORA folder holds them, this one holds fixed ranks' : 'an adapter folder holds fixed ranks'}: ` +
        'import it into a .peft with lora(rank = …) (`peftc import --emit-peft` writes one)',
    );
  }
  if (!ada) return undefined;
  if (!ranked.length) throw new InteropError(`${ada.where}: an AdaLoRA adapter (peft_type ADALORA); import it into a .peft with lora(rank = auto(…)) (\`peftc import --emit-peft\` writes one)`);
  return keptByPattern((ada.config as LoraConfig).adalora!, names, ranked.map((m) => m.module), ada.where);
}

function bottleneckName(folders: AdapterFolder[]): string | undefined {
  const b = folders.find((f) => f.config.kind === 'bottleneck');
  return b ? (b.config as BottleneckConfig).name : undefined;
}

function checkConfig(f: AdapterFolder, g: Graph, names: HfNames, spec: PartSpec): void {
  const c = f.config;
  const problems: string[] = [];
  if (c.kind === 'lora') problems.push(...checkLora(c, g, names, f.where));
  if (c.kind === 'ia3') problems.push(...checkIa3(resolveIa3(c, g, names, f.where, (p) => pyRegex(p, f.where)), g));
  if (c.kind === 'prompt') {
    const [P, d] = spec.entries[0]!.shape as [number, number];
    if (c.length !== P) problems.push(`num_virtual_tokens is ${c.length}, the .peft's prompt length is ${P}`);
    if (c.tokenDim !== null && c.tokenDim !== d) problems.push(`token_dim is ${c.tokenDim}, the model's is ${d}`);
  }
  if (c.kind === 'prefix') {
    const [P, width] = spec.entries[0]!.shape as [number, number];
    const L = attentionLayers(g).length;
    if (c.length !== P) problems.push(`num_virtual_tokens is ${c.length}, the .peft's prefix length is ${P}`);
    if (c.layers !== null && c.layers !== L) problems.push(`num_layers is ${c.layers}, the model has ${L} attention layers`);
    if (c.tokenDim !== null && 2 * L * c.tokenDim !== width) problems.push(`token_dim ${c.tokenDim} gives prefixes of width 2·${L}·${c.tokenDim}; this model's keys need ${width}`);
  }
  if (c.kind === 'bottleneck') problems.push(...bottleneckProblems(c, g, names, f.where));
  if (c.kind !== 'bottleneck') {
    const ours = [...new Set(g.params.filter((p) => p.method?.name === 'train').map((p) => p.method!.module))].sort();
    const theirs = resolveModulesToSave(c.modulesToSave, g, names, f.where).filter((m) => !names.heads.includes(m) || ours.includes(m)).sort();
    if (ours.join() !== theirs.join()) problems.push(`modules_to_save resolves to [${theirs.join(', ')}], the .peft trains [${ours.join(', ')}]`);
  }
  if (problems.length) throw InteropError.of(`${f.where} does not describe this .peft model`, problems);
}

function checkLora(c: LoraConfig, g: Graph, names: HfNames, where: string): string[] {
  const theirs = new Map(resolveLora(c, g, names, where).map((m) => [m.module, m]));
  const ours = new Map(loraModules(g).map((m) => [m.module, m]));
  const problems: string[] = [];
  if (c.adalora) problems.push(...adaloraProblems(c.adalora, c.alpha, rankedModules(g).filter((m) => theirs.has(m.module))));
  const onlyTheirs = [...theirs.keys()].filter((m) => !ours.has(m));
  const onlyOurs = [...ours.keys()].filter((m) => !theirs.has(m));
  if (onlyTheirs.length) problems.push(`it adapts ${onlyTheirs.length} module(s) the .peft leaves alone: ${listSome(onlyTheirs)}`);
  if (onlyOurs.length) problems.push(`the .peft adapts ${onlyOurs.length} module(s) it leaves alone: ${listSome(onlyOurs)}`);
  // What differs per module, said once for every module it concerns (a model has many layers).
  const differences = new Map<string, string[]>();
  const differ = (m: string, what: string) => differences.set(what, [...(differences.get(what) ?? []), m]);
  for (const [m, t] of theirs) {
    const o = ours.get(m);
    if (!o) continue;
    const residual = (i: string) => i === 'pissa' || i === 'olora';
    if ((residual(o.init) || residual(c.init)) && o.init !== c.init) {
      differ(m, `starts from init_lora_weights ${JSON.stringify(c.init === 'kaiming' ? true : c.init)} there, init = ${o.init} in the .peft: ${residual(c.init) ? 'that adapter applies to its residual base' : 'a PiSSA / OLoRA .peft runs on the residual base'}`);
    }
    if (o.niter !== undefined) differ(m, `has init = pissa(niter = ${o.niter}) in the .peft, a residual base from a randomised SVD that no PEFT adapter applies to: use init = pissa or a plain LoRA`);
    if (o.dora !== c.dora) differ(m, `is ${c.dora ? '' : 'not '}DoRA there (use_dora), ${o.dora ? '' : 'not '}in the .peft (dora)`);
    if (o.rank !== t.rank) differ(m, `has rank ${t.rank} there, ${o.rank} in the .peft`);
    else if (Math.abs(loraScaleOf(o) - loraScaleOf(t)) > 1e-6 * Math.abs(loraScaleOf(o))) {
      differ(m, `is scaled by ${loraScaleOf(t)} there (alpha ${t.alpha}${t.rslora ? ', rsLoRA' : ''}), by ${loraScaleOf(o)} in the .peft (alpha ${o.alpha}${o.rslora ? ', rsLoRA' : ''})`);
    }
  }
  for (const [what, ms] of differences) problems.push(`\`${ms[0]}\` ${what}${ms.length > 1 ? ` (likewise ${listSome(ms.slice(1).map((m) => `\`${m}\``))})` : ''}`);
  return problems;
}

function readEntries(f: AdapterFolder, spec: PartSpec): Map<string, Float32Array> {
  const expected = new Map(spec.entries.map((e) => [e.key, e]));
  const problems: string[] = [];
  const extra = [...f.weights.tensors.keys()].filter((k) => !expected.has(k));
  const missing = spec.entries.filter((e) => !f.weights.tensors.has(e.key)).map((e) => `\`${e.key}\` ${fmtShape(e.shape)}`);
  if (extra.length) problems.push(`${extra.length} tensor(s) this model has no place for: ${listSome(extra.map((k) => `\`${k}\``))}`);
  if (missing.length) problems.push(`${missing.length} tensor(s) missing: ${listSome(missing)}`);
  const out = new Map<string, Float32Array>();
  for (const e of spec.entries) {
    const t = f.weights.tensors.get(e.key);
    if (!t) continue;
    if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
      problems.push(`\`${e.key}\` is ${fmtShape(t.shape)}, parameter \`${e.path}\` is ${fmtShape(e.shape)}`);
    } else if (!['F32', 'F16', 'BF16', 'F64'].includes(t.dtype)) {
      problems.push(`\`${e.key}\` is ${t.dtype}, not a float tensor`);
    } else {
      out.set(e.path, Float32Array.from(fromFileLayout(e, getFloat32(f.weights, e.key))));
    }
  }
  if (problems.length) throw InteropError.of(`${f.where}: the weights do not fit the .peft model`, problems);
  return out;
}
