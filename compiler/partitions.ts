// Splits parameters into the frozen and the trainable partition.
//   - A program without any PEFT annotation (or compiled with `full`) trains everything:
//     full fine-tuning is a mode of the same compiler.
//   - Otherwise every PEFT parameter trains, base parameters stay frozen, except those of
//     modules named in `train "…"` rules (Hugging Face's modules_to_save).
import type { Param } from './ir/types.ts';
import type { PeftPlan } from './peft/assign.ts';

export function assignPartitions(params: Param[], plan: PeftPlan, full: boolean): void {
  for (const p of params) {
    if (full || !plan.any || p.origin !== 'base') {
      p.partition = 'trainable';
      continue;
    }
    const owner = trainedAncestor(p.module, plan.train);
    if (owner !== undefined) {
      p.partition = 'trainable';
      p.method = { name: 'train', module: owner, settings: {} };
    } else {
      p.partition = 'frozen';
    }
  }
}

/** The module itself or its nearest ancestor named by a `train` rule (a lookup per level, not per rule). */
function trainedAncestor(module: string, train: Map<string, unknown>): string | undefined {
  for (let path = module; ; path = path.slice(0, path.lastIndexOf('.'))) {
    if (train.has(path)) return path;
    if (!path.includes('.')) return undefined;
  }
}
