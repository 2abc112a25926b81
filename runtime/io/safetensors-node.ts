// File access for runtime/io/safetensors.ts (Node only).
import { readFile } from 'node:fs/promises';
import { replaceFile } from './durable-node.ts';
import {
  parseSafetensors, serializeSafetensors, SafetensorsError,
  type ReadOptions, type SafetensorsFile, type WriteTensor,
} from './safetensors.ts';

/** Reads and parses a file; a SafetensorsError's message starts with the path. */
export async function readSafetensorsFile(path: string, options?: ReadOptions): Promise<SafetensorsFile> {
  const bytes = await readFile(path);
  try {
    return parseSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), options);
  } catch (err) {
    if (err instanceof SafetensorsError) throw new SafetensorsError(err.code, `${path}: ${err.message}`, err.tensor);
    throw err;
  }
}

/**
 * Writes atomically: the bytes go to a temporary file in the same folder, which is flushed to
 * disk and then renamed over `path`, so a reader sees the old file or the new one, never half.
 */
export async function writeSafetensorsFile(
  path: string,
  tensors: ReadonlyMap<string, WriteTensor> | Readonly<Record<string, WriteTensor>>,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  await replaceFile(path, serializeSafetensors(tensors, metadata));
}
