// LoRA's PiSSA and OLoRA initialisations (runtime/lora-init.ts) against float64 PyTorch written
// from PEFT's pissa_init / olora_init (scripts/reference/lora_inits.py), and at the model level:
// the model starts at the base (W's residual plus s·B·A is W), on Conv1D and Linear layouts.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Graph } from '../../compiler/ir/types.ts';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { createStore, paramView, type ParamStore } from '../../runtime/arena.ts';
import { CpuExecutor } from '../../runtime/cpu/executor.ts';
import { initParams } from '../../runtime/init.ts';
import { parseSafetensors } from '../../runtime/io/safetensors.ts';
import { loraFactors, subtractFactors, weightOutIn, type DecompositionKind } from '../../runtime/lora-init.ts';
import { lmTargets } from '../../runtime/targets.ts';
import { parseGraph } from '../../compiler/ir/parse.ts';
import { printGraph } from '../../compiler/ir/printer.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peftc } from '../cli/peftc.ts';
import { EXAMPLES, graphOfText, tinySet } from '../helpers.ts';
import { maxDiff } from './gpt2-fixture.ts';

const FIX = resolve(import.meta.dirname, '../fixtures/lora-inits/expected.safetensors');
const CASES: Record<string, [number, number, number, number]> = { tall: [96, 32, 4, 2], wide: [32, 128, 4, 2], square: [32, 32, 8, 0.5] };

describe('PiSSA and OLoRA factors against PyTorch (float64)', () => {
  const ref = parseSafetensors(readFileSync(FIX));
  const getFloat64 = (_: unknown, k: string) => ref.tensors.get(k)!.data as Float64Array;
  it.each(Object.keys(CASES).flatMap((c) => (['pissa', 'olora'] as DecompositionKind[]).map((k) => [c, k] as const)))('%s W, %s', (name, kind) => {
    const [fout, fin, r, s] = CASES[name]!;
    const W = weightOutIn(getFloat64(ref, `${name}.W`), fout, fin, 'out_in');
    const f = loraFactors({ kind }, W, r, s);
    expect(maxDiff(f.A, getFloat64(ref, `${name}.${kind}.A`))).toBeLessThan(1e-12);
    expect(maxDiff(f.B, getFloat64(ref, `${name}.${kind}.B`))).toBeLessThan(1e-12);
    const res = new Float64Array(fout * fin);
    subtractFactors(res, W, f, r, s, 'out_in');
    expect(maxDiff(res, getFloat64(ref, `${name}.${kind}.residual`))).toBeLessThan(1e-12);
  });
});

const tokens = { shape: [1, 6], data: Int32Array.of(1, 5, 9, 2, 7, 3) };
const logits = (g: Graph, s: ParamStore) =>
  new CpuExecutor(buildTrainingGraph(g)).run(s, { tokens, targets: lmTargets(tokens, 0) }, { precision: 'f64', training: false, step: 0 }).logits.data;

