// Loading parameter values from a safetensors file whose tensor names are the IR's
// parameter paths. Every mismatch (a name that matches no parameter, a wrong shape, a
// parameter the file must hold but lacks) is collected and reported together, on one line,
// naming both sides; nothing is written to the store unless the whole file fits.
import type { Graph } from '../compiler/ir/types.ts';
import { paramView, type ParamStore } from './arena.ts';
import { getFloat32, type SafetensorsFile } from './io/safetensors.ts';
import { listSome } from './interop/errors.ts';

export class WeightsError extends Error {
  override name = 'WeightsError';
  /** Each problem on its own. */
  readonly problems: string[];
  constructor(
    readonly mismatch: WeightsMismatch,
    /** The file, named first in the message. */
    readonly where?: string,
    /** A hint appended to the message (what to do about it). */
    hint?: string,
  ) {
    const problems = describeMismatch(mismatch);
    super(`${where ? `${where}: does` : 'the weights do'} not fit ${mismatch.model ?? 'the model'}: ${problems.join('; ')}${hint ? `. ${hint}` : ''}`);
    this.problems = problems;
  }
}

/** What did not fit: file tensors without a parameter, shapes that differ, required parameters absent. */
export interface WeightsMismatch {
  /** Tensor names (with their shapes) that match no parameter. */
  unmatched: string[];
  /** Tensors whose shape or dtype does not fit their parameter. */
  wrong: string[];
  /** Parameter paths `require`d but not in the file. */
  missing: string[];
  /** Tensors in the file (for "N of its M"). */
  total: number;
  /** The model, for messages (its .peft file). */
  model?: string;
}

function describeMismatch(m: WeightsMismatch): string[] {
  const out: string[] = [];
  if (m.total === 0 && m.missing.length) out.push('the file holds no tensors');
  if (m.unmatched.length) out.push(`${m.unmatched.length} of its ${m.total} tensor(s) match no parameter: ${listSome(m.unmatched, 4)}`);
  if (m.wrong.length) out.push(`${m.wrong.length} tensor(s) do not fit their parameter: ${listSome(m.wrong, 4)}`);
  if (m.missing.length) out.push(`it lacks ${m.missing.length} trainable parameter(s): ${listSome(m.missing, 4)}`);
  return out;
}

export interface LoadOptions {
  /** Maps a file's tensor name to a parameter path (or undefined to skip it). */
  rename?: (name: string) => string | undefined;
  /** Tensors in the file that are not parameters and are not an error (e.g. `lm_head.weight` when tied). */
  ignore?: (name: string) => boolean;
  /** Parameter paths the file must set (an adapter: every kept trainable parameter). */
  require?: Iterable<string>;
  /** The file's name, for messages. */
  where?: string;
  /** The model's name (its .peft file), for messages. */
  model?: string;
  /** Appended to the error's message. */
  hint?: (m: WeightsMismatch) => string | undefined;
}

/** Copies the file's tensors into the store; returns the paths it set. */
export function loadWeights(g: Graph, store: ParamStore, file: SafetensorsFile, opts: LoadOptions = {}): Set<string> {
  const params = new Map(g.params.map((p) => [p.path, p]));
  const m: WeightsMismatch = { unmatched: [], wrong: [], missing: [], total: file.tensors.size, ...(opts.model ? { model: opts.model } : {}) };
  const named = new Set<string>();
  const plan: { name: string; path: string }[] = [];
  for (const [name, t] of file.tensors) {
    const path = opts.rename ? opts.rename(name) : name;
    if (path === undefined || opts.ignore?.(name)) continue;
    const p = params.get(path);
    if (!p) {
      m.unmatched.push(`\`${name}\` ${fmt(t.shape)}`);
      continue;
    }
    named.add(path);
    if (!FLOATS.has(t.stored)) {
      m.wrong.push(`\`${name}\` is ${t.stored}, not a float tensor`);
      continue;
    }
    if (p.shape.length !== t.shape.length || p.shape.some((d, i) => d !== t.shape[i])) {
      m.wrong.push(`\`${name}\` is ${fmt(t.shape)}, parameter \`${path}\` ${fmt(p.shape)}`);
      continue;
    }
    plan.push({ name, path });
  }
  for (const path of opts.require ?? []) if (!named.has(path)) m.missing.push(`\`${path}\``);
  if (m.unmatched.length || m.wrong.length || m.missing.length) throw new WeightsError(m, opts.where, opts.hint?.(m));
  for (const { name, path } of plan) paramView(store, path).set(getFloat32(file, name));
  return new Set(plan.map((x) => x.path));
}

const FLOATS = new Set(['F32', 'F16', 'BF16', 'F64']);

function fmt(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}
