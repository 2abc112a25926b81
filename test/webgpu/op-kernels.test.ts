// The WGSL op-kernel generators without a GPU: coverage of the op catalog by generators and by
// the per-adapter cases, the errors for leaves, unknown ops and bad requests, workgroup sizes
// and workgroup memory under compatibility-mode limits, dispatch splitting, and bindings.
import { describe, expect, it } from 'vitest';
import { DEFAULT_CAPS } from '../../codegen/wgsl/caps.ts';
import { OPS, opsWithRole } from '../../compiler/ir/ops.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { dropoutThreshold } from '../../runtime/cpu/rng.ts';
import type { RuntimeLimits } from '../../runtime/webgpu/device.ts';
import { CodegenError } from '../../codegen/codegen-error.ts';
import { PCG_WGSL } from '../../codegen/wgsl/dropout.ts';
import { crossEntropyFused, OP_KERNELS, opKernel } from '../../codegen/wgsl/index.ts';
import type { GpuCaps, OpKernelRequest } from '../../codegen/wgsl/types.ts';
import { caseSeed, OP_CASES } from './op-cases.ts';
import { requestOf } from './op-harness.ts';
import { readFileSync } from 'node:fs';

const LEAVES = ['input', 'param'];
/** The decoding ops (role `decode`): kv_attention is lowered to its own kernels (KernelBackend.kvAttention), the others have generators. */
const DECODING: string[] = opsWithRole('decode');

/** WebGPU compatibility-mode defaults (llvmpipe before its limits are requested). */
const COMPAT: RuntimeLimits = {
  ...DEFAULT_CAPS.limits,
  maxComputeInvocationsPerWorkgroup: 128,
  maxComputeWorkgroupSizeX: 128,
  maxComputeWorkgroupSizeY: 128,
  maxStorageBuffersPerShaderStage: 4,
  maxUniformBufferBindingSize: 16384,
};
const SOFTWARE: GpuCaps = { isSoftware: true, limits: COMPAT, features: [] };
const HARDWARE: GpuCaps = { isSoftware: false, limits: COMPAT, features: [] };

const f = (shape: number[]) => ({ shape, dtype: 'f32' as const });
const i = (shape: number[]) => ({ shape, dtype: 'i32' as const });

function requestFor(c: (typeof OP_CASES)[number]): OpKernelRequest {
  return requestOf(c, c.inputs(new Random(caseSeed(c))));
}

function codeOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('op kernel registry', () => {
  it('has a generator for every op of the catalog except the leaves and the decoding ops, and none outside the catalog', () => {
    const expected = Object.keys(OPS).filter((op) => !LEAVES.includes(op) && !DECODING.includes(op)).sort();
    expect(Object.keys(OP_KERNELS).filter((op) => !DECODING.includes(op)).sort()).toEqual(expected);
    expect(Object.keys(OP_KERNELS).filter((op) => !Object.hasOwn(OPS, op))).toEqual([]);
  });

  it('exercises every generator of a catalog op in the per-adapter cases (the decoding ops\' in test/decode/gpu-plan.test.ts)', () => {
    const tested = new Set(OP_CASES.map((c) => c.op));
    expect(Object.keys(OP_KERNELS).filter((op) => !DECODING.includes(op) && !tested.has(op))).toEqual([]);
    expect(OP_CASES.length).toBeGreaterThan(150);
  });

  it('refuses leaves and unknown ops with a clear CodegenError', () => {
    for (const [op, text] of [
      ['input', /leaf of the graph/],
      ['param', /leaf of the graph/],
      ['softmax', /no WGSL kernel for op "softmax"/],
      ['toString', /no WGSL kernel for op "toString"/],
    ] as const) {
      const e = codeOf(() => opKernel({ op, attrs: {}, inputs: [], output: f([1]) }, SOFTWARE));
      expect(e).toBeInstanceOf(CodegenError);
      expect((e as CodegenError).kind).toBe('validation');
      expect((e as CodegenError).message).toMatch(text);
    }
  });

  it('rejects bad requests with errors that name the op and the mismatch', () => {
    const bad: [OpKernelRequest, RegExp][] = [
      [{ op: 'add', attrs: {}, inputs: [f([2, 3]), f([2])], output: f([2, 3]) }, /add kernel: cannot broadcast \[2, 3\] with \[2\]/],
      [{ op: 'gelu', attrs: {}, inputs: [f([4])], output: f([5]) }, /output must be f32 \[4\], the request says f32 \[5\]/],
      [{ op: 'embedding', attrs: {}, inputs: [f([5, 3]), f([2])], output: f([2, 3]) }, /operand ids must be i32/],
      [{ op: 'layernorm', attrs: {}, inputs: [f([2, 3])], output: f([2, 3]) }, /missing attribute eps/],
      [{ op: 'attention', attrs: { heads: 3, kv_heads: 2, causal: true, prefix: 0 }, inputs: [f([1, 2, 6]), f([1, 2, 4]), f([1, 2, 4])], output: f([1, 2, 6]) }, /heads 3 must be a multiple of kv_heads 2/],
      [{ op: 'attention', attrs: { heads: 2, kv_heads: 2, causal: true, prefix: 1 }, inputs: [f([1, 2, 4]), f([1, 2, 4]), f([1, 2, 4])], output: f([1, 2, 4]) }, /k must be \[1, 3, 4\] \(Sk = prefix \+ S = 1 \+ 2\)/],
      [{ op: 'rope', attrs: { heads: 1, theta: 1e4, inverse: false }, inputs: [f([1, 2, 5])], output: f([1, 2, 5]) }, /head size 5 must be even/],
      [{ op: 'concat', attrs: { axis: 0 }, inputs: [f([2]), i([2])], output: f([4]) }, /cannot concatenate f32 with i32/],
      [{ op: 'slice', attrs: { axis: 0, start: 0, size: 2 }, inputs: [i([3])], output: f([2]) }, /output must be i32 \[2\]/],
      [{ op: 'dropout', attrs: { p: 1, seed: 0 }, inputs: [f([3])], output: f([3]) }, /p must be in \[0, 1\)/],
      [{ op: 'pool', attrs: { mode: 'max' }, inputs: [f([1, 2, 3])], output: f([1, 3]) }, /mode must be one of first, last, mean/],
      [{ op: 'linear', attrs: { layout: 'in_out' }, inputs: [f([2, 3]), f([4, 5])], output: f([2, 5]) }, /input features 3 do not match weight \[4, 5\]/],
    ];
    for (const [req, text] of bad) {
      const e = codeOf(() => opKernel(req, SOFTWARE));
      expect(e, req.op).toBeInstanceOf(CodegenError);
      expect((e as CodegenError).message, req.op).toMatch(text);
    }
  });

  it('checks a request\'s attributes against its op\'s schema once, before the generator reads them typed', () => {
    const bad: [OpKernelRequest, string][] = [
      [{ op: 'linear', attrs: { layout: 'rows' }, inputs: [f([2, 3]), f([3, 5])], output: f([2, 5]) }, 'linear kernel: attribute layout must be one of in_out, out_in, got "rows"'],
      [{ op: 'scale', attrs: { factor: '2' }, inputs: [f([4])], output: f([4]) }, 'scale kernel: attribute factor must be a finite number, got "2"'],
      [{ op: 'slice', attrs: { axis: 0, start: 0.5, size: 1 }, inputs: [f([3])], output: f([1]) }, 'slice kernel: attribute start must be an integer, got 0.5'],
      [{ op: 'attention', attrs: { heads: 2, kv_heads: 2, causal: true, prefix: 0, window: 4 }, inputs: [f([1, 2, 4]), f([1, 2, 4]), f([1, 2, 4])], output: f([1, 2, 4]) }, 'attention kernel: unknown attribute window'],
    ];
    for (const [req, text] of bad) {
      const e = codeOf(() => opKernel(req, SOFTWARE));
      expect(e, req.op).toBeInstanceOf(CodegenError);
      expect((e as CodegenError).message, req.op).toContain(text);
    }
    // The loss's direct entry checks them too; the planner's piece attributes (row0) are not the op's but pass.
    const loss = { op: 'cross_entropy', inputs: [f([2, 5]), i([2])], output: f([2, 5]) };
    expect((codeOf(() => crossEntropyFused({ ...loss, attrs: { ignore_index: 'none' } }, SOFTWARE)) as Error).message).toContain('attribute ignore_index must be an integer');
    expect(crossEntropyFused({ ...loss, attrs: { ignore_index: -100, row0: 0 } }, SOFTWARE).wgsl).toContain('fn main');
  });

  it('refuses a tensor larger than one storage binding with a limit error', () => {
    const caps = { ...SOFTWARE, limits: { ...COMPAT, maxStorageBufferBindingSize: 1024 } };
    const e = codeOf(() => opKernel({ op: 'embedding', attrs: {}, inputs: [f([300, 1]), i([4])], output: f([4, 1]) }, caps));
    expect((e as CodegenError).kind).toBe('limit');
    expect((e as CodegenError).message).toMatch(/operand 0 \[300, 1\] holds 1200 bytes, more than this adapter's maxStorageBufferBindingSize \(1024\)/);
    const fused = codeOf(() => crossEntropyFused({ op: 'cross_entropy_grad', attrs: { ignore_index: -100 }, inputs: [f([2, 300]), i([2])], output: f([2, 300]) }, caps));
    expect((fused as CodegenError).kind).toBe('limit');
  });

  it('refuses rope positions beyond the f32 angle reduction with a limit error', () => {
    const e = codeOf(() => opKernel({ op: 'rope', attrs: { heads: 1, theta: 1e4, inverse: false, offset: 70000 }, inputs: [f([1, 2, 4])], output: f([1, 2, 4]) }, SOFTWARE));
    expect((e as CodegenError).kind).toBe('limit');
  });
});

describe('op kernels under compatibility-mode limits', () => {
  const sizes = (wgsl: string): number[] => /@workgroup_size\(([^)]*)\)/.exec(wgsl)![1]!.split(',').map((s) => Number(s.trim()));
  /** Bytes of var<workgroup> declarations (f32/u32 arrays). */
  const shared = (wgsl: string): number =>
    [...wgsl.matchAll(/var<workgroup>\s+\w+:\s*array<(?:f32|u32|i32),\s*(\d+)>/g)].reduce((a, m) => a + 4 * Number(m[1]), 0);

  for (const [name, caps] of [['software', SOFTWARE], ['hardware', HARDWARE]] as const) {
    it(`every case generates ≤ 128 invocations and ≤ 16 KiB of workgroup memory (${name} variants)`, () => {
      for (const c of OP_CASES) {
        const k = opKernel(requestFor(c), caps);
        const n = sizes(k.wgsl).reduce((a, b) => a * b, 1);
        expect(n, `${c.op} ${c.name}`).toBeLessThanOrEqual(128);
        expect(shared(k.wgsl), `${c.op} ${c.name}`).toBeLessThanOrEqual(16384);
        expect(k.workgroups.every((w) => Number.isInteger(w) && w >= 0 && w <= 65535)).toBe(true);
      }
    });
  }

  it('splits a dispatch over x and y past maxComputeWorkgroupsPerDimension, and refuses past its square', () => {
    const limits = { ...COMPAT, maxComputeWorkgroupsPerDimension: 100 };
    const req = { op: 'relu', attrs: {}, inputs: [f([64 * 150 + 1])], output: f([64 * 150 + 1]) };
    const k = opKernel(req, { ...SOFTWARE, limits });
    expect(k.workgroups).toEqual([100, 2, 1]);
    expect(k.wgsl).toContain('let i = gid.x + gid.y * 6400u;');
    const big = { op: 'relu', attrs: {}, inputs: [f([64 * 100 * 100 + 1])], output: f([64 * 100 * 100 + 1]) };
    const e = codeOf(() => opKernel(big, { ...SOFTWARE, limits }));
    expect((e as CodegenError).kind).toBe('limit');
  });

  it('keeps heavy kernels in small workgroups on software adapters only', () => {
    const req = { op: 'layernorm', attrs: { eps: 1e-5 }, inputs: [f([40, 64])], output: f([40, 64]) };
    expect(sizes(opKernel(req, SOFTWARE).wgsl)).toEqual([8]); // the rows are open: llvmpipe's SIMD width, whatever their number
    expect(opKernel(req, HARDWARE).wgsl).toContain('var<workgroup> red');
  });
});

