// The training loop on the CPU backend: schedules, resuming from a checkpoint gives the
// same run as not stopping, a non-finite loss stops without keeping the bad update, an
// interrupt checkpoints, and the prefix adapter (MLP discarded) evaluates to the same loss.
import { describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import { adapterTensors } from '../../runtime/adapter.ts';
import { createStore } from '../../runtime/arena.ts';
import { CpuBackend, type Backend } from '../../runtime/backend.ts';
import { packCheckpoint, readCheckpoint, restoreCheckpoint, type CheckpointState } from '../../runtime/checkpoint.ts';
import type { Batch } from '../../runtime/cpu/executor.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { initParams } from '../../runtime/init.ts';
import { parseSafetensors, serializeSafetensors } from '../../runtime/io/safetensors.ts';
import { learningRate } from '../../runtime/schedule.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { train, validate, type BatchSource } from '../../runtime/trainer.ts';
import { loadWeights } from '../../runtime/weights.ts';
import { compile } from '../../compiler/build.ts';
import { nodeHost } from '../../cli/node-host.ts';
import { EXAMPLES, graphOf, tinySet } from '../helpers.ts';

/** A deterministic stream of random token batches; `skip` fast-forwards it. */
function source(g: Graph, seed = 1): BatchSource & { skip(n: number): void } {
  const rng = new Random(seed);
  const make = (r: Random): Batch => {
    const tokens = { shape: [2, 6], data: Int32Array.from({ length: 12 }, () => r.int(32)) };
    return { tokens, targets: lmTargets(tokens, g.promptLength) };
  };
  const val = [make(new Random(seed + 100)), make(new Random(seed + 101))];
  return { next: () => make(rng), validation: () => val, tokensPerBatch: 12, skip: (n) => { for (let i = 0; i < n; i++) make(rng); } };
}

function setup(file: string) {
  const g = graphOf(file, tinySet(file));
  const t = buildTrainingGraph(g, { kind: 'adamw', lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, momentum: 0, clipNorm: 1 });
  const store = createStore(g, 'f32');
  initParams(g, store, { seed: 4 });
  return { g, t, store, backend: new CpuBackend(t, store) };
}

const schedule = { kind: 'cosine' as const, lr: 1e-2, warmup: 2, total: 8 };
const state = (step: number): CheckpointState => ({ format: 'peftc-checkpoint/1', step, seed: 4, settings: {}, source: { entry: 'x', files: {} }, set: [], base: null, valLoss: null });

describe('learning-rate schedules', () => {
  it('warms up linearly and decays by a cosine to zero', () => {
    expect(learningRate(schedule, 0)).toBeCloseTo(5e-3, 12);
    expect(learningRate(schedule, 1)).toBeCloseTo(1e-2, 12);
    expect(learningRate(schedule, 2)).toBeCloseTo(1e-2, 12);
    expect(learningRate(schedule, 5)).toBeCloseTo(5e-3, 12); // half way through the decay
    expect(learningRate({ ...schedule, kind: 'constant' }, 7)).toBe(1e-2);
  });
});

describe('training loop', () => {
  it('resuming from a checkpoint reproduces the uninterrupted run exactly', async () => {
    const a = setup('gpt2-lora.peft');
    const full = await train(a.backend, source(a.g), { steps: 8, schedule, evalEvery: 0 });

    const b = setup('gpt2-lora.peft');
    let saved: Uint8Array | undefined;
    const first = await train(b.backend, source(b.g), { steps: 8, schedule, evalEvery: 0 }, {
      shouldStop: () => b.backend.optimizer.step === 4,
      checkpoint: async (step) => {
        const ck = packCheckpoint(b.store, b.backend.optimizer, state(step));
        saved = serializeSafetensors(ck.tensors, ck.metadata);
      },
    });
    expect(first.end).toBe('interrupted');
    expect(first.step).toBe(4);

    const c = setup('gpt2-lora.peft'); // fresh process: same init, state from the file
    const ck = readCheckpoint(saved!, 'ck');
    restoreCheckpoint(ck, c.store, c.backend.optimizer, 'ck');
    const data = source(c.g);
    data.skip(ck.state.step);
    const rest = await train(c.backend, data, { steps: 8, schedule, evalEvery: 0 }, {}, ck.state.step);
    expect([...first.losses, ...rest.losses]).toEqual(full.losses);
    expect(Array.from(c.store.trainable.data)).toEqual(Array.from(a.store.trainable.data));
  });

  it('a non-finite loss stops the run and keeps the last good parameters', async () => {
    const a = setup('gpt2-lora.peft');
    const checkpoints: number[] = [];
    let calls = 0;
    const poisoned: Backend = {
      ...a.backend,
      name: 'poisoned',
      optimizer: a.backend.optimizer,
      restoreOptimizer: (s) => a.backend.restoreOptimizer(s),
      evaluate: (b) => a.backend.evaluate(b),
      sync: () => a.backend.sync(),
      step: async (batch, lr) => (++calls === 3 ? { loss: NaN, gradNorm: NaN } : a.backend.step(batch, lr)),
    };
    const before = { value: new Float32Array() };
    const res = await train(poisoned, source(a.g), { steps: 6, schedule, evalEvery: 1 }, {
      checkpoint: async (step) => {
        checkpoints.push(step);
        before.value = Float32Array.from(a.store.trainable.data);
      },
    });
    expect(res.end).toBe('diverged');
    expect(res.step).toBe(2);
    expect(checkpoints).toEqual([1, 2]);
    expect(Array.from(a.store.trainable.data)).toEqual(Array.from(before.value));
  });

  it('training lowers the validation loss', async () => {
    const a = setup('gpt2.peft');
    const data = source(a.g);
    const before = await validate(a.backend, data.validation());
    // Train on the validation batches themselves: the loss must fall.
    const fixed = { ...data, next: () => data.validation()[0]! };
    const res = await train(a.backend, fixed, { steps: 30, schedule: { ...schedule, total: 30 }, evalEvery: 0 });
    expect(res.valLoss!).toBeLessThan(before);
  });
});

describe('prefix tuning after training', () => {
  it('the adapter keeps the derived prefixes only, and evaluates to the same loss', async () => {
    const a = setup('gpt2-prefix.peft');
    await train(a.backend, source(a.g), { steps: 3, schedule, evalEvery: 0 });
    const batches = source(a.g).validation();
    const trained = await validate(a.backend, batches);
    const adapter = adapterTensors(a.t, a.store);
    expect(Object.keys(adapter)).toEqual(['prefix_embeddings']);
    expect(adapter.prefix_embeddings!.shape).toEqual([20, 2 * 2 * 16]);

    const derived = compile(`${EXAMPLES}/gpt2-prefix.peft`, nodeHost, { set: tinySet('gpt2-prefix.peft'), derivedPrefix: true }).graph!;
    expect(derived.params.some((p) => p.transient)).toBe(false);
    const store = createStore(derived, 'f32');
    initParams(derived, store, { seed: 4 }); // same frozen base as `a`
    loadWeights(derived, store, parseSafetensors(serializeSafetensors(adapter)));
    const kept = await validate(new CpuBackend(buildTrainingGraph(derived), store), batches);
    expect(Math.abs(kept - trained)).toBeLessThan(1e-5);
  });
});
