// Parsing data sources into tokenized examples. Isomorphic: a source is read piece by piece
// (source.ts); every problem is a DataError whose message starts with `name:line:` so the CLI
// prints it as one line, never a stack trace.
//
// Formats
//   text    plain text: one token stream (language modelling only), tokenized in chunks
//   jsonl   one JSON object per line (blank lines are skipped):
//             {"text": "…"}                         a document (language modelling)
//             {"prompt": "…", "completion": "…"}    loss only on the completion (language modelling)
//             {"text": "…", "label": 0 | "name"}    classification
//             {"text": "…", "text_pair": "…", "label": …}  a sentence pair (token types 0 and 1)
import type { Task } from '../../compiler/ir/types.ts';
import { DataError, textChunks, textLines, type DataSource } from './source.ts';
import { encodeText, TokenStream } from './token-stream.ts';
import type { Tokenizer } from './tokenizer.ts';

export { DataError, type ByteSource, type DataFormat, type DataSource, type TextSource } from './source.ts';

/** One tokenized example; `line` is 1-based in its source (0 for a plain-text stream). */
export type Example =
  | { kind: 'text'; tokens: Int32Array; line: number }
  | { kind: 'pair'; tokens: Int32Array; completionStart: number; line: number }
  /** `tokens`: the text's ids, `pair`: a sentence pair's second text's, both without special tokens (classification-row.ts adds them). */
  | { kind: 'labelled'; tokens: Int32Array; pair?: Int32Array; label: number; line: number }
  /** A JSONL line read for a prompt template: the tokens of each field it names (and the label). */
  | { kind: 'fields'; fields: Record<string, Int32Array>; label?: number; line: number };

/**
 * Label ids of a classification dataset, shared by the training and validation sources.
 * Integer labels are their own ids; string labels get ids in first-seen order (training
 * file first). One dataset uses one kind.
 */
export class LabelMap {
  kind: 'int' | 'string' | undefined;
  readonly ids = new Map<string, number>();
  maxInt = -1;

  /** Names given up front (the training run's), in id order: no other string label is accepted. */
  private readonly fixed: boolean;

  constructor(readonly numLabels?: number, known?: readonly string[]) {
    this.fixed = known !== undefined;
    if (known) {
      this.kind = 'string';
      known.forEach((name, id) => this.ids.set(name, id));
    }
  }

  /** The id of a label value; throws a DataError at `where` if it is not acceptable. */
  id(value: unknown, where: string): number {
    const range = this.numLabels === undefined ? '' : `: the model has ${this.numLabels} labels (0…${this.numLabels - 1})`;
    if (typeof value === 'number') {
      if (!Number.isInteger(value) || value < 0) throw new DataError(`${where}: label ${value} is not an integer ≥ 0`);
      this.setKind('int', where);
      if (this.numLabels !== undefined && value >= this.numLabels) throw new DataError(`${where}: label ${value} is out of range${range}`);
      this.maxInt = Math.max(this.maxInt, value);
      return value;
    }
    if (typeof value === 'string') {
      this.setKind('string', where);
      let id = this.ids.get(value);
      if (id === undefined && this.fixed) {
        throw new DataError(`${where}: label ${shown(value)} is not one the model was trained on (${[...this.ids.keys()].map(shown).join(', ')})`);
      }
      if (id === undefined) {
        id = this.ids.size;
        if (this.numLabels !== undefined && id >= this.numLabels) {
          throw new DataError(`${where}: label ${shown(value)} is label number ${id + 1}, out of range${range}; labels so far: ${[...this.ids.keys()].map(shown).join(', ')}`);
        }
        this.ids.set(value, id);
      }
      return id;
    }
    throw new DataError(`${where}: "label" must be an integer ≥ 0 or a string, got ${shown(value)}`);
  }

  /** Label names by id: the strings in first-seen order, or '0', '1', … for integers. */
  names(): string[] {
    if (this.kind === 'string') return [...this.ids.keys()];
    const n = this.numLabels ?? this.maxInt + 1;
    return Array.from({ length: n }, (_, i) => String(i));
  }

  private setKind(kind: 'int' | 'string', where: string): void {
    if (this.fixed && kind !== 'string') {
      throw new DataError(`${where}: label is a number but the model was trained on named labels (${[...this.ids.keys()].map(shown).join(', ')}); use those names`);
    }
    if (this.kind !== undefined && this.kind !== kind) {
      const was = this.kind === 'int' ? 'integers' : 'strings';
      throw new DataError(`${where}: label is a ${kind === 'int' ? 'number' : 'string'} but earlier labels are ${was}; use one kind in a dataset`);
    }
    this.kind = kind;
  }
}

export interface ParseOptions {
  task: Task;
  tokenizer: Tokenizer;
  /** Classification: where labels are mapped (shared by training and validation sources). */
  labels?: LabelMap;
  /** A prompt template's fields: each JSONL line is read as these string fields (plain text is `text`). */
  fields?: readonly string[];
}

