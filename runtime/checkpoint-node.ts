// Checkpoint directories in Node. At every instant a directory holds ONE save, whole:
//
//   DIR/saves/<id>/checkpoint.safetensors   a save: both files carry __metadata__.save = <id>
//   DIR/saves/<id>/adapter.safetensors
//   DIR/current → saves/<id>                the published save
//   DIR/checkpoint.safetensors → current/checkpoint.safetensors   (for people and other tools)
//   DIR/adapter.safetensors → current/adapter.safetensors
//
// A save is written whole into a new folder, flushed to disk, and published by renaming a new
// `current` link over the old one: a single rename, so a kill at any instant leaves the old save
// or the new one, and the two top-level names always resolve to files of the same save. Folders
// and temporary links a killed save left behind are never read, and the next save removes them.
// A directory of two plain files (an older peftc, `peftc import`, a copy that followed the links)
// still reads; the first save into it adopts its files as a save (hard links) before switching.
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, lstatSync, openSync, readFileSync, readlinkSync, readSync, realpathSync } from 'node:fs';
import { copyFile, link, lstat, mkdir, readdir, readlink, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ADAPTER_FILE, ADAPTER_FORMAT, CHECKPOINT_FILE, CheckpointError, readCheckpoint, SAVE_KEY, type LoadedCheckpoint } from './checkpoint.ts';
import { replaceLink, syncFolder, TEMP_NAME, writeNewFile } from './io/durable-node.ts';
import { makeDirs } from './io/make-dirs-node.ts';
import { MAX_HEADER_BYTES, serializeSafetensors, type WriteTensor } from './io/safetensors.ts';

/** The folder of saves, and the link to the published one, inside a checkpoint directory. */
export const SAVES_DIR = 'saves';
export const CURRENT_LINK = 'current';
const FILES = [CHECKPOINT_FILE, ADAPTER_FILE] as const;
/** The ids this module gives saves: only folders named so are ever removed from saves/. */
const SAVE_ID = /^(step-\d+|earlier)-[0-9a-f]{8}$/;

export interface CheckpointDir extends LoadedCheckpoint {
  /** The folder the save's files are in: DIR/saves/<id>, or DIR itself for two plain files. */
  folder: string;
  /** The adapter file of the same save; null if the directory has none. */
  adapterPath: string | null;
}

export async function writeCheckpointDir(
  dir: string,
  checkpoint: { tensors: Record<string, WriteTensor>; metadata: Record<string, string> },
  adapter: Record<string, WriteTensor>,
): Promise<void> {
  const id = saveId(checkpoint.metadata);
  const files = {
    [CHECKPOINT_FILE]: serializeSafetensors(checkpoint.tensors, { ...checkpoint.metadata, [SAVE_KEY]: id }),
    [ADAPTER_FILE]: serializeSafetensors(adapter, { format: ADAPTER_FORMAT, [SAVE_KEY]: id }),
  };
  const folder = join(dir, SAVES_DIR, id);
  let target = dir;
  let published = false;
  try {
    makeDirs(join(dir, SAVES_DIR));
    await adoptPlainFiles(dir);
    target = folder;
    await mkdir(folder);
    for (const name of FILES) {
      target = join(folder, name);
      await writeNewFile(target, files[name]);
    }
    await syncFolder(folder);
    target = join(dir, CURRENT_LINK);
    await replaceLink(target, `${SAVES_DIR}/${id}`);
    published = true;
    target = dir;
    await linkNames(dir);
    await syncFolder(dir);
  } catch (err) {
    if (!published) await rm(folder, { recursive: true, force: true }).catch(() => undefined);
    throw saveFailed(dir, target, err, published);
  }
  await removeLeftovers(dir, id).catch(() => undefined); // tidying only: the save is published
}

/** Reads the published save of a checkpoint directory; both files must be of the same save. */
export function readCheckpointDir(dir: string): CheckpointDir {
  for (let attempt = 1; ; attempt++) {
    try {
      return readSave(dir);
    } catch (err) {
      if (!isMissing(err)) throw err;
      // A save published meanwhile removed the folder being read: read the new one.
      if (attempt < 3) continue;
      throw new CheckpointError(`${dir}: ${danglingCurrent(dir) ?? (err as Error).message}`);
    }
  }
}

/** The step of the save a directory holds, or null if it holds none (or none that reads). */
export function savedStep(dir: string): number | null {
  try {
    return readCheckpointDir(dir).state.step;
  } catch {
    return null;
  }
}

/** Whether the directory holds a checkpoint, readable or not: something a new run would replace. */
export function holdsCheckpoint(dir: string): boolean {
  return [CURRENT_LINK, CHECKPOINT_FILE].some((n) => existsOrLink(join(dir, n)));
}

function readSave(dir: string): CheckpointDir {
  const folder = publishedFolder(dir);
  const path = join(folder, CHECKPOINT_FILE);
  if (!existsSync(path)) throw new CheckpointError(`${dir}: no ${CHECKPOINT_FILE} here; is it a checkpoint directory written by \`peftc train --out\`?`);
  const ck = readCheckpoint(readBytes(path, join(dir, CHECKPOINT_FILE)), join(dir, CHECKPOINT_FILE));
  const save = ck.save ?? null;
  const adapterPath = join(folder, ADAPTER_FILE);
  if (!existsSync(adapterPath)) {
    if (save) throw new CheckpointError(`${dir}: save ${save} has no ${ADAPTER_FILE}`);
    return { ...ck, folder, adapterPath: null };
  }
  const other = saveIdOf(adapterPath, join(dir, ADAPTER_FILE));
  if (other !== save) {
    throw new CheckpointError(`${dir}: ${CHECKPOINT_FILE} is of save ${save ?? '(none)'} but ${ADAPTER_FILE} of save ${other ?? '(none)'}; the two files come from different saves`);
  }
  return { ...ck, folder, adapterPath };
}

