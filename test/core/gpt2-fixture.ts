// The check of the PyTorch reference fixtures of the tiny GPT-2 (test/fixtures/gpt2-*-tiny,
// made by scripts/reference/*.py): the fixture's weights loaded into the program, one forward and
// backward on its tokens, and the loss, logits and every trainable gradient compared with the
// saved float64 numbers. Tolerances (the reference saved as float32): float64 run 2e-6 relative on
// the loss, 1e-5 absolute on logits and gradients; float32 run 1e-5, 5e-5 and 1e-5.
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

export const FIXTURES = resolve(import.meta.dirname, '../fixtures');
/** The tiny GPT-2 every fixture was made with. */
export const TINY_GPT2 = ['vocab_size=64,n_positions=16,n_embd=32,n_layer=2,n_head=4'];

export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export interface FixtureCase {
  /** The fixture's folder under test/fixtures. */
  dir: string;
  /** The `peft { … }` block's body. */
  peft: string;
  /** The expected numbers' file (default expected.safetensors). */
  expected?: string;
  /** The fixture's parameter names → the project's (default: the same). */
  rename?: (name: string) => string;
  /** How many trainable gradients the fixture holds (default: as many as the run has). */
  trainable?: number;
}

const TOLERANCES: [Precision, number, number, number][] = [['f64', 2e-6, 1e-5, 1e-5], ['f32', 1e-5, 5e-5, 1e-5]];

/** Registers `matches in f64` and `matches in f32` for one fixture. */
export function fixtureMatches(c: FixtureCase): void {
  const dir = resolve(FIXTURES, c.dir);
  const rename = c.rename ?? ((n: string) => n);
  const g = graphOfText(`import "gpt2.peft"\npeft {\n  ${c.peft}\n}`, TINY_GPT2);
  const weights = parseSafetensors(readFileSync(resolve(dir, 'weights.safetensors')));
  const expected = parseSafetensors(readFileSync(resolve(dir, c.expected ?? 'expected.safetensors')));
  const rows = JSON.parse(readFileSync(resolve(dir, 'tokens.json'), 'utf8')) as number[][];
  const tokens = { shape: [rows.length, rows[0]!.length], data: Int32Array.from(rows.flat()) };
  const exec = new CpuExecutor(buildTrainingGraph(g));

  it.each(TOLERANCES)('matches in %s', (precision, lossTol, logitTol, gradTol) => {
    const store = createStore(g, precision);
    expect(loadWeights(g, store, weights, { rename }).size).toBe(g.params.length); // every parameter comes from the file
    const res = exec.run(store, { tokens, targets: lmTargets(tokens, g.promptLength) }, { precision, training: false, step: 0 });
    const loss = getFloat32(expected, 'loss')[0]!;
    expect(Math.abs(res.loss - loss) / loss).toBeLessThan(lossTol);
    expect(maxDiff(res.logits.data, getFloat32(expected, 'logits'))).toBeLessThan(logitTol);
    const gradNames = [...expected.tensors.keys()].filter((k) => k.startsWith('grad.'));
    expect(gradNames.length).toBe(c.trainable ?? res.grads.size);
    expect(res.grads.size).toBe(gradNames.length);
    for (const name of gradNames) expect(maxDiff(res.grads.get(rename(name.slice(5)))!.data, getFloat32(expected, name)), name).toBeLessThan(gradTol);
  });
}

/** A describe block per case. */
export function describeFixtures(title: string, cases: (FixtureCase & { name: string })[]): void {
  for (const c of cases) describe(`${title} ${c.name}`, () => fixtureMatches(c));
}
