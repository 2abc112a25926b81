// `peftc eval` and `peftc generate`: a base (--init) plus a fine-tune (--adapter, a
// checkpoint directory or an adapter file), evaluated on a dataset or sampled from.
import { Batcher } from '../runtime/data/batches.ts';
import { loadDataset } from '../runtime/data/load-node.ts';
import { recordedLabelNames } from '../runtime/label-names.ts';
import { dataLimit } from '../runtime/data/read-node.ts';
import { DecodeStream } from '../runtime/data/tokenizer.ts';
import { generate } from '../runtime/generate.ts';
import { validate } from '../runtime/trainer.ts';
import { promptTemplateOf } from '../compiler/peft/template.ts';
import { composeRow, templateOverhead, type TemplateSpec } from '../runtime/data/template.ts';
import type { Tokenizer } from '../runtime/data/tokenizer.ts';
import { UserError } from './errors.ts';
import { accuracy } from './eval-accuracy.ts';
import { checkBackendFlags } from './backend-choice.ts';
import { evalRank, withRanks } from './rank-selection.ts';
import { frozenBaseParams } from './fine-tune.ts';
import { int, num, optimizerFrom } from './flags.ts';
import { openBackend, openSession, trainingGraph, type Session, type SessionFlags } from './session.ts';
import { vocabSize } from './tokenizer-choice.ts';
import { sequenceRoom } from '../compiler/positions.ts';

export interface EvalFlags extends SessionFlags {
  data: string;
  valid?: string;
  batch: string;
  seq?: string;
  json?: boolean;
  maxDataBytes?: string;
}

export async function evalCommand(file: string, flags: EvalFlags): Promise<number> {
  const limit = dataLimit(flags.maxDataBytes); // a bad flag is reported before the model opens
  checkBackendFlags(flags);
  const s = await openSession(file, flags, { derivedPrefix: true });
  if (!s) return 1;
  noteSeededBase(s);
  const g = s.graph;
  const seqLen = int(flags.seq ?? String(Math.min(128, sequenceRoom(g))), '--seq', 2);
  const classes = g.task === 'classification' ? (g.nodes[g.outputs.logits]!.shape[1] as number) : undefined;
  // Evaluate the whole of --data (or --valid): everything is the validation split.
  const template = promptTemplateOf(g);
  const data = loadDataset({ data: flags.data, valid: flags.valid ?? flags.data, task: g.task, tokenizer: s.tokenizer, seqLen, modelVocab: vocabSize(g), ...(classes ? { numLabels: classes } : {}), ...trainedLabels(s), ...(template ? { template } : {}), ...limit });
  const batcher = new Batcher(data, { batchSize: int(flags.batch, '--batch', 1), promptLength: g.promptLength });
  const rank = evalRank(g, flags.rank);
  const { backend } = withRanks(g, await openBackend(flags.backend ?? 'cpu', trainingGraph(g, optimizerFrom({})), s.store, flags.gpu, s.frozenDtype, flags.threads), s.store, { evalRank: rank });
  const batches = batcher.validationBatches();
  const loss = await validate(backend, batches);
  const result: Record<string, number> = { loss, perplexity: Math.exp(loss), positions: batches.reduce((a, b) => a + b.targets.data.filter((t) => t !== -100).length, 0) };
  if (g.task === 'classification') result.accuracy = await accuracy(backend, batches);
  if (flags.json) process.stdout.write(JSON.stringify(result) + '\n');
  else process.stdout.write(Object.entries(result).map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(4)}`).join('\n') + '\n');
  return 0;
}

/** A fine-tuned classifier's label ids are its training run's, not this file's first-seen order. */
function trainedLabels(s: Session): { labelNames?: string[] } {
  const state = s.fineTune?.state;
  const names = state && recordedLabelNames(state.settings, s.fineTune!.dir ?? s.fineTune!.adapter);
  return names ? { labelNames: names } : {};
}

/** Says so when the model runs on seeded (untrained) base weights: no --init, and no checkpoint that trained on them. */
function noteSeededBase(s: Session): void {
  const n = frozenBaseParams(s.graph).length;
  if (s.base.from === 'none' && n > 0) process.stderr.write(`peftc: note: no --init: the model's ${n} frozen base parameter(s) are seeded random values, not trained weights\n`);
}

