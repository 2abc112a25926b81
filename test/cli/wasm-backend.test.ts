// `--backend wasm` in the CLI: train, resume, eval, generate, grad and the multi-adapter eval run on
// the wasm backend within docs/wasm-backend.md's tolerances of the CPU reference; --backend and
// --threads are refused in one line naming the flag. In-process calls on a tiny GPT-2.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKENDS, backendName, MAX_THREADS, threadCount } from '../../cli/backend-choice.ts';
import { evalCommand, generateCommand } from '../../cli/evaluate.ts';
import { gradCommand } from '../../cli/grad.ts';
import { evalMulti } from '../../cli/multi.ts';
import { openBackend, trainingGraph } from '../../cli/session.ts';
import { trainCommand, type TrainFlags } from '../../cli/train.ts';
import { createStore } from '../../runtime/arena.ts';
import { readCheckpointDir } from '../../runtime/checkpoint-node.ts';
import { CpuDecoder } from '../../runtime/decode/cpu-decoder.ts';
import { decoderFor } from '../../runtime/decode/for-backend.ts';
import { readSafetensorsFile } from '../../runtime/io/safetensors-node.ts';
import { optimizerFrom } from '../../cli/flags.ts';
import { evalFlags, GPT2, genFlags, graphOfFile, LORA_TEXT, run, SET, writeBase, writeFineTune, writeText, type Run } from './fine-tune-files.ts';

/** The tolerances docs/wasm-backend.md states: f32 sums against the reference's f64 ones. */
const LOSS_RTOL = 1e-5;
const GRAD_RTOL = 1e-4;

const dir = mkdtempSync(join(tmpdir(), 'peftc-wasm-backend-'));
const model = join(dir, 'lora.peft');
writeFileSync(model, LORA_TEXT);
const text = writeText(join(dir, 'text.txt'));

const trainFlags = (extra: Partial<TrainFlags>): TrainFlags => ({ data: text, batch: '2', seq: '16', steps: '3', schedule: 'constant', warmup: '0', evalRows: '2', baseline: false, json: true, set: SET, ...extra });

/** The training losses a `--json` run printed, by step. */
function losses(r: Run): number[] {
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split('\n').filter((l) => l.includes('"loss"')).map((l) => (JSON.parse(l) as { loss: number }).loss);
}

function expectClose(got: number[], want: number[], rtol: number): void {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => expect(Math.abs(g - want[i]!), `step ${i + 1}: ${g} vs ${want[i]}`).toBeLessThanOrEqual(rtol * Math.abs(want[i]!)));
}

