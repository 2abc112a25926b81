// The generated PyTorch model computes what peftc computes: for each example and method, the
// loss, logits and every trainable gradient of `train.py --grad` equal `peftc grad`'s (the CPU
// reference, f32) for the same seeded weights and tokens. Tolerances: torch in float64 within
// 1e-4 of the largest magnitude (peftc's f32 rounding); torch in float32 within 1e-3.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/autodiff/backward.ts';
import { gradCommand } from '../../cli/grad.ts';
import { createStore } from '../../runtime/arena.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import { initParams } from '../../runtime/init.ts';
import { parseSafetensors } from '../../runtime/io/safetensors.ts';
import { loadWeights } from '../../runtime/weights.ts';
import { readFileSync } from 'node:fs';
import { EXAMPLES, graphOf, tinySet } from '../helpers.ts';
import { buildTorch, randomTokens, readTensors, relativeError, runPython, writeRandomWeights } from './torch-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'peftc-torch-grad-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The suite's tiny sizes, with the byte tokenizer's 256 tokens (build picks the tokenizer by vocabulary). */
function smallSet(name: string): string[] {
  return [tinySet(name)[0]!.replace(/vocab_size=\d+/, 'vocab_size=256')];
}

const F64 = 1e-4;
const F32 = 1e-3;

/** peftc grad, in this process, without its stdout line. */
async function peftcGrad(file: string, set: string[], init: string, tokens: string, out: string): Promise<void> {
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    expect(await gradCommand(file, { set, init, tokens, out })).toBe(0);
  } finally {
    process.stdout.write = write;
  }
}

function compare(torchOut: string, peftcOut: string, tol: number): { checked: number } {
  const t = readTensors(torchOut);
  const p = readTensors(peftcOut);
  expect([...t.keys()].sort()).toEqual([...p.keys()].sort());
  for (const [name, ref] of p) {
    const got = t.get(name)!;
    expect(got.shape, name).toEqual(ref.shape);
    const err = relativeError(got.data, ref.data);
    expect(err, `${name}: relative error ${err}`).toBeLessThan(tol);
  }
  return { checked: p.size };
}

const CASES: { name: string; dtypes: ('float64' | 'float32')[] }[] = [
  { name: 'tiny-gpt-lora', dtypes: ['float64', 'float32'] },
  { name: 'tiny-gpt-adapter', dtypes: ['float64'] },
  { name: 'tiny-gpt-prefix', dtypes: ['float64'] },
  { name: 'tiny-gpt-prompt', dtypes: ['float64'] },
  { name: 'tiny-gpt-adalora', dtypes: ['float64'] },
  { name: 'llama-lora', dtypes: ['float64'] },
];

describe('train.py --grad equals peftc grad', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const file = resolve(EXAMPLES, `${c.name}.peft`);
      const set = c.name.startsWith('tiny') ? [] : smallSet(c.name);
      const g = graphOf(`${c.name}.peft`, set);
      const out = join(dir, c.name);
      await buildTorch(file, out, { set });
      const w = join(dir, `${c.name}.w.safetensors`);
      const tok = join(dir, `${c.name}.tokens.json`);
      writeRandomWeights(g, w, 7);
      const vocab = g.params.find((p) => p.path.endsWith('wte.weight') || p.path.endsWith('embed_tokens.weight'))!.shape[0]!;
      writeFileSync(tok, JSON.stringify(randomTokens(3, 11, vocab, 3)));
      const ref = join(dir, `${c.name}.peftc.safetensors`);
      await peftcGrad(file, set, w, tok, ref);
      for (const dtype of c.dtypes) {
        const got = join(dir, `${c.name}.${dtype}.safetensors`);
        const r = runPython([join(out, 'train.py'), '--grad', '--init', w, '--tokens', tok, '--out', got, '--dtype', dtype]);
        expect(r.status, r.stderr).toBe(0);
        const { checked } = compare(got, ref, dtype === 'float64' ? F64 : F32);
        expect(checked).toBe(2 + g.params.filter((p) => p.partition === 'trainable').length);
      }
    }, 60_000);
  }

  it('bert-adapter (a classifier with padding lengths): the loss, logits and gradients of the CPU reference', async () => {
    const set = smallSet('bert-adapter');
    const file = resolve(EXAMPLES, 'bert-adapter.peft');
    const g = graphOf('bert-adapter.peft', set);
    const out = join(dir, 'bert');
    await buildTorch(file, out, { set });
    const w = join(dir, 'bert.w.safetensors');
    writeRandomWeights(g, w, 11);
    const rows = randomTokens(3, 9, 256, 5);
    const labels = [0, 2, 1];
    writeFileSync(join(dir, 'bert.tokens.json'), JSON.stringify(rows));
    writeFileSync(join(dir, 'bert.labels.json'), JSON.stringify(labels));
    // What peftc grad computes, for a classifier (grad itself takes language models only).
    const store = createStore(g, 'f32');
    initParams(g, store, { seed: 0 });
    loadWeights(g, store, parseSafetensors(new Uint8Array(readFileSync(w))));
    const res = new CpuExecutor(buildTrainingGraph(g)).run(store, {
      tokens: { shape: [3, 9], data: Int32Array.from(rows.flat()) },
      targets: { shape: [3], data: Int32Array.from(labels) },
    }, { precision: 'f32', training: false, step: 0 });
    const got = join(dir, 'bert.f64.safetensors');
    const r = runPython([join(out, 'train.py'), '--grad', '--init', w, '--tokens', join(dir, 'bert.tokens.json'), '--labels', join(dir, 'bert.labels.json'), '--out', got, '--dtype', 'float64']);
    expect(r.status, r.stderr).toBe(0);
    const t = readTensors(got);
    expect(relativeError(t.get('loss')!.data, [res.loss])).toBeLessThan(F64);
    expect(relativeError(t.get('logits')!.data, res.logits.data)).toBeLessThan(F64);
    expect(res.grads.size).toBe(g.params.filter((p) => p.partition === 'trainable').length);
    for (const [path, gr] of res.grads) expect(relativeError(t.get(`grad.${path}`)!.data, gr.data), path).toBeLessThan(F64);
  }, 60_000);
});
