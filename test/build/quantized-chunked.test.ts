// Built trainers plan a step as `peftc train --backend webgpu` does: the frozen base quantized
// (`--frozen-dtype int8|nf4`: shipped as codes and scales, uploaded as they are, dequantized by
// the plan's kernels) and the loss over chunks of rows (64 MiB of logits and dlogits per chunk,
// or a budget the test makes small so that a tiny head takes several chunks).
//
// Tolerances (relative, each loss): nf4 built trainer ↔ `peftc train --backend webgpu
// --frozen-dtype nf4` on llvmpipe, the same plan and kernels: 1e-6 (measured 0, bit-identical);
// nf4dq (double-quantized scales) over 3 chunks ↔ the CPU reference on the same nf4dq base
// (whole logits): 1e-5, the built trainer suite's bound for the f32 CPU comparison. (int8 runs
// through the same trainer in test/playground/frozen-dtype.test.ts.)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildCommand } from '../../cli/build.ts';
import type { BuildFlags } from '../../cli/build-flags.ts';
import { readCheckpointDir } from '../../runtime/checkpoint-node.ts';
import { parseSafetensors, serializeSafetensors } from '../../runtime/io/safetensors.ts';
import { evalCommand } from '../../runtime/standalone/eval-command.ts';
import { parseTrainerFiles } from '../../runtime/standalone/files.ts';
import type { PlanSet, TrainerManifest } from '../../runtime/standalone/manifest.ts';
import { TrainerError } from '../../runtime/standalone/trainer-error.ts';
import { peftc } from '../cli/peftc.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const FILE = 'examples/gpt2-lora.peft';
// Dropout off: no evaluation plans, so half the shaders to compile on llvmpipe.
const SET = 'vocab_size=256,n_positions=32,n_embd=16,n_layer=1,n_head=2,resid_pdrop=0,attn_pdrop=0,embd_pdrop=0';
/** Three chunks of 64 rows for 6×32 tokens over a 256-word head: 64 rows · 256 words · 8 bytes. */
const SMALL_BUDGET = 64 * 256 * 8;

let work: string;
let text: string;

async function build(out: string, flags: Partial<BuildFlags>): Promise<string> {
  const dir = join(work, out);
  const quiet = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    const code = await buildCommand(FILE, { set: [SET], batch: '2', seq: '16', evalRows: '4', evalEvery: '3', lr: '3e-3', seed: '0', steps: '3', schedule: 'cosine', warmup: '0', out: dir, ...flags });
    expect(code).toBe(0);
  } finally {
    quiet.mockRestore();
  }
  return dir;
}

function files(dir: string) {
  return { manifest: readFileSync(join(dir, 'trainer.json'), 'utf8'), plan: readFileSync(join(dir, 'plan.json'), 'utf8'), weights: new Uint8Array(readFileSync(join(dir, 'weights.safetensors'))) };
}

function losses(stdout: string): { losses: number[]; valLosses: number[] } {
  const lines = stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { loss?: number; val_loss?: number });
  return { losses: lines.filter((l) => l.loss !== undefined).map((l) => l.loss!), valLosses: lines.filter((l) => l.val_loss !== undefined).map((l) => l.val_loss!) };
}

function expectClose(what: string, got: number[], want: number[], rel: number): number {
  expect(got.length, what).toBe(want.length);
  let worst = 0;
  got.forEach((g, i) => {
    const err = Math.abs(g - want[i]!) / Math.abs(want[i]!);
    worst = Math.max(worst, err);
    expect(err, `${what}[${i}]: ${g} vs ${want[i]}`).toBeLessThanOrEqual(rel);
  });
  return worst;
}

