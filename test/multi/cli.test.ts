// The multi-adapter verbs end to end (cli/multi.ts through the `peftc` binary): one base and
// named adapters for generate, eval, params, viz; combine as one adapter and merged; training on
// top of a frozen adapter. Each multi-adapter run agrees with the one-adapter form of the verb.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createStore } from '../../runtime/arena.ts';
import { initParams } from '../../runtime/init.ts';
import { writeSafetensorsFile } from '../../runtime/io/safetensors-node.ts';
import { peftc } from '../cli/peftc.ts';
import { EXAMPLES, graphOf } from '../helpers.ts';
import { makeCheckpoint, tempDir } from '../interop/helpers.ts';

const dir = tempDir();
/** The tiny GPT-2 with a byte vocabulary, so that text runs through the byte tokenizer. */
const SET = ['vocab_size=256,n_positions=64,n_embd=16,n_layer=2,n_head=2'];
const BASE = resolve(EXAMPLES, 'gpt2.peft');
const S = ['--set', SET[0]!];
const IMPORT = `import ${JSON.stringify(BASE)}\n`;
const LORA_A = `${IMPORT}peft { lora(rank = 4, alpha = 8) on "c_attn" }\n`;
const LORA_B = `${IMPORT}peft { lora(rank = 2) on "c_attn", "c_fc" }\n`;
const ADAPT = `${IMPORT}peft { adapter(bottleneck = 4) on "h.*.mlp" }\n`;

