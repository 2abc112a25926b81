// File access for runtime/io/safetensors.ts (Node only).
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
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
  const bytes = serializeSafetensors(tensors, metadata);
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx');
  try {
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  // Make the rename itself durable. Not every platform can open a folder (Windows cannot).
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // best effort
  }
}
