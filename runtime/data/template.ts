// Token rows of a prompt template (compiler/peft/template.ts): the template's pieces in order —
// virtual tokens as the ids N + start … (N the model's vocabulary rows), literal text tokenized
// on its own, and the example's fields — with the positions whose token the loss predicts.
// Isomorphic.
//
// Language modelling: the loss predicts the tokens of the template's last field (for a
// prompt/completion line written as "{prompt} [P:4] {completion}", the completion), each from
// the position before it, whatever that position holds (so "[P:n] {text}" is Hugging Face's
// prompt tuning: the last virtual token predicts the first token). Virtual tokens and literal
// text are never predicted. Classification: the loss is on the label; no token is predicted.
// Rows longer than T tokens: fields are cut from their ends, the last field first; a language-
// modelling example whose last field would be left empty is dropped. With one field, a long
// text (plain text, or a {"text": …} document) is cut into several rows, each in the template.
import type { PromptTemplate } from '../../compiler/peft/template.ts';
import { DataError } from './examples.ts';
import type { Tokenizer } from './tokenizer.ts';

export interface TemplateSpec {
  template: PromptTemplate;
  /** N: the model's vocabulary rows; virtual token j is id N + j. */
  base: number;
}

/** Token ids: a tokenized example's Int32Array, or a plain array. */
export type Ids = Int32Array | readonly number[];

export interface TemplateRow {
  tokens: Int32Array;
  /** 1 where the token is a loss target (language modelling). */
  lossMask: Uint8Array;
}

/** The tokens of the template's literal pieces, cached per tokenizer. */
const literals = new WeakMap<PromptTemplate, Map<string, number[][]>>();

function literalTokens(t: PromptTemplate, tok: Tokenizer): number[][] {
  let byTok = literals.get(t);
  if (!byTok) literals.set(t, (byTok = new Map()));
  let out = byTok.get(tok.name);
  if (!out) byTok.set(tok.name, (out = t.pieces.map((p) => (p.kind === 'text' ? tok.encode(p.text) : []))));
  return out;
}

/** Tokens a row spends on the template itself (virtual tokens and literal text). */
export function templateOverhead(spec: TemplateSpec, tok: Tokenizer): number {
  return spec.template.virtual + literalTokens(spec.template, tok).reduce((a, l) => a + l.length, 0);
}

/**
 * One row: `fields` (token ids by field name) placed in the template, cut to T; `lossField` is
 * the field whose tokens are targets (none for classification). Null when the loss field is left
 * empty by the cut.
 */
export function composeRow(spec: TemplateSpec, tok: Tokenizer, fields: Record<string, Ids>, T: number, lossField: string | undefined, where: string): TemplateRow | null {
  const { template: t, base } = spec;
  const lit = literalTokens(t, tok);
  for (const l of lit) checkIds(l, base, `${where}: the template's text`, tok);
  const lengths = new Map(Object.entries(fields).map(([k, v]) => [k, v.length]));
  let over = templateOverhead(spec, tok) + t.pieces.reduce((a, p) => a + (p.kind === 'field' ? lengths.get(p.name)! : 0), 0) - T;
  if (templateOverhead(spec, tok) >= T) throw new DataError(`${where}: the prompt template alone takes ${templateOverhead(spec, tok)} of the ${T} tokens of a row; use a longer --seq`);
  for (const name of [...t.fields].reverse()) {
    if (over <= 0) break;
    const cut = Math.min(over, lengths.get(name)!);
    lengths.set(name, lengths.get(name)! - cut);
    over -= cut;
  }
  if (lossField !== undefined && lengths.get(lossField) === 0) return null;
  const tokens: number[] = [];
  const mask: number[] = [];
  const used = new Map<string, number>();
  t.pieces.forEach((p, i) => {
    if (p.kind === 'soft') {
      for (let k = 0; k < p.length; k++) tokens.push(base + p.start + k), mask.push(0);
    } else if (p.kind === 'text') {
      for (const id of lit[i]!) tokens.push(id), mask.push(0);
    } else {
      // A field named twice is placed twice; the cut applies to each place.
      // An own property only: a field named like an Object method ({toString}) is just a name.
      const ids = (Object.hasOwn(fields, p.name) ? fields[p.name]! : []).slice(0, lengths.get(p.name));
      checkIds(ids, base, `${where}: field "${p.name}"`, tok);
      for (const id of ids) tokens.push(id), mask.push(p.name === lossField && !used.has(p.name) ? 1 : 0);
      used.set(p.name, 1);
    }
  });
  return { tokens: Int32Array.from(tokens.slice(0, T)), lossMask: Uint8Array.from(mask.slice(0, T)) };
}

/** A long text in a one-field template: chunks of (T − overhead) tokens, one row each. */
export function chunkRows(spec: TemplateSpec, tok: Tokenizer, field: string, ids: Ids, T: number, lm: boolean, where: string): TemplateRow[] {
  const room = T - templateOverhead(spec, tok);
  if (room < 1) throw new DataError(`${where}: the prompt template alone takes ${templateOverhead(spec, tok)} of the ${T} tokens of a row; use a longer --seq`);
  const out: TemplateRow[] = [];
  for (let s = 0; s < ids.length; s += room) {
    const fields: Record<string, Ids> = Object.create(null);
    fields[field] = ids.slice(s, s + room);
    const row = composeRow(spec, tok, fields, T, lm ? field : undefined, where);
    if (row) out.push(row);
  }
  return out;
}

function checkIds(ids: ArrayLike<number>, base: number, what: string, tok: Tokenizer): void {
  const bad = Array.prototype.find.call(ids, (id: number) => id >= base) as number | undefined;
  if (bad !== undefined) {
    throw new DataError(`${what}: token id ${bad} is outside the model's vocabulary of ${base} (tokenizer ${tok.name} has ${tok.vocabSize} ids); use a tokenizer that fits the model`);
  }
}
