// The partition view's data: every module's counts add up, the totals are summarize()'s,
// and the training costs follow from the trainable count (fp32 gradients, AdamW moments).
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXAMPLES, tinySet } from '../helpers.ts';
import { cellsOf, allocate, inset, INSET, layout, type Cell } from '../../viz/page/layout.ts';
import { compressPaths } from '../../viz/paths.ts';
import { stepFlops } from '../../viz/flops.ts';
import { METHOD_KEYS, walkViz, type MethodKey, type VizNode } from '../../viz/tree.ts';
import { formatBytes, formatShare } from '../../viz/format.ts';
import { vizOf } from './helpers.ts';

const examples = readdirSync(EXAMPLES).filter((f) => f.endsWith('.peft'));
/** Small sizes for the families test/helpers.ts knows; other examples as they are. */
const small = (f: string) => (/^(gpt2|bert|llama)/.test(f) ? tinySet(f) : []);

function expectSums(n: VizNode): void {
  const own = (f: (p: VizNode['params'][number]) => boolean) => n.params.filter(f).reduce((a, p) => a + p.count, 0);
  expect(n.count, n.path).toBe(own(() => true) + n.children.reduce((a, c) => a + c.count, 0));
  expect(n.trainable, n.path).toBe(own((p) => p.partition === 'trainable') + n.children.reduce((a, c) => a + c.trainable, 0));
  for (const k of METHOD_KEYS) {
    const want = own((p) => p.method === k) + n.children.reduce((a, c) => a + (c.byMethod[k] ?? 0), 0);
    expect(n.byMethod[k] ?? 0, `${n.path} ${k}`).toBe(want);
  }
  n.children.forEach(expectSums);
}

describe('the module tree', () => {
  it.each(examples)('%s: children sum to their parent and the root equals summarize()', (f) => {
    const { res, tree, summary } = vizOf(f, small(f));
    expectSums(tree);
    expect(tree.count).toBe(summary.total);
    expect(tree.trainable).toBe(summary.trainable);
    expect(tree.byMethod.frozen ?? 0).toBe(summary.frozen);
    // Every parameter sits in exactly one module.
    const paths = [...walkViz(tree)].flatMap((n) => n.params.map((p) => p.path));
    expect(paths.sort()).toEqual(res.graph!.params.map((p) => p.path).sort());
  });

  it('gpt2-lora: LoRA on every c_attn, with its settings and tensors', () => {
    const { tree, summary } = vizOf('gpt2-lora.peft');
    expect(tree.count).toBe(124_734_720);
    expect(tree.trainable).toBe(294_912);
    expect(summary.trainable).toBe(294_912);
    const byPath = new Map([...walkViz(tree)].map((n) => [n.path, n]));
    const cattn = byPath.get('h.0.attn.c_attn')!;
    expect(cattn.type).toBe('Linear');
    expect(cattn.trainable).toBe(24_576);
    expect(cattn.methods).toEqual([{ name: 'lora', settings: { rank: 8, alpha: 16, dropout: 0, rslora: false } }]);
    expect(cattn.params.map((p) => `${p.name} ${p.shape.join('x')} ${p.method}`)).toEqual([
      'weight 768x2304 frozen',
      'bias 2304 frozen',
      'lora_A.weight 8x768 lora',
      'lora_B.weight 2304x8 lora',
    ]);
    expect(byPath.get('h')!.repeat).toBe(12);
    expect(byPath.get('lm_head')!.tiedTo).toBe('wte');
    expect(byPath.get('wte')!.tiedFrom).toEqual(['lm_head']);
    const trainableModules = [...walkViz(tree)].filter((n) => n.params.some((p) => p.partition === 'trainable'));
    expect(trainableModules.map((n) => n.path)).toEqual(Array.from({ length: 12 }, (_, i) => `h.${i}.attn.c_attn`));
  });

  it('modules a method adds get their own place: prefix encoder, soft prompt, adapters', () => {
    const prefix = vizOf('gpt2-prefix.peft', tinySet('gpt2')).tree;
    const enc = prefix.children.find((c) => c.name === 'prefix_encoder')!;
    expect(enc).toMatchObject({ synthetic: true, type: 'PrefixEncoder' });
    expect(enc.params.every((p) => p.transient && p.method === 'prefix')).toBe(true);
    const prompt = vizOf('gpt2-prompt.peft', tinySet('gpt2')).tree;
    expect(prompt.children.find((c) => c.name === 'prompt')!.params.map((p) => p.name)).toEqual(['prompt_embeddings']);
    const bert = vizOf('bert-adapter.peft', tinySet('bert')).tree;
    const dense = [...walkViz(bert)].find((n) => n.path === 'encoder.layer.0.output.dense')!;
    expect(dense.children.map((c) => `${c.name} ${c.type}`)).toEqual(['adapter Adapter']);
    const kinds = new Set<MethodKey>([...walkViz(bert)].flatMap((n) => n.params.map((p) => p.method)));
    expect([...kinds].sort()).toEqual(['adapter', 'frozen', 'train']);
  });
});

