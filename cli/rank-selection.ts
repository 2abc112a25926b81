// What train, eval, generate and export share for LoRA rank selection (`rank = auto(…)`,
// `rank = dynamic(…)`): the rank controller around a backend, `--rank N`, and final ranks.
import { rankedModules } from '../compiler/peft/ranked-modules.ts';
import type { Graph } from '../compiler/ir/types.ts';
import type { ParamStore } from '../runtime/arena.ts';
import type { Backend } from '../runtime/backend.ts';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADAPTER_FILE, CHECKPOINT_FILE } from '../runtime/checkpoint.ts';
import { readCheckpointDir } from '../runtime/checkpoint-node.ts';
import { getFloat32, parseSafetensors } from '../runtime/io/safetensors.ts';
import { checkpointRanks, RankController, RankError, RankedBackend, type RankOptions } from '../runtime/rank-controller.ts';
import { walkViz, type VizNode } from '../viz/tree.ts';
import { UserError } from './errors.ts';
import { int } from './flags.ts';

/** `--rank N`: DyLoRA's evaluation rank; an error for a model without `rank = dynamic(…)`. */
export function evalRank(g: Graph, flag: string | undefined): number | undefined {
  if (flag === undefined) return undefined;
  const n = int(flag, '--rank', 1);
  const dyn = rankedModules(g).filter((m) => m.mode === 'dynamic');
  if (!dyn.length) throw new UserError('--rank chooses the rank of `lora(rank = dynamic(…))` modules; this model has none');
  const max = Math.max(...dyn.map((m) => m.rank));
  if (n > max) throw new UserError(`--rank ${n} exceeds the largest trained rank, ${max}`);
  return n;
}

/** The backend with the rank masks fed (and AdaLoRA's allocation run), or the backend itself. */
export function withRanks(g: Graph, backend: Backend, store: ParamStore, opts: RankOptions): { backend: Backend; ranks?: RankController } {
  if (!rankedModules(g).length) return { backend };
  try {
    const ranks = new RankController(g, opts);
    return { backend: new RankedBackend(backend, store, ranks), ranks };
  } catch (e) {
    if (e instanceof RankError) throw new UserError(e.message);
    throw e;
  }
}

/** `h.0.attn.c_attn 12 → 7, …; total 32 (target 32)`. */
export function describeRanks(ranks: RankController): string {
  const now = ranks.ranks();
  const mods = ranks.modules.filter((m) => m.mode === 'auto');
  const total = [...now.values()].reduce((a, b) => a + b, 0);
  const target = mods.reduce((a, m) => a + (m.settings.target as number), 0);
  return `ranks: ${mods.map((m) => `${m.module} ${m.rank} → ${now.get(m.module)}`).join(', ')}; total ${total} (target ${target})`;
}

/**
 * The ranks `rank = auto(…)` allocated in a checkpoint directory (its saved masks; for an
 * adapter file, the non-zero singular values), by module.
 */
export function allocatedRanks(g: Graph, dir: string): Map<string, number> {
  const ckpt = join(dir, CHECKPOINT_FILE);
  if (existsSync(ckpt)) return checkpointRanks(g, readCheckpointDir(dir).file, undefined);
  const path = existsSync(join(dir, ADAPTER_FILE)) ? join(dir, ADAPTER_FILE) : dir;
  if (!existsSync(path) || !path.endsWith('.safetensors')) throw new UserError(`--adapter ${dir}: no ${CHECKPOINT_FILE} or ${ADAPTER_FILE} there`);
  const file = parseSafetensors(new Uint8Array(readFileSync(path)));
  return checkpointRanks(g, undefined, new Map([...file.tensors.keys()].map((k) => [k, getFloat32(file, k)])));
}

/** Adds `final_rank` to the settings of each LoRA module that has an allocated rank. */
export function annotateRanks(tree: VizNode, ranks: Map<string, number>): void {
  for (const n of walkViz(tree)) {
    const r = ranks.get(n.path);
    if (r === undefined) continue;
    for (const m of n.methods) if (m.name === 'lora') m.settings.final_rank = r;
  }
}