describe('--backend wasm', () => {
  it('trains within 1e-5 relative of the CPU reference, records the backend, and resumes', async () => {
    const cpu = losses(await run(() => trainCommand(model, trainFlags({ backend: 'cpu', out: join(dir, 'cpu'), steps: '4' }))));
    const wasm = await run(() => trainCommand(model, trainFlags({ backend: 'wasm', threads: '2', out: join(dir, 'wasm'), steps: '2' })));
    expectClose(losses(wasm), cpu.slice(0, 2), LOSS_RTOL);
    expect(readCheckpointDir(join(dir, 'wasm')).state.settings).toMatchObject({ backend: 'wasm' });
    // Resuming a wasm run continues it as the uninterrupted CPU run went on.
    const resumed = await run(() => trainCommand(model, { ...trainFlags({ resume: join(dir, 'wasm'), backend: 'wasm', steps: '4' }), data: undefined, set: undefined }));
    expect(resumed.stdout).not.toContain('"step":1,"loss"');
    expectClose(losses(resumed), cpu.slice(2), LOSS_RTOL);
    expect(readCheckpointDir(join(dir, 'wasm')).state.step).toBe(4);
  });

  it('trains a quantized base as the CPU reference does (--frozen-dtype int8)', async () => {
    const cpu = losses(await run(() => trainCommand(model, trainFlags({ backend: 'cpu', frozenDtype: 'int8', out: join(dir, 'q-cpu'), steps: '2' }))));
    const wasm = losses(await run(() => trainCommand(model, trainFlags({ backend: 'wasm', frozenDtype: 'int8', out: join(dir, 'q-wasm'), steps: '2' }))));
    expectClose(wasm, cpu, LOSS_RTOL);
    expect(readCheckpointDir(join(dir, 'q-wasm')).state.settings).toMatchObject({ backend: 'wasm', frozen_dtype: 'int8' });
  });

  it('evaluates a fine-tune (one adapter and several) as the CPU does', async () => {
    const ft = join(dir, 'ft');
    const base = join(dir, 'base.safetensors');
    await writeBase(base, SET, 3);
    await writeFineTune(ft, model, { set: SET, base });
    const lossOn = async (backend: string) => {
      const r = await run(() => evalCommand(model, { ...evalFlags(text, { backend, adapter: ft }) } as never));
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { loss: number }).loss;
    };
    expectClose([await lossOn('wasm')], [await lossOn('cpu')], LOSS_RTOL);
    const multi = await run(() => evalMulti(GPT2, { ...evalFlags(text, { backend: 'wasm', threads: '1' }), json: false, adapter: [`a=${ft}`], use: ['a', 'base'] } as never));
    expect(multi.code, multi.stderr).toBe(0);
    expect(multi.stdout).toMatch(/^on wasm\n/);
  });

  it('generates with the CPU key/value-cache decoder', async () => {
    const g = graphOfFile(model, SET);
    const backend = await openBackend('wasm', trainingGraph(g, optimizerFrom({})), createStore(g, 'f32'), 'auto', undefined, '1');
    expect(backend.name).toBe('wasm');
    expect(decoderFor(backend)).toBeInstanceOf(CpuDecoder);
    const text = async (backend: string) => {
      const r = await run(() => generateCommand(model, { ...genFlags({ backend, set: SET }) } as never));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toContain('re-evaluates');
      return r.stdout;
    };
    expect(await text('wasm')).toBe(await text('cpu'));
  });

  it('peftc grad: loss within 1e-5, gradients within 1e-4 of the largest, of the CPU reference', async () => {
    const tokens = join(dir, 'tokens.json');
    writeFileSync(tokens, JSON.stringify([[1, 2, 3, 4, 5, 6, 7, 8], [9, 8, 7, 6, 5, 4, 3, 2]]));
    const gradOn = async (backend: string) => {
      const out = join(dir, `grad-${backend}.safetensors`);
      const r = await run(() => gradCommand(model, { set: SET, tokens, out, backend, seed: '1', frozenDtype: 'f32' }));
      expect(r.code, r.stderr).toBe(0);
      return new Map([...(await readSafetensorsFile(out)).tensors].map(([k, t]) => [k, t.data as Float32Array]));
    };
    const cpu = await gradOn('cpu');
    const wasm = await gradOn('wasm');
    expect([...wasm.keys()].sort()).toEqual([...cpu.keys()].sort());
    expect([...cpu.keys()].filter((n) => n.startsWith('grad.')).length).toBeGreaterThan(0);
    expectClose([wasm.get('loss')![0]!], [cpu.get('loss')![0]!], LOSS_RTOL);
    for (const name of [...cpu.keys()].filter((n) => n.startsWith('grad.'))) {
      const want = cpu.get(name)!;
      const scale = Math.max(...Array.from(want, Math.abs));
      const worst = Math.max(...Array.from(wasm.get(name)!, (v, i) => Math.abs(v - want[i]!)));
      expect(worst, name).toBeLessThanOrEqual(GRAD_RTOL * scale);
    }
  });

  it('refuses a bad --threads or an unknown --backend in one line naming the flag, before any work', async () => {
    const refusal = (v: string) => `--threads must be an integer from 1 to ${MAX_THREADS}, not \`${v}\``;
    for (const bad of ['0', '-1', '2.5', 'x', String(MAX_THREADS + 1), '257', '', '1e2', ' 2']) expect(() => threadCount(bad)).toThrow(refusal(bad));
    expect(threadCount(String(MAX_THREADS))).toBe(MAX_THREADS);
    expect(threadCount(undefined)).toBeGreaterThanOrEqual(1);
    expect(BACKENDS).toContain('wasm');
    expect(backendName('wasm')).toBe('wasm');
    const oneLine = (r: Run, message: string) => {
      expect(r.code).toBe(1);
      expect(r.error?.name).toBe('UserError');
      expect(r.stderr).toBe(`peftc: ${message}\n`);
    };
    // A missing --data file would be the error if the flags were checked after the data.
    const missing = join(dir, 'no-such.txt');
    oneLine(await run(() => trainCommand(model, trainFlags({ data: missing, backend: 'wasm', threads: '0' }))), refusal('0'));
    oneLine(await run(() => trainCommand(model, trainFlags({ data: missing, backend: 'tpu' }))), '--backend must be cpu, wasm, webgpu or auto, not `tpu`');
    oneLine(await run(() => evalCommand(model, evalFlags(missing, { backend: 'wasm', threads: 'x' }) as never)), refusal('x'));
    oneLine(await run(() => generateCommand(model, genFlags({ backend: 'wasm', threads: '-1', set: SET }) as never)), refusal('-1'));
    oneLine(await run(() => evalMulti(GPT2, { ...evalFlags(missing, { backend: 'wasm', threads: '2.5' }), adapter: [] } as never)), refusal('2.5'));
    oneLine(await run(() => gradCommand(model, { set: SET, tokens: missing, out: join(dir, 'g.safetensors'), backend: 'auto' })), '--backend must be cpu, wasm or webgpu, not `auto`');
  });
});
