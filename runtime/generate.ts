// Text generation from a language model: greedy, or sampling with temperature, top-k and
// top-p (nucleus), one token at a time over a window of at most `maxContext` tokens.
import type { Backend } from './backend.ts';
import { Random } from './cpu/random.ts';
import { IGNORE } from './targets.ts';

export interface SampleOptions {
  maxTokens: number;
  /** 0 means greedy. */
  temperature: number;
  /** Keep the k most likely tokens (0: all). */
  topK: number;
  /** Keep the smallest set of tokens whose probability reaches p (1: all). */
  topP: number;
  seed: number;
  /** The model's longest sequence (its position table), soft prompt tokens included. */
  maxContext: number;
  promptLength: number;
  /** Stop at this token (not included). */
  eos?: number;
  /**
   * Leading tokens of `prompt` that stay in the window when it slides (a prompt template's
   * virtual tokens and text before its field); default 0.
   */
  keep?: number;
}

export async function generate(backend: Backend, prompt: number[], opts: SampleOptions): Promise<number[]> {
  const rng = new Random(opts.seed);
  const out = [...prompt];
  const window = opts.maxContext - opts.promptLength;
  for (let i = 0; i < opts.maxTokens; i++) {
    const keep = Math.min(opts.keep ?? 0, window - 1);
    const ctx = out.length <= window ? out : [...out.slice(0, keep), ...out.slice(out.length - (window - keep))];
    const tokens = { shape: [1, ctx.length], data: Int32Array.from(ctx) };
    // Only the logits matter: no position is a target (a template's virtual ids are no token).
    const targets = { shape: [1, opts.promptLength + ctx.length], data: new Int32Array(opts.promptLength + ctx.length).fill(IGNORE) };
    const { logits } = await backend.evaluate({ tokens, targets });
    const V = logits.shape[2]!;
    const last = logits.data.subarray((opts.promptLength + ctx.length - 1) * V, (opts.promptLength + ctx.length) * V);
    const next = pick(Array.from(last), opts, rng);
    if (next === opts.eos) break;
    out.push(next);
  }
  return out.slice(prompt.length);
}

/** Chooses the next token from one row of logits. */
export function pick(logits: number[], opts: Pick<SampleOptions, 'temperature' | 'topK' | 'topP'>, rng: Random): number {
  if (opts.temperature <= 0) return logits.indexOf(Math.max(...logits));
  const order = logits.map((l, i) => ({ i, l: l / opts.temperature })).sort((a, b) => b.l - a.l);
  const kept = opts.topK > 0 ? order.slice(0, opts.topK) : order;
  const max = kept[0]!.l;
  let total = 0;
  const probs = kept.map((x) => {
    const p = Math.exp(x.l - max);
    total += p;
    return p;
  });
  let cut = kept.length;
  let acc = 0;
  for (let j = 0; j < kept.length; j++) {
    acc += probs[j]! / total;
    if (acc >= opts.topP) {
      cut = j + 1;
      break;
    }
  }
  const mass = probs.slice(0, cut).reduce((a, b) => a + b, 0);
  let u = rng.next() * mass;
  for (let j = 0; j < cut; j++) {
    u -= probs[j]!;
    if (u <= 0) return kept[j]!.i;
  }
  return kept[cut - 1]!.i;
}
