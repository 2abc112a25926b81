// Base weights from Hugging Face checkpoints: which tensor of the file fills which parameter.
// Names may carry the base model's prefix (`transformer.`, `model.`, `bert.`) or not; F16, BF16
// and F64 tensors are widened on load. Buffers that are not parameters (GPT-2's causal-mask
// `attn.bias`/`attn.masked_bias`, LLaMA's `rotary_emb.inv_freq`, BERT's `position_ids`), a
// tied `lm_head.weight` and BERT's pre-training heads (`cls.*`) are skipped. Every mismatch is
// collected and reported at once, naming both sides; nothing is written unless all of it fits.
//
// Two conversions are exact rewrites, not approximations, and are reported as notes:
// - BERT checkpoints hold `token_type_embeddings`; examples/bert.peft has them too and loads
//   them as they are, but a BERT-like model without them gets row 0 (token type 0, what Hugging
//   Face adds at every position by default) folded into `position_embeddings` (each row + row 0).
// - A LLaMA checkpoint with `tie_word_embeddings` has no `lm_head.weight`; it is copied from
//   `embed_tokens.weight`.
import type { Graph, Param } from '../../compiler/ir/types.ts';
import { paramView, type ParamStore } from '../arena.ts';
import { getFloat32, type SafetensorsFile } from '../io/safetensors.ts';
import { fmtShape, InteropError, listSome } from './errors.ts';
import { hfNameMap, isHeadPath, type Family, type HfNames } from './names.ts';

export interface BaseAssignment {
  /** The tensor's name in the file. */
  name: string;
  /** The parameter it fills. */
  path: string;
  /** A tensor whose row 0 is added to every row (BERT's token type 0 folded into positions). */
  addRow0?: string;
}

export interface BaseLoadPlan {
  names: HfNames;
  assign: BaseAssignment[];
  /** Parameters filled from another parameter's file tensor (a tied head in an untied model). */
  copies: { path: string; from: string }[];
  /** File tensors deliberately not loaded, with why. */
  ignored: { name: string; why: string }[];
  /** Base parameters absent from the file that may be: a fresh task head, `train` modules. */
  fresh: string[];
  notes: string[];
}

const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);
const TOKEN_TYPES = 'embeddings.token_type_embeddings.weight';
const POSITIONS = 'embeddings.position_embeddings.weight';

/** Matches the file's tensors to the model's parameters; throws an InteropError (naming `where`) listing every mismatch. */
export function planBaseLoad(g: Graph, file: SafetensorsFile, family?: Family, where?: string): BaseLoadPlan {
  const names = hfNameMap(g, family);
  const params = new Map(g.params.map((p) => [p.path, p]));
  const plan: BaseLoadPlan = { names, assign: [], copies: [], ignored: [], fresh: [], notes: [] };
  const extra: string[] = [];
  const shapes: string[] = [];
  const other: string[] = [];
  const byPath = new Map<string, string>();
  for (const [name, t] of file.tensors) {
    const path = normalize(names.fromHf(name));
    const p = params.get(path);
    if (!p && names.family === 'bert' && path === TOKEN_TYPES) continue; // folded below
    if (!p) {
      const why = skipReason(names, path, params);
      if (why) plan.ignored.push({ name, why });
      else extra.push(`\`${name}\` ${fmtShape(t.shape)}`);
      continue;
    }
    if (byPath.has(path)) {
      other.push(`\`${byPath.get(path)}\` and \`${name}\` both name parameter \`${path}\``);
      continue;
    }
    byPath.set(path, name);
    if (!FLOAT_DTYPES.has(t.dtype)) other.push(`\`${name}\` is ${t.dtype}, not a float tensor`);
    else if (!sameShape(t.shape, p.shape)) shapes.push(shapeProblem(name, t.shape, p));
    else plan.assign.push({ name, path });
  }
  foldTokenTypes(names, file, params, byPath, plan, extra, shapes);
  tiedHead(names, file, params, byPath, plan);
  const missing: string[] = [];
  for (const p of g.params) {
    if (byPath.has(p.path) || p.origin !== 'base' || plan.copies.some((c) => c.path === p.path)) continue;
    const freshOk = p.method?.name === 'train' || (p.partition === 'trainable' && isHeadPath(names, p.module));
    if (freshOk) plan.fresh.push(p.path);
    else missing.push(`\`${names.toHf(p.path)}\` ${fmtShape(p.shape)}`);
  }
  const problems: string[] = [];
  if (extra.length) problems.push(`the file has ${extra.length} tensor(s) the model lacks: ${listSome(extra)}`);
  if (missing.length) problems.push(`the model needs ${missing.length} tensor(s) the file lacks: ${listSome(missing)}`);
  if (shapes.length) problems.push(`${shapes.length} shape(s) differ: ${listSome(shapes)}`);
  problems.push(...other);
  if (problems.length) throw InteropError.of(`${where ? `${where}: ` : ''}the weights do not fit the model (${names.family} names)`, problems);
  return plan;
}