/** DIR/saves/<id> if DIR has a `current` link, else DIR (two plain files). */
function publishedFolder(dir: string): string {
  const link = join(dir, CURRENT_LINK);
  return existsOrLink(link) ? realpathSync(link) : dir;
}

function danglingCurrent(dir: string): string | null {
  const link = join(dir, CURRENT_LINK);
  if (!existsOrLink(link) || existsSync(link)) return null;
  return `${CURRENT_LINK} points to ${readlinkSync(link)}, which does not exist`;
}

/** `__metadata__.save` of a safetensors file, reading its header only (an adapter can be large). */
function saveIdOf(path: string, shown: string): string | null {
  return fsCall(shown, () => headerSaveId(openSync(path, 'r'), shown));
}

function headerSaveId(fd: number, shown: string): string | null {
  try {
    const size = fstatSync(fd).size;
    const len = Buffer.alloc(8);
    if (size < 8 || readSync(fd, len, 0, 8, 0) < 8) throw new CheckpointError(`${shown}: ${size} bytes, too short for a safetensors file`);
    const n = Number(len.readBigUInt64LE(0));
    if (n > MAX_HEADER_BYTES || n > size - 8) throw new CheckpointError(`${shown}: header length ${n} does not fit the file (${size} bytes)`);
    const head = Buffer.alloc(n);
    readSync(fd, head, 0, n, 8);
    let header: unknown;
    try {
      header = JSON.parse(head.toString('utf8'));
    } catch {
      throw new CheckpointError(`${shown}: its header is not valid JSON`);
    }
    const id = (header as { __metadata__?: Record<string, unknown> } | null)?.__metadata__?.[SAVE_KEY];
    return typeof id === 'string' ? id : null;
  } finally {
    closeSync(fd);
  }
}

/** A new save's id: its step (for people looking into saves/) and a random part. */
function saveId(metadata: Record<string, string>): string {
  let step: unknown;
  try {
    step = (JSON.parse(metadata.peftc ?? '{}') as { step?: unknown }).step;
  } catch {
    step = undefined;
  }
  const label = typeof step === 'number' && Number.isInteger(step) && step >= 0 ? `step-${step}` : 'earlier';
  return `${label}-${randomBytes(4).toString('hex')}`;
}

/**
 * A directory of plain files (no `current` yet) becomes a published save of those same files
 * before anything is replaced: hard links (a copy where links are refused) into saves/, then the
 * names switch to links that resolve to the same bytes. No reader ever sees a mix.
 */
async function adoptPlainFiles(dir: string): Promise<void> {
  if (existsOrLink(join(dir, CURRENT_LINK))) return;
  const plain: string[] = [];
  for (const name of FILES) if ((await lstat(join(dir, name)).catch(() => null))?.isFile()) plain.push(name);
  if (!plain.length) return;
  const id = `earlier-${randomBytes(4).toString('hex')}`;
  const folder = join(dir, SAVES_DIR, id);
  await mkdir(folder);
  for (const name of plain) await link(join(dir, name), join(folder, name)).catch(() => copyFile(join(dir, name), join(folder, name)));
  await syncFolder(folder);
  await replaceLink(join(dir, CURRENT_LINK), `${SAVES_DIR}/${id}`);
  await linkNames(dir);
  await syncFolder(dir);
}

/** DIR/<file> → current/<file> for each file the published save has. */
async function linkNames(dir: string): Promise<void> {
  for (const name of FILES) {
    const target = `${CURRENT_LINK}/${name}`;
    if (!existsSync(join(dir, target))) continue;
    const now = await readlink(join(dir, name)).catch(() => null);
    if (now !== target) await replaceLink(join(dir, name), target);
  }
}

/** Saves other than the published one, and temporary files, left by killed or failed saves. */
async function removeLeftovers(dir: string, keep: string): Promise<void> {
  for (const name of await readdir(join(dir, SAVES_DIR))) {
    if (name !== keep && SAVE_ID.test(name)) await rm(join(dir, SAVES_DIR, name), { recursive: true, force: true });
  }
  for (const name of await readdir(dir)) if (TEMP_NAME.test(name)) await unlink(join(dir, name)).catch(() => undefined);
}

function saveFailed(dir: string, target: string, err: unknown, published: boolean): CheckpointError {
  const why = err instanceof Error ? err.message : String(err);
  if (published) return new CheckpointError(`${dir}: the checkpoint was saved in ${CURRENT_LINK}/, but linking its files failed: ${why}`);
  const step = savedStep(dir);
  const kept = step === null ? 'no earlier checkpoint was there' : `the previous checkpoint (step ${step}) is intact`;
  return new CheckpointError(`could not write ${target}: ${why}; ${kept}`);
}

function readBytes(path: string, shown: string): Uint8Array {
  return new Uint8Array(fsCall(shown, () => readFileSync(path)));
}

/** Runs a file-system call; a failure other than a vanished file (which the reader retries) names the file. */
function fsCall<T>(shown: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (isMissing(err) || !(err instanceof Error) || err instanceof CheckpointError) throw err;
    throw new CheckpointError(`${shown}: cannot read it (${err.message})`);
  }
}

function existsOrLink(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}
