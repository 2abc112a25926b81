// The batch of `peftc grad`: for a language model, a JSON array of equal-length rows of token
// ids (the targets come from the tokens); for a classifier, an object that also gives the
// labels, and optionally the rows' real lengths (padding) and token types (sentence pairs):
//   {"tokens": [[…], …], "labels": [0, …], "lengths": [8, …], "token_types": [[0, 1, …], …]}
// Every problem is a TokensError naming the field and row.
import type { Graph } from '../compiler/ir/types.ts';
import type { Batch } from './cpu/executor.ts';
import type { Tensor } from './cpu/tensor.ts';
import { lmTargets } from './targets.ts';
import { parseTokens, TokensError } from './tokens-file.ts';

export function parseGradBatch(text: string, g: Graph, vocab: number, where: string): Batch {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new TokensError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  if (Array.isArray(value)) {
    if (g.task === 'classification') throw new TokensError(`${where}: a classifier needs its labels: give {"tokens": [[…]], "labels": […]} (optionally "lengths" and "token_types")`);
    const tokens = parseTokens(text, vocab, where);
    return { tokens, targets: lmTargets(tokens, g.promptLength) };
  }
  if (typeof value !== 'object' || value === null) throw new TokensError(`${where}: expected an array of token rows or an object {"tokens": …, "labels": …}`);
  const obj = value as Record<string, unknown>;
  const known = ['tokens', 'labels', 'lengths', 'token_types'];
  const extra = Object.keys(obj).filter((k) => !known.includes(k));
  if (extra.length) throw new TokensError(`${where}: unknown field "${extra[0]}" (the fields are ${known.join(', ')})`);
  if (!Object.hasOwn(obj, 'tokens')) throw new TokensError(`${where}: missing "tokens"`);
  const tokens = parseTokens(JSON.stringify(obj.tokens), vocab, `${where} "tokens"`);
  const [B, T] = tokens.shape as [number, number];
  const extraInputs: Record<string, Tensor> = {};
  if (Object.hasOwn(obj, 'lengths')) extraInputs.lengths = { shape: [B], data: Int32Array.from(ints(obj.lengths, B, 1, T + g.promptLength, `${where} "lengths"`)) };
  if (Object.hasOwn(obj, 'token_types')) {
    const rows = obj.token_types;
    if (!Array.isArray(rows) || rows.length !== B) throw new TokensError(`${where} "token_types": expected ${B} rows like "tokens"`);
    const data = new Int32Array(B * (T + g.promptLength));
    rows.forEach((r, b) => data.set(ints(r, T, 0, 1_000_000, `${where} "token_types" row ${b}`), b * (T + g.promptLength) + g.promptLength));
    extraInputs.token_types = { shape: [B, T + g.promptLength], data };
  }
  let targets: Tensor;
  if (g.task === 'classification') {
    if (!Object.hasOwn(obj, 'labels')) throw new TokensError(`${where}: missing "labels" (one per row: this model is a classifier)`);
    const classes = g.nodes[g.outputs.logits]!.shape.at(-1) as number;
    targets = { shape: [B], data: Int32Array.from(ints(obj.labels, B, 0, classes - 1, `${where} "labels"`)) };
  } else {
    if (Object.hasOwn(obj, 'labels')) throw new TokensError(`${where}: "labels" is for classifiers; this model is a language model`);
    targets = lmTargets(tokens, g.promptLength);
  }
  return { tokens, targets, ...(Object.keys(extraInputs).length ? { extra: extraInputs } : {}) };
}

/** n integers in [lo, hi]. */
function ints(v: unknown, n: number, lo: number, hi: number, where: string): number[] {
  if (!Array.isArray(v) || v.length !== n) throw new TokensError(`${where}: expected ${n} integers`);
  v.forEach((x, i) => {
    if (!Number.isInteger(x) || (x as number) < lo || (x as number) > hi) throw new TokensError(`${where}: entry ${i} is ${JSON.stringify(x)}, not an integer in [${lo}, ${hi}]`);
  });
  return v as number[];
}
