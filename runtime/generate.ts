// Text generation from a language model: greedy, or sampling with temperature, top-k and
// top-p (nucleus), one token at a time over a window of at most `maxContext` positions.
//
// With a decoder (runtime/decode/), the prompt is prefilled once and every further token is one
// step over the key/value cache. When the window is full, it slides: the leading `keep` tokens
// and the latest ones are prefilled again, for every token from then on — exactly what full
// re-evaluation of the slid window computes. Without a decoder, every token re-evaluates the
// window (`note` says why).
import { ModelSizeError } from '../compiler/size.ts';
import type { Backend } from './backend.ts';
import { Random } from './cpu/random.ts';
import { decoderFor } from './decode/for-backend.ts';
import type { Decoder } from './decode/decoder.ts';
import { positionOffset } from './decode/cpu-decoder.ts';
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
  /** Each token as it is chosen (row: the prompt's index). */
  onToken?: (id: number, row: number) => void;
  /** A one-line note for the user (why generation re-evaluates the window). */
  note?: (message: string) => void;
}

/** The continuation of `prompt`: with the backend's key/value cache when it has one. */
export async function generate(backend: Backend, prompt: number[], opts: SampleOptions): Promise<number[]> {
  const decoder = decoderFor(backend);
  if (typeof decoder !== 'string') {
    try {
      return (await generateRows(decoder, [{ prompt, seed: opts.seed }], opts))[0]!;
    } finally {
      decoder.close?.();
    }
  }
  opts.note?.(`generate: ${decoder}; every token re-evaluates the whole window`);
  return generateByWindow(backend, prompt, opts);
}

export interface Row {
  prompt: number[];
  seed: number;
  /** Per-row integer graph inputs (`adapter_ids`). */
  inputs?: Record<string, number>;
}

interface RowState {
  out: number[];
  rng: Random;
  done: boolean;
  /** The decoder's row, holding out[0 … out.length − 2] (or undefined: prefill next). */
  row?: number;
}

/**
 * Several sequences at once on one decoder: each step prefills the rows that start (or whose
 * window slid) in one batch and extends the others in another. Row i samples with its own seed,
 * so each row generates what it would alone.
 */
export async function generateRows(decoder: Decoder, rows: Row[], opts: Omit<SampleOptions, 'seed' | 'promptLength'>): Promise<number[][]> {
  const window = windowOf(opts.maxContext, decoder.promptLength, decoder.positionOffset);
  const keep = Math.min(opts.keep ?? 0, window - 1);
  // The most a row's cache holds: its soft prompt, then at most a window of tokens.
  decoder.reserve?.(rows.length, decoder.promptLength + Math.min(window, Math.max(0, ...rows.map((r) => r.prompt.length)) + opts.maxTokens));
  const state: RowState[] = rows.map((r) => ({ out: [...r.prompt], rng: new Random(r.seed), done: false }));
  const names = Object.keys(rows[0]?.inputs ?? {});
  for (let t = 0; t < opts.maxTokens; t++) {
    const live = state.map((s, i) => ({ s, i })).filter((x) => !x.s.done);
    if (!live.length) break;
    const steps = live.filter((x) => x.s.row !== undefined && x.s.out.length <= window);
    const starts = live.filter((x) => !steps.includes(x));
    const logits = new Map<number, Float32Array>();
    if (starts.length) {
      decoder.drop(starts.flatMap((x) => (x.s.row === undefined ? [] : [x.s.row])));
      const ctx = starts.map((x) => (x.s.out.length <= window ? x.s.out : [...x.s.out.slice(0, keep), ...x.s.out.slice(x.s.out.length - (window - keep))]));
      const inputs = Object.fromEntries(names.map((n) => [n, starts.map((x) => rows[x.i]!.inputs![n]!)]));
      const r = await decoder.start(ctx, inputs);
      starts.forEach((x, k) => {
        x.s.row = r.rows[k]!;
        logits.set(x.i, r.logits[k]!);
      });
    }
    if (steps.length) {
      const r = await decoder.next(steps.map((x) => x.s.row!), steps.map((x) => x.s.out[x.s.out.length - 1]!));
      steps.forEach((x, k) => logits.set(x.i, r[k]!));
    }
    for (const x of live) {
      const next = pick(logits.get(x.i)!, opts, x.s.rng);
      if (next === opts.eos) {
        x.s.done = true;
        decoder.drop([x.s.row!]);
        continue;
      }
      x.s.out.push(next);
      opts.onToken?.(next, x.i);
    }
  }
  decoder.drop(state.flatMap((s) => (s.done || s.row === undefined ? [] : [s.row])));
  return state.map((s, i) => s.out.slice(rows[i]!.prompt.length));
}