describe('the comparison with a full fine-tune', () => {
  it('gpt2-lora: fp32 gradients, AdamW moments, checkpoints', async () => {
    const { compareWithFull } = await import('../../viz/tree.ts');
    const { summary, full } = vizOf('gpt2-lora.peft');
    const c = compareWithFull(summary, full);
    expect(c.peft).toMatchObject({ trainable: 294_912, gradientBytes: 1_179_648, optimizerBytes: 2_359_296, checkpointBytes: 3_538_944, exportBytes: 1_179_648, adapterOnly: true });
    // `full: true` trains every parameter of the same program, LoRA's included.
    expect(c.full).toMatchObject({ trainable: 124_439_808, gradientBytes: 4 * 124_439_808, optimizerBytes: 8 * 124_439_808, adapterOnly: false, exportBytes: 4 * 124_439_808 });
    expect(formatBytes(c.peft.gradientBytes)).toBe('1.1 MiB');
    expect(formatBytes(c.full.gradientBytes + c.full.optimizerBytes)).toBe('1.4 GiB');
  });

  it('prefix tuning ships only what the discarded MLP produced', async () => {
    const { fineTuneCosts } = await import('../../viz/tree.ts');
    const { summary } = vizOf('gpt2-prefix.peft');
    const c = fineTuneCosts(summary);
    expect(summary.kept.trainable).toBe(368_640);
    expect(c.exportBytes).toBe(4 * 368_640);
    expect(c.gradientBytes).toBe(4 * summary.trainable);
  });

  it('formats shares as the views show them', () => {
    expect([formatShare(0, 10), formatShare(1, 1e6), formatShare(294_912, 124_734_720), formatShare(5, 5)]).toEqual(['0%', '<0.01%', '0.24%', '100%']);
  });
});