function runTrainer(dir: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [join(dir, 'train.mjs'), '--data', text, '--json', '--gpu', 'llvmpipe', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  expect(r.status, r.stderr).toBe(0);
  return losses(r.stdout);
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'peftc-build-quant-'));
  text = join(work, 'text.txt');
  writeFileSync(text, Array.from({ length: 120 }, (_, i) => ['It was the best of times, it was the worst of times,', 'it was the age of wisdom, it was the age of foolishness,'][i % 2]).join('\n'));
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('peftc build --frozen-dtype nf4', () => {
  it('ships the frozen matrices as codes and scales, and trains as peftc train --backend webgpu --frozen-dtype nf4 does', async () => {
    const nf4 = await build('nf4', { frozenDtype: 'nf4', kernels: 'software' });
    const f32 = await build('f32', { kernels: 'software' });
    const m = JSON.parse(readFileSync(join(nf4, 'trainer.json'), 'utf8')) as TrainerManifest;
    expect(m.model).toMatchObject({ frozenDtype: 'nf4', recompute: 'none' });
    const plan = (JSON.parse(readFileSync(join(nf4, 'plan.json'), 'utf8')) as PlanSet).software!;
    const quantized = plan.train.frozen.slots.filter((s) => s.dtype === 'nf4').map((s) => s.path);
    expect(quantized).toContain('wte.weight');
    expect(quantized).toContain('h.0.attn.c_attn.weight');
    const weights = parseSafetensors(files(nf4).weights);
    expect(weights.metadata?.['peftc.quantization']).toBe('nf4');
    for (const p of quantized) {
      expect(weights.tensors.get(`${p}.qcodes`)?.dtype, p).toBe('U8');
      expect(weights.tensors.has(p), p).toBe(false);
    }
    expect(statSync(join(nf4, 'weights.safetensors')).size).toBeLessThan(0.4 * statSync(join(f32, 'weights.safetensors')).size);

    const built = runTrainer(nf4, '--out', join(work, 'ck-nf4'));
    const t = peftc('train', FILE, '--set', SET, '--batch', '2', '--seq', '16', '--eval-rows', '4', '--eval-every', '3', '--lr', '3e-3', '--seed', '0', '--steps', '3', '--data', text, '--json', '--no-baseline', '--backend', 'webgpu', '--gpu', 'llvmpipe', '--frozen-dtype', 'nf4', '--out', join(work, 'run-nf4'));
    expect(t.code, t.stderr).toBe(0);
    const inProcess = losses(t.stdout);
    const worst = expectClose('nf4 built trainer vs peftc train --backend webgpu --frozen-dtype nf4', built.losses, inProcess.losses, 1e-6);
    expectClose('validation', built.valLosses, inProcess.valLosses, 1e-6);
    console.log(`nf4 built trainer losses ${built.losses.join(' ')}; worst relative difference from peftc train --backend webgpu ${worst.toExponential(2)}`);
    // The checkpoint says how the base was stored: `peftc eval --adapter DIR` takes nf4 from it;
    // the page's command for the adapter file alone says it.
    expect(readCheckpointDir(join(work, 'ck-nf4')).state.settings).toMatchObject({ frozen_dtype: 'nf4', recompute: 'none' });
    expect(evalCommand(m)).toBe(`peftc eval ${FILE} --set ${SET} --frozen-dtype nf4 --adapter adapter.safetensors --data …`);
  });

  it('weights that do not fit the plans are one line naming the file and the tensor', async () => {
    const nf4 = files(join(work, 'nf4'));
    const f32 = files(join(work, 'f32'));
    const refused = (f: typeof nf4) => {
      try {
        parseTrainerFiles(f);
        return null;
      } catch (e) {
        expect(e).toBeInstanceOf(TrainerError);
        return (e as Error).message;
      }
    };
    expect(refused(nf4)).toBeNull();
    expect(refused({ ...nf4, weights: f32.weights })).toMatch(/^weights\.safetensors holds wte\.weight as f32, but plan\.json \(software\.train\) stores it as nf4 \((out_in|table)\); rebuild the trainer/);
    expect(refused({ ...f32, weights: nf4.weights })).toMatch(/^weights\.safetensors holds wte\.weight as nf4 \((out_in|table)\), but plan\.json \(software\.train\) stores it as f32; rebuild/);
    const saysF32 = JSON.parse(nf4.manifest) as TrainerManifest;
    saysF32.model.frozenDtype = 'f32';
    expect(refused({ ...nf4, manifest: JSON.stringify(saysF32) })).toMatch(/^plan\.json: software\.train\.frozen\.slots\[\d+\]\.dtype must be one of f32, not "nf4"/);
    const plan = JSON.parse(nf4.plan) as PlanSet;
    plan.software!.train.frozen.slots.find((s) => s.dtype === 'nf4')!.bytes -= 4;
    expect(refused({ ...nf4, plan: JSON.stringify(plan) })).toMatch(/^plan\.json: software\.train\.frozen\.slots\[\d+\]\.bytes must be \d+ \(the codes and scales of a nf4 \[\d+, \d+\] \w+ matrix\)/);
    const w = parseSafetensors(nf4.weights);
    const tensors = Object.fromEntries([...w.tensors].map(([k, t]) => [k, { dtype: t.dtype, shape: t.dtype === 'U8' ? [t.shape[0]! - 1] : t.shape, data: t.dtype === 'U8' ? (t.data as Uint8Array).subarray(1) : t.data }]));
    expect(refused({ ...nf4, weights: serializeSafetensors(tensors as never, w.metadata) as Uint8Array<ArrayBuffer> })).toMatch(/^weights\.safetensors: \S+\.qcodes has \d+ elements; a nf4 \[\d+, \d+\] matrix has \d+; rebuild the trainer/);
  });
});

describe('built trainers compute the loss over chunks of rows', () => {
  it('a head over three chunks (nf4dq base) gives the CPU reference\'s losses', async () => {
    const dir = await build('chunks', { frozenDtype: 'nf4dq', kernels: 'software', batch: '6', seq: '32', lossChunkBytes: SMALL_BUDGET });
    const plan = (JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')) as PlanSet).software!;
    expect(plan.train.stats.lossChunk).toMatchObject({ rows: 64, chunks: 3, vocab: 256 });
    expect(plan.train.io.logits).toBeUndefined();
    // The default budget holds this head whole, in one chunk.
    const whole = await build('one-chunk', { kernels: 'software', batch: '6', seq: '32' });
    expect((JSON.parse(readFileSync(join(whole, 'plan.json'), 'utf8')) as PlanSet).software!.train.stats.lossChunk).toMatchObject({ chunks: 1 });

    const built = runTrainer(dir, '--out', join(work, 'ck-chunks'), '--eval-rows', '6');
    const cpu = peftc('train', FILE, '--set', SET, '--batch', '6', '--seq', '32', '--eval-rows', '6', '--eval-every', '3', '--lr', '3e-3', '--seed', '0', '--steps', '3', '--data', text, '--json', '--no-baseline', '--backend', 'cpu', '--frozen-dtype', 'nf4dq', '--out', join(work, 'run-nf4dq'));
    expect(cpu.code, cpu.stderr).toBe(0);
    const ref = losses(cpu.stdout);
    expect(plan.train.frozen.slots.some((s) => s.dtype === 'nf4dq')).toBe(true);
    const worst = expectClose('3 chunks (nf4dq) vs the CPU reference', built.losses, ref.losses, 1e-5);
    expectClose('validation', built.valLosses, ref.valLosses, 1e-5);
    console.log(`built trainer over 3 chunks (nf4dq): losses ${built.losses.join(' ')}; worst relative difference from the CPU ${worst.toExponential(2)}`);
  });
});
