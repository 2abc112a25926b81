// Quantized frozen weights in the WebGPU plan, without a GPU (PlanOptions.frozenQuant): which
// slots hold codes and scales and how large they are, that only the matmul and embedding
// kernels read them, how a split product binds them, and the one-line refusals. The numbers on
// the adapters: test/webgpu/quant-suite.ts.
import { describe, expect, it } from 'vitest';
import { wgslBackend } from '../../codegen/wgsl/backend.ts';
import { DEFAULT_CAPS } from '../../codegen/wgsl/caps.ts';
import { matmulKernel } from '../../codegen/wgsl/matmul/index.ts';
import { frozenQuantOf } from '../../compiler/lower/frozen-quant.ts';
import { type Plan, PlanError, buildPlan } from '../../compiler/lower/plan.ts';
import { SplitError, splitMatmul } from '../../compiler/lower/split.ts';
import { DYNAMIC_MAP } from '../../compiler/quant/dynamic-map.ts';
import { codeBytes, packQuantSlot, slotBytes } from '../../compiler/quant/slot.ts';
import { quantizableWeights } from '../../compiler/quant/select.ts';
import { buildTrainingGraph } from '../../compiler/training.ts';
import { graphOf, tinySet } from '../helpers.ts';

const dims = { B: 2, T: 8 };
const planOf = (file: string, o: Parameters<typeof buildPlan>[3], set = tinySet(file), caps = DEFAULT_CAPS): Plan => buildPlan(buildTrainingGraph(graphOf(file, set)), dims, wgslBackend(caps), o);

describe('quantized frozen slots', () => {
  it('a slot is the codes padded to 4 bytes, then the f32 scales', () => {
    // nf4 [3, 5]: 15 codes in 8 bytes; one block → one absmax
    const nf4 = { dtype: 'nf4', layout: 'out_in', rows: 3, cols: 5 } as const;
    expect(codeBytes(nf4)).toBe(8);
    expect(slotBytes(nf4)).toBe(12);
    // int8 Conv1D [in 3, out 5]: 15 codes in 16 bytes, one scale per output column
    expect(slotBytes({ dtype: 'int8', layout: 'in_out', rows: 3, cols: 5 })).toBe(16 + 20);
    expect(slotBytes({ dtype: 'int8', layout: 'out_in', rows: 3, cols: 5 })).toBe(16 + 12);
    const words = packQuantSlot(nf4, Uint8Array.of(0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf7), Float32Array.of(1.5));
    expect(Array.from(words)).toEqual([0x78563412, 0xf7debc9a, 0x3fc00000]);
  });

  it('nf4dq: the codes, a byte per block’s scale code (padded), the offset, −0.0, the dynamic map, one absmax per 256 blocks', () => {
    // [3, 100]: 300 values → 150 code bytes, 5 blocks → 8 bytes of scale codes, 258 header words, 1 absmax2
    const q = { dtype: 'nf4dq', layout: 'out_in', rows: 3, cols: 100 } as const;
    expect(slotBytes(q)).toBe(152 + 8 + 4 * 258 + 4);
    const words = packQuantSlot(q, new Uint8Array(150).fill(0x77), Float32Array.of(0.5), { codes: Uint8Array.of(1, 2, 3, 4, 255), offset: 2 });
    expect(words).toHaveLength(slotBytes(q) / 4);
    expect(words[38]).toBe(0x04030201);
    expect(words[39]).toBe(0xff);
    const f = new Float32Array(words.buffer);
    expect([f[40], Object.is(f[41], -0), f[42], f[42 + 127], f[42 + 255], f[42 + 256]]).toEqual([2, true, DYNAMIC_MAP[0], 0, 1, 0.5]);
    expect(() => packQuantSlot(q, new Uint8Array(150), Float32Array.of(0.5))).toThrow('an nf4dq slot needs its nested scales');
  });

  for (const file of ['gpt2-lora.peft', 'llama-lora.peft']) {
    for (const dtype of ['int8', 'nf4', 'nf4dq'] as const) {
      it(`${file} ${dtype}: the matrices the CPU quantizes, as codes and scales, read only by matmul and embedding kernels`, () => {
        const g = graphOf(file, tinySet(file));
        const p = planOf(file, { frozenQuant: dtype });
        const want = quantizableWeights(g);
        const q = p.frozen.slots.filter((s) => s.dtype === dtype);
        expect(q.map((s) => [s.path, s.layout])).toEqual([...want].filter(([path]) => q.some((s) => s.path === path)));
        expect(q.length).toBe(want.size);
        for (const s of q) expect(s.bytes).toBe(slotBytes({ dtype, layout: s.layout!, rows: s.shape[0]!, cols: s.shape[1]! }));
        const f32 = planOf(file, {});
        // nf4dq's 1 KiB map per matrix outweighs f32 at this size (memory.test.ts: real sizes)
        if (dtype !== 'nf4dq') expect(p.stats.frozenBytes).toBeLessThan(f32.stats.frozenBytes);
        const readers = new Set<string>();
        for (const step of p.steps) {
          if (step.kind !== 'dispatch') continue;
          const reads = step.bindings.some((b) => b.buffer === p.ids.frozen && q.some((s) => b.offset >= s.offset && b.offset < s.offset + s.bytes));
          if (reads) readers.add(p.shaders[step.shader]!.label.replace(/_\d.*?_(int8|nf4dq|nf4)/, '_*_$1'));
        }
        expect([...readers].every((l) => new RegExp(`^(matmul_|embedding_).*${dtype}`).test(l)), [...readers].join(', ')).toBe(true);
        expect([...readers].some((l) => l.startsWith('embedding_'))).toBe(true);
      });
    }
  }

  it('takes precedence over f16, and the WGSL reads B and the table through the reader', () => {
    const p = planOf('gpt2-lora.peft', { frozenQuant: 'nf4', frozenF16: true });
    expect(p.frozen.slots.some((s) => s.dtype === 'f16')).toBe(false);
    const mm = p.shaders.find((s) => /^matmul_.*_nf4/.test(s.label))!;
    expect(mm.wgsl).toContain('var<storage, read> b: array<u32>;');
    expect(mm.wgsl).toMatch(/fn qb\(i: u32\) -> f32/);
    const emb = p.shaders.find((s) => /^embedding_.*_nf4/.test(s.label))!;
    expect(emb.wgsl).toMatch(/fn qt\(i: u32\) -> f32/);
  });
});

