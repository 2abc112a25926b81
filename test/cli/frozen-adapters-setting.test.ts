// The `frozen_adapters` checkpoint setting (the adapters a fine-tune was trained on top of) is
// checked for its shape, not only for being JSON: a hand-edited value is one line naming the
// checkpoint, the setting and the entry, never a crash inside the loader.
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { adapterTensors } from '../../runtime/adapter.ts';
import { CHECKPOINT_FORMAT, packCheckpoint, type CheckpointState } from '../../runtime/checkpoint.ts';
import { writeCheckpointDir } from '../../runtime/checkpoint-node.ts';
import { FROZEN_SETTING, frozenAdaptersOf } from '../../runtime/multi/load-node.ts';
import { peftc } from './peftc.ts';
import { EXAMPLES } from '../helpers.ts';
import { compilePeft, randomStore, tempDir } from '../interop/helpers.ts';

const state = (v: unknown) => ({ settings: { [FROZEN_SETTING]: v } }) as unknown as CheckpointState;
const SHAPE = 'it must be a JSON array of {"name": …, "dir": …}';

describe('frozen_adapters setting', () => {
  it('reads what train writes, and nothing when absent or empty', () => {
    expect(frozenAdaptersOf(state(JSON.stringify([{ name: 'a', dir: '/x/a' }])), 'ck')).toEqual([{ name: 'a', dir: '/x/a' }]);
    for (const none of [undefined, null, '']) expect(frozenAdaptersOf(state(none), 'ck')).toEqual([]);
  });

  it('a badly shaped value names the checkpoint, the setting and what is wrong where', () => {
    const cases: [unknown, string][] = [
      ['{}', 'is badly shaped: expected array, received object'],
      ['[1]', 'is badly shaped at [0]: expected object, received number'],
      ['[{"name": "a"}]', 'is badly shaped at [0].dir: missing'],
      ['[{"name": "a", "dir": "d"}, {"name": 3, "dir": "d"}]', 'is badly shaped at [1].name: expected string, received number'],
      ['[{"name": "a b", "dir": "d"}]', 'is badly shaped at [0].name: expected an adapter name (letters, digits, _ and -)'],
      ['[{"name": "a", "dir": ""}]', 'is badly shaped at [0].dir: Too small: expected string to have >=1 characters'],
      ['nope', 'is not valid JSON'],
      [7, 'is number 7'],
    ];
    for (const [v, what] of cases) {
      expect(() => frozenAdaptersOf(state(v), 'runs/x'), String(v)).toThrow(`runs/x: setting \`frozen_adapters\` ${what}; ${SHAPE}`);
    }
  });

  it('peftc eval --adapter of such a checkpoint exits 1 with that line', async () => {
    const dir = tempDir();
    const set = ['vocab_size=256,n_positions=32,n_embd=16,n_layer=1,n_head=2'];
    const text = `import ${JSON.stringify(resolve(EXAMPLES, 'gpt2.peft'))}\npeft { lora(rank = 2) on "c_attn" }\n`;
    const c = compilePeft(text, set);
    const store = randomStore(c.graph, 1);
    const m = new Float32Array(store.trainable.size);
    const ck = packCheckpoint(store, { step: 1, m, v: m }, { format: CHECKPOINT_FORMAT, step: 1, seed: 1, settings: { [FROZEN_SETTING]: '{"name": "a"}' }, source: { entry: c.entry, files: c.files }, set, base: null, valLoss: null });
    const ckDir = join(dir, 'ck');
    await writeCheckpointDir(ckDir, ck, adapterTensors(buildTrainingGraph(c.graph), store));
    writeFileSync(join(dir, 'm.peft'), text);
    writeFileSync(join(dir, 'd.txt'), 'abcdefghij'.repeat(10));
    const r = peftc('eval', join(dir, 'm.peft'), '--adapter', ckDir, '--data', join(dir, 'd.txt'), '--seq', '8', '--tokenizer', 'byte');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`peftc: ${ckDir}: setting \`frozen_adapters\` is badly shaped: expected array, received object; ${SHAPE}\n`);
  });
});
