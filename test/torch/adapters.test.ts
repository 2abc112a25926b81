// Adapter folders train.py saves for each method read back into peftc: prefix tuning (the table
// its MLP computes, in Hugging Face's column order), bottleneck adapters (AdapterHub's format) and
// prompt tuning, each imported with `peftc import` and evaluated by `peftc eval` to the validation
// loss the trainer logged on the same rows.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataRows } from '../../cli/build-torch.ts';
import { pickTokenizer } from '../../cli/session.ts';
import { resolveData } from '../../runtime/data/corpora-node.ts';
import { EXAMPLES, graphOf } from '../helpers.ts';
import { buildTorch, rng, runPython } from './torch-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'peftc-torch-adapters-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const T = 16;

function words(n: number, seed: number): string {
  const vocab = 'the cat sat on a mat while dogs ran far away from home into woods'.split(' ');
  const r = rng(seed);
  return Array.from({ length: n }, () => vocab[Math.floor(r() * vocab.length)]).join(' ');
}

beforeAll(() => {
  writeFileSync(join(dir, 'train.txt'), words(600, 1));
  writeFileSync(join(dir, 'valid.txt'), words(200, 2));
});

const peftc = (args: string[]) => spawnSync(process.execPath, [resolve(import.meta.dirname, '../../bin/peftc.js'), ...args], { encoding: 'utf8' });

describe('train.py adapter folders read back into peftc', () => {
  for (const [name, files] of [
    ['tiny-gpt-prefix', ['adapter_config.json', 'adapter_model.safetensors']],
    ['tiny-gpt-adapter', ['adapter_config.json', 'adapter.safetensors']],
    ['tiny-gpt-prompt', ['adapter_config.json', 'adapter_model.safetensors']],
  ] as const) {
    it(name, async () => {
      const file = resolve(EXAMPLES, `${name}.peft`);
      const out = join(dir, name);
      await buildTorch(file, out, { data: join(dir, 'train.txt'), seq: String(T), batch: '4' });
      const g = graphOf(`${name}.peft`);
      const valid = join(dir, `${name}.valid.safetensors`);
      writeFileSync(valid, dataRows(g, pickTokenizer(g), T, resolveData(join(dir, 'train.txt')), resolveData(join(dir, 'valid.txt'))).bytes);
      const run = join(dir, `${name}.run`);
      const r = runPython([join(out, 'train.py'), '--steps', '2', '--lr', '0.01', '--valid', valid, '--eval-rows', '100000', '--out', run, '--json']);
      expect(r.status, r.stderr).toBe(0);
      const logged = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { valid_loss?: number });
      const validLoss = logged.filter((e) => e.valid_loss !== undefined).pop()!.valid_loss!;
      for (const f of files) expect(spawnSync('test', ['-f', join(run, f)]).status, f).toBe(0);
      const ckpt = join(dir, `${name}.ckpt`);
      const imp = peftc(['import', run, '--peft', file, '-o', ckpt]);
      expect(imp.status, imp.stderr).toBe(0);
      const ev = peftc(['eval', file, '--adapter', ckpt, '--data', join(dir, 'valid.txt'), '--seq', String(T), '--json']);
      expect(ev.status, ev.stderr).toBe(0);
      const evalLoss = (JSON.parse(ev.stdout.trim().split('\n').pop()!) as { loss: number }).loss;
      expect(Math.abs(evalLoss - validLoss) / evalLoss).toBeLessThan(1e-5);
    }, 60_000);
  }
});
