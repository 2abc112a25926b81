// A dataset: tokenized rows of at most T tokens, split into training and validation.
// Isomorphic; sources come from read-node.ts / corpora-node.ts in Node (or from a browser).
//
// Rows
//   plain text     the token stream is cut into consecutive rows of T tokens (the last, shorter
//                  one is kept if it has ≥ 2 tokens); the transition from one row to the next
//                  is not trained.
//   {"text"}       each document (+ eos when the tokenizer has one) is cut the same way.
//   prompt/compl.  one row: prompt ++ completion (+ eos); loss only on completion tokens.
//                  Longer than T: cut to T; no completion token left inside T: dropped.
//   classification one row: the text (or sentence pair) with the tokenizer's special tokens,
//                  cut to T tokens (classification-row.ts), and its label id.
// Validation split (deterministic, no shuffling): a separate source, or the last
// `validFraction` of the token stream (plain text) / of the examples (JSONL).
import type { Task } from '../../compiler/ir/types.ts';
import { DataError, LabelMap, parseExamples, shown, type DataSource, type Example } from './examples.ts';
import { classificationRow } from './classification-row.ts';
import { chunkRows, composeRow, templateOverhead, type TemplateSpec } from './template.ts';
import type { Tokenizer } from './tokenizer.ts';

export { DataError, type ByteSource, type DataSource, type DataFormat, type TextSource } from './examples.ts';

export interface Row {
  /** 1…T token ids; the Batcher pads shorter rows. */
  tokens: Int32Array;
  /** Index of the first token that is a loss target (0: every token; prompt length for pairs). */
  lossFrom: number;
  /** Which tokens are loss targets, when not a suffix (prompt templates): 1 per target token. */
  lossMask?: Uint8Array;
  /** Classification: the label id. */
  label?: number;
  /** A sentence pair's token type per token (0: first text, 1: second). */
  types?: Int32Array;
}

export interface DatasetOptions {
  task: Task;
  tokenizer: Tokenizer;
  /** T, tokens per row. */
  seqLen: number;
  /** Fraction held out for validation when there is no separate source: [0, 1), default 0.1. */
  validFraction?: number;
  /** Classification: the model's number of labels (labels must be in [0, numLabels)). */
  numLabels?: number;
  /**
   * Classification: the string labels of the run that trained the model, in id order. Without
   * them string labels get ids in first-seen order, which need not be the training file's.
   */
  labelNames?: readonly string[];
  /** The model's vocabulary size: every token id must be below it. */
  modelVocab?: number;
  /** A prompt template: each example becomes a row of the template (runtime/data/template.ts). */
  template?: TemplateSpec;
}

export interface SplitStats {
  /** Where the split came from, in words: `data.jsonl`, `last 10% of moby-dick`. */
  source: string;
  examples: number;
  rows: number;
  /** Tokens in rows (no padding). */
  tokens: number;
  /** Examples cut to T tokens (pairs and classification) or split over several rows (documents). */
  truncated: number;
  /** Prompt/completion examples dropped because the prompt fills all T tokens. */
  dropped: number;
  /** Classification: rows per label id. */
  labelCounts?: number[];
}

export interface Dataset {
  task: Task;
  seqLen: number;
  tokenizer: Tokenizer;
  train: Row[];
  valid: Row[];
  /** Classification: label names by id (strings in first-seen order, or '0', '1', …). */
  labels?: string[];
  /** Classification with string labels: their names by id, to record with a fine-tune. */
  stringLabels?: string[];
  stats: { train: SplitStats; valid: SplitStats };
}

