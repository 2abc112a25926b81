// Adapter folders train.py saves for each method read back into peftc: prefix tuning (the table
// its MLP computes, in Hugging Face's column order), bottleneck adapters (AdapterHub's format),
// prompt tuning, and LoRA with prompt tuning (one folder each), each imported as `peftc import`
// does and evaluated as `peftc eval` does to the validation loss the trainer logged on the same
// rows. The trainings run in one Python process; import and eval run in this one.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataRows } from '../../cli/build-torch.ts';
import { evalCommand } from '../../cli/evaluate.ts';
import { importCommand } from '../../cli/interop.ts';
import { pickTokenizer } from '../../cli/tokenizer-choice.ts';
import { resolveData } from '../../runtime/data/corpora-node.ts';
import { EXAMPLES, graphOf } from '../helpers.ts';
import { buildTorch, rng, runTrainMains, type MainResult } from './torch-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'peftc-torch-adapters-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const T = 16;
const GPT2 = 'n_layer=2,n_embd=16,n_head=2,vocab_size=256,n_positions=64';

const CASES = [
  { name: 'tiny-gpt-prefix', set: [], files: ['adapter_config.json', 'adapter_model.safetensors'] },
  { name: 'tiny-gpt-adapter', set: [], files: ['adapter_config.json', 'adapter.safetensors'] },
  { name: 'tiny-gpt-prompt', set: [], files: ['adapter_config.json', 'adapter_model.safetensors'] },
  // Two methods: one folder each, as `peftc export` writes them.
  { name: 'gpt2-lora-prompt', set: [GPT2], files: ['lora/adapter_config.json', 'lora/adapter_model.safetensors', 'prompt_tuning/adapter_config.json', 'prompt_tuning/adapter_model.safetensors'] },
];

function words(n: number, seed: number): string {
  const vocab = 'the cat sat on a mat while dogs ran far away from home into woods'.split(' ');
  const r = rng(seed);
  return Array.from({ length: n }, () => vocab[Math.floor(r() * vocab.length)]).join(' ');
}

/** What a command wrote to stdout (its exit code must be 0). */
async function quietly(run: () => Promise<number>): Promise<string> {
  const write = process.stdout.write;
  let text = '';
  process.stdout.write = ((chunk: string | Uint8Array) => ((text += String(chunk)), true)) as typeof process.stdout.write;
  try {
    expect(await run()).toBe(0);
  } finally {
    process.stdout.write = write;
  }
  return text;
}

let results: MainResult[] = [];

beforeAll(async () => {
  writeFileSync(join(dir, 'train.txt'), words(600, 1));
  writeFileSync(join(dir, 'valid.txt'), words(200, 2));
  for (const c of CASES) {
    await buildTorch(resolve(EXAMPLES, `${c.name}.peft`), join(dir, c.name), { data: join(dir, 'train.txt'), seq: String(T), batch: '4', set: c.set });
    const g = graphOf(`${c.name}.peft`, c.set);
    writeFileSync(join(dir, `${c.name}.valid.safetensors`), dataRows(g, pickTokenizer(g), T, resolveData(join(dir, 'train.txt')), resolveData(join(dir, 'valid.txt'))).bytes);
  }
  results = runTrainMains(CASES.map((c) => ({
    folder: join(dir, c.name),
    argv: ['--steps', '2', '--lr', '0.01', '--valid', join(dir, `${c.name}.valid.safetensors`), '--eval-rows', '100000', '--out', join(dir, `${c.name}.run`), '--json'],
  })));
}, 120_000);

describe('train.py adapter folders read back into peftc', () => {
  CASES.forEach((c, i) => {
    it(c.name, async () => {
      const res = results[i]!;
      expect(res.rc, res.stderr).toBe(0);
      const logged = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as { valid_loss?: number });
      const validLoss = logged.filter((e) => e.valid_loss !== undefined).pop()!.valid_loss!;
      const run = join(dir, `${c.name}.run`);
      for (const f of c.files) expect(existsSync(join(run, f)), f).toBe(true);
      const file = resolve(EXAMPLES, `${c.name}.peft`);
      const ckpt = join(dir, `${c.name}.ckpt`);
      await quietly(() => importCommand(run, { peft: file, out: ckpt, set: c.set }));
      const out = await quietly(() => evalCommand(file, { adapter: ckpt, data: join(dir, 'valid.txt'), seq: String(T), batch: '8', json: true, set: c.set }));
      const evalLoss = (JSON.parse(out.trim().split('\n').pop()!) as { loss: number }).loss;
      expect(Math.abs(evalLoss - validLoss) / evalLoss).toBeLessThan(1e-5);
    }, 60_000);
  });
});
