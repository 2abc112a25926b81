// What `--adapter` names — a checkpoint directory, or an adapter .safetensors file with or
// without its checkpoint beside it — and what that fine-tune was trained from: the base weights
// (its `--init`), the `--set` values and the seed, as its checkpoint recorded them. eval,
// generate, export, merge and combine take these when the command line does not give them, so a
// fine-tune runs on the model it was trained on, not on a fresh random one.
//
// Where a recorded base is looked for: an absolute path as it is; a relative one (as `train`
// was given it) from the current directory, then from each folder above the checkpoint
// directory — the default `runs/NAME` sits in the directory train ran in, so the base is found
// from there and from anywhere else.
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import type { Graph } from '../compiler/ir/types.ts';
import { FROZEN_DTYPES } from '../compiler/quant/dtype.ts';
import { ADAPTER_FILE, CHECKPOINT_FILE, CheckpointError, type CheckpointState } from '../runtime/checkpoint.ts';
import { readCheckpointDir } from '../runtime/checkpoint-node.ts';
import { TOKENIZER_NAMES } from '../runtime/data/tokenizer.ts';
import { isCheckpointDir } from '../runtime/multi/load-node.ts';
import { UserError } from './errors.ts';
import { frozenDtype } from './flags.ts';

export interface FineTune {
  /** The adapter .safetensors file to load. */
  adapter: string;
  /** The checkpoint directory, when the adapter has one. */
  dir?: string;
  /** Its training state, when there is a checkpoint. */
  state?: CheckpointState;
}

/** The fine-tune an `--adapter` argument names; reads its checkpoint's state when there is one. */
export function findFineTune(arg: string, flag = '--adapter'): FineTune {
  const isDir = existsSync(arg) && statSync(arg).isDirectory();
  const adapter = isDir ? join(arg, ADAPTER_FILE) : arg;
  if (!existsSync(adapter) || !adapter.endsWith('.safetensors')) {
    throw new UserError(`${flag} ${arg}: ${isDir ? `no ${ADAPTER_FILE} there` : 'no such .safetensors file'}; give a checkpoint directory written by \`peftc train --out\` or an adapter .safetensors file`);
  }
  // An adapter file is the checkpoint's when it is the checkpoint directory's adapter.safetensors.
  const dir = isDir ? arg : basename(adapter) === ADAPTER_FILE ? dirname(adapter) : undefined;
  if (dir === undefined || !existsSync(join(dir, CHECKPOINT_FILE))) return { adapter };
  return { adapter, dir, state: readCheckpointDir(dir).state };
}

/**
 * The checkpoint setting of a checkpoint that does not know its base (`peftc combine` of adapters
 * trained on different or unrecorded bases): like a lone adapter file, it needs --init.
 */
export const BASE_UNKNOWN = 'base_unknown';

/** Whether the fine-tune says what it was trained on (a base file, or seeded weights and their seed). */
export function knowsBase(ft: FineTune): boolean {
  return ft.state !== undefined && ft.state.settings[BASE_UNKNOWN] !== true;
}

/** The base weights to load: a file (`init`), or the seeded initialisation with `seed`. */
export interface BaseChoice {
  init?: string;
  seed: number;
  /** Where the choice came from, for messages. */
  from: 'init' | 'checkpoint' | 'checkpoint-seed' | 'none';
  notes: string[];
}

/**
 * An explicit --init wins (with a note when the checkpoint recorded another base); else the
 * recorded base; else, for a checkpoint trained without --init, the seeded weights it was trained
 * on (its seed reproduces them exactly). `fallbackSeed` seeds the model when nothing is recorded.
 */
export function chooseBase(ft: FineTune | undefined, init: string | undefined, fallbackSeed = 0): BaseChoice {
  const state = ft && knowsBase(ft) ? ft.state : undefined;
  const seed = state?.seed ?? fallbackSeed;
  if (init !== undefined) {
    const recorded = state?.base ? recordedBase(ft!, { mustExist: false }) : undefined;
    const notes = recorded !== undefined && resolve(init) !== recorded
      ? [`--init ${init} is not the base ${ft!.dir} was trained from (${state!.base}); using --init`]
      : [];
    return { init, seed, from: 'init', notes };
  }
  if (state?.base) return { init: recordedBase(ft!), seed, from: 'checkpoint', notes: [] };
  return { seed, from: state ? 'checkpoint-seed' : 'none', notes: [] };
}

