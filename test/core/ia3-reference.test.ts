// IA³ against PyTorch: the tiny GPT-2 of the reference fixtures with PEFT's default GPT-2 IA³
// (c_attn scaled at its output, mlp.c_proj at its input), loss, logits and every vector's
// gradient (test/fixtures/gpt2-ia3-tiny, made by scripts/reference/gpt2_ia3.py from PEFT's
// IA3 Linear). Tolerances as test/core/reference.test.ts.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { createStore } from '../../runtime/arena.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import type { Precision } from '../../runtime/cpu/tensor.ts';
import { getFloat32, parseSafetensors } from '../../runtime/io/safetensors.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { loadWeights } from '../../runtime/weights.ts';
import { graphOfText } from '../helpers.ts';

const DIR = resolve(import.meta.dirname, '../fixtures/gpt2-ia3-tiny');
const SET = ['vocab_size=64,n_positions=16,n_embd=32,n_layer=2,n_head=4'];

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('PyTorch reference: GPT-2 tiny + IA³', () => {
  const g = graphOfText('import "gpt2.peft"\npeft {\n  ia3 on "c_attn"\n  ia3(feedforward = true) on "mlp.c_proj"\n}', SET);
  const weights = parseSafetensors(readFileSync(resolve(DIR, 'weights.safetensors')));
  const expected = parseSafetensors(readFileSync(resolve(DIR, 'expected.safetensors')));
  const rows = JSON.parse(readFileSync(resolve(DIR, 'tokens.json'), 'utf8')) as number[][];
  const tokens = { shape: [rows.length, rows[0]!.length], data: Int32Array.from(rows.flat()) };
  const exec = new CpuExecutor(buildTrainingGraph(g));

  it.each([['f64', 2e-6, 1e-5, 1e-5], ['f32', 1e-5, 5e-5, 1e-5]] as [Precision, number, number, number][])('matches in %s', (precision, lossTol, logitTol, gradTol) => {
    const store = createStore(g, precision);
    expect(loadWeights(g, store, weights).size).toBe(g.params.length);
    const res = exec.run(store, { tokens, targets: lmTargets(tokens, 0) }, { precision, training: false, step: 0 });
    const loss = getFloat32(expected, 'loss')[0]!;
    expect(Math.abs(res.loss - loss) / loss).toBeLessThan(lossTol);
    expect(maxDiff(res.logits.data, getFloat32(expected, 'logits'))).toBeLessThan(logitTol);
    const grads = [...expected.tensors.keys()].filter((k) => k.startsWith('grad.'));
    expect(grads.length).toBe(4);
    expect(res.grads.size).toBe(4);
    for (const name of grads) expect(maxDiff(res.grads.get(name.slice(5))!.data, getFloat32(expected, name))).toBeLessThan(gradTol);
  });
});
