// AdapterHub's bottleneck configs against PyTorch: `adapter(preset = seq_bn | double_seq_bn |
// par_bn)` (and non-default flags) on the tiny GPT-2 (pre-LN) and the exact tiny BERT (post-LN)
// compute what the `adapters` library computes (test/fixtures/adapterhub-bn-tiny, written by
// scripts/reference/adapterhub_bn.py from the library's BottleneckLayer, Adapter and
// ParallelAdapter code): loss, logits and every adapter weight's gradient, on the CPU in f64 and
// f32 (tolerances as gpt2-fixture.ts) and through `peftc grad`. The WebGPU runs are in
// test/webgpu/adapterhub-bn.test.ts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import type { Precision } from '../../runtime/cpu/tensor.ts';
import { getFloat32, parseSafetensors, serializeSafetensors } from '../../runtime/io/safetensors.ts';
import { peftc } from '../cli/peftc.ts';
import { BN_CASES, bnBatch, bnGraph, bnStore, bnWeights, expectMatches, TINY_BERT } from './adapterhub-fixture.ts';

const cases = Object.keys(BN_CASES);

describe('AdapterHub bottleneck configs against PyTorch (tiny GPT-2 and BERT)', () => {
  it.each(cases.flatMap((c) => [[c, 'f64', 2e-6, 1e-5, 1e-5], [c, 'f32', 1e-5, 5e-5, 1e-5]] as [string, Precision, number, number, number][]))(
    '%s on the CPU in %s',
    (c, precision, lossTol, logitTol, gradTol) => {
      const g = bnGraph(c);
      const res = new CpuExecutor(buildTrainingGraph(g)).run(bnStore(c, g, precision), bnBatch(c, g).batch, { precision, training: false, step: 0 });
      expectMatches(c, { loss: res.loss, logits: res.logits.data, grads: new Map([...res.grads].map(([k, v]) => [k, v.data])) }, lossTol, logitTol, gradTol);
    },
  );

  it('`peftc grad` gives the same numbers (BERT seq_bn, whose LayerNorm runs twice)', () => {
    const c = 'bert-seq_bn';
    const dir = mkdtempSync(join(tmpdir(), 'peftc-bn-grad-'));
    try {
      const g = bnGraph(c);
      writeFileSync(join(dir, 'w.safetensors'), serializeSafetensors(Object.fromEntries([...bnWeights(c).tensors.keys()].map((k) => [k, { dtype: 'F32' as const, shape: bnWeights(c).tensors.get(k)!.shape, data: getFloat32(bnWeights(c), k) }]))));
      writeFileSync(join(dir, 'tune.peft'), `import "${resolve(import.meta.dirname, '../../examples/bert.peft')}"\npeft {\n  ${BN_CASES[c]}\n}\n`);
      const out = join(dir, 'grad.safetensors');
      const r = peftc('grad', join(dir, 'tune.peft'), '--set', TINY_BERT[0]!, '--init', join(dir, 'w.safetensors'), '--tokens', bnBatch(c, g).file, '--out', out);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const got = parseSafetensors(readFileSync(out));
      const grads = [...got.tensors.keys()].filter((k) => k.startsWith('grad.'));
      expectMatches(c, { loss: getFloat32(got, 'loss')[0]!, logits: getFloat32(got, 'logits'), grads: new Map(grads.map((k) => [k.slice(5), getFloat32(got, k)])) }, 1e-5, 5e-5, 1e-5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
