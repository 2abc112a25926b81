// LoRA+ (`lora(…, lr_ratio = λ)`): B — and a DoRA magnitude, a 1-D parameter as PEFT groups it —
// steps at λ × the learning rate, A at the learning rate; the CPU optimizer and the WebGPU
// plan's mask agree on each parameter's rate.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { OptimizerConfig } from '../../compiler/autodiff/backward.ts';
import { decayMask, layoutArena } from '../../compiler/lower/memory.ts';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { createStore, paramView } from '../../runtime/arena.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import { initParams } from '../../runtime/init.ts';
import { Optimizer } from '../../runtime/optim.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { peftc } from '../cli/peftc.ts';
import { compileText, graphOfText, tinySet } from '../helpers.ts';

const SET = tinySet('gpt2');

/** Each trainable parameter's change after one step of `config` from the same start. */
function oneStep(ratio: string, config: OptimizerConfig): Map<string, Float64Array> {
  const g = graphOfText(`import "gpt2.peft"\npeft { lora(rank = 2, dora = true${ratio}) on "c_attn" }`, SET);
  const store = createStore(g, 'f64');
  initParams(g, store, { seed: 3 });
  // B away from zero, so every gradient is non-zero.
  for (const p of g.params) if (p.path.endsWith('lora_B.weight')) paramView(store, p.path).fill(0.05);
  const before = new Map(g.params.filter((p) => p.partition === 'trainable').map((p) => [p.path, Float64Array.from(paramView(store, p.path))]));
  const tokens = { shape: [2, 6], data: Int32Array.of(1, 4, 9, 2, 7, 3, 5, 5, 8, 0, 6, 1) };
  const res = new CpuExecutor(buildTrainingGraph(g, config)).run(store, { tokens, targets: lmTargets(tokens, 0) }, { precision: 'f64', training: true, step: 0 });
  new Optimizer(config, store.trainable).step(res.grads, config.lr);
  return new Map([...before].map(([path, b]) => [path, Float64Array.from(paramView(store, path), (v, i) => v - b[i]!)]));
}

describe('LoRA+ lr_ratio', () => {
  for (const config of [
    { kind: 'adamw', lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, momentum: 0, clipNorm: 0 },
    { kind: 'sgd', lr: 1e-2, beta1: 0, beta2: 0, eps: 0, weightDecay: 0.1, momentum: 0.9, clipNorm: 0 },
  ] as OptimizerConfig[]) {
    it(`${config.kind}: B and the magnitudes move 16× as far in one step, A as far`, () => {
      const plain = oneStep('', config);
      const plus = oneStep(', lr_ratio = 16', config);
      for (const [path, d] of plain) {
        const k = path.endsWith('lora_A.weight') ? 1 : 16;
        const got = plus.get(path)!;
        let worst = 0;
        for (let i = 0; i < d.length; i++) worst = Math.max(worst, Math.abs(got[i]! - k * d[i]!));
        expect(worst, path).toBeLessThan(1e-12);
        expect(Math.max(...d.map(Math.abs)), path).toBeGreaterThan(1e-6);
      }
    });
  }

  it('the WebGPU mask holds each block\'s rate, negative where no weight decay applies', () => {
    const g = graphOfText('import "gpt2.peft"\npeft { lora(rank = 2, lr_ratio = 4, dora = true) on "c_attn" }', SET);
    const layout = layoutArena(g.params.filter((p) => p.partition === 'trainable'));
    const mask = new Float32Array(decayMask(layout).buffer);
    const at = (path: string) => mask[layout.slots.find((s) => s.path === path)!.offset / 256];
    expect([at('h.0.attn.c_attn.lora_A.weight'), at('h.0.attn.c_attn.lora_B.weight'), at('h.0.attn.c_attn.lora_magnitude_vector')]).toEqual([1, 4, -4]);
  });

  it('is refused where it has no meaning, one line each', () => {
    const errors = (peft: string) => compileText(`import "gpt2.peft"\npeft { ${peft} }`, SET).diagnostics.filter((d) => d.severity === 'error').map((d) => d.message);
    expect(errors('lora(rank = 2, lr_ratio = 0) on "c_attn"')).toEqual([expect.stringContaining("`lora`'s lr_ratio must be a number in")]);
    expect(errors('lora(rank = dynamic(max = 4), lr_ratio = 16) on "c_attn"')).toEqual(["LoRA+'s lr_ratio is for a fixed rank; `rank = dynamic(…)` trains its own factors"]);
    expect(errors('lora(rank = 2, lr_ratio = 16) on "wte"')).toEqual([expect.stringContaining("LoRA+'s lr_ratio is not supported on the embedding `wte`")]);
  });
});
