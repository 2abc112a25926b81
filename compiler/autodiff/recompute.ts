// Activation recomputation ("gradient checkpointing" at the granularity of repeated blocks):
// the forward pass keeps only what enters each block of a `repeat` (the residual stream between
// layers); when the backward pass reaches a block, the block's forward values its gradients read
// are computed again from that input, just before they are read. The copies are ordinary nodes
// of the backward part of the Training IR, so every executor runs them and the planner's
// liveness frees the originals as soon as the forward pass no longer reads them.
//
// Exactness: a copy is the same op with the same attributes over the same values, so it computes
// the same bits. Dropout's mask is a hash of its `seed` attribute, the step and the element index
// (runtime/cpu/rng.ts), so the copy draws the very mask the forward drew.
import type { Graph, Node } from '../ir/types.ts';

export type RecomputeMode = 'none' | 'blocks';
export const RECOMPUTE_MODES: readonly RecomputeMode[] = ['none', 'blocks'];

/** The config constant (and `--set` key) that chooses the mode in a `.peft` file. */
export const RECOMPUTE_KEY = 'recompute';

/** Marks a recomputed copy's scope (as `∂` marks a gradient's) in printed IR and plan labels. */
export const RECOMPUTED = '↻';

export function isRecomputeMode(v: unknown): v is RecomputeMode {
  return typeof v === 'string' && (RECOMPUTE_MODES as readonly string[]).includes(v);
}

/** The mode a model's config asks for (`recompute = "blocks"`); `none` when it says nothing. */
export function recomputeOf(g: Graph): RecomputeMode {
  const v = g.config?.[RECOMPUTE_KEY];
  return isRecomputeMode(v) ? v : 'none';
}

/**
 * The repeated block a module path lies in: the path up to its first numeric segment (`h.3` for
 * `h.3.attn.c_attn`). Only `repeat` makes numeric segments (member names are identifiers), so
 * this is exactly the instance of the outermost repeat; undefined outside any.
 */
export function blockOfScope(scope: string): string | undefined {
  const path = scope.split(' ')[0]!;
  const segs = path.split('.');
  const i = segs.findIndex((s) => /^\d+$/.test(s));
  return i < 0 ? undefined : segs.slice(0, i + 1).join('.');
}

/** The block of every forward node; parameters and inputs belong to none (they are not activations). */
export function blocksOf(nodes: readonly Node[], forwardEnd: number): (string | undefined)[] {
  return nodes.slice(0, forwardEnd).map((n) => (n.op === 'param' || n.op === 'input' ? undefined : blockOfScope(n.scope)));
}

/**
 * What each block recomputes: the block's forward nodes its own gradient rules read (`reads`,
 * from a differentiation without recomputation), with every in-block value they are computed
 * from, in forward order. Values from outside the block (its input, parameters, the prefix table)
 * are read where the forward left them.
 */
export function recomputeSets(nodes: readonly Node[], block: readonly (string | undefined)[], reads: ReadonlySet<number>): Map<string, number[]> {
  const want = new Array<boolean>(block.length).fill(false);
  for (const id of reads) want[id] = block[id] !== undefined;
  const sets = new Map<string, number[]>();
  for (let id = block.length - 1; id >= 0; id--) {
    if (!want[id]) continue;
    const b = block[id]!;
    for (const i of nodes[id]!.inputs) if (block[i] === b) want[i] = true;
  }
  for (let id = 0; id < block.length; id++) {
    if (!want[id]) continue;
    const b = block[id]!;
    const set = sets.get(b);
    if (set) set.push(id);
    else sets.set(b, [id]);
  }
  return sets;
}