/** Parses, tokenizes, splits and cuts into rows. Throws DataError on bad data or options. */
export function buildDataset(train: DataSource, opts: DatasetOptions, valid?: DataSource): Dataset {
  const { task, seqLen: T } = opts;
  if (!Number.isInteger(T) || T < 2) throw new DataError(`sequence length must be an integer ≥ 2, got ${T}`);
  const f = opts.validFraction ?? 0.1;
  if (!(f >= 0 && f < 1)) throw new DataError(`validation fraction must be in [0, 1), got ${f}`);
  const labels = task === 'classification' ? new LabelMap(opts.numLabels, opts.labelNames) : undefined;
  const parse = { task, tokenizer: opts.tokenizer, labels, ...(opts.template ? { fields: opts.template.template.fields } : {}) };
  const trainEx = parseExamples(train, parse);
  let parts: { train: Example[]; valid: Example[]; validSource: string };
  if (valid) {
    // The same source for both (`peftc eval`): parsed once.
    parts = { train: trainEx, valid: valid === train ? trainEx : parseExamples(valid, parse), validSource: valid.name };
  } else {
    parts = { ...holdOut(trainEx, f, train.name), validSource: f > 0 ? `last ${+(f * 100).toFixed(2)}% of ${train.name}` : 'none' };
  }
  const tpl = opts.template ? { spec: opts.template, tokenizer: opts.tokenizer, task } : undefined;
  const trainSplit = toRows(parts.train, T, train.name, opts.tokenizer, labels, tpl);
  const validSplit = toRows(parts.valid, T, parts.validSource, opts.tokenizer, labels, tpl);
  if (trainSplit.rows.length === 0) throw new DataError(`${train.name}: empty dataset: ${noRows(parts.train, trainSplit.stats, T, 'training')}`);
  if (validSplit.rows.length === 0 && (valid || f > 0)) {
    // Without a row the validation loss would be 0/0.
    throw new DataError(
      valid
        ? `${valid.name}: empty validation data: ${noRows(parts.valid, validSplit.stats, T, 'validation')}`
        : `${train.name}: the validation split (${parts.validSource}) is empty: ${noRows(parts.valid, validSplit.stats, T, 'validation')}; give a separate validation file (--valid) or more data`,
    );
  }
  if (opts.modelVocab !== undefined && !opts.template) {
    // (Template rows hold virtual ids past the vocabulary; their text was checked as it was placed.)
    checkVocab(trainSplit.rows, opts.modelVocab, train.name, opts.tokenizer);
    checkVocab(validSplit.rows, opts.modelVocab, parts.validSource, opts.tokenizer);
  }
  return {
    task,
    seqLen: T,
    tokenizer: opts.tokenizer,
    train: trainSplit.rows,
    valid: validSplit.rows,
    labels: labels?.names(),
    ...(labels?.kind === 'string' ? { stringLabels: labels.names() } : {}),
    stats: { train: { source: train.name, ...trainSplit.stats }, valid: { source: parts.validSource, ...validSplit.stats } },
  };
}

/** The last fraction f of the token stream (plain text) or of the examples (JSONL). */
function holdOut(ex: Example[], f: number, name: string): { train: Example[]; valid: Example[] } {
  if (f === 0) return { train: ex, valid: [] };
  if (ex.length === 1 && ex[0]!.kind === 'text' && ex[0]!.line === 0) {
    const tokens = ex[0]!.tokens;
    const n = Math.max(2, Math.round(tokens.length * f));
    if (tokens.length - n < 2) throw new DataError(`${name}: too few tokens (${tokens.length}) to hold out a validation split; add text or give a separate validation file (--valid)`);
    const cut = tokens.length - n;
    return { train: [{ kind: 'text', tokens: tokens.subarray(0, cut), line: 0 }], valid: [{ kind: 'text', tokens: tokens.subarray(cut), line: 0 }] };
  }
  if (ex.length < 2) throw new DataError(`${name}: 1 example is too few to hold out a validation split; add examples or give a separate validation file (--valid)`);
  const n = Math.min(ex.length - 1, Math.max(1, Math.round(ex.length * f)));
  return { train: ex.slice(0, ex.length - n), valid: ex.slice(ex.length - n) };
}

type TemplateCtx = { spec: TemplateSpec; tokenizer: Tokenizer; task: Task };

function toRows(ex: Example[], T: number, source: string, tokenizer: Tokenizer, labels?: LabelMap, tpl?: TemplateCtx): { rows: Row[]; stats: Omit<SplitStats, 'source'> } {
  const rows: Row[] = [];
  let truncated = 0;
  let dropped = 0;
  for (const e of ex) {
    if (tpl) {
      const r = templateRows(e, T, source, tpl);
      rows.push(...r.rows);
      truncated += r.truncated;
      dropped += r.dropped;
      continue;
    }
    if (e.kind === 'fields') throw new Error('internal: a template example without a template');
    const all = e.tokens;
    if (e.kind === 'text') {
      if (e.line > 0 && all.length > T) truncated++;
      for (let s = 0; s < all.length; s += T) {
        const piece = all.subarray(s, Math.min(all.length, s + T));
        if (piece.length >= 2) rows.push({ tokens: piece, lossFrom: 0 });
      }
    } else if (e.kind === 'pair') {
      if (e.completionStart >= T) {
        dropped++;
        continue;
      }
      if (all.length > T) truncated++;
      rows.push({ tokens: all.subarray(0, T), lossFrom: e.completionStart });
    } else {
      if (all.length === 0) throw new DataError(`${source}:${e.line}: "text" has no tokens`);
      const row = classificationRow(tokenizer, all, e.pair, T, `${source}:${e.line}`);
      if (row.truncated) truncated++;
      rows.push({ tokens: row.tokens, lossFrom: 0, label: e.label, ...(row.types ? { types: row.types } : {}) });
    }
  }
  let labelCounts: number[] | undefined;
  if (labels) {
    labelCounts = new Array<number>(labels.names().length).fill(0);
    for (const r of rows) labelCounts[r.label!]!++;
  }
  const tokens = rows.reduce((s, r) => s + r.tokens.length, 0);
  return { rows, stats: { examples: ex.length, rows: rows.length, tokens, truncated, dropped, labelCounts } };
}

