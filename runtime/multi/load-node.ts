// Loading a base and named adapters from disk (Node): the base .peft with --init weights into
// one arena, and each adapter from a checkpoint directory (`peftc train --out`, `peftc import`,
// `peftc combine`) or a Hugging Face PEFT / AdapterHub folder (through runtime/interop/).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { compile } from '../../compiler/build.ts';
import { describeAdapter } from '../../compiler/multi/describe.ts';
import type { SourceHost } from '../../compiler/load.ts';
import { Arena } from '../arena.ts';
import { z } from 'zod';
import { ADAPTER_FILE, CHECKPOINT_FILE, CheckpointError, type CheckpointState } from '../checkpoint.ts';
import { readCheckpointDir } from '../checkpoint-node.ts';
import { initParams } from '../init.ts';
import { emitPeft } from '../interop/emit-peft.ts';
import { importAdapters } from '../interop/hf-import.ts';
import { HF_CONFIG_FILE } from '../interop/hf-peft.ts';
import { loadInit } from '../interop/hf-weights-node.ts';
import { checkAdapterValues } from '../interop/merge.ts';
import { compileCheckpointSource, readAdapterFolders, readAdapterValues } from '../interop/interop-node.ts';
import { hfNameMap, type Family } from '../interop/names.ts';
import type { WeightsReadOptions } from '../io/read-weights-node.ts';
import { compileGenerated, concatLora, stackUnder, type BaseProgram } from './combine.ts';
import { AdapterSetError, type BaseModel, type LoadedAdapter } from './set.ts';
import type { Graph } from '../../compiler/ir/types.ts';

/** The checkpoint setting that records the adapters a fine-tune was trained on top of. */
export const FROZEN_SETTING = 'frozen_adapters';

export interface AdapterSpec {
  name: string;
  dir: string;
}

/** `name=DIR`, or `DIR` (named after the folder). */
export function parseAdapterSpec(s: string): AdapterSpec {
  const m = /^([A-Za-z0-9_-]+)=(.+)$/.exec(s);
  if (m) return { name: m[1]!, dir: m[2]! };
  const name = basename(resolve(s)).replace(/[^A-Za-z0-9_-]/g, '_');
  return { name, dir: s };
}

export interface LoadedBase {
  base: BaseModel;
  program: BaseProgram;
  /** Text of every file the base program loaded. */
  texts: Map<string, string>;
}

/**
 * The base program (no PEFT methods: each adapter brings its own) with its weights in one arena:
 * --init's tensors, the rest from the seed.
 */
export async function loadBase(file: string, opts: { host: SourceHost; set?: string[]; init?: string; seed?: number; tokenize?: (t: string) => number[]; read?: WeightsReadOptions }): Promise<LoadedBase> {
  const entry = resolve(file);
  const set = opts.set ?? [];
  const res = compile(entry, opts.host, { set, derivedPrefix: true });
  if (!res.graph) {
    const d = res.diagnostics.find((x) => x.severity === 'error');
    throw new AdapterSetError(`${file} does not compile${d ? `: ${d.code} ${d.message}` : ''}`);
  }
  const peft = res.plan?.apps[0];
  if (peft || res.plan?.train.size) {
    throw new AdapterSetError(`${file} has PEFT methods (${peft ? `${peft.method} on ${peft.module.path}` : 'train rules'}); with named adapters give the base model's .peft: each adapter brings its own program`);
  }
  const graph = res.graph;
  const arena = new Arena(graph.params, 'f32');
  const store = { frozen: arena, trainable: new Arena([], 'f32') };
  const loaded = opts.init ? (await loadInit(opts.init, graph, store, undefined, opts.read)).loaded : new Set<string>();
  initParams(graph, store, { seed: opts.seed ?? 0, skip: loaded, ...(opts.tokenize ? { tokenize: opts.tokenize } : {}) });
  return { base: { graph, arena }, program: { entry, host: opts.host, set }, texts: res.texts };
}

export interface LoadContext {
  /** The base program's graph (no PEFT). */
  baseGraph: Graph;
  program: BaseProgram;
  family?: Family;
  /** How weight files are read (`--allow-nonfinite`). */
  read?: WeightsReadOptions;
}

/** One adapter from a checkpoint directory or a Hugging Face PEFT / AdapterHub folder. */
export async function loadAdapter(spec: AdapterSpec, ctx: LoadContext): Promise<LoadedAdapter> {
  const dir = spec.dir;
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new AdapterSetError(`--adapter ${spec.name}=${dir}: not a folder`);
  if (isCheckpointDir(dir)) {
    const parts = await loadStackParts([spec], 0, ctx.read);
    const own = parts.pop()!;
    return noResidual(parts.length ? withFrozen(own, parts, ctx) : own);
  }
  const hf = existsSync(join(dir, HF_CONFIG_FILE)) || hasSubConfig(dir);
  if (!hf) throw new AdapterSetError(`--adapter ${spec.name}=${dir}: neither a checkpoint directory (${CHECKPOINT_FILE} and ${ADAPTER_FILE}) nor an adapter folder (${HF_CONFIG_FILE})`);
  const folders = await readAdapterFolders(dir, ctx.read);
  const kinds = folders.map((f) => f.config.kind).join(' + ');
  const text = emitPeft(folders, ctx.baseGraph, hfNameMap(ctx.baseGraph, ctx.family), ctx.program.entry, `Imported from ${dir} (${kinds})`);
  const { graph } = compileGenerated(ctx.program, text, spec.name);
  const values = importAdapters(graph, hfNameMap(graph, ctx.family), folders);
  return noResidual({ name: spec.name, graph, values, source: dir });
}