describe.each([
  ['gpt2.peft', '"c_attn", "mlp.c_proj"', 'h.0.attn.c_attn'],
  ['llama.peft', '"q_proj", "down_proj"', 'layers.0.self_attn.q_proj'],
])('init = pissa | olora on %s', (base, targets, probe) => {
  const set = tinySet(base.replace('.peft', ''));
  const plain = graphOfText(`import "${base}"`, set);
  const plainStore = createStore(plain, 'f64');
  initParams(plain, plainStore, { seed: 4 });
  it.each(['pissa', 'olora'])('%s: the model starts at the base, W holds its residual, A and B its factors', (init) => {
    const g = graphOfText(`import "${base}"\npeft { lora(rank = 2, alpha = 4, init = ${init}) on ${targets} }`, set);
    const store = createStore(g, 'f64');
    // The base as --init brings it, then the method's initialisation.
    for (const p of plain.params) paramView(store, p.path).set(paramView(plainStore, p.path));
    initParams(g, store, { seed: 4, skip: new Set(plain.params.map((p) => p.path)) });
    expect(maxDiff(logits(g, store), logits(plain, plainStore))).toBeLessThan(1e-10);
    const wp = g.params.find((p) => p.path === `${probe}.weight`)!;
    const layout = g.params.find((p) => p.path === `${probe}.lora_A.weight`)!.init as { layout: 'in_out' | 'out_in' };
    const [fout, fin] = layout.layout === 'in_out' ? [wp.shape[1]!, wp.shape[0]!] : [wp.shape[0]!, wp.shape[1]!];
    const f = loraFactors({ kind: init as DecompositionKind }, weightOutIn(paramView(plainStore, wp.path), fout, fin, layout.layout), 2, 2);
    expect(maxDiff(paramView(store, `${probe}.lora_A.weight`), f.A)).toBe(0);
    expect(maxDiff(paramView(store, `${probe}.lora_B.weight`), f.B)).toBe(0);
    expect(maxDiff(paramView(store, wp.path), paramView(plainStore, wp.path))).toBeGreaterThan(1e-3);
  });
  it('loaded factors are kept, and W still becomes the residual of the base', () => {
    const g = graphOfText(`import "${base}"\npeft { lora(rank = 2, alpha = 4, init = pissa) on ${targets} }`, set);
    const fresh = createStore(g, 'f64');
    for (const p of plain.params) paramView(fresh, p.path).set(paramView(plainStore, p.path));
    initParams(g, fresh, { seed: 4, skip: new Set(plain.params.map((p) => p.path)) });
    const loaded = createStore(g, 'f64');
    for (const p of plain.params) paramView(loaded, p.path).set(paramView(plainStore, p.path));
    const A = paramView(loaded, `${probe}.lora_A.weight`);
    A.fill(0.25);
    initParams(g, loaded, { seed: 4, skip: new Set([...plain.params.map((p) => p.path), `${probe}.lora_A.weight`]) });
    expect(paramView(loaded, `${probe}.lora_A.weight`).every((v) => v === 0.25)).toBe(true);
    expect(maxDiff(paramView(loaded, `${probe}.weight`), paramView(fresh, `${probe}.weight`))).toBe(0);
  });
});

describe('the init rules in the IR text', () => {
  it('print∘parse∘print is the identity, the rule naming W, its layout, the factor and the scale', () => {
    const g = graphOfText('import "gpt2.peft"\npeft { lora(rank = 2, alpha = 3, init = pissa) on "c_attn"\n lora(rank = 2, init = olora) on "c_fc" }', tinySet('gpt2'));
    const text = printGraph(g);
    expect(text).toContain('init=pissa(h.0.attn.c_attn.weight, in_out, A, 1.5)');
    expect(text).toContain('init=olora(h.0.mlp.c_fc.weight, in_out, B, 1)');
    expect(printGraph(parseGraph(text))).toBe(text);
  });
});

describe('peftc grad --init with init = pissa', () => {
  it('initialises after loading, so the factors and the residual come from the loaded base: the base model\'s loss', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peftc-pissa-grad-'));
    try {
      const fix = resolve(import.meta.dirname, '../fixtures/gpt2-adalora-tiny');
      const set = '--set=vocab_size=64,n_positions=16,n_embd=32,n_layer=2,n_head=4';
      const file = join(dir, 'pissa.peft');
      writeFileSync(file, `import "${resolve(EXAMPLES, 'gpt2.peft')}"\npeft { lora(rank = 4, alpha = 8, init = pissa) on "c_attn" }\n`);
      const loss = (peft: string) => {
        const r = peftc('grad', peft, set, '--init', join(fix, 'base.safetensors'), '--tokens', join(fix, 'tokens.json'), '--out', join(dir, 'g.safetensors'));
        expect(r.stderr).toBe('');
        return Number(/loss (\S+)/.exec(r.stdout)![1]);
      };
      expect(Math.abs(loss(file) - loss(resolve(EXAMPLES, 'gpt2.peft')))).toBeLessThan(1e-5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
