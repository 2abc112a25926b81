// A built trainer's three files, read and checked together before any GPU work: trainer.json
// (parseManifest), plan.json against it (parsePlanSet), and weights.safetensors, which must
// hold every parameter of the manifest with its shape, the quantized frozen matrices exactly
// where the plans store them so (weights.ts). Isomorphic: the Node entry reads the folder, the
// page fetches the same files, both hand the bytes here.
import { parseManifest, TRAINER_FILES } from './manifest.ts';
import { parsePlanSet } from './plan-check.ts';
import type { TrainerFiles } from './trainer.ts';
import { checkQuantized, readTrainerWeights } from './weights.ts';

/** Checks and parses the trainer's files; any problem is a TrainerError naming the file and field. */
export function parseTrainerFiles(raw: { manifest: string; plan: string; weights: Uint8Array }): TrainerFiles {
  const manifest = parseManifest(raw.manifest, TRAINER_FILES.manifest);
  const plans = parsePlanSet(raw.plan, TRAINER_FILES.plan, manifest);
  const weights = readTrainerWeights(raw.weights, manifest);
  for (const [kind, set] of Object.entries(plans)) {
    checkQuantized(weights, set.train.frozen, `${TRAINER_FILES.plan} (${kind}.train)`);
    if (set.eval) checkQuantized(weights, set.eval.frozen, `${TRAINER_FILES.plan} (${kind}.eval)`);
  }
  return { manifest, plans, weights: raw.weights };
}
