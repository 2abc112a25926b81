// A real `peftc train` that checkpoints after every step, killed with SIGKILL at seeded random
// moments, again and again, each time resumed from what it left: after every kill the
// directory must read, its adapter must be the checkpoint's parameters of the same save, and the
// run must resume (without --data: the checkpoint has it). The last run finishes and leaves no
// temporary file and no other save behind.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADAPTER_FILE } from '../../runtime/checkpoint.ts';
import { holdsCheckpoint, readCheckpointDir, SAVES_DIR } from '../../runtime/checkpoint-node.ts';
import { TEMP_NAME } from '../../runtime/io/durable-node.ts';
import { getFloat32, parseSafetensors } from '../../runtime/io/safetensors.ts';
import { peftc } from './peftc.ts';
import { mulberry32 } from '../prng.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const SET = 'vocab_size=256,n_positions=32,n_embd=16,n_layer=1,n_head=2';
const KILLS = 12;
/** Kills stop after this long, so that a slow machine still ends in time. */
const BUDGET_MS = 45_000;

const random = mulberry32;

/** Starts a run and kills it `delayMs` after its first training step; resolves once it is gone. */
function trainAndKill(args: string[], delayMs: number): Promise<{ signal: NodeJS.Signals | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'train', ...args], { cwd: ROOT });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (stdout.includes('"loss"') && !child.killed) setTimeout(() => child.kill('SIGKILL'), delayMs);
  });
  return new Promise((done) => child.on('exit', (_code, signal) => done({ signal, stderr })));
}

/** The step of the save, after checking that the adapter holds the checkpoint's parameters of the same save. */
function consistentStep(out: string): number {
  const ck = readCheckpointDir(out);
  for (const adapterPath of [ck.adapterPath!, join(out, ADAPTER_FILE)]) {
    const adapter = parseSafetensors(new Uint8Array(readFileSync(adapterPath)));
    expect(adapter.metadata?.save).toBe(ck.save);
    const names = [...adapter.tensors.keys()];
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(Array.from(getFloat32(adapter, name))).toEqual(Array.from(getFloat32(ck.file, `param.${name}`)));
  }
  return ck.state.step;
}

describe('checkpoints under SIGKILL', () => {
  it(`a training run killed ${KILLS} times at random moments always leaves one whole, resumable save`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'peftc-kill-'));
    const text = join(dir, 'text.txt');
    writeFileSync(text, 'It was the best of times, it was the worst of times. '.repeat(200));
    const out = join(dir, 'run');
    const common = ['examples/gpt2-lora.peft', '--set', SET, '--batch', '2', '--seq', '16', '--eval-every', '1', '--eval-rows', '2', '--schedule', 'constant', '--json', '--no-baseline'];
    const rnd = random(20261206);
    const t0 = Date.now();
    let step = 0;
    let kills = 0;
    while (kills < KILLS && Date.now() - t0 < BUDGET_MS) {
      // Until a first save is published there is nothing to resume (a kill may come before it).
      const where = holdsCheckpoint(out) ? ['--resume', out] : ['--data', text, '--out', out];
      const r = await trainAndKill([...common, ...where, '--steps', '100000'], Math.floor(rnd() * 250));
      expect(r.signal, r.stderr).toBe('SIGKILL');
      kills++;
      if (!holdsCheckpoint(out)) continue;
      const now = consistentStep(out);
      expect(now).toBeGreaterThanOrEqual(step); // a resumed run only moves forward
      step = now;
    }
    expect(kills).toBeGreaterThanOrEqual(3);
    const done = peftc('train', ...common, '--resume', out, '--steps', String(step + 1));
    expect(done.code, done.stderr).toBe(0);
    expect(consistentStep(out)).toBe(step + 1);
    expect(readdirSync(join(out, SAVES_DIR))).toHaveLength(1);
    expect(readdirSync(out).filter((n) => TEMP_NAME.test(n))).toEqual([]);
    console.log(`${kills} kills in ${((Date.now() - t0) / 1000).toFixed(1)} s; the run reached step ${step + 1}`);
  }, 120_000);
});
