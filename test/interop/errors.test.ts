// Malformed or mismatched inputs: a clear one-line InteropError, and no output folder (not even a
// half-written one) after a failure.
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { serializeSafetensors } from '../../runtime/io/safetensors.ts';
import { InteropError } from '../../runtime/interop/errors.ts';
import { exportCheckpoint, importToCheckpoint } from '../../runtime/interop/interop-node.ts';
import { compilePeft, GPT2_FIXTURE, makeCheckpoint, tempDir } from './helpers.ts';

const LORA = 'import "gpt2.peft"\npeft { lora(rank = 4, alpha = 8) on "c_attn" }';

describe('import refuses bad folders and writes nothing', () => {
  const tmp = tempDir();
  const model = compilePeft(LORA, GPT2_FIXTURE, true);
  const input = { graph: model.graph, source: { entry: model.entry, files: model.files }, set: GPT2_FIXTURE };
  let good = '';

  async function importFails(dir: string, pattern: RegExp): Promise<void> {
    const out = join(tmp, `out-${readdirSync(tmp).length}`);
    const err = await importToCheckpoint(dir, input, out).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InteropError);
    expect((err as Error).message).toMatch(pattern);
    expect((err as Error).message).not.toContain('\n');
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }

  /** A copy of the good export with its config replaced (or a file removed / added). */
  function variant(name: string, config?: string | object, edit?: (dir: string) => void): string {
    const dir = join(tmp, name);
    cpSync(good, dir, { recursive: true });
    if (config !== undefined) writeFileSync(join(dir, 'adapter_config.json'), typeof config === 'string' ? config : JSON.stringify(config));
    edit?.(dir);
    return dir;
  }

  it('setup: a good export imports', async () => {
    const ck = join(tmp, 'ck');
    await makeCheckpoint(ck, LORA, GPT2_FIXTURE);
    good = join(tmp, 'good');
    await exportCheckpoint(ck, good, { baseModel: null });
    await importToCheckpoint(good, input, join(tmp, 'imported'));
  });

  const base = { peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['c_attn'], fan_in_fan_out: true, lora_dropout: 0, bias: 'none' };
  const configs: [string, string | object, RegExp][] = [
    ['not JSON', '{"peft_type": "LORA",', /adapter_config.json: not valid JSON/],
    ['not an object', '[1, 2]', /expected a JSON object/],
    ['no peft_type', { r: 4 }, /no `peft_type`; is this a Hugging Face PEFT adapter folder\?/],
    ['an unsupported peft_type', { ...base, peft_type: 'LOHA' }, /peft_type LOHA is not supported; peftc imports LORA, /],
    ['a bad r', { ...base, r: 0 }, /`r` must be a positive integer, found 0/],
    ['DoRA where the .peft has plain LoRA', { ...base, use_dora: true }, /`h.0.attn.c_attn` is DoRA there \(use_dora\), not in the .peft \(dora\)/],
    ['LoRA bias terms', { ...base, bias: 'all' }, /bias is "all"; only "none" is supported/],
    ['targets that match nothing', { ...base, target_modules: ['q_proj'] }, /target_modules \["q_proj"\] matches no module of this model \(Linear layers: transformer.h.0.attn.c_attn/],
    ['a randomised-SVD PiSSA adapter (relative to a residual peftc cannot reproduce)', { ...base, init_lora_weights: 'pissa_niter_4' }, /init_lora_weights is "pissa_niter_4"; such an adapter applies to its residual base model, not the original one: convert it to a plain LoRA/],
    ['a PiSSA adapter into a .peft without init = pissa', { ...base, init_lora_weights: 'pissa' }, /`h.0.attn.c_attn` starts from init_lora_weights "pissa" there, init = kaiming in the .peft: that adapter applies to its residual base/],
    ['targets that are not Linear', { ...base, target_modules: ['ln_1'] }, /matches h.0.ln_1, h.1.ln_1, which are neither a Linear nor an Embedding layer/],
    // Said once for every layer it concerns.
    ['another rank', { ...base, r: 2 }, /does not describe this .peft model: `h.0.attn.c_attn` has rank 2 there, 4 in the .peft \(likewise `h.1.attn.c_attn`\)$/],
    ['another scale', { ...base, lora_alpha: 16 }, /`h.0.attn.c_attn` is scaled by 4 there \(alpha 16\), by 2 in the .peft \(alpha 8\)/],
    ['other targets', { ...base, target_modules: ['c_attn', 'c_fc'] }, /it adapts 2 module\(s\) the .peft leaves alone: h.0.mlp.c_fc, h.1.mlp.c_fc/],
    ['another method', { peft_type: 'PROMPT_TUNING', num_virtual_tokens: 3 }, /a prompt_tuning adapter, but the .peft model has no prompt/],
  ];
  it.each(configs)('an adapter_config.json with %s', async (name, config, pattern) => {
    await importFails(variant(name.replace(/ /g, '-'), config), pattern);
  });

  it('weights that do not fit, or are a pickle', async () => {
    const keyA = 'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight';
    await importFails(variant('extra', undefined, (d) => writeFileSync(join(d, 'adapter_model.safetensors'), serializeSafetensors({
      [keyA]: { dtype: 'F32', shape: [4, 32], data: new Float32Array(128) },
      'base_model.model.transformer.h.0.attn.c_attn.lora_B.weight': { dtype: 'F32', shape: [96, 3], data: new Float32Array(288) },
      'base_model.model.transformer.h.0.attn.c_attn.lora_C.weight': { dtype: 'F32', shape: [1], data: new Float32Array(1) },
    }))), /1 tensor\(s\) this model has no place for: `base_model.model.transformer.h.0.attn.c_attn.lora_C.weight`; 2 tensor\(s\) missing: .*; `base_model.model.transformer.h.0.attn.c_attn.lora_B.weight` is \[96, 3\], parameter `h.0.attn.c_attn.lora_B.weight` is \[96, 4\]/);
    await importFails(variant('pickle', undefined, (d) => {
      rmSync(join(d, 'adapter_model.safetensors'));
      writeFileSync(join(d, 'adapter_model.bin'), 'PK');
    }), /only adapter_model.bin, a PyTorch pickle peftc does not read; re-save with safe_serialization=True/);
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    await importFails(empty, /holds no adapter_config.json \(nor do its subfolders\)/);
  });
});