describe('quantized B in the matmul and its split', () => {
  const quantB = { dtype: 'nf4', layout: 'out_in', rows: 512, cols: 64 } as const; // x·Wᵀ, W [512, 64]

  it('a product split by rows binds the whole slot in every piece and keeps its element indices', () => {
    const pieces = splitMatmul({ M: 1024, N: 512, K: 64, transB: true, quantB }, 1024 * 1024)!;
    expect(pieces.length).toBe(2);
    for (const p of pieces) {
      expect(p.b).toEqual({ offset: 0, bytes: slotBytes(quantB) });
      expect(p.spec).toMatchObject({ N: 512, K: 64, ldb: 64, bCol: 0, quantB });
    }
  });

  it('refuses a slot larger than one binding, and a split along K, in one line', () => {
    expect(() => splitMatmul({ M: 8, N: 512, K: 64, transB: true, quantB }, 4096)).toThrow(SplitError);
    expect(() => splitMatmul({ M: 8, N: 512, K: 64, transB: true, quantB }, 4096)).toThrow(/a quantized B of \d+ bytes is larger than one binding/);
    const tA = { M: 64, N: 64, K: 4096, transA: true, quantB: { dtype: 'int8', layout: 'out_in', rows: 4096, cols: 64 } } as const;
    expect(() => splitMatmul(tA, 300 * 1024)).toThrow('a quantized B cannot be split along K');
  });

  it('the generator checks that B is the whole stored matrix, and f16 and quantized exclude each other', () => {
    const limits = DEFAULT_CAPS.limits;
    expect(() => matmulKernel({ M: 4, N: 8, K: 16, quantB: { dtype: 'int8', layout: 'in_out', rows: 16, cols: 4 } }, { variant: 'regblock', limits })).toThrow(/quantized B \[16, 4\] does not hold a B of 128 elements in rows of 8/);
    expect(() => matmulKernel({ M: 4, N: 8, K: 16, halfB: true, quantB: { dtype: 'int8', layout: 'in_out', rows: 16, cols: 8 } }, { variant: 'tiled', limits })).toThrow('either half floats or quantized');
    const k = matmulKernel({ M: 4, N: 8, K: 16, quantB: { dtype: 'int8', layout: 'in_out', rows: 16, cols: 8 } }, { variant: 'tiled', limits });
    expect(k.label).toBe('matmul_tiled_NN_4x8x16_int8');
    expect(k.wgsl).toContain('qb(');
  });
});

describe('bindings of a quantized table', () => {
  it('a table whose f32 values exceed one binding but whose codes and scales fit is looked up whole', () => {
    // wte [2048, 64]: 512 KiB in f32, 72 KiB in nf4, under a 128 KiB binding
    const set = ['vocab_size=2048,n_positions=16,n_embd=64,n_layer=1,n_head=2'];
    const caps = { ...DEFAULT_CAPS, limits: { ...DEFAULT_CAPS.limits, maxStorageBufferBindingSize: 128 * 1024 } };
    const p = planOf('gpt2-lora.peft', { frozenQuant: 'nf4' }, set, caps);
    const lookups = p.steps.filter((s) => s.kind === 'dispatch' && /^embedding_2048x64_.*_nf4$/.test(p.shaders[s.shader]!.label));
    expect(lookups.length).toBe(1);
    expect(lookups[0]!.label).not.toContain('[piece');
  });
});

describe('refusals', () => {
  it('a quantized table larger than one binding is a PlanError naming it', () => {
    const set = ['vocab_size=2048,n_positions=16,n_embd=64,n_layer=1,n_head=2'];
    const caps = { ...DEFAULT_CAPS, limits: { ...DEFAULT_CAPS.limits, maxStorageBufferBindingSize: 32 * 1024 } };
    let err: unknown;
    try {
      planOf('gpt2-lora.peft', { frozenQuant: 'int8' }, set, caps);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PlanError);
    expect((err as Error).message).not.toContain('\n');
    expect((err as Error).message).toMatch(/embedding/);
  });

  it('a quantized weight read by an op that does not dequantize is a PlanError naming both', () => {
    const t = buildTrainingGraph(graphOf('gpt2-lora.peft', tinySet('gpt2')));
    const w = t.graph.nodes.find((n) => n.op === 'param' && n.attrs.path === 'h.0.mlp.c_fc.weight')!;
    const nodes = [...t.graph.nodes, { ...w, id: t.graph.nodes.length, op: 'scale', inputs: [w.id], attrs: { factor: 2 }, scope: 'test' }];
    expect(() => frozenQuantOf({ ...t, graph: { ...t.graph, nodes } }, 'nf4')).toThrow(
      `the frozen weight h.0.mlp.c_fc.weight is stored in nf4, but scale (node %${nodes.length - 1} in test) reads it, and only linear layers and embedding lookups dequantize`,
    );
  });
});
