// The generated PyTorch model computes what peftc computes: for each example and method, the
// loss, logits and every trainable gradient of `train.py --grad` equal `peftc grad`'s (the CPU
// reference, f32) for the same seeded weights and tokens. Tolerances: torch in float64 within
// 1e-4 of the largest magnitude (peftc's f32 rounding); torch in float32 within 1e-3.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gradCommand } from '../../cli/grad.ts';
import { optimizerFrom } from '../../cli/flags.ts';
import { trainingGraph } from '../../cli/session.ts';
import { createStore } from '../../runtime/arena.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import { initParams } from '../../runtime/init.ts';
import { parseSafetensors } from '../../runtime/io/safetensors.ts';
import { loadWeights } from '../../runtime/weights.ts';
import { readFileSync } from 'node:fs';
import { EXAMPLES, graphOf, graphOfText, tinySet } from '../helpers.ts';
import { buildTorch, randomTokens, readTensors, relativeError, runTrainMains, writeRandomWeights } from './torch-helpers.ts';

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

/** `peft`: a program of the tiny GPT written here (methods no example shows), else examples/NAME.peft. */
const CASES: { name: string; dtypes: ('float64' | 'float32')[]; peft?: string }[] = [
  { name: 'tiny-gpt-lora', dtypes: ['float64', 'float32'] },
  { name: 'tiny-gpt-adapter', dtypes: ['float64'] },
  { name: 'tiny-gpt-prefix', dtypes: ['float64'] },
  { name: 'tiny-gpt-prompt', dtypes: ['float64'] },
  { name: 'tiny-gpt-adalora', dtypes: ['float64'] },
  // AdaLoRA's orthogonality term as the paper writes it (the example above has PEFT's form).
  { name: 'tiny-gpt-adalora-paper', dtypes: ['float64'], peft: 'lora(rank = auto(target = 4, init = 12, tinit = 20, tfinal = 20, delta_t = 5, form = paper), alpha = 12) on "c_attn", "c_fc"' },
  { name: 'tiny-gpt-dylora', dtypes: ['float64'] },
  { name: 'tiny-gpt-template', dtypes: ['float64'] },
  { name: 'gpt2-lora-prompt', dtypes: ['float64'] },
  { name: 'llama-lora', dtypes: ['float64'] },
  { name: 'tiny-gpt-ia3', dtypes: ['float64'] },
  { name: 'tiny-gpt-dora', dtypes: ['float64'], peft: 'lora(rank = 4, alpha = 8, dora = true) on "c_attn", "c_fc"' },
  { name: 'tiny-gpt-lora-embedding', dtypes: ['float64'], peft: 'lora(rank = 4, alpha = 8) on "wte", "c_attn"' },
];

function programText(peft: string): string {
  return `import "${resolve(EXAMPLES, 'tiny-gpt.peft')}"\n\npeft {\n  ${peft}\n}\n`;
}

interface Prepared {
  name: string;
  trainable: number;
  ref: string;
  runs: { dtype: string; out: string; argv: string[]; folder: string }[];
}

/** Builds the trainer, draws weights and tokens, runs peftc grad: what train.py --grad must match. */
async function prepare(c: (typeof CASES)[number]): Promise<Prepared> {
  const file = c.peft ? join(dir, `${c.name}.peft`) : resolve(EXAMPLES, `${c.name}.peft`);
  if (c.peft) writeFileSync(file, programText(c.peft));
  const set = c.name.startsWith('tiny') ? [] : smallSet(c.name);
  const g = c.peft ? graphOfText(programText(c.peft)) : graphOf(`${c.name}.peft`, set);
  const folder = join(dir, c.name);
  await buildTorch(file, folder, { set });
  const w = join(dir, `${c.name}.w.safetensors`);
  const tok = join(dir, `${c.name}.tokens.json`);
  writeRandomWeights(g, w, 7);
  const vocab = g.params.find((p) => p.path.endsWith('wte.weight') || p.path.endsWith('embed_tokens.weight'))!.shape[0]!;
  writeFileSync(tok, JSON.stringify(randomTokens(3, 11, vocab, 3)));
  const ref = join(dir, `${c.name}.peftc.safetensors`);
  await peftcGrad(file, set, w, tok, ref);
  const runs = c.dtypes.map((dtype) => {
    const out = join(dir, `${c.name}.${dtype}.safetensors`);
    return { dtype, out, folder, argv: ['--grad', '--init', w, '--tokens', tok, '--out', out, '--dtype', dtype] };
  });
  return { name: c.name, trainable: g.params.filter((p) => p.partition === 'trainable').length, ref, runs };
}