/** The absolute path of the base a checkpoint recorded (see the rule at the top). */
export function recordedBase(ft: FineTune, opts: { mustExist?: boolean } = {}): string {
  const base = ft.state!.base!;
  const { found, tried } = findRecordedPath(base, ft.dir!);
  if (found) return found;
  if (opts.mustExist === false) return tried[0]!;
  throw new UserError(`${ft.dir} was trained from base weights ${base}, which do not exist${lookedIn(base, ft.dir!)}; pass --init with those weights`);
}

/** A file a checkpoint recorded as `train` was given it, looked for by the rule at the top. */
function findRecordedPath(path: string, dir: string): { found?: string; tried: string[] } {
  const tried = isAbsolute(path) ? [path] : [resolve(path), ...ancestors(resolve(dir)).map((d) => join(d, path))];
  const found = tried.find((p) => existsSync(p));
  return found ? { found, tried } : { tried };
}

const lookedIn = (path: string, dir: string) => (isAbsolute(path) ? '' : ` (looked in the current directory and the folders above ${dir})`);

/**
 * The tokenizer: --tokenizer, else the one the checkpoint recorded — a built-in name, or a
 * tokenizer.json found like the base — else undefined (the model's vocabulary picks one), so a
 * fine-tune is read with the tokenizer it was trained with.
 */
export function chooseTokenizer(ft: FineTune | undefined, tokenizer: string | undefined): string | undefined {
  const recorded = ft?.state?.settings.tokenizer;
  if (tokenizer !== undefined || typeof recorded !== 'string' || recorded === '') return tokenizer;
  if ((TOKENIZER_NAMES as readonly string[]).includes(recorded)) return recorded;
  const { found } = findRecordedPath(recorded, ft!.dir!);
  if (found) return found;
  throw new UserError(`${ft!.dir} was trained with the tokenizer ${recorded}, which does not exist${lookedIn(recorded, ft!.dir!)}; pass --tokenizer with that tokenizer.json`);
}

/** The checkpoint setting that records --frozen-dtype. */
export const FROZEN_DTYPE_SETTING = 'frozen_dtype';

/**
 * How frozen weights are stored: --frozen-dtype (with a note when the checkpoint recorded
 * another), else the checkpoint's, else undefined (f32).
 */
export function chooseFrozenDtype(ft: FineTune | undefined, dtype: string | undefined): { dtype?: string; notes: string[] } {
  const recorded = ft?.state?.settings[FROZEN_DTYPE_SETTING];
  if (recorded !== undefined && !(FROZEN_DTYPES as readonly unknown[]).includes(recorded)) {
    throw new CheckpointError(`${ft!.dir}: setting \`${FROZEN_DTYPE_SETTING}\` must be one of ${FROZEN_DTYPES.join(', ')}, not ${JSON.stringify(recorded)}`);
  }
  if (dtype === undefined) return recorded === undefined ? { notes: [] } : { dtype: recorded as string, notes: [] };
  frozenDtype(dtype); // a misspelt flag is refused before any note about it
  const notes = recorded !== undefined && recorded !== dtype ? [`--frozen-dtype ${dtype} is not what ${ft!.dir} was trained with (${recorded}); using --frozen-dtype ${dtype}`] : [];
  return { dtype, notes };
}

function ancestors(dir: string): string[] {
  const out: string[] = [];
  for (let d = dirname(dir); !out.includes(d); d = dirname(d)) out.push(d);
  return out;
}

/** The --set values: the command line's, else the checkpoint's (with a note when they differ). */
export function chooseSet(ft: FineTune | undefined, set: string[] | undefined): { set: string[]; notes: string[] } {
  const recorded = ft?.state?.set ?? [];
  if (!set?.length) return { set: recorded, notes: [] };
  const same = set.length === recorded.length && set.every((s, i) => s === recorded[i]);
  const notes = ft?.state && !same ? [`--set ${set.join(' --set ')} is not what ${ft.dir} was trained with (${recorded.length ? `--set ${recorded.join(' --set ')}` : 'no --set'}); using the command line's`] : [];
  return { set, notes };
}

/** What the checkpoint was trained from, for messages: `examples/x.peft with --set a=1`. */
export function trainedFrom(state: CheckpointState): string {
  return `${state.source.entry}${state.set.length ? ` with --set ${state.set.join(' --set ')}` : ''}`;
}

/** When a fine-tune does not fit FILE: the .peft (and --set) its checkpoint was trained from. */
export function otherModelHint(file: string, ft: FineTune): string | undefined {
  const state = ft.state;
  if (!state) return undefined;
  if (resolve(state.source.entry) === resolve(file)) return `it was trained from this file${state.set.length ? ` with --set ${state.set.join(' --set ')}` : ''}`;
  return `${ft.dir} was trained from ${trainedFrom(state)}: run it with that .peft instead of ${file}`;
}