/** The prompt in a template's one field: the tokens, how many lead the field, and the literal text after it. */
function templatePrompt(spec: TemplateSpec | undefined, tok: Tokenizer, text: number[], maxContext: number): { tokens: number[]; keep: number; after: string } | undefined {
  if (!spec) return undefined;
  const fields = [...new Set(spec.template.fields)];
  if (fields.length !== 1) throw new UserError(`the prompt template reads ${fields.map((f) => `{${f}}`).join(', ')}; generate fills one field with --prompt`);
  const at = spec.template.pieces.findIndex((p) => p.kind === 'field');
  const head = spec.template.pieces.slice(0, at).reduce((a, p) => a + (p.kind === 'soft' ? p.length : p.kind === 'text' ? tok.encode(p.text).length : 0), 0);
  const T = Math.min(maxContext, templateOverhead(spec, tok) + text.length);
  const row = composeRow(spec, tok, { [fields[0]!]: text }, T, undefined, '--prompt');
  const after = spec.template.pieces.slice(at + 1).flatMap((p) => (p.kind === 'text' ? [p.text] : [])).join(' ');
  return { tokens: Array.from(row!.tokens), keep: head, after: after ? ` ${after}` : '' };
}

export interface GenerateFlags extends SessionFlags {
  prompt: string;
  maxTokens: string;
  temperature: string;
  topK: string;
  topP: string;
}

export async function generateCommand(file: string, flags: GenerateFlags): Promise<number> {
  checkBackendFlags(flags);
  // --seed is the sampling seed here; the model's own weights come from --init or the checkpoint.
  const s = await openSession(file, { ...flags, seed: undefined }, { derivedPrefix: true });
  if (!s) return 1;
  noteSeededBase(s);
  if (s.graph.task !== 'causal_lm') throw new UserError('`peftc generate` needs a language model');
  const rank = evalRank(s.graph, flags.rank);
  const { backend } = withRanks(s.graph, await openBackend(flags.backend ?? 'cpu', trainingGraph(s.graph, optimizerFrom({})), s.store, flags.gpu, s.frozenDtype, flags.threads), s.store, { evalRank: rank });
  const text = s.tokenizer.encode(flags.prompt);
  if (text.length === 0) throw new UserError('--prompt is empty');
  // A prompt template places the prompt in its field; generation continues after the template.
  const tpl = templatePrompt(promptTemplateOf(s.graph), s.tokenizer, text, s.maxContext);
  const prompt = tpl?.tokens ?? text;
  // Tokens are written as they come (a byte tokenizer's partial characters wait for the rest);
  // the prompt with the first of them, after any note on stderr.
  const stream = new DecodeStream(s.tokenizer);
  let head = flags.prompt + (tpl?.after ?? '');
  const write = (text: string) => {
    process.stdout.write(head + text);
    head = '';
  };
  await generate(backend, prompt, {
    ...(tpl ? { keep: tpl.keep } : {}),
    maxTokens: int(flags.maxTokens, '--max-tokens', 1),
    temperature: num(flags.temperature, '--temperature'),
    topK: int(flags.topK, '--top-k'),
    topP: num(flags.topP, '--top-p'),
    seed: Number(flags.seed ?? 0),
    maxContext: s.maxContext,
    promptLength: s.graph.promptLength,
    ...(s.tokenizer.eos !== undefined ? { eos: s.tokenizer.eos } : {}),
    onToken: (id) => write(stream.push(id)),
    note: (m) => process.stderr.write(`peftc: note: ${m}\n`),
  });
  write(stream.flush() + '\n');
  return 0;
}