/** The BERT classifier: what peftc grad computes (grad itself takes language models only). */
interface BertRef {
  run: { folder: string; argv: string[]; out: string };
  loss: number;
  logits: Float32Array | Float64Array;
  grads: Map<string, ArrayLike<number>>;
  trainable: number;
}

async function prepareBert(): Promise<BertRef> {
  const set = smallSet('bert-adapter');
  const g = graphOf('bert-adapter.peft', set);
  const folder = join(dir, 'bert');
  await buildTorch(resolve(EXAMPLES, 'bert-adapter.peft'), folder, { set });
  const w = join(dir, 'bert.w.safetensors');
  writeRandomWeights(g, w, 11);
  const rows = randomTokens(3, 9, 256, 5);
  const labels = [0, 2, 1];
  writeFileSync(join(dir, 'bert.tokens.json'), JSON.stringify(rows));
  writeFileSync(join(dir, 'bert.labels.json'), JSON.stringify(labels));
  const store = createStore(g, 'f32');
  initParams(g, store, { seed: 0 });
  loadWeights(g, store, parseSafetensors(new Uint8Array(readFileSync(w))));
  const res = new CpuExecutor(trainingGraph(g, optimizerFrom({}))).run(store, {
    tokens: { shape: [3, 9], data: Int32Array.from(rows.flat()) },
    targets: { shape: [3], data: Int32Array.from(labels) },
  }, { precision: 'f32', training: false, step: 0 });
  const out = join(dir, 'bert.f64.safetensors');
  return {
    run: { folder, out, argv: ['--grad', '--init', w, '--tokens', join(dir, 'bert.tokens.json'), '--labels', join(dir, 'bert.labels.json'), '--out', out, '--dtype', 'float64'] },
    loss: res.loss,
    logits: res.logits.data,
    grads: new Map([...res.grads].map(([k, v]) => [k, v.data])),
    trainable: g.params.filter((p) => p.partition === 'trainable').length,
  };
}

const prepared: Prepared[] = [];
let bert: BertRef;
let results: { rc: number | string | null; stderr: string }[] = [];

beforeAll(async () => {
  for (const c of CASES) prepared.push(await prepare(c));
  bert = await prepareBert();
  // Every train.py --grad in one Python process: torch is imported once.
  const runs = [...prepared.flatMap((p) => p.runs), bert.run];
  results = runTrainMains(runs.map((r) => ({ folder: r.folder, argv: r.argv })));
}, 120_000);

describe('train.py --grad equals peftc grad', () => {
  let k = 0;
  for (const c of CASES) {
    const first = k;
    k += c.dtypes.length;
    it(`${c.name} (${c.dtypes.join(', ')})`, () => {
      const p = prepared.find((x) => x.name === c.name)!;
      p.runs.forEach((run, i) => {
        const res = results[first + i]!;
        expect(res.rc, res.stderr).toBe(0);
        const { checked } = compare(run.out, p.ref, run.dtype === 'float64' ? F64 : F32);
        expect(checked).toBe(2 + p.trainable);
      });
    });
  }

  it('bert-adapter (a classifier with padding lengths): the loss, logits and gradients of the CPU reference', () => {
    const res = results[results.length - 1]!;
    expect(res.rc, res.stderr).toBe(0);
    const t = readTensors(bert.run.out);
    expect(relativeError(t.get('loss')!.data, [bert.loss])).toBeLessThan(F64);
    expect(relativeError(t.get('logits')!.data, bert.logits)).toBeLessThan(F64);
    expect(bert.grads.size).toBe(bert.trainable);
    for (const [path, gr] of bert.grads) expect(relativeError(t.get(`grad.${path}`)!.data, gr), path).toBeLessThan(F64);
  });
});
