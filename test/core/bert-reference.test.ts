// examples/bert.peft is Hugging Face's BertForSequenceClassification: the count of bert-base with
// 2 labels, and the numbers of a tiny one against float64 PyTorch written from transformers'
// modeling_bert.py (scripts/reference/bert_exact.py: token type embeddings, the exact erf GELU,
// a sentence-pair batch with padding): loss, logits and the gradient of every parameter (a full
// fine-tune), on the CPU in f64 and f32 and on llvmpipe. The checkpoint is in Hugging Face's
// names (`bert.` prefix) and loads as it is, nothing folded. Tolerances as reference.test.ts's;
// on llvmpipe 5e-5 on logits and gradients (float32 kernels, a different summation order).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { summarize } from '../../compiler/params.ts';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { createStore, type ParamStore } from '../../runtime/arena.ts';
import { CpuExecutor, type Batch } from '../../runtime/cpu/executor.ts';
import type { Precision } from '../../runtime/cpu/tensor.ts';
import { getFloat32, parseSafetensors, serializeSafetensors } from '../../runtime/io/safetensors.ts';
import { loadInit } from '../../runtime/interop/hf-weights-node.ts';
import { openNodeGpu } from '../../runtime/webgpu/node-gpu.ts';
import { createExecutor } from '../../runtime/webgpu/plans.ts';
import type { Gpu } from '../../runtime/webgpu/gpu.ts';
import { peftc } from '../cli/peftc.ts';
import { EXAMPLES, graphOf } from '../helpers.ts';
import { maxDiff } from './gpt2-fixture.ts';

const DIR = resolve(import.meta.dirname, '../fixtures/bert-exact-tiny');
const SET = ['vocab_size=64,hidden_size=32,num_hidden_layers=2,num_attention_heads=4,intermediate_size=64,max_position_embeddings=16,num_labels=3'];

describe('examples/bert.peft', () => {
  it('is BertForSequenceClassification: 109,483,778 parameters with 2 labels', () => {
    const g = graphOf('bert.peft');
    expect(summarize(g).total).toBe(109_483_778);
    expect(g.params.find((p) => p.path === 'embeddings.token_type_embeddings.weight')!.shape).toEqual([2, 768]);
    expect(g.nodes.filter((n) => n.op === 'gelu_erf')).toHaveLength(12);
  });
});