/** Base parameters the model keeps frozen: what --init must provide (random otherwise). */
export function frozenBaseParams(g: Graph): string[] {
  return g.params.filter((p) => p.partition === 'frozen' && p.origin === 'base').map((p) => p.path);
}

/** The error for an adapter that records no base, on a model with frozen base weights. */
export function noBaseError(ft: FineTune, g: Graph): UserError {
  const n = frozenBaseParams(g).length;
  return new UserError(`${ft.adapter}: ${unrecordedBase(ft)}, and the model's ${n} frozen base parameter(s) would be random: pass --init BASE.safetensors (the weights it was trained from)`);
}

/** Why a fine-tune does not say its base. */
export function unrecordedBase(ft: FineTune): string {
  return ft.state ? `its checkpoint ${ft.dir} does not record which base weights it was trained on` : `no ${CHECKPOINT_FILE} beside it says which base weights it was trained on`;
}

/**
 * The one base under several named adapters (`--adapter a=DIR …`, `combine`): --init, else the
 * base their checkpoints recorded, which must agree (adapter folders record none).
 */
export function chooseSharedBase(specs: { name: string; dir: string }[], init: string | undefined, fallbackSeed = 0): BaseChoice {
  const tunes = specs.filter((s) => isCheckpointDir(s.dir)).map((s) => ({ name: s.name, ft: findFineTune(s.dir) })).filter((t) => knowsBase(t.ft));
  if (init !== undefined) {
    const notes = tunes.flatMap(({ ft }) => chooseBase(ft, init).notes);
    return { init, seed: fallbackSeed, from: 'init', notes };
  }
  // Each checkpoint's base: a file, or the seeded weights it was trained on.
  const recorded = tunes.map(({ name, ft }) => {
    const choice = chooseBase(ft, undefined, fallbackSeed);
    return { name, choice, base: choice.init ?? `seeded weights, seed ${choice.seed}` };
  });
  const distinct = [...new Map(recorded.map((r) => [r.base, r])).values()];
  if (distinct.length > 1) {
    const [a, b] = distinct as [(typeof distinct)[0], (typeof distinct)[0]];
    throw new UserError(`adapters \`${a.name}\` and \`${b.name}\` were trained on different bases (${a.base}; ${b.base}); pass --init to choose one`);
  }
  if (distinct.length === 1) return distinct[0]!.choice;
  if (specs.length) throw new UserError(`none of the adapters (${specs.map((s) => s.name).join(', ')}) records the base weights it was trained on (adapter folders do not): pass --init BASE.safetensors`);
  return { seed: fallbackSeed, from: 'none', notes: [] };
}

/**
 * Several adapters run over one base in f32: a quantized base is one fine-tune's plan, not
 * shared. --frozen-dtype is refused; an adapter trained on a quantized base gets a note.
 */
export function sharedFrozenDtype(specs: { name: string; dir: string }[], flag: string | undefined): string[] {
  if (flag !== undefined && frozenDtype(flag) !== 'f32') {
    throw new UserError(`--frozen-dtype ${flag} quantizes one fine-tune's base; several adapters share the base in f32 (run one with --adapter DIR --frozen-dtype ${flag})`);
  }
  return specs.filter((s) => isCheckpointDir(s.dir)).flatMap((s) => {
    const d = findFineTune(s.dir).state?.settings[FROZEN_DTYPE_SETTING];
    return typeof d === 'string' && d !== 'f32' ? [`adapter \`${s.name}\` was trained on a frozen base in ${d}; several adapters run over the base as loaded, not quantized again (\`--adapter ${s.dir}\` alone quantizes it as trained)`] : [];
  });
}

/** The --set of several named adapters: the command line's, else the one their checkpoints agree on. */
export function chooseSharedSet(specs: { name: string; dir: string }[], set: string[] | undefined): string[] {
  if (set?.length) return set;
  const recorded = specs.filter((s) => isCheckpointDir(s.dir)).map((s) => ({ name: s.name, set: findFineTune(s.dir).state!.set }));
  const distinct = [...new Map(recorded.map((r) => [JSON.stringify(r.set), r])).values()];
  if (distinct.length > 1) {
    const [a, b] = distinct as [(typeof distinct)[0], (typeof distinct)[0]];
    const show = (s: string[]) => (s.length ? `--set ${s.join(' --set ')}` : 'no --set');
    throw new UserError(`adapters \`${a.name}\` and \`${b.name}\` were trained with different settings (${show(a.set)}; ${show(b.set)}); pass --set`);
  }
  return distinct[0]?.set ?? [];
}
