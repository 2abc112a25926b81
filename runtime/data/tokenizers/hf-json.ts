// Any Hugging Face tokenizer, from its tokenizer.json (and tokenizer_config.json, if given),
// through @huggingface/tokenizers (pure JS; normalizers, pre-tokenizers, BPE, WordPiece,
// Unigram, added tokens). Isomorphic: the caller reads the files (hf-json-node.ts on Node).
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { DataError } from '../source.ts';
import type { Tokenizer } from '../tokenizer.ts';
import { framingOf, type Framing } from './post-processor.ts';

const REPLACEMENT = '\uFFFD';
/** Names an end-of-text token goes by, when tokenizer_config.json does not say. */
const EOS_NAMES = ['</s>', '<|endoftext|>', '<|end_of_text|>', '<eos>', '[SEP]'];
const PAD_NAMES = ['<pad>', '[PAD]', '<|pad|>'];
/** Tokens that decode to themselves alone, to put before ids that continue a text. */
const ANCHORS = ['a', 'x', 'A', '.', '0'];

export class HfJsonTokenizer implements Tokenizer {
  readonly name: string;
  readonly vocabSize: number;
  readonly eos?: number;
  readonly pad?: number;
  private readonly hf: HfTokenizer;
  /** A token that decodes to itself: [its id, its text] (see decodeRest). */
  private readonly anchor?: [number, string];

  /** `name`: where the files came from (it names the tokenizer in messages and checkpoints). */
  constructor(name: string, json: unknown, config: Record<string, unknown> = {}) {
    if (!isObject(json) || !isObject(json.model)) throw new DataError(`${name}: not a tokenizer.json (no "model" object)`);
    try {
      this.hf = new HfTokenizer(json, config);
    } catch (e) {
      throw new DataError(`${name}: cannot build the tokenizer: ${oneLine(e)}`);
    }
    this.name = name;
    this.frame = framingOf(json.post_processor, `${name}: "post_processor"`);
    const vocab = this.hf.get_vocab(true);
    if (!vocab.size) throw new DataError(`${name}: the tokenizer's vocabulary is empty`);
    // A loop, not Math.max(...ids): vocabularies of 128k–256k ids overflow the argument limit.
    let top = -1;
    for (const id of vocab.values()) if (id > top) top = id;
    this.vocabSize = top + 1;
    const eos = this.special(config.eos_token, EOS_NAMES);
    const pad = this.special(config.pad_token, PAD_NAMES);
    if (eos !== undefined) this.eos = eos;
    if (pad !== undefined) this.pad = pad;
    for (const text of ANCHORS) {
      const id = this.hf.token_to_id(text);
      if (id !== undefined && this.hf.decode([id]) === text) {
        this.anchor = [id, text];
        break;
      }
    }
  }

  /** The ids of the text alone: no BOS/CLS/SEP added (add_special_tokens=False). */
  encode(text: string): number[] {
    if (!text) return [];
    const { ids, tokens } = this.hf.encode(text, { add_special_tokens: false });
    // Models the package only half knows (WordLevel) give no id for unknown words.
    const bad = ids.findIndex((id: number) => !Number.isInteger(id));
    if (bad >= 0) throw new DataError(`${this.name}: the tokenizer gives no id for the token ${JSON.stringify(tokens[bad])} (no unknown token that @huggingface/tokenizers applies to this model)`);
    return ids;
  }

  /** The post-processor's special tokens and token types around encoded texts (post-processor.ts). */
  readonly frame: Framing;

  /**
   * No cut is known to be safe for every tokenizer.json (normalizers and pre-tokenizers vary):
   * token-stream.ts cuts long texts only where a stretch is too long to encode in one piece.
   */
  cutBefore(): boolean {
    return false;
  }

  decode(ids: readonly number[]): string {
    // Runs of known ids decode together; an unknown id is U+FFFD.
    let out = '';
    let run: number[] = [];
    for (const id of ids) {
      if (Number.isInteger(id) && id >= 0 && id < this.vocabSize && this.hf.id_to_token(id) !== undefined) {
        run.push(id);
      } else {
        out += (run.length ? this.hf.decode(run) : '') + REPLACEMENT;
        run = [];
      }
    }
    return out + (run.length ? this.hf.decode(run) : '');
  }

  /**
   * The text of ids that continue a text (DecodeStream): decoders such as Metaspace drop the
   * space of the first word they decode, so the ids are decoded after an anchor token whose
   * text is then cut off — " world", not "world".
   */
  decodeRest(ids: readonly number[]): string {
    if (!this.anchor) return this.decode(ids);
    const [id, text] = this.anchor;
    const out = this.decode([id, ...ids]);
    return out.startsWith(text) ? out.slice(text.length) : this.decode(ids);
  }

  /** The config's token (a string or {content}), else the first of `names` the vocabulary has. */
  private special(token: unknown, names: string[]): number | undefined {
    const content = typeof token === 'string' ? token : isObject(token) && typeof token.content === 'string' ? token.content : undefined;
    for (const t of content !== undefined ? [content] : names) {
      const id = this.hf.token_to_id(t);
      if (id !== undefined) return id;
    }
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 300);
}