describe('PyTorch reference: exact tiny BERT on a sentence pair', () => {
  const g = graphOf('bert.peft', SET, true);
  const t = buildTrainingGraph(g);
  const expected = parseSafetensors(readFileSync(resolve(DIR, 'expected.safetensors')));
  const b = JSON.parse(readFileSync(resolve(DIR, 'batch.json'), 'utf8')) as { tokens: number[][]; token_types: number[][]; lengths: number[]; labels: number[] };
  const [B, T] = [b.tokens.length, b.tokens[0]!.length];
  const batch: Batch = {
    tokens: { shape: [B, T], data: Int32Array.from(b.tokens.flat()) },
    targets: { shape: [B], data: Int32Array.from(b.labels) },
    extra: { token_types: { shape: [B, T], data: Int32Array.from(b.token_types.flat()) }, lengths: { shape: [B], data: Int32Array.from(b.lengths) } },
  };
  const grads = [...expected.tensors.keys()].filter((k) => k.startsWith('grad.'));
  const load = async (precision: Precision): Promise<ParamStore> => {
    const store = createStore(g, precision);
    const { loaded, plan } = await loadInit(resolve(DIR, 'weights.safetensors'), g, store);
    expect(loaded.size).toBe(g.params.length);
    expect(plan.notes).toEqual([]); // the token type table loads as itself: nothing folded
    return store;
  };
  const check = (res: { loss: number; logits: { data: ArrayLike<number> }; grads: Map<string, { data: ArrayLike<number> }> }, lossTol: number, logitTol: number, gradTol: number) => {
    const loss = getFloat32(expected, 'loss')[0]!;
    expect(Math.abs(res.loss - loss) / loss).toBeLessThan(lossTol);
    expect(maxDiff(res.logits.data, getFloat32(expected, 'logits'))).toBeLessThan(logitTol);
    expect(res.grads.size).toBe(grads.length);
    for (const name of grads) expect(maxDiff(res.grads.get(name.slice(5))!.data, getFloat32(expected, name)), name).toBeLessThan(gradTol);
  };

  it.each([['f64', 2e-6, 1e-5, 1e-5], ['f32', 1e-5, 5e-5, 1e-5]] as [Precision, number, number, number][])('matches on the CPU in %s', async (precision, lossTol, logitTol, gradTol) => {
    expect(grads.length).toBe(g.params.length);
    check(new CpuExecutor(t).run(await load(precision), batch, { precision, training: false, step: 0 }), lossTol, logitTol, gradTol);
  });

  it('without token types (a batch that leaves them out) every position is type 0', async () => {
    const store = await load('f64');
    const zeros: Batch = { ...batch, extra: { lengths: batch.extra!.lengths!, token_types: { shape: [B, T], data: new Int32Array(B * T) } } };
    const { token_types: _, ...without } = batch.extra!;
    const exec = new CpuExecutor(t);
    const a = exec.run(store, zeros, { precision: 'f64', training: false, step: 0 });
    const c = exec.run(store, { ...batch, extra: without }, { precision: 'f64', training: false, step: 0 });
    expect(Array.from(c.logits.data)).toEqual(Array.from(a.logits.data));
    expect(maxDiff(a.logits.data, getFloat32(expected, 'logits'))).toBeGreaterThan(1e-3); // the types matter
  });

  it('`peftc grad` gives the same numbers for a classifier batch (tokens, labels, lengths, token_types)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peftc-bert-grad-'));
    try {
      // `grad --init` reads the project's parameter paths: the fixture's without `bert.`.
      const file = parseSafetensors(readFileSync(resolve(DIR, 'weights.safetensors')));
      const ours = Object.fromEntries([...file.tensors.keys()].map((k) => [k.replace(/^bert\./, ''), { dtype: 'F32' as const, shape: file.tensors.get(k)!.shape, data: getFloat32(file, k) }]));
      writeFileSync(join(dir, 'w.safetensors'), serializeSafetensors(ours));
      const out = join(dir, 'grad.safetensors');
      const r = peftc('grad', resolve(EXAMPLES, 'bert.peft'), '--full', '--set', SET[0]!, '--init', join(dir, 'w.safetensors'), '--tokens', resolve(DIR, 'batch.json'), '--out', out);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const got = parseSafetensors(readFileSync(out));
      check({ loss: getFloat32(got, 'loss')[0]!, logits: { data: getFloat32(got, 'logits') }, grads: new Map(grads.map((k) => [k.slice(5), { data: getFloat32(got, k) }])) }, 1e-5, 5e-5, 1e-5);
      const bad = peftc('grad', resolve(EXAMPLES, 'bert.peft'), '--set', SET[0]!, '--tokens', resolve(DIR, '../gpt2-lora-tiny/tokens.json'), '--out', out);
      expect(bad.code).toBe(1);
      expect(bad.stderr.trim()).toMatch(/tokens\.json: a classifier needs its labels: give \{"tokens": \[\[…\]\], "labels": \[…\]\}/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  let gpu: Gpu | undefined;
  afterAll(() => gpu?.destroy());
  it('matches on llvmpipe (the training plan, exact GELU kernels included)', async () => {
    gpu = await openNodeGpu({ gpu: 'llvmpipe' });
    const store = await load('f32');
    const exec = await createExecutor(gpu, t, { B, T }, { store });
    const res = await exec.run(batch, { training: false, step: 0 });
    check({ ...res, logits: res.logits! }, 1e-5, 5e-5, 5e-5);
  }, 120_000);
});