describe('bindings', () => {
  it('binds only what the shader reads, in operand order', () => {
    const cases: [OpKernelRequest, string[]][] = [
      [{ op: 'sum_to', attrs: {}, inputs: [f([3, 4]), f([4])], output: f([4]) }, ['in0', 'out']],
      [{ op: 'expand_batch', attrs: {}, inputs: [f([3, 4]), i([2, 5])], output: f([2, 3, 4]) }, ['in0', 'out']],
      [{ op: 'positions', attrs: { offset: 2 }, inputs: [i([2, 5])], output: i([5]) }, ['out']],
      [{ op: 'pool_grad', attrs: { mode: 'mean' }, inputs: [f([2, 4]), f([2, 3, 4])], output: f([2, 3, 4]) }, ['in0', 'out']],
      [{ op: 'layernorm', attrs: { eps: 1e-5 }, inputs: [f([2, 4]), f([4]), f([4])], output: f([2, 4]) }, ['in0', 'in1', 'in2', 'out']],
      [{ op: 'layernorm_grad_x', attrs: { eps: 1e-5 }, inputs: [f([2, 4]), f([2, 4])], output: f([2, 4]) }, ['in0', 'in1', 'out']],
      [{ op: 'attention_grad_v', attrs: { heads: 1, kv_heads: 1, causal: true, prefix: 0 }, inputs: [f([1, 2, 4]), f([1, 2, 4]), f([1, 2, 4]), f([1, 2, 4]), f([1, 2, 4]), f([1, 1, 2])], output: f([1, 2, 4]) }, ['in0', 'in1', 'in3', 'in5', 'out']],
      [{ op: 'attention_lse', attrs: { heads: 1, kv_heads: 1, causal: true, prefix: 0 }, inputs: [f([1, 2, 4]), f([1, 2, 4])], output: f([1, 1, 2]) }, ['in0', 'in1', 'out']],
      [{ op: 'dropout', attrs: { p: 0.1, seed: 3 }, inputs: [f([8])], output: f([8]) }, ['in0', 'out', 'globals']],
      [{ op: 'dropout', attrs: { p: 0, seed: 3 }, inputs: [f([8])], output: f([8]) }, ['in0', 'out']],
      [{ op: 'linear', attrs: { layout: 'out_in' }, inputs: [f([2, 3]), f([5, 3]), f([5])], output: f([2, 5]) }, ['in0', 'in1', 'in2', 'out']],
      [{ op: 'linear_grad_weight', attrs: { layout: 'in_out' }, inputs: [f([2, 3]), f([2, 5])], output: f([3, 5]) }, ['in0', 'in1', 'out']],
      [{ op: 'linear_grad_weight', attrs: { layout: 'out_in' }, inputs: [f([2, 3]), f([2, 5])], output: f([5, 3]) }, ['in1', 'in0', 'out']],
    ];
    for (const [req, want] of cases) {
      const k = opKernel(req, SOFTWARE);
      expect(k.bindings, req.op).toEqual(want);
      const declared = [...k.wgsl.matchAll(/@binding\((\d+)\) var<storage/g)].map((m) => Number(m[1]));
      expect(declared, req.op).toEqual(want.map((_, n) => n));
      // Open sizes (rows, lengths) are one uniform after the storage bindings.
      const uniform = [...k.wgsl.matchAll(/@binding\((\d+)\) var<uniform> sizes: vec4<u32>/g)].map((m) => Number(m[1]));
      expect(uniform, req.op).toEqual(k.sizes ? [want.length] : []);
    }
  });

  it('the fused cross-entropy binds logits, targets, dlogits and the per-row losses', () => {
    const req = { op: 'cross_entropy_grad', attrs: { ignore_index: -100 }, inputs: [f([2, 3, 7]), i([2, 3])], output: f([2, 3, 7]) };
    for (const caps of [SOFTWARE, HARDWARE]) {
      const k = crossEntropyFused(req, caps);
      expect(k.bindings).toEqual(['in0', 'in1', 'out', 'loss']);
      expect(k.lossShape).toEqual([6]);
      expect(k.wgsl).toContain('@group(0) @binding(3) var<storage, read_write> loss: array<f32>;');
    }
  });
});

describe('dropout kernel', () => {
  it('bakes the host-computed threshold as a u32 constant and passes the seed (as u32) and the size in the sizes uniform', () => {
    const k = opKernel({ op: 'dropout', attrs: { p: 0.1, seed: -5 }, inputs: [f([7])], output: f([7]) }, SOFTWARE);
    expect(k.wgsl).toContain(`const THRESHOLD = ${dropoutThreshold(0.1)}u;`);
    expect(k.sizes).toEqual([7, -5 >>> 0]);
    // Layers differ only in their seeds and lengths in their sizes: one source for all of them.
    const other = opKernel({ op: 'dropout', attrs: { p: 0.1, seed: 3 }, inputs: [f([11])], output: f([11]) }, SOFTWARE);
    expect(other.wgsl).toBe(k.wgsl);
  });

  it('uses the hash written in runtime/cpu/rng.ts', () => {
    const header = readFileSync(new URL('../../runtime/cpu/rng.ts', import.meta.url), 'utf8');
    const inComment = header
      .split('\n')
      .filter((l) => l.startsWith('//   '))
      .map((l) => l.slice(5))
      .join('\n');
    expect(inComment).toContain(PCG_WGSL);
  });
});
