// A built trainer's three files, read and checked together before any GPU work: trainer.json
// (parseManifest), plan.json against it (parsePlanSet), and weights.safetensors, which must
// hold every parameter of the manifest with its shape. Isomorphic: the Node entry reads the
// folder, the page fetches the same files, both hand the bytes here.
import { getFloat32, parseSafetensors, SafetensorsError, type SafetensorsFile } from '../io/safetensors.ts';
import { parseManifest, TRAINER_FILES, type TrainerManifest } from './manifest.ts';
import { parsePlanSet } from './plan-check.ts';
import type { TrainerFiles } from './trainer.ts';
import { TrainerError } from './trainer-error.ts';

/** Checks and parses the trainer's files; any problem is a TrainerError naming the file and field. */
export function parseTrainerFiles(raw: { manifest: string; plan: string; weights: Uint8Array }): TrainerFiles {
  const manifest = parseManifest(raw.manifest, TRAINER_FILES.manifest);
  const plans = parsePlanSet(raw.plan, TRAINER_FILES.plan, manifest);
  checkWeights(raw.weights, manifest);
  return { manifest, plans, weights: raw.weights };
}

/** weights.safetensors parsed, with every parameter of the manifest present and of its shape. */
export function checkWeights(bytes: Uint8Array, manifest: TrainerManifest): SafetensorsFile {
  const where = TRAINER_FILES.weights;
  try {
    const file = parseSafetensors(bytes);
    for (const p of manifest.params) {
      if (!file.tensors.has(p.path)) throw new TrainerError(`${where} has no value for ${p.path}; rebuild the trainer with \`peftc build\``);
      getFloat32(file, p.path, p.shape);
    }
    return file;
  } catch (e) {
    if (e instanceof SafetensorsError) throw new TrainerError(`${where}: ${e.message}; rebuild the trainer with \`peftc build\``);
    throw e;
  }
}