describe('the icicle layout', () => {
  it('allocate: proportional, with minimums taken from the larger items', () => {
    expect(allocate(100, [1, 3], [0, 0])).toEqual([25, 75]);
    const s = allocate(100, [1000, 1], [0, 5]);
    expect(s[1]).toBe(5);
    expect(s[0]! + s[1]!).toBeCloseTo(100);
    expect(allocate(4, [1, 1, 1, 1], [2, 2, 2, 2])).toEqual([1, 1, 1, 1]);
  });

  function check(c: Cell): void {
    const kids = c.children.filter((k) => k.value > 0);
    if (!kids.length) return;
    expect(kids.reduce((a, k) => a + (k.y1 - k.y0), 0)).toBeCloseTo(c.y1 - c.y0, 6);
    expect(kids[0]!.y0).toBeCloseTo(c.y0, 6);
    kids.forEach(check);
  }

  it('gpt2-lora: identical layers are one band of totals; bands tile their parent at true scale', () => {
    const { tree } = vizOf('gpt2-lora.peft');
    const { root, byPath } = cellsOf(tree);
    const cells = layout(root, 0, 640);
    check(root);
    expect(root.children.map((c) => c.id)).toEqual(['wte', 'wpe', 'h.0–11', 'ln_f', 'lm_head']);
    const h = cells.find((c) => c.id === 'h.0–11')!;
    expect(h.times).toBe(12);
    expect(h.value).toBe(12 * 7_112_448);
    // Every layer's modules and tensors map to the run's band.
    expect(byPath.get('h.5.attn.c_attn')!.id).toBe('h.0–11.attn.c_attn');
    expect(byPath.get('h.7.attn.c_attn.lora_B.weight#')!.id).toBe('h.0–11.attn.c_attn.lora_B.weight#');
    const wte = cells.find((c) => c.id === 'wte')!;
    expect((wte.y1 - wte.y0) / 640).toBeCloseTo(38_597_376 / 124_734_720, 9);
    const a = cells.find((c) => c.id === 'h.0–11.attn.c_attn.lora_A.weight#')!;
    expect(a.y1 - a.y0).toBeCloseTo((640 * 12 * 6144) / 124_734_720, 9);
  });

  it('layers that differ are runs: h.0, h.1, h.2–11', () => {
    const { root } = cellsOf(vizOf('gpt2-lora-prompt.peft').tree);
    const h = root.children.find((c) => c.id === 'h')!;
    expect(h.children.map((c) => `${c.id} ×${c.times}`)).toEqual(['h.0 ×1', 'h.1 ×1', 'h.2–11 ×10']);
  });

  it('the inset: the small trainable tensors at one magnification, enlarged only to their label height', () => {
    const { root } = cellsOf(vizOf('gpt2-lora.peft').tree);
    const ins = inset(layout(root, 0, 640), { ...INSET, height: 600 })!;
    expect(ins.bands.map((b) => b.cell.id)).toEqual(['h.0–11.attn.c_attn.lora_A.weight#', 'h.0–11.attn.c_attn.lora_B.weight#']);
    const [a, b] = ins.bands.map((x) => x.y1 - x.y0);
    expect(b! / a!).toBeCloseTo(3, 9); // lora_B [2304, 8] is three times lora_A [8, 768]
    expect(ins.bands.every((x) => !x.enlarged)).toBe(true);
    expect(a! / (ins.bands[0]!.cell.y1 - ins.bands[0]!.cell.y0)).toBeCloseTo(ins.magnification, 6);
    // BERT's adapter biases would be under a pixel even magnified: they get the label height, marked.
    const bert = cellsOf(vizOf('bert-adapter.peft').tree).root;
    const bi = inset(layout(bert, 0, 640))!;
    const bias = bi.bands.find((x) => x.cell.id.endsWith('down.bias#'))!;
    expect(bias.y1 - bias.y0).toBeCloseTo(INSET.minBand, 6);
    expect(bias.enlarged).toBe(true);
    expect(bi.bands.every((x) => x.y1 - x.y0 >= INSET.minBand - 1e-9)).toBe(true);
  });

  it('trainable only sizes by trainable count', () => {
    const { root } = cellsOf(vizOf('gpt2-lora.peft').tree);
    const cells = layout(root, 0, 600, true);
    expect(root.value).toBe(294_912);
    expect(cells.filter((c) => c.param).every((c) => c.param!.partition === 'trainable')).toBe(true);
    const a = cells.find((c) => c.id === 'h.0–11.attn.c_attn.lora_A.weight#')!;
    expect(a.y1 - a.y0).toBeCloseTo(150, 6);
  });
});

describe('what the page says about methods and work', () => {
  it('bert-adapter: the adapter width it resolved to, not bottleneck = 0', () => {
    const dense = [...walkViz(vizOf('bert-adapter.peft').tree)].find((n) => n.path === 'encoder.layer.0.output.dense')!;
    expect(dense.methods).toEqual([{ name: 'adapter', settings: { bottleneck: 48, reduction: 16, activation: 'gelu', placement: 'serial', scale: 1, dropout: 0, init: 'mam' } }]);
  });

  it('compresses layer paths into index ranges', () => {
    const paths = (xs: number[], s: string) => xs.map((i) => `h.${i}.${s}`);
    expect(compressPaths(paths([0, 1, 2, 3], 'attn.c_attn'))).toEqual(['h.0–3.attn.c_attn']);
    expect(compressPaths([...paths([1, 3, 5, 6, 7], 'mlp.c_fc'), 'wte'])).toEqual(['h.{1, 3, 5–7}.mlp.c_fc', 'wte']);
  });

  it('work per token: full = forward + input + weight gradients; LoRA skips the frozen weight gradients', () => {
    const { res, fullRes } = vizOf('gpt2-lora.peft');
    const lora = stepFlops(res.graph!);
    const full = stepFlops(fullRes.graph!);
    // GPT-2's matrix products: 12 layers × (c_attn, c_proj, c_fc, c_proj) + the tied head.
    const mm = 12 * (768 * 2304 + 768 * 768 + 2 * 768 * 3072) + 768 * 50257;
    const attention = 12 * 4 * 768 * 512;
    expect(full.forward).toBeCloseTo(2 * mm + attention, 0);
    expect(full.weightGrad).toBeCloseTo(2 * mm, 0);
    expect(full.inputGrad).toBeCloseTo(2 * mm + 2 * attention, 0);
    const loraMm = 12 * (8 * 768 + 2304 * 8);
    expect(lora.weightGrad).toBeCloseTo(2 * loraMm, 0);
    expect(lora.forward).toBeCloseTo(full.forward + 2 * loraMm, 0);
    expect(lora.total / full.total).toBeGreaterThan(0.6);
    expect(lora.total / full.total).toBeLessThan(0.75);
  });
});
