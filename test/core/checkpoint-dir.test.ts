// Checkpoint directories hold one whole save at every instant. The file system is mocked so
// that a save can die at each of its operations in turn (as a SIGKILL would: nothing after it
// runs, a write in flight is left half done) or fail with ENOSPC; after each, the directory
// must read as the old save or the new one, both top-level names must resolve to files of the
// same save, and the next save must succeed and leave nothing behind.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ADAPTER_FILE, CHECKPOINT_FILE, CHECKPOINT_FORMAT, CheckpointError, type CheckpointState } from '../../runtime/checkpoint.ts';
import { CURRENT_LINK, readCheckpointDir, SAVES_DIR, writeCheckpointDir } from '../../runtime/checkpoint-node.ts';
import { TEMP_NAME } from '../../runtime/io/durable-node.ts';
import { getFloat32, parseSafetensors, serializeSafetensors, type WriteTensor } from '../../runtime/io/safetensors.ts';

const fault = vi.hoisted(() => ({
  ops: 0,
  /** The operation (counted from 0) at which the process "dies"; -1: never. */
  killAt: -1,
  dead: false,
  /** An error to throw instead of doing an operation (a full disk), or null. */
  fail: null as null | ((op: string, path: string) => Error | null),
}));

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const killed = () => new Error('killed');
  const gate = (op: string, path: unknown) => {
    if (fault.dead) throw killed();
    if (fault.killAt >= 0 && fault.ops++ === fault.killAt) {
      fault.dead = true;
      throw killed();
    }
    const e = fault.fail?.(op, String(path));
    if (e) throw e;
  };
  const wrap = <A extends unknown[], R>(op: string, f: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
    gate(op, a[0]);
    return f(...a);
  };
  const open = async (path: string, flags?: string, mode?: number) => {
    gate('open', path);
    const fh = await real.open(path, flags, mode);
    return {
      writeFile: async (data: Uint8Array) => {
        // Dying in the middle of a write leaves half of it on disk.
        if (!fault.dead && fault.ops === fault.killAt) await fh.write(data.subarray(0, data.length >> 1));
        gate('write', path);
        return fh.writeFile(data);
      },
      sync: async () => (gate('sync', path), fh.sync()),
      close: async () => {
        await fh.close(); // the kernel closes a dead process's files too
        gate('close', path);
      },
    };
  };
  const mod = {
    ...real, open,
    rename: wrap('rename', real.rename), symlink: wrap('symlink', real.symlink), link: wrap('link', real.link),
    copyFile: wrap('copyFile', real.copyFile), mkdir: wrap('mkdir', real.mkdir), rm: wrap('rm', real.rm),
    unlink: wrap('unlink', real.unlink), readdir: wrap('readdir', real.readdir), lstat: wrap('lstat', real.lstat),
    readlink: wrap('readlink', real.readlink),
  };
  return { ...mod, default: mod };
});

afterEach(() => Object.assign(fault, { ops: 0, killAt: -1, dead: false, fail: null }));

/** The values a save of `step` holds: different for every step, the same in both files. */
const values = (step: number) => Float32Array.from({ length: 64 }, (_, i) => step * 1000 + i);
const state = (step: number): CheckpointState => ({ format: CHECKPOINT_FORMAT, step, seed: 0, settings: {}, source: { entry: 'x.peft', files: {} }, set: [], base: null, valLoss: 1 });
const tensor = (step: number): WriteTensor => ({ dtype: 'F32', shape: [8, 8], data: values(step) });

function save(dir: string, step: number): Promise<void> {
  return writeCheckpointDir(dir, { tensors: { 'param.w': tensor(step), 'adam.m.w': tensor(0), 'adam.v.w': tensor(0) }, metadata: { peftc: JSON.stringify(state(step)) } }, { w: tensor(step) });
}

/** A directory as an older peftc (or `peftc import`) wrote it: two plain files, no save ids. */
function plainDir(step: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'peftc-ckdir-'));
  writeFileSync(join(dir, CHECKPOINT_FILE), serializeSafetensors({ 'param.w': tensor(step), 'adam.m.w': tensor(0), 'adam.v.w': tensor(0) }, { peftc: JSON.stringify(state(step)) }));
  writeFileSync(join(dir, ADAPTER_FILE), serializeSafetensors({ w: tensor(step) }, { format: 'peftc-adapter/1' }));
  return dir;
}

/** The step the directory holds, checking that everything a reader can open agrees on it. */
function consistentStep(dir: string): number {
  const ck = readCheckpointDir(dir);
  const step = ck.state.step;
  expect(Array.from(getFloat32(ck.file, 'param.w'))).toEqual(Array.from(values(step)));
  // The top-level names, opened one after the other as eval and export do.
  const direct = parseSafetensors(new Uint8Array(readFileSync(join(dir, CHECKPOINT_FILE))));
  const adapter = parseSafetensors(new Uint8Array(readFileSync(join(dir, ADAPTER_FILE))));
  expect(Array.from(getFloat32(direct, 'param.w'))).toEqual(Array.from(values(step)));
  expect(Array.from(getFloat32(adapter, 'w'))).toEqual(Array.from(values(step)));
  expect(adapter.metadata?.save ?? null).toBe(direct.metadata?.save ?? null);
  return step;
}

/** Only the published save and no temporary file remain. */
function tidy(dir: string): void {
  expect(readdirSync(join(dir, SAVES_DIR))).toHaveLength(1);
  expect(readdirSync(dir).filter((n) => TEMP_NAME.test(n))).toEqual([]);
}

