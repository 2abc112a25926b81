// How the examples' parameter paths relate to Hugging Face names. The bundled models use
// Hugging Face's names without the base model's attribute:
//   gpt2   GPT2LMHeadModel                `transformer.` + path; `lm_head` (tied to `wte`) on top
//   llama  LlamaForCausalLM               `model.` + path;       `lm_head` on top
//   bert   BertForSequenceClassification  `bert.` + path;        `classifier` on top
// Any other model is `custom`: its names are its paths.
import type { Graph } from '../../compiler/ir/types.ts';

export type Family = 'gpt2' | 'llama' | 'bert' | 'custom';
export const FAMILIES: readonly Family[] = ['gpt2', 'llama', 'bert', 'custom'];

export interface HfNames {
  family: Family;
  /** The base model's attribute with its dot (`transformer.`), '' for `custom`. */
  basePrefix: string;
  /** Top-level modules outside the base model (heads): named without the prefix. */
  heads: readonly string[];
  /** `model_type` of the transformers config, null for `custom`. */
  modelType: string | null;
  /** The transformers class the names belong to, null for `custom`. */
  modelClass: string | null;
  taskType: 'CAUSAL_LM' | 'SEQ_CLS';
  /** A path of ours (parameter or module) → its name in the transformers model. */
  toHf(path: string): string;
  /** A transformers name, with or without the base prefix → our path. */
  fromHf(name: string): string;
}

interface FamilyInfo {
  prefix: string;
  heads: string[];
  modelType: string;
  causal: string;
  classifier: string;
}

const INFO: Record<Exclude<Family, 'custom'>, FamilyInfo> = {
  gpt2: { prefix: 'transformer.', heads: ['lm_head', 'score'], modelType: 'gpt2', causal: 'GPT2LMHeadModel', classifier: 'GPT2ForSequenceClassification' },
  llama: { prefix: 'model.', heads: ['lm_head', 'score'], modelType: 'llama', causal: 'LlamaForCausalLM', classifier: 'LlamaForSequenceClassification' },
  bert: { prefix: 'bert.', heads: ['classifier', 'cls'], modelType: 'bert', causal: 'BertLMHeadModel', classifier: 'BertForSequenceClassification' },
};

/** The family of a compiled model, from the names of its parameters. */
export function detectFamily(g: Graph): Family {
  const has = (p: string) => g.params.some((x) => x.path === p);
  const under = (p: string) => g.params.some((x) => x.path.startsWith(p));
  if (has('wte.weight') && under('h.0.')) return 'gpt2';
  if (has('embed_tokens.weight') && under('layers.0.')) return 'llama';
  if (has('embeddings.word_embeddings.weight') && under('encoder.layer.0.')) return 'bert';
  return 'custom';
}

export function hfNameMap(g: Graph, family: Family = detectFamily(g)): HfNames {
  const taskType = g.task === 'classification' ? 'SEQ_CLS' : 'CAUSAL_LM';
  if (family === 'custom') {
    return { family, basePrefix: '', heads: [], modelType: null, modelClass: null, taskType, toHf: (p) => p, fromHf: (n) => n };
  }
  const info = INFO[family];
  const isHead = (p: string) => info.heads.some((h) => p === h || p.startsWith(`${h}.`));
  return {
    family,
    basePrefix: info.prefix,
    heads: info.heads,
    modelType: info.modelType,
    modelClass: taskType === 'SEQ_CLS' ? info.classifier : info.causal,
    taskType,
    toHf: (p) => (isHead(p) ? p : info.prefix + p),
    fromHf: (n) => (n.startsWith(info.prefix) ? n.slice(info.prefix.length) : n),
  };
}

/** Whether a path of ours is a task head (outside the base model): a fresh head may be missing from a base checkpoint. */
export function isHeadPath(names: HfNames, path: string): boolean {
  return names.heads.some((h) => path === h || path.startsWith(`${h}.`));
}
