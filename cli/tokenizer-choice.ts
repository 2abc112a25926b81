// Which tokenizer a model runs with: the one --tokenizer names, or the one its vocabulary size
// implies. Shared by single- and multi-adapter sessions (session.ts, multi.ts).
import type { Graph } from '../compiler/ir/types.ts';
import type { Tokenizer } from '../runtime/data/tokenizer.ts';
import { loadTokenizer } from '../runtime/data/tokenizers/load-node.ts';
import { UserError } from './errors.ts';

/** Built-in tokenizers a model's vocabulary size implies (others default to `byte`). */
const TOKENIZER_FOR_VOCAB = new Map([[50257, 'gpt2'], [32000, 'llama']]);

/** The tokenizer named by --tokenizer (a name or a tokenizer.json), or the one the model's vocabulary implies. */
export function pickTokenizer(g: Graph, name?: string): Tokenizer {
  const vocab = vocabSize(g);
  const tok = loadTokenizer(name ?? TOKENIZER_FOR_VOCAB.get(vocab ?? 0) ?? 'byte');
  if (vocab !== undefined && tok.vocabSize > vocab) {
    throw new UserError(`the ${tok.name} tokenizer has ${tok.vocabSize} tokens but the model's vocabulary has ${vocab}; set a matching vocab_size or --tokenizer`);
  }
  return tok;
}

export function vocabSize(g: Graph): number | undefined {
  // The token embedding (a prompt template makes it a soft_embedding, whose ids are operand 2).
  const emb = g.nodes.find((n) => (n.op === 'embedding' && g.nodes[n.inputs[1]!]!.op === 'input') || (n.op === 'soft_embedding' && g.nodes[n.inputs[2]!]!.op === 'input'));
  return emb ? (g.nodes[emb.inputs[0]!]!.shape[0] as number) : undefined;
}
