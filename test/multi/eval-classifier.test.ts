// Multi-adapter eval of a BERT classifier, in-process: each adapter's accuracy as one-adapter eval
// prints it, and `--use a+p` with an AdapterHub preset adapter on top evaluates what `peftc
// combine a+p` saves (a preset below the top is refused by both, in the same words).
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { evalCommand } from '../../cli/evaluate.ts';
import { combineCommand, evalMulti } from '../../cli/multi.ts';
import { writeBase } from '../cli/fine-tune-files.ts';
import { EXAMPLES, TINY } from '../helpers.ts';
import { makeCheckpoint, tempDir } from '../interop/helpers.ts';

const dir = tempDir();
type Row = { adapter: string; loss: number; accuracy?: number };
const SET = [TINY.bert!.replace('vocab_size=32', 'vocab_size=256')];
const BASE = resolve(EXAMPLES, 'bert.peft');
const IMPORT = `import ${JSON.stringify(BASE)}\n`;
const LORA = `${IMPORT}peft { lora(rank = 2, alpha = 64) on "attention.self.value", "intermediate.dense" }\n`;
const PRESET = `${IMPORT}peft {\n  adapter(preset = seq_bn) on "encoder.layer.*.output"\n  train "classifier"\n}\n`;

/** A call's exit code, or the message it threw; its output is dropped. */
async function outcome(f: () => Promise<number>): Promise<number | string> {
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return await f();
  } catch (e) {
    return (e as Error).message;
  } finally {
    vi.restoreAllMocks();
  }
}
afterEach(() => vi.restoreAllMocks());

describe('multi-adapter eval of a classifier', async () => {
  const A = join(dir, 'a');
  const P = join(dir, 'p');
  await makeCheckpoint(A, LORA, SET, 2);
  await makeCheckpoint(P, PRESET, SET, 3);
  writeFileSync(join(dir, 'p.peft'), PRESET);
  const W = join(dir, 'base.safetensors');
  await writeBase(W, SET, 9, resolve(EXAMPLES, 'bert.peft'));
  const DATA = join(dir, 'd.jsonl');
  writeFileSync(DATA, Array.from({ length: 24 }, (_, i) => JSON.stringify({ text: `${'abc '.repeat((i % 3) + 1)}${i}`, label: i % 3 })).join('\n') + '\n');
  const common = { set: SET, init: W, data: DATA, seq: '8', batch: '4', tokenizer: 'byte', json: true };
  const multi = async (use: string[], adapters = [`a=${A}`, `p=${P}`]) => {
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await evalMulti(BASE, { ...common, adapter: adapters, use });
    } finally {
      vi.restoreAllMocks();
    }
    const rows = JSON.parse(out) as Row | Row[]; // one --use prints one object
    return Array.isArray(rows) ? rows : [rows];
  };

  it('prints each adapter\'s accuracy, as one-adapter eval does', async () => {
    const rows = await multi([]);
    expect(rows.map((r) => r.adapter)).toEqual(['a', 'p']);
    for (const r of rows) expect(r.accuracy).toBeGreaterThanOrEqual(0);
    let one = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((one += String(s)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    await evalCommand(join(dir, 'p.peft'), { ...common, adapter: P });
    vi.restoreAllMocks();
    const single = JSON.parse(one) as { loss: number; accuracy: number };
    expect(rows[1]!.accuracy).toBe(single.accuracy);
    expect(rows[1]!.loss).toBeCloseTo(single.loss, 6);
    // The table has the column too.
    let table = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((table += String(s)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    await evalMulti(BASE, { ...common, json: false, adapter: [`p=${P}`] });
    vi.restoreAllMocks();
    expect(table.split('\n')[1]).toMatch(/positions {2}accuracy$/);
    expect(table.split('\n')[2]).toMatch(new RegExp(`^p .* ${single.accuracy.toFixed(4)}$`));
  });

  it('evaluates a+p with a preset adapter on top as the stack `peftc combine a+p` saves', async () => {
    const AP = join(dir, 'ap');
    expect(await outcome(() => combineCommand(BASE, { set: SET, init: W, adapter: [`a=${A}`, `p=${P}`], use: ['a+p'], out: AP }))).toBe(0);
    const [mixed] = await multi(['a+p']);
    const [saved] = await multi([], [`ap=${AP}`]);
    const [alone] = await multi(['p']);
    expect(mixed!.loss).toBeCloseTo(saved!.loss, 6);
    expect(Math.abs(mixed!.loss - alone!.loss)).toBeGreaterThan(1e-4); // a below p changes the model
  });

  it('a preset adapter below the top is refused by eval and combine with the same reason', async () => {
    const why = /^adapter `p` has trained base modules; only LoRA and plain bottleneck adapters stack$/;
    const e = await outcome(() => multi(['p+a']).then(() => 0));
    const c = await outcome(() => combineCommand(BASE, { set: SET, init: W, adapter: [`a=${A}`, `p=${P}`], use: ['p+a'], out: join(dir, 'pa') }));
    expect(e).toMatch(why);
    expect(c).toBe(e);
    expect(await outcome(() => multi(['0.5*a+0.5*p']).then(() => 0))).toMatch(/^`p` runs in its own graph, with the others stacked below it: it takes weight 1/);
  });
});