/** PiSSA / OLoRA train on a residual of the base that adapters sharing the base do not have. */
function noResidual(a: LoadedAdapter): LoadedAdapter {
  const p = a.graph.params.find((x) => x.init.kind === 'pissa' || x.init.kind === 'olora');
  if (p) throw new AdapterSetError(`--adapter ${a.name}=${a.source}: init = ${p.init.kind} (on \`${p.method?.module ?? p.path}\`) runs on a residual of the base that the other adapters do not share; export it (\`peftc export --format hf-peft\` writes a plain LoRA on the original base) and load the exported folder`);
  return a;
}

function hasSubConfig(dir: string): boolean {
  return readdirSync(dir).some((d) => existsSync(join(dir, d, HF_CONFIG_FILE)));
}

export function isCheckpointDir(dir: string): boolean {
  return existsSync(join(dir, CHECKPOINT_FILE)) && existsSync(join(dir, ADAPTER_FILE));
}

/**
 * Checkpoint directories as a flat list of parts: each one preceded by the adapters it was trained
 * on top of (recursively), in stacking order. The last part of each spec is the spec itself.
 */
export async function loadStackParts(specs: AdapterSpec[], depth = 0, read: WeightsReadOptions = {}): Promise<LoadedAdapter[]> {
  if (depth > 8) throw new AdapterSetError('adapters stacked more than 8 deep');
  const out: LoadedAdapter[] = [];
  for (const spec of specs) {
    if (!isCheckpointDir(spec.dir)) throw new AdapterSetError(`${spec.dir}: not a checkpoint directory (${CHECKPOINT_FILE} and ${ADAPTER_FILE}); import an adapter folder first with \`peftc import\``);
    const ck = readCheckpointDir(spec.dir);
    out.push(...(await loadStackParts(frozenAdaptersOf(ck.state, spec.dir), depth + 1, read)));
    const graph = compileCheckpointSource(ck.state, spec.dir);
    const raw = await readAdapterValues(spec.dir, read);
    checkAdapterValues(graph, raw, join(spec.dir, ADAPTER_FILE));
    out.push({ name: spec.name, graph, values: new Map([...raw].map(([k, v]) => [k, v.data])), source: spec.dir });
  }
  return out;
}

/** The recorded frozen adapters: what frozenSetting (cli/multi.ts) writes. */
const frozenAdaptersSchema = z.array(z.object({ name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'expected an adapter name (letters, digits, _ and -)'), dir: z.string().min(1) }));

/** The adapters a checkpoint (at `where`) was trained on top of (`peftc train --frozen-adapter`). */
export function frozenAdaptersOf(state: CheckpointState, where = 'the checkpoint'): AdapterSpec[] {
  const raw = state.settings[FROZEN_SETTING];
  if (raw === undefined || raw === null || raw === '') return [];
  const shape = 'a JSON array of {"name": …, "dir": …}';
  const bad = (what: string) => new CheckpointError(`${where}: setting \`${FROZEN_SETTING}\` ${what}; it must be ${shape}`);
  if (typeof raw !== 'string') throw bad(`is ${typeof raw} ${JSON.stringify(raw)}`);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw bad('is not valid JSON');
  }
  // A hand-edited or foreign value: say which entry and field is wrong, not just "not valid".
  const r = frozenAdaptersSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const at = issue.path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('');
    const what = issue.message.endsWith('received undefined') ? 'missing' : issue.message.replace(/^Invalid input: /, '');
    throw bad(`is badly shaped${at ? ` at ${at}` : ''}: ${what}`);
  }
  return r.data.map((x) => ({ name: x.name, dir: x.dir }));
}

/**
 * An adapter trained on top of frozen ones, as one adapter: LoRA throughout sums into one LoRA
 * (it can share the bank); otherwise the frozen parts are stacked into its own graph.
 */
export function withFrozen(own: LoadedAdapter, parts: LoadedAdapter[], ctx: LoadContext): LoadedAdapter {
  const loraOnly = (a: LoadedAdapter) => {
    const s = describeAdapter(a.graph);
    return !a.standalone && s.lora.length > 0 && !s.adapters.length && !s.prompt && !s.prefix && !s.train.length && !s.other.length;
  };
  if (loraOnly(own) && parts.every(loraOnly)) {
    const c = concatLora(own.name, [...parts, own].map((adapter) => ({ adapter, weight: 1 })), ctx.program);
    return { ...c.adapter, source: own.source };
  }
  return stackUnder(own.name, own, parts.map((adapter) => ({ adapter, weight: 1 })));
}