/** Kills the save of step 2 at operation 0, 1, 2, … until a save runs through; returns how many kill points there were. */
async function killAtEveryOperation(start: () => Promise<string>): Promise<number> {
  for (let killAt = 0; ; killAt++) {
    const dir = await start();
    Object.assign(fault, { ops: 0, killAt, dead: false });
    await save(dir, 2).catch((e: Error) => expect(e.message).toContain('killed'));
    const finished = !fault.dead;
    Object.assign(fault, { ops: 0, killAt: -1, dead: false });
    const step = consistentStep(dir);
    expect([1, 2]).toContain(step);
    if (finished) expect(step).toBe(2);
    // The next run's save succeeds and clears what the killed one left.
    await save(dir, 3);
    expect(consistentStep(dir)).toBe(3);
    tidy(dir);
    rmSync(dir, { recursive: true, force: true });
    if (finished) return killAt;
  }
}

describe('checkpoint directory', () => {
  it('a save is published as saves/<id> behind the current link, both files carrying the id', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'peftc-ckdir-')), 'run');
    await save(dir, 1);
    await save(dir, 2);
    const ck = readCheckpointDir(dir);
    expect(ck.state.step).toBe(2);
    expect(ck.save).toMatch(/^step-2-[0-9a-f]{8}$/);
    expect(ck.folder).toBe(realpathSync(join(dir, SAVES_DIR, ck.save!)));
    expect(ck.adapterPath).toBe(join(ck.folder, ADAPTER_FILE));
    expect(lstatSync(join(dir, CURRENT_LINK)).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(dir, CHECKPOINT_FILE)).isSymbolicLink()).toBe(true);
    expect(consistentStep(dir)).toBe(2);
    tidy(dir);
  });

  it('a save killed at any of its operations leaves the previous save or the new one, whole', async () => {
    const start = async () => {
      const dir = mkdtempSync(join(tmpdir(), 'peftc-ckdir-'));
      await save(dir, 1);
      return dir;
    };
    // Every operation of a save is a kill point; a save has a couple of dozen.
    expect(await killAtEveryOperation(start)).toBeGreaterThan(15);
  });

  it('the first save into a directory of plain files (older peftc, import) is as safe', async () => {
    expect(await killAtEveryOperation(async () => plainDir(1))).toBeGreaterThan(15);
  });

  it('a full disk names the file that could not be written and keeps the previous checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'peftc-ckdir-'));
    await save(dir, 1);
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    fault.fail = (op, path) => (op === 'write' && path.endsWith(ADAPTER_FILE) ? enospc : null);
    const err = await save(dir, 2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toMatch(new RegExp(`^could not write ${dir}/saves/step-2-[0-9a-f]{8}/adapter\\.safetensors: ENOSPC: no space left on device, write; the previous checkpoint \\(step 1\\) is intact$`));
    fault.fail = null;
    expect(consistentStep(dir)).toBe(1);
    tidy(dir); // the half-written save is gone
  });

  it('a write error with no earlier checkpoint says so', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'peftc-ckdir-')), 'run');
    fault.fail = (op) => (op === 'sync' ? Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }) : null);
    await expect(save(dir, 1)).rejects.toThrow(/checkpoint\.safetensors: EIO: i\/o error, fsync; no earlier checkpoint was there$/);
    fault.fail = null;
    expect(readdirSync(join(dir, SAVES_DIR))).toEqual([]);
  });

  it('files of two different saves are refused, naming both', async () => {
    const a = mkdtempSync(join(tmpdir(), 'peftc-ckdir-'));
    await save(a, 1);
    const b = mkdtempSync(join(tmpdir(), 'peftc-ckdir-'));
    await save(b, 2);
    const mixed = mkdtempSync(join(tmpdir(), 'peftc-ckdir-'));
    writeFileSync(join(mixed, CHECKPOINT_FILE), readFileSync(join(a, CHECKPOINT_FILE)));
    writeFileSync(join(mixed, ADAPTER_FILE), readFileSync(join(b, ADAPTER_FILE)));
    expect(() => readCheckpointDir(mixed)).toThrow(/checkpoint\.safetensors is of save step-1-[0-9a-f]{8} but adapter\.safetensors of save step-2-[0-9a-f]{8}; the two files come from different saves/);
  });

  it('a current link to a missing save, or a save folder without its adapter, is a clear error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'peftc-ckdir-'));
    symlinkSync(`${SAVES_DIR}/step-4-00000000`, join(dir, CURRENT_LINK));
    expect(() => readCheckpointDir(dir)).toThrow(new CheckpointError(`${dir}: current points to saves/step-4-00000000, which does not exist`));
    const other = mkdtempSync(join(tmpdir(), 'peftc-ckdir-'));
    await save(other, 4);
    rmSync(readCheckpointDir(other).adapterPath!);
    expect(() => readCheckpointDir(other)).toThrow(/: save step-4-[0-9a-f]{8} has no adapter\.safetensors$/);
  });

  it('unreadable files are named: a folder where a file should be, a truncated adapter header', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'peftc-ckdir-'));
    mkdirSync(join(dir, CHECKPOINT_FILE));
    expect(() => readCheckpointDir(dir)).toThrow(CheckpointError);
    expect(() => readCheckpointDir(dir)).toThrow(new RegExp(`^${dir}/checkpoint\\.safetensors: cannot read it \\(EISDIR`));
    const cut = plainDir(1);
    writeFileSync(join(cut, ADAPTER_FILE), new Uint8Array([200, 0, 0, 0, 0, 0, 0, 0, 123]));
    expect(() => readCheckpointDir(cut)).toThrow(`${cut}/adapter.safetensors: header length 200 does not fit the file (9 bytes)`);
    expect(existsSync(join(cut, SAVES_DIR))).toBe(false); // reading never writes
  });
});
