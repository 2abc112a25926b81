// Parameter initialisation by each parameter's init rule, from one seed. Each
// parameter draws from its own stream (seed and path), so adding a parameter does not
// change the values of the others.
import type { Graph, InitRule } from '../compiler/ir/types.ts';
import { paramView, type ParamStore } from './arena.ts';
import { fillNormal, fillUniform, Random } from './cpu/random.ts';
import type { FloatArray } from './cpu/tensor.ts';
import { loraFactors, subtractFactors, weightOutIn } from './lora-init.ts';

export interface InitOptions {
  seed: number;
  /** Token ids of a text, for `prompt(init = text("…"))`; bytes of its UTF-8 by default. */
  tokenize?: (text: string) => number[];
  /** Paths already loaded from a checkpoint: left as they are. */
  skip?: Set<string>;
}

export function initParams(g: Graph, store: ParamStore, opts: InitOptions): void {
  // Vocabulary-based inits read other tables, so plain inits go first.
  const order = [...g.params].sort((a, b) => rank(a.init) - rank(b.init));
  for (const p of order) {
    if (opts.skip?.has(p.path)) continue;
    const out = paramView(store, p.path);
    const rng = new Random(hash(`${opts.seed}:${p.path}`));
    fill(out, p.init, p.shape, rng, store, opts);
  }
  decompose(g, store, opts.seed, opts.skip);
}

/**
 * PiSSA / OLoRA (lora-init.ts): the factors from the frozen weight as it stands (the base, loaded
 * or seeded: this runs once per fresh store), unless they were loaded; the weight becomes its
 * residual either way, so a trained adapter runs on the residual it was trained on.
 */
function decompose(g: Graph, store: ParamStore, seed: number, skip?: Set<string>): void {
  for (const a of g.params) {
    const rule = a.init;
    if ((rule.kind !== 'pissa' && rule.kind !== 'olora') || rule.factor !== 'A') continue;
    const b = g.params.find((p) => p.init.kind === rule.kind && p.init.weight === rule.weight && p.init.factor === 'B')!;
    const [r, fin] = a.shape as [number, number];
    const fout = b.shape[0]!;
    const w = paramView(store, rule.weight);
    const W = weightOutIn(w, fout, fin, rule.layout);
    const f = loraFactors(rule, W, r, rule.scale, rule.niter === undefined ? undefined : lowRankStream(seed, rule.weight));
    if (!skip?.has(a.path)) paramView(store, a.path).set(f.A);
    if (!skip?.has(b.path)) paramView(store, b.path).set(f.B);
    subtractFactors(w, W, f, r, rule.scale, rule.layout);
  }
}

/** The stream of `init = pissa(niter = …)`'s Gaussian test matrix for `weight`: from the model's seed, as PEFT's from torch's. */
export function lowRankStream(seed: number, weight: string): Random {
  return new Random(hash(`${seed}:${weight}:svd_lowrank`));
}

function rank(i: InitRule): number {
  return i.kind === 'vocab' || i.kind === 'text' || i.kind === 'row_norm' ? 1 : 0;
}

function fill(out: FloatArray, init: InitRule, shape: number[], rng: Random, store: ParamStore, opts: InitOptions): void {
  switch (init.kind) {
    case 'zeros':
      out.fill(0);
      return;
    case 'ones':
      out.fill(1);
      return;
    case 'normal':
      fillNormal(out, rng, init.std);
      return;
    case 'uniform':
      fillUniform(out, rng, -init.bound, init.bound);
      return;
    case 'vocab':
    case 'text': {
      const table = paramView(store, init.table);
      const d = shape[1]!;
      const vocab = table.length / d;
      const ids = init.kind === 'text' ? (opts.tokenize ?? utf8)(init.text) : [];
      for (let i = 0; i < shape[0]!; i++) {
        const id = init.kind === 'text' && ids.length ? ids[i % ids.length]! % vocab : rng.int(vocab);
        out.set(table.subarray(id * d, (id + 1) * d), i * d);
      }
      return;
    }
    case 'row_norm':
      rowNorms(out, paramView(store, init.weight), init.layout);
  }
}

/** out[o] = ‖W's weights of output feature o‖: a row of W [out, in], a column of W [in, out]. */
function rowNorms(out: FloatArray, w: FloatArray, layout: 'in_out' | 'out_in'): void {
  const fout = out.length;
  const fin = w.length / fout;
  for (let o = 0; o < fout; o++) {
    let s = 0;
    for (let i = 0; i < fin; i++) {
      const v = w[layout === 'in_out' ? i * fout + o : o * fin + i]!;
      s += v * v;
    }
    out[o] = Math.sqrt(s);
  }
}

function utf8(text: string): number[] {
  return [...new TextEncoder().encode(text)];
}

/** FNV-1a, for per-parameter seeds. */
export function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