/** Generation by re-evaluating the whole window for every token (backends without a decoder). */
export async function generateByWindow(backend: Backend, prompt: number[], opts: SampleOptions): Promise<number[]> {
  const rng = new Random(opts.seed);
  const out = [...prompt];
  const window = windowOf(opts.maxContext, opts.promptLength, positionOffset(backend.training.graph));
  for (let i = 0; i < opts.maxTokens; i++) {
    const keep = Math.min(opts.keep ?? 0, window - 1);
    const ctx = out.length <= window ? out : [...out.slice(0, keep), ...out.slice(out.length - (window - keep))];
    const tokens = { shape: [1, ctx.length], data: Int32Array.from(ctx) };
    // Only the logits matter: no position is a target (a template's virtual ids are no token).
    const targets = { shape: [1, opts.promptLength + ctx.length], data: new Int32Array(opts.promptLength + ctx.length).fill(IGNORE) };
    const { logits } = await backend.evaluate({ tokens, targets });
    const V = logits.shape[2]!;
    const last = logits.data.subarray((opts.promptLength + ctx.length - 1) * V, (opts.promptLength + ctx.length) * V);
    const next = pick(last, opts, rng);
    if (next === opts.eos) break;
    out.push(next);
    opts.onToken?.(next, 0);
  }
  return out.slice(prompt.length);
}

/**
 * The most tokens the window holds: the model's positions less the soft prompt and the prefix.
 * None left is the model's configuration, not a bug: a one-line ModelSizeError saying so.
 */
export function windowOf(maxContext: number, promptLength: number, prefix: number): number {
  const window = maxContext - promptLength - prefix;
  if (window >= 1) return window;
  const parts = [promptLength && `${promptLength} soft prompt token${promptLength === 1 ? '' : 's'}`, prefix && `${prefix} prefix position${prefix === 1 ? '' : 's'}`].filter(Boolean);
  throw new ModelSizeError(`generate: the model's ${maxContext} positions leave no room for a token after its ${parts.join(' and ')}; give it more positions (n_positions) or a shorter prompt or prefix`);
}

/** Chooses the next token from one row of logits. */
export function pick(logits: ArrayLike<number>, opts: Pick<SampleOptions, 'temperature' | 'topK' | 'topP'>, rng: Random): number {
  if (opts.temperature <= 0) return argmax(logits);
  const kept = opts.topK > 0 && opts.topK < logits.length / 8 ? topK(logits, opts.topK, opts.temperature) : Array.from(logits, (l, i) => ({ i, l: l / opts.temperature })).sort((a, b) => b.l - a.l).slice(0, opts.topK > 0 ? opts.topK : undefined);
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

/**
 * The k largest logits (divided by the temperature), largest first, ties in index order: what a
 * stable sort of all of them would put first, without sorting a whole vocabulary per token.
 */
function topK(logits: ArrayLike<number>, k: number, temperature: number): { i: number; l: number }[] {
  const kept: { i: number; l: number }[] = [];
  for (let i = 0; i < logits.length; i++) {
    const l = logits[i]! / temperature;
    if (kept.length === k && !(l > kept[k - 1]!.l)) continue;
    let at = kept.length;
    while (at > 0 && kept[at - 1]!.l < l) at--;
    kept.splice(at, 0, { i, l });
    if (kept.length > k) kept.pop();
  }
  return kept;
}

/** The first index of the largest value (as indexOf(max) did). */
function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}