/** The rows of one example in a prompt template. */
function templateRows(e: Example, T: number, source: string, { spec, tokenizer, task }: TemplateCtx): { rows: Row[]; truncated: number; dropped: number } {
  const where = e.line ? `${source}:${e.line}` : source;
  const fields = spec.template.fields;
  const lm = task === 'causal_lm';
  let made: { tokens: Int32Array; lossMask: Uint8Array; label?: number }[];
  let cut = false;
  if (e.kind === 'text' || (e.kind === 'fields' && lm && new Set(fields).size === 1)) {
    // One text: several rows, each in the template.
    const [field] = fields as [string];
    if (e.kind === 'text' && (fields.length !== 1 || field !== 'text')) {
      throw new DataError(`${where}: plain text fills the field {text}; this prompt template reads ${fields.map((f) => `{${f}}`).join(', ')} (give JSONL lines with those fields)`);
    }
    const ids = e.kind === 'text' ? e.tokens : e.fields[field]!;
    made = chunkRows(spec, tokenizer, field, ids, T, lm, where);
    cut = made.length > 1 && e.line > 0;
  } else if (e.kind === 'fields') {
    const total = templateOverhead(spec, tokenizer) + fields.reduce((a, f) => a + e.fields[f]!.length, 0);
    cut = total > T;
    const row = composeRow(spec, tokenizer, e.fields, T, lm ? fields[fields.length - 1] : undefined, where);
    made = row ? [{ ...row, ...(e.label !== undefined ? { label: e.label } : {}) }] : [];
  } else {
    throw new Error(`internal: a ${e.kind} example read without the template's fields`);
  }
  const rows: Row[] = made.map((r) => ({ tokens: r.tokens, lossFrom: 0, ...(lm ? { lossMask: r.lossMask } : {}), ...(r.label !== undefined ? { label: r.label } : {}) }));
  return { rows, truncated: cut ? 1 : 0, dropped: made.length ? 0 : 1 };
}

/** Why a split has no rows, in words. */
function noRows(ex: Example[], s: Omit<SplitStats, 'source'>, T: number, split: 'training' | 'validation'): string {
  if (s.dropped) return `no ${split} rows (${s.dropped} examples dropped because the prompt fills all ${T} tokens)`;
  const tokens = ex.reduce((n, e) => n + (e.kind === 'fields' ? Object.values(e.fields).reduce((m, f) => m + f.length, 0) : e.tokens.length), 0);
  const what = ex.length === 1 && ex[0]!.line === 0 ? plural(tokens, 'token') : `${plural(ex.length, 'example')}, ${plural(tokens, 'token')}`;
  return `no row of at least 2 tokens (${what}); a row needs one token to predict the next`;
}

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

function checkVocab(rows: Row[], vocab: number, source: string, tok: Tokenizer): void {
  for (const r of rows) {
    for (const id of r.tokens) {
      if (id >= vocab) {
        throw new DataError(`${source}: token id ${id} is outside the model's vocabulary of ${vocab} (tokenizer ${tok.name} has ${tok.vocabSize} ids); use a tokenizer that fits the model`);
      }
    }
  }
}

/** A few lines for the CLI: sizes of both splits, truncation, labels. */
export function describeDataset(d: Dataset): string {
  const line = (what: string, s: SplitStats): string => {
    const extra = [s.truncated ? `${s.truncated} truncated` : '', s.dropped ? `${s.dropped} dropped` : ''].filter(Boolean).join(', ');
    return `${what}: ${s.rows} rows, ${s.tokens} tokens from ${s.source}${extra ? ` (${extra})` : ''}`;
  };
  const out = [`data: task ${d.task}, tokenizer ${d.tokenizer.name}, ${d.seqLen} tokens per row`, line('  train', d.stats.train), line('  valid', d.stats.valid)];
  if (d.labels) {
    const counts = d.stats.train.labelCounts ?? [];
    // An integer label is its own name: `0 (12)`, not `0="0" (12)`.
    out.push(`  labels: ${d.labels.map((n, i) => `${n === String(i) ? i : `${i}=${shown(n)}`} (${counts[i] ?? 0})`).join(', ')}`);
  }
  return out.join('\n');
}