describe('export', () => {
  const tmp = tempDir();

  it('does not touch an existing folder', async () => {
    const ck = join(tmp, 'ck');
    await makeCheckpoint(ck, LORA, GPT2_FIXTURE);
    const out = join(tmp, 'taken');
    mkdirSync(out);
    writeFileSync(join(out, 'keep.txt'), 'mine');
    await expect(exportCheckpoint(ck, out)).rejects.toThrow(/already exists; choose a new output folder/);
    expect(readdirSync(out)).toEqual(['keep.txt']);
  });

  it('exports what it can and says what it could not', async () => {
    const ck = join(tmp, 'mixed');
    await makeCheckpoint(ck, 'import "gpt2.peft"\npeft {\n lora(rank = 2) on "c_attn"\n adapter(bottleneck = 4, placement = parallel) on "h.*.mlp"\n}', GPT2_FIXTURE);
    const res = await exportCheckpoint(ck, join(tmp, 'mixed-out'));
    expect(res.plan.parts.map((p) => p.part)).toEqual(['lora']);
    expect(res.plan.skipped).toEqual(['bottleneck adapters on h.0.mlp (parallel), h.1.mlp (parallel): the `adapters` library has plain serial adapters only on `h.N.attn` and `h.N.mlp`, and `adapter(preset = …)` ones on the same modules (a parallel adapter: `preset = par_bn`)']);
    expect(readdirSync(join(tmp, 'mixed-out')).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
  });

  it('fails, writing nothing, when nothing can be exported', async () => {
    const ck = join(tmp, 'partial-prefix');
    await makeCheckpoint(ck, 'import "gpt2.peft"\npeft { prefix(length = 2) on "h.1.attn" }', GPT2_FIXTURE);
    const out = join(tmp, 'none');
    await expect(exportCheckpoint(ck, out)).rejects.toThrow(/nothing in this fine-tune can be exported: prefix tuning of 1 of 2 attention layers: Hugging Face PEFT prefixes every layer/);
    expect(existsSync(out)).toBe(false);
    await expect(exportCheckpoint(join(tmp, 'no-such-ck'), out)).rejects.toThrow(/no checkpoint.safetensors here/);
  });
});
