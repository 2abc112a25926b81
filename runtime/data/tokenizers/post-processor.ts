// The special tokens a tokenizer.json's post-processor puts around one text or a sentence pair,
// with each position's token type, on ids already encoded: Hugging Face tokenizers' processors
// (processors/template.rs, bert.rs, roberta.rs, byte_level.rs, sequence.rs) with
// add_special_tokens = true, what transformers' tokenizer(text[, text_pair]) writes:
//
//   none, ByteLevel      a, or a b                       types 0…, 1… (the pair's own type)
//   BertProcessing       [CLS] a [SEP] (b [SEP])          types 0 up to the first [SEP], then 1
//   RobertaProcessing    <s> a </s> (</s> b </s>)         types 0 everywhere, as roberta.rs sets
//   TemplateProcessing   its `single` / `pair` template: $A, $B and special tokens (each one or
//                        more ids, from `special_tokens`), each piece with its type_id
//   Sequence             its processors in turn (ByteLevel adds nothing)
//
// Working on ids, not text, lets the caller cut the texts to fit a row first (as the library
// truncates before it post-processes; classification-row.ts).
import { DataError } from '../source.ts';

export interface Framed {
  ids: number[];
  types: number[];
}

/** a (and b) with the special tokens; `b` undefined for one text. */
export type Framing = (a: readonly number[], b?: readonly number[]) => Framed;

type Json = Record<string, unknown>;

/** The framing of `config` (a tokenizer.json's "post_processor"); `where` names it in errors. */
export function framingOf(config: unknown, where: string): Framing {
  if (config === null || config === undefined) return join;
  if (!isObject(config)) throw new DataError(`${where}: "post_processor" is not an object`);
  switch (config.type) {
    case 'ByteLevel':
      return join;
    case 'BertProcessing':
    case 'RobertaProcessing':
      return bertLike(config, where);
    case 'TemplateProcessing':
      return template(config, where);
    case 'Sequence': {
      if (!Array.isArray(config.processors)) throw new DataError(`${where}: a Sequence post-processor needs "processors", a list`);
      const adding = config.processors.filter((p) => !(isObject(p) && p.type === 'ByteLevel'));
      if (adding.length > 1) throw new DataError(`${where}: a Sequence of ${adding.length} post-processors that add tokens is not supported`);
      return adding.length ? framingOf(adding[0], where) : join;
    }
    default:
      throw new DataError(`${where}: post-processor ${JSON.stringify(config.type)} is not supported (BertProcessing, RobertaProcessing, TemplateProcessing, ByteLevel, Sequence are)`);
  }
}

/** No special tokens: the texts joined, types 0 then 1 (tokenizers' default_process). */
function join(a: readonly number[], b?: readonly number[]): Framed {
  return { ids: [...a, ...(b ?? [])], types: [...a.map(() => 0), ...(b ?? []).map(() => 1)] };
}

function bertLike(config: Json, where: string): Framing {
  const token = (k: 'cls' | 'sep') => {
    const v = config[k];
    if (!(Array.isArray(v) && typeof v[1] === 'number')) throw new DataError(`${where}: ${String(config.type)} needs "${k}": [token, id]`);
    return v[1];
  };
  const [cls, sep] = [token('cls'), token('sep')];
  const roberta = config.type === 'RobertaProcessing';
  return (a, b) => {
    const first = [cls, ...a, sep];
    if (!b) return { ids: first, types: first.map(() => 0) };
    const second = roberta ? [sep, ...b, sep] : [...b, sep];
    return { ids: [...first, ...second], types: [...first.map(() => 0), ...second.map(() => (roberta ? 0 : 1))] };
  };
}

type Piece = { sequence: 'A' | 'B'; type: number } | { special: number[]; type: number };

function template(config: Json, where: string): Framing {
  const specials = isObject(config.special_tokens) ? config.special_tokens : {};
  const pieces = (key: 'single' | 'pair'): Piece[] => {
    const list = config[key];
    if (!Array.isArray(list)) throw new DataError(`${where}: TemplateProcessing needs "${key}", a list of pieces`);
    return list.map((item): Piece => {
      if (isObject(item) && isObject(item.Sequence) && (item.Sequence.id === 'A' || item.Sequence.id === 'B')) return { sequence: item.Sequence.id, type: typeId(item.Sequence) };
      if (isObject(item) && isObject(item.SpecialToken) && typeof item.SpecialToken.id === 'string') {
        const name = item.SpecialToken.id;
        const s = specials[name];
        if (!(isObject(s) && Array.isArray(s.ids) && s.ids.every((i) => Number.isInteger(i)))) throw new DataError(`${where}: TemplateProcessing's special token ${JSON.stringify(name)} has no ids in "special_tokens"`);
        return { special: s.ids as number[], type: typeId(item.SpecialToken) };
      }
      throw new DataError(`${where}: TemplateProcessing's "${key}" holds a piece that is neither a Sequence (A or B) nor a SpecialToken`);
    });
  };
  const [single, pair] = [pieces('single'), pieces('pair')];
  return (a, b) => {
    const out: Framed = { ids: [], types: [] };
    for (const p of b ? pair : single) {
      const ids = 'special' in p ? p.special : p.sequence === 'A' ? a : (b ?? []);
      for (const id of ids) out.ids.push(id), out.types.push(p.type);
    }
    return out;
  };
}

function typeId(piece: Json): number {
  return typeof piece.type_id === 'number' ? piece.type_id : 0;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