/** The examples of a source: one 'text' example for plain text, one per line for JSONL. */
export function parseExamples(src: DataSource, opts: ParseOptions): Example[] {
  if (src.format === 'text') {
    if (opts.task === 'classification') {
      throw new DataError(`${src.name}: classification needs labelled JSONL, one {"text": "…", "label": …} per line; this is plain text`);
    }
    const stream = new TokenStream(opts.tokenizer, 'size' in src ? src.size : undefined);
    let blank = true;
    for (const chunk of textChunks(src)) {
      if (blank && /\S/.test(chunk)) blank = false;
      stream.push(chunk);
    }
    if (blank) throw new DataError(`${src.name}: empty dataset: there is no text`);
    return [{ kind: 'text', tokens: stream.finish(), line: 0 }];
  }
  const labels = opts.labels ?? new LabelMap();
  const out: Example[] = [];
  for (const { text, line } of textLines(src)) {
    if (text.trim() === '') continue;
    out.push(parseLine(text, `${src.name}:${line}`, line, opts, labels));
  }
  if (out.length === 0) throw new DataError(`${src.name}: empty dataset: no JSON lines`);
  return out;
}

function parseLine(line: string, where: string, lineNo: number, opts: ParseOptions, labels: LabelMap): Example {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    throw new DataError(`${where}: not valid JSON (${oneLine((e as Error).message)}); each line must be one JSON object`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const like = opts.task === 'classification' ? '{"text": "…", "label": 0}' : '{"text": "…"} or {"prompt": "…", "completion": "…"}';
    throw new DataError(`${where}: expected a JSON object like ${like}`);
  }
  const obj = value as Record<string, unknown>;
  const tok = opts.tokenizer;
  const eos = Int32Array.of(...(tok.eos === undefined ? [] : [tok.eos]));
  if (opts.fields) return templateLine(obj, where, lineNo, opts, labels, eos);
  if (opts.task === 'classification') {
    const text = stringField(obj, 'text', where, 'a classification line is {"text": "…", "label": …}');
    if (!('label' in obj)) throw new DataError(`${where}: missing "label" (a classification line is {"text": "…", "label": …})`);
    const label = labels.id(obj.label, where);
    if (Object.hasOwn(obj, 'text_pair')) {
      const pair = stringField(obj, 'text_pair', where, 'a sentence pair is {"text": "…", "text_pair": "…", "label": …}');
      return { kind: 'labelled', tokens: encodeText(tok, text), pair: encodeText(tok, pair), label, line: lineNo };
    }
    return { kind: 'labelled', tokens: encodeText(tok, text), label, line: lineNo };
  }
  if ('prompt' in obj || 'completion' in obj) {
    const hint = 'a prompt/completion line is {"prompt": "…", "completion": "…"}';
    const prompt = stringField(obj, 'prompt', where, hint, true);
    const completion = stringField(obj, 'completion', where, hint);
    const p = encodeText(tok, prompt);
    return { kind: 'pair', tokens: joinIds(p, encodeText(tok, completion), eos), completionStart: p.length, line: lineNo };
  }
  const text = stringField(obj, 'text', where, 'a line is {"text": "…"} or {"prompt": "…", "completion": "…"}');
  return { kind: 'text', tokens: joinIds(encodeText(tok, text), eos), line: lineNo };
}

/** A line for a prompt template: its fields tokenized (+ eos after the last, for a language model). */
function templateLine(obj: Record<string, unknown>, where: string, lineNo: number, opts: ParseOptions, labels: LabelMap, eos: Int32Array): Example {
  const names = [...new Set(opts.fields)];
  const hint = `this prompt template reads ${names.map((n) => `{${n}}`).join(', ')} from each line`;
  // No prototype: a field named {__proto__} or {toString} is just a name.
  const fields: Record<string, Int32Array> = Object.create(null);
  for (const n of names) fields[n] = encodeText(opts.tokenizer, stringField(obj, n, where, hint, true));
  if (opts.task === 'classification') {
    if (!Object.hasOwn(obj, 'label')) throw new DataError(`${where}: missing "label" (a classification line has a "label")`);
    return { kind: 'fields', fields, label: labels.id(obj.label, where), line: lineNo };
  }
  const last = opts.fields![opts.fields!.length - 1]!;
  fields[last] = joinIds(fields[last]!, eos);
  return { kind: 'fields', fields, line: lineNo };
}

function stringField(obj: Record<string, unknown>, key: string, where: string, hint: string, emptyOk = false): string {
  // Own properties only: JSON.parse makes "__proto__" an own property, and an inherited
  // `toString` is not a field of the line.
  if (!Object.hasOwn(obj, key)) throw new DataError(`${where}: missing "${key}" (${hint})`);
  const v = obj[key];
  if (typeof v !== 'string') throw new DataError(`${where}: "${key}" must be a string, got ${shown(v)}`);
  if (!emptyOk && v === '') throw new DataError(`${where}: "${key}" is empty`);
  return v;
}

function joinIds(...parts: Int32Array[]): Int32Array {
  const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), (at += p.length);
  return out;
}

/** A JSON value in a message: short and on one line, whatever its size or depth. */
export function shown(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object' && v !== null) return 'an object';
  const s = typeof v === 'string' ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v) : String(v);
  return oneLine(s);
}

/** Control characters escaped (a message is one line) and at most `max` characters. */
export function oneLine(s: string, max = 200): string {
  const flat = s.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