function ok(r: { code: number; stdout: string; stderr: string }): string {
  expect(r.stderr.replace(/^Warning.*\n/gm, ''), r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

describe('peftc with several adapters over one base', async () => {
  // Each checkpoint records its .peft; the same text on disk runs the one-adapter form.
  const A = join(dir, 'a');
  const B = join(dir, 'b');
  const C = join(dir, 'c');
  await makeCheckpoint(A, LORA_A, SET, 2);
  await makeCheckpoint(B, LORA_B, SET, 3);
  await makeCheckpoint(C, ADAPT, SET, 4);
  for (const [n, t] of [['a', LORA_A], ['b', LORA_B], ['c', ADAPT]]) writeFileSync(join(dir, `${n}.peft`), t!);
  // Base weights (--init) shared by both forms.
  const g = graphOf('gpt2.peft', SET);
  const store = createStore(g, 'f32');
  initParams(g, store, { seed: 9 });
  const W = join(dir, 'base.safetensors');
  await writeSafetensorsFile(W, Object.fromEntries(store.trainable.slots.map((s) => [s.param.path, { dtype: 'F32' as const, shape: s.param.shape, data: Float32Array.from(store.trainable.view(s.param.path)) }])));
  const TEXT = join(dir, 'text.txt');
  writeFileSync(TEXT, 'abcdefghijklmnopqrstuvwxyz '.repeat(4));
  const peftOf = (n: string) => join(dir, `${n}.peft`);

  it('generates for every (adapter, prompt) in one batch, each row as the one-adapter verb does', () => {
    const gen = ['--init', W, '--prompt', 'abc', '--max-tokens', '6', '--temperature', '0', '--tokenizer', 'byte'];
    const out = ok(peftc('generate', BASE, ...S, ...gen, '--adapter', `a=${A}`, '--adapter', `b=${B}`, '--adapter', `c=${C}`)).trimEnd().split('\n');
    expect(out.map((l) => l.slice(0, 4))).toEqual(['[a] ', '[b] ', '[c] ']);
    for (const [i, n] of ['a', 'b', 'c'].entries()) {
      const one = ok(peftc('generate', peftOf(n), ...S, ...gen, '--adapter', join(dir, n))).trimEnd();
      expect(out[i]!.slice(4)).toBe(one);
    }
  });

  it('evaluates each adapter, the base and a combination; the same losses as one at a time', () => {
    const ev = ['--init', W, '--data', TEXT, '--seq', '12', '--batch', '2', '--tokenizer', 'byte', '--json'];
    const rows = JSON.parse(ok(peftc('eval', BASE, ...S, ...ev, '--adapter', `a=${A}`, '--adapter', `c=${C}`, '--use', 'a', '--use', 'base', '--use', 'c+a'))) as { adapter: string; loss: number }[];
    expect(rows.map((r) => r.adapter)).toEqual(['a', 'base', 'c+a']);
    const one = JSON.parse(ok(peftc('eval', peftOf('a'), ...S, ...ev, '--adapter', A))) as { loss: number };
    expect(rows[0]!.loss).toBeCloseTo(one.loss, 6);
    expect(rows[1]!.loss).not.toBeCloseTo(one.loss, 4);
  });

  it('generates and evaluates on WebGPU (llvmpipe), and generates on wasm, as on the CPU: the same tokens, losses within 1e-5', () => {
    const gen = ['--init', W, '--prompt', 'abc', '--max-tokens', '6', '--temperature', '0', '--tokenizer', 'byte', '--adapter', `a=${A}`, '--adapter', `c=${C}`];
    const gpu = ['--backend', 'webgpu', '--gpu', 'llvmpipe'];
    const onCpu = ok(peftc('generate', BASE, ...S, ...gen));
    const onGpu = peftc('generate', BASE, ...S, ...gen, ...gpu);
    expect(onGpu.code, onGpu.stderr).toBe(0);
    expect(onGpu.stdout).toBe(onCpu);
    expect(onCpu.trimEnd().split('\n')).toHaveLength(2);
    // the wasm backend's decoder (its kernels, the cache in its memory) gives the same text
    const onWasm = peftc('generate', BASE, ...S, ...gen, '--backend', 'wasm');
    expect(onWasm.code, onWasm.stderr).toBe(0);
    expect(onWasm.stdout).toBe(onCpu);
    const ev = ['--init', W, '--data', TEXT, '--seq', '12', '--batch', '2', '--tokenizer', 'byte', '--json', '--adapter', `a=${A}`, '--adapter', `c=${C}`, '--use', 'a', '--use', 'base', '--use', 'c'];
    const cpuRows = JSON.parse(ok(peftc('eval', BASE, ...S, ...ev))) as { adapter: string; loss: number }[];
    const gpuRun = peftc('eval', BASE, ...S, ...ev, ...gpu);
    expect(gpuRun.code, gpuRun.stderr).toBe(0);
    const gpuRows = JSON.parse(gpuRun.stdout) as { adapter: string; loss: number }[];
    expect(gpuRows.map((r) => r.adapter)).toEqual(['a', 'base', 'c']);
    gpuRows.forEach((r, i) => expect(Math.abs(r.loss - cpuRows[i]!.loss)).toBeLessThan(1e-5 * (1 + Math.abs(cpuRows[i]!.loss))));
    // The table names where it ran.
    const table = ok(peftc('eval', BASE, ...S, ...ev.filter((a) => a !== '--json'), ...gpu));
    expect(table.split('\n')[0]).toMatch(/^on webgpu \(llvmpipe: /);
    expect(table).toMatch(/^a +\d+\.\d{4}/m);
    expect(peftc('eval', BASE, ...S, ...ev, '--backend', 'tpu').stderr).toMatch(/--backend must be cpu, wasm, webgpu or auto, not `tpu`/);
  });

  it('combines LoRA adapters as one adapter and merged into the base: the same model', () => {
    const ev = ['--data', TEXT, '--seq', '12', '--batch', '2', '--tokenizer', 'byte', '--json'];
    const AVG = join(dir, 'avg');
    // --init: the adapters were trained on different (seeded) bases, so the combination records W.
    expect(ok(peftc('combine', BASE, ...S, '--init', W, '--adapter', `a=${A}`, '--adapter', `b=${B}`, '--use', '0.5*a+0.5*b', '-o', AVG))).toMatch(/as one LoRA of rank 6\/2/);
    expect(readFileSync(join(AVG, 'combined.peft'), 'utf8')).toMatch(/lora\(rank = 6, alpha = 6\) on "h\.0\.attn\.c_attn", "h\.1\.attn\.c_attn"/);
    const MERGED = join(dir, 'merged.safetensors');
    ok(peftc('combine', BASE, ...S, '--adapter', `a=${A}`, '--adapter', `b=${B}`, '--use', '0.5*a+0.5*b', '--merge-into', W, '-o', MERGED));
    const onTheFly = JSON.parse(ok(peftc('eval', BASE, ...S, ...ev, '--init', W, '--adapter', `a=${A}`, '--adapter', `b=${B}`, '--use', '0.5*a+0.5*b'))) as { loss: number };
    const saved = JSON.parse(ok(peftc('eval', BASE, ...S, ...ev, '--init', W, '--adapter', `avg=${AVG}`, '--use', 'avg'))) as { loss: number };
    const merged = JSON.parse(ok(peftc('eval', BASE, ...S, ...ev, '--init', MERGED))) as { loss: number };
    expect(saved.loss).toBeCloseTo(onTheFly.loss, 6);
    expect(merged.loss).toBeCloseTo(onTheFly.loss, 5);
  });

  it('trains on top of a frozen adapter, and finds it again when evaluating the result', () => {
    const D = join(dir, 'd');
    writeFileSync(peftOf('d'), `${IMPORT}peft { adapter(bottleneck = 2) on "h.*.attn" }\n`);
    ok(peftc('train', peftOf('d'), ...S, '--init', W, '--data', TEXT, '--steps', '2', '--batch', '2', '--seq', '12', '--eval-rows', '2', '--no-baseline', '--tokenizer', 'byte', '--out', D, '--frozen-adapter', `c=${C}`));
    const ev = ['--init', W, '--data', TEXT, '--seq', '12', '--batch', '2', '--tokenizer', 'byte', '--json'];
    const one = JSON.parse(ok(peftc('eval', peftOf('d'), ...S, ...ev, '--adapter', D))) as { loss: number };
    const named = JSON.parse(ok(peftc('eval', BASE, ...S, ...ev, '--adapter', `d=${D}`, '--use', 'd'))) as { loss: number };
    expect(named.loss).toBeCloseTo(one.loss, 6);
    // Without its frozen part the model is another one.
    const stacked = JSON.parse(ok(peftc('eval', BASE, ...S, ...ev, '--adapter', `c=${C}`, '--use', 'c'))) as { loss: number };
    expect(stacked.loss).not.toBeCloseTo(one.loss, 4);
  });

  it('shows what each adapter costs next to the shared base (params, viz)', () => {
    const text = ok(peftc('params', BASE, ...S, '--adapter', `a=${A}`, '--adapter', `c=${C}`));
    expect(text).toMatch(/2 adapters over one shared base: [\d,]+ frozen params/);
    expect(text).toMatch(/^a\s+lora r=4 on 2 modules\s+512\s/m);
    expect(text).toMatch(/bank: 2 slots/);
    const json = JSON.parse(ok(peftc('params', BASE, ...S, '--adapter', `a=${A}`, '--json'))) as { memory: { base: { params: number } } };
    expect(json.memory.base.params).toBeGreaterThan(0);
    const html = join(dir, 'v.html');
    ok(peftc('viz', BASE, ...S, '--adapter', `a=${A}`, '--adapter', `c=${C}`, '-o', html));
    expect(existsSync(html)).toBe(true);
    expect(readFileSync(html, 'utf8')).toMatch(/<section id="adapters"[^]*<td>a<\/td><td>lora r=4 on 2 modules<\/td>/);
  });

  it('says what is wrong in one line', () => {
    const r = peftc('generate', join(EXAMPLES, 'gpt2-lora.peft'), ...S, '--prompt', 'x', '--adapter', `a=${A}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^peftc: .*has PEFT methods.*give the base model's \.peft/m);
    const u = peftc('eval', BASE, ...S, '--data', TEXT, '--adapter', `a=${A}`, '--use', 'zz');
    expect(u.code).toBe(1);
    expect(u.stderr).toMatch(/no adapter named `zz`/);
  });
});
