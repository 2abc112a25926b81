// The verbs as a user runs them: export, import (to a checkpoint and --emit-peft) and merge of a
// tiny GPT-2 fine-tune, and a user error printed as one line with exit status 1, nothing written.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createStore } from '../../runtime/arena.ts';
import { initParams } from '../../runtime/init.ts';
import { serializeSafetensors } from '../../runtime/io/safetensors.ts';
import { baseTensors, compilePeft, makeCheckpoint, tempDir } from './helpers.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const SET = 'vocab_size=32,n_positions=16,n_embd=16,n_layer=2,n_head=2';

function peftc(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('peftc export / import / merge', () => {
  const tmp = tempDir();
  it('runs the three verbs on a tiny GPT-2 LoRA', async () => {
    const text = 'import "gpt2.peft"\npeft { lora(rank = 2, alpha = 4) on "c_attn" }';
    const ck = join(tmp, 'ck');
    await makeCheckpoint(ck, text, [SET]);
    const peft = join(ROOT, 'examples', 'gpt2-lora.peft');

    const hf = join(tmp, 'hf');
    let r = peftc('export', ck, '--format', 'hf-peft', '-o', hf, '--base-model', 'gpt2');
    expect(r.err).toBe('');
    expect(r.out).toContain(`${hf}: Hugging Face PEFT LORA (adapter_config.json, adapter_model.safetensors: 4 tensors)`);

    r = peftc('import', hf, '--emit-peft', 'examples/gpt2.peft', '--set', SET);
    expect(r.code).toBe(0);
    expect(r.out).toContain('import "examples/gpt2.peft"\n\npeft {\n  lora(rank = 2, alpha = 4) on "c_attn"\n}\n');

    // examples/gpt2-lora.peft has rank 8: the adapter does not describe it.
    r = peftc('import', hf, '--peft', peft, '-o', join(tmp, 'wrong'), '--set', SET);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^peftc: .*hf does not describe this .peft model: `h.0.attn.c_attn` has rank 2 there, 8 in the .peft \(likewise `h.1.attn.c_attn`\)\n$/);
    expect(existsSync(join(tmp, 'wrong'))).toBe(false);

    const mine = join(tmp, 'tune.peft');
    writeFileSync(mine, `import "${join(ROOT, 'examples', 'gpt2.peft')}"\npeft { lora(rank = 2, alpha = 4) on "c_attn" }\n`);
    r = peftc('import', hf, '--peft', mine, '-o', join(tmp, 'back'), '--set', SET);
    expect(r.code).toBe(0);
    expect(r.out).toContain('4 trainable tensors from 1 adapter folder(s) (lora); step 0');

    const g = compilePeft('import "gpt2.peft"', [SET]).graph;
    const s = createStore(g, 'f32');
    initParams(g, s, { seed: 3 });
    const base = join(tmp, 'base.safetensors');
    writeFileSync(base, serializeSafetensors(baseTensors(g, s, (p) => `transformer.${p}`)));
    r = peftc('merge', mine, '--init', base, '--adapter', join(tmp, 'back'), '-o', join(tmp, 'merged.safetensors'), '--set', SET);
    expect(r.err).toBe('');
    expect(r.out).toContain('fine-tune folded into 2, 0 replaced by trained weights');

  });
});
