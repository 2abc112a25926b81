// Writing and reading checkpoint directories in Node. Each file is written atomically
// (runtime/io/safetensors-node.ts); the checkpoint file alone is enough to resume.
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ADAPTER_FILE, CHECKPOINT_FILE, CheckpointError, readCheckpoint, type LoadedCheckpoint } from './checkpoint.ts';
import { writeSafetensorsFile } from './io/safetensors-node.ts';
import type { WriteTensor } from './io/safetensors.ts';

export async function writeCheckpointDir(
  dir: string,
  checkpoint: { tensors: Record<string, WriteTensor>; metadata: Record<string, string> },
  adapter: Record<string, WriteTensor>,
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await writeSafetensorsFile(join(dir, CHECKPOINT_FILE), checkpoint.tensors, checkpoint.metadata);
  await writeSafetensorsFile(join(dir, ADAPTER_FILE), adapter, { format: 'peftc-adapter/1' });
}

export function readCheckpointDir(dir: string): LoadedCheckpoint {
  const path = join(dir, CHECKPOINT_FILE);
  if (!existsSync(path)) throw new CheckpointError(`${dir}: no ${CHECKPOINT_FILE} here; is it a checkpoint directory written by \`peftc train --out\`?`);
  return readCheckpoint(new Uint8Array(readFileSync(path)), path);
}