/** Copies the planned tensors into the store; returns the parameter paths it set. */
export function applyBaseLoad(store: ParamStore, file: SafetensorsFile, plan: BaseLoadPlan): Set<string> {
  for (const a of plan.assign) {
    const out = paramView(store, a.path);
    out.set(getFloat32(file, a.name));
    if (a.addRow0) {
      const row = getFloat32(file, a.addRow0);
      const d = file.tensors.get(a.name)!.shape[1]!;
      for (let i = 0; i < out.length; i++) out[i] = out[i]! + row[i % d]!;
    }
  }
  for (const c of plan.copies) paramView(store, c.path).set(getFloat32(file, c.from));
  return new Set([...plan.assign.map((a) => a.path), ...plan.copies.map((c) => c.path)]);
}

/** Older checkpoints name LayerNorm parameters gamma/beta. */
function normalize(path: string): string {
  return path.replace(/LayerNorm\.gamma$/, 'LayerNorm.weight').replace(/LayerNorm\.beta$/, 'LayerNorm.bias');
}

function skipReason(names: HfNames, path: string, params: Map<string, Param>): string | undefined {
  switch (names.family) {
    case 'gpt2':
      if (/^h\.\d+\.attn\.(bias|masked_bias)$/.test(path)) return 'a causal-mask buffer, not a parameter';
      if (path === 'lm_head.weight' && !params.has(path)) return 'the head is tied to wte';
      return undefined;
    case 'llama':
      if (/\.rotary_emb\.inv_freq$/.test(path)) return 'a rotary buffer, not a parameter';
      return undefined;
    case 'bert':
      if (path === 'embeddings.position_ids') return 'a buffer, not a parameter';
      if (path.startsWith('cls.') && ![...params.keys()].some((p) => p.startsWith('cls.'))) return 'a pre-training head this model does not have';
      return undefined;
    default:
      return undefined;
  }
}

function foldTokenTypes(
  names: HfNames, file: SafetensorsFile, params: Map<string, Param>, byPath: Map<string, string>,
  plan: BaseLoadPlan, extra: string[], shapes: string[],
): void {
  const [tt, pos] = [TOKEN_TYPES, POSITIONS];
  if (names.family !== 'bert' || params.has(tt)) return;
  const name = [...file.tensors.keys()].find((n) => normalize(names.fromHf(n)) === tt);
  if (!name) return;
  const t = file.tensors.get(name)!;
  const target = plan.assign.find((a) => a.path === pos);
  const d = params.get(pos)?.shape[1];
  if (!target || t.shape.length !== 2 || t.shape[1] !== d || !FLOAT_DTYPES.has(t.dtype)) {
    if (!target) extra.push(`\`${name}\` ${fmtShape(t.shape)} (token types need position_embeddings to fold into)`);
    else shapes.push(`\`${name}\` is ${fmtShape(t.shape)}, expected [types, ${d}] to fold into \`${pos}\``);
    return;
  }
  target.addRow0 = name;
  byPath.set(tt, name);
  plan.notes.push(`folded token type 0 of \`${name}\` into \`${pos}\` (this model has no token types; Hugging Face adds type 0 at every position)`);
}

function tiedHead(names: HfNames, file: SafetensorsFile, params: Map<string, Param>, byPath: Map<string, string>, plan: BaseLoadPlan): void {
  if (names.family !== 'llama' || byPath.has('lm_head.weight') || !params.has('lm_head.weight')) return;
  const emb = byPath.get('embed_tokens.weight');
  if (!emb || !sameShape(file.tensors.get(emb)!.shape, params.get('lm_head.weight')!.shape)) return;
  if (!plan.assign.some((a) => a.path === 'embed_tokens.weight')) return;
  plan.copies.push({ path: 'lm_head.weight', from: emb });
  plan.notes.push(`the checkpoint has no lm_head.weight (tie_word_embeddings): copied it from \`${emb}\``);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function shapeProblem(name: string, got: readonly number[], p: Param): string {
  const transposed = got.length === 2 && got[0] === p.shape[1] && got[1] === p.shape[0];
  const hint = transposed ? ' (transposed: check the layer\'s `layout`, in_out for Conv1D, out_in for Linear)' : '';
  return `\`${name}\` is ${fmtShape(got)} in the file, parameter \`${p.path}\` is ${fmtShape(p.shape)}${hint}`;
}
