// The IR's text form: golden printouts of the Model IR and the Training IR, and
// print∘parse∘print = print for every example.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { parseGraph } from '../../compiler/ir/parse.ts';
import { printGraph, printTrainingGraph } from '../../compiler/ir/printer.ts';
import { verifyGraph } from '../../compiler/ir/verify.ts';
import { expectGolden } from '../grammar/golden.ts';
import { EXAMPLES, graphOf, tinySet } from '../helpers.ts';

const oneLayer = (f: string) => [...tinySet(f), f.includes('gpt') ? 'n_layer=1' : f.startsWith('bert') ? 'num_hidden_layers=1' : 'num_hidden_layers=1'];

describe('IR text form', () => {
  it('golden Model IR of GPT-2 + LoRA (one small layer)', () => {
    expectGolden(new URL('golden/gpt2-lora.ir.txt', import.meta.url), printGraph(graphOf('gpt2-lora.peft', oneLayer('gpt2'))));
  });

  it('golden Training IR of GPT-2 + LoRA (one small layer)', () => {
    const t = buildTrainingGraph(graphOf('gpt2-lora.peft', oneLayer('gpt2')));
    expectGolden(new URL('golden/gpt2-lora.train-ir.txt', import.meta.url), printTrainingGraph(t));
  });

  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.peft'));
  it.each(files)('%s: print∘parse∘print is the identity and the parsed graph verifies', (f) => {
    const text = printGraph(graphOf(f, oneLayer(f)));
    const parsed = parseGraph(text);
    expect(verifyGraph(parsed)).toEqual([]);
    expect(printGraph(parsed)).toBe(text);
  });
});
