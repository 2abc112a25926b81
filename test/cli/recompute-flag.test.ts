// --recompute none|blocks on the verbs that build a training step (grad, train, build, memory,
// compile): the plan's activation peak shrinks and nothing else changes; a bad mode is one line.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryReport } from '../../cli/memory.ts';
import { applyRecompute } from '../../cli/recompute-flag.ts';
import { recomputeOf } from '../../compiler/autodiff/recompute.ts';
import { EXAMPLES, graphOf, tinySet } from '../helpers.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const g = graphOf('llama-lora.peft', [`${tinySet('llama')[0]},num_hidden_layers=4`]);
const dims = { batch: '2', seq: '32', frozenDtype: 'nf4' };

describe('--recompute', () => {
  it('peftc memory: blocks lowers activations_peak, and only that', async () => {
    const none = await memoryReport(g, { ...dims, recompute: 'none' });
    const blocks = await memoryReport(g, { ...dims, recompute: 'blocks' });
    expect(none.recompute).toBe('none');
    expect(blocks.recompute).toBe('blocks');
    expect(blocks.activations_peak).toBeLessThan(0.7 * none.activations_peak);
    for (const k of ['frozen', 'trainable', 'gradients', 'optimizer', 'other'] as const) expect(blocks[k], k).toBe(none[k]);
  });

  it('the flag overrides the file (written into the compiled config); a bad mode names the flag', async () => {
    const copy = { ...g, config: { ...g.config } };
    expect(recomputeOf(applyRecompute(copy, 'blocks'))).toBe('blocks');
    expect(recomputeOf(applyRecompute(copy, 'none'))).toBe('none');
    expect(() => applyRecompute(copy, 'all')).toThrow('--recompute must be none or blocks, not `all`');
    await expect(memoryReport(g, { ...dims, recompute: 'layers' })).rejects.toThrow('--recompute must be none or blocks, not `layers`');
  });

  it('the verbs take it: memory --json reports it, grad refuses a bad mode in one line with exit 1', () => {
    const file = resolve(EXAMPLES, 'llama-lora.peft');
    const set = ['--set', tinySet('llama')[0]!];
    const mem = spawnSync('node', ['bin/peftc.js', 'memory', file, ...set, '--batch', '1', '--seq', '8', '--recompute', 'blocks', '--json'], { cwd: ROOT, encoding: 'utf8' });
    expect(mem.status).toBe(0);
    expect(JSON.parse(mem.stdout).recompute).toBe('blocks');
    const bad = spawnSync('node', ['bin/peftc.js', 'grad', file, ...set, '--tokens', 'none.json', '--out', '/dev/null', '--recompute', 'some'], { cwd: ROOT, encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim()).toBe('peftc: --recompute must be none or blocks, not `some`');
  });
});
