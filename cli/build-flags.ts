// The flags of `peftc build`, read by both targets (build.ts for WebGPU, build-torch.ts for
// PyTorch), and the checks both make; a file of its own so neither target imports the other.
// (Their output folder: cli/out-folder.ts.)
import type { Graph } from '../compiler/ir/types.ts';
import { sequenceProblem, sequenceRoom } from '../compiler/positions.ts';
import { UserError } from './errors.ts';
import { int } from './flags.ts';
import type { SessionFlags } from './session.ts';

export interface BuildFlags extends SessionFlags {
  out: string;
  data?: string;
  batch: string;
  seq?: string;
  steps?: string;
  lr?: string;
  schedule: string;
  warmup: string;
  evalEvery?: string;
  evalRows?: string;
  optimizer?: string;
  weightDecay?: string;
  clip?: string;
  kernels?: string;
  maxDataBytes?: string;
  /** `--target webgpu|torch`: this WebGPU trainer, or a PyTorch one (build-torch.ts). */
  target?: string;
  /**
   * Bytes of one chunk's logits and dlogits in the plans' chunked loss (default 64 MiB, as the
   * in-process trainer); no flag sets it: the tests make small heads take several chunks.
   */
  lossChunkBytes?: number;
}

/** `--schedule`: both targets know constant and cosine. */
export function scheduleOf(flags: Pick<BuildFlags, 'schedule'>): 'constant' | 'cosine' {
  if (flags.schedule !== 'constant' && flags.schedule !== 'cosine') throw new UserError(`--schedule must be constant or cosine, not \`${flags.schedule}\``);
  return flags.schedule;
}

/** `--seq`, by default 128 or the room the position table leaves; refused when it needs more positions than the model has. */
export function sequenceLength(g: Graph, flags: Pick<BuildFlags, 'seq'>): number {
  const T = int(flags.seq ?? String(Math.min(128, sequenceRoom(g))), '--seq', 2);
  const tooLong = sequenceProblem(g, T);
  if (tooLong) throw new UserError(`--seq ${T}: ${tooLong}`);
  return T;
}

/** The loop settings both trainers record: steps (0: until stopped), warmup, seed and evaluation rows. */
export function loopSettings(flags: BuildFlags): { steps: number; warmup: number; seed: number; evalRows: number } {
  return {
    steps: flags.steps ? int(flags.steps, '--steps', 1) : 0,
    warmup: int(flags.warmup, '--warmup'),
    seed: Number(flags.seed ?? 0),
    evalRows: int(flags.evalRows ?? '256', '--eval-rows', 1),
  };
}
