// Writes that survive a crash (Node only): file contents flushed to disk before anything
// points at them, renames that replace a name in one step, and the folder entries themselves
// flushed, so that after a kill or a power cut a name holds the old contents or the new ones.
import { randomBytes } from 'node:crypto';
import { open, rename, symlink, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A fresh temporary name beside `path`, recognisable (TEMP_NAME) so that a later save can remove it if a kill left it. */
export function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Matches the names tempNameFor makes (of any file name). */
export const TEMP_NAME = /^\..+\.\d+\.[0-9a-f]{8}\.tmp$/;

/** Creates `path` (which must not exist) with `bytes`, flushed to disk; a failed write leaves no file. */
export async function writeNewFile(path: string, bytes: Uint8Array | string): Promise<void> {
  const fh = await open(path, 'wx');
  try {
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    await unlink(path).catch(() => undefined);
    throw err;
  }
}

/** Replaces `path` with `bytes` in one rename: a reader sees the old file or the new one, never half. */
export async function replaceFile(path: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = tempNameFor(path);
  await writeNewFile(tmp, bytes);
  await renameOver(tmp, path);
  await syncFolder(dirname(path));
}

/** Points the symbolic link `path` at `target` in one rename (whatever `path` was: link, file or nothing). */
export async function replaceLink(path: string, target: string): Promise<void> {
  const tmp = tempNameFor(path);
  await symlink(target, tmp);
  await renameOver(tmp, path);
}

async function renameOver(tmp: string, path: string): Promise<void> {
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Flushes a folder's entries (new names, renames) to disk. Not every platform can open a folder (Windows cannot): best effort. */
export async function syncFolder(dir: string): Promise<void> {
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
