// The WebGPU tests that run real kernels, registered once per software adapter by
// swiftshader.test.ts and llvmpipe.test.ts (each file is its own vitest fork, so the two
// adapters run in parallel). A missing adapter fails the tests: it is never a skip.
//
// Tolerance for a matmul, per element: |gpu − cpu| ≤ tol(K) · (Σ_k |op(A)[m,k]·op(B)[k,n]| + |bias| + 1)
// with tol(K) = 1e-6·√K + 2e-6. fp32 rounding gives about 1e-7·√K in these terms (measured worst
// 2.2e-7 at K = 64); any indexing mistake gives errors of order 1.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuError } from '../../runtime/webgpu/errors.ts';
import type { Gpu } from '../../runtime/webgpu/gpu.ts';
import { runDoctor } from '../../runtime/webgpu/doctor.ts';
import type { MatmulSpec } from '../../compiler/lower/matmul-spec.ts';
import { type MatmulOptions, matmulVariantFor, matmulKernel } from '../../codegen/wgsl/matmul/index.ts';
import { prepareMatmul } from '../../runtime/webgpu/matmul.ts';
import { type MatmulPiece, splitMatmul } from '../../compiler/lower/split.ts';
import { float32ToHalf, halfToFloat32 } from '../../runtime/io/half.ts';
import { openNodeGpu, type SoftwareGpu } from '../../runtime/webgpu/node-gpu.ts';
import { type EpilogueInputs, matmulCpu, maxScaledError, randomArray } from './reference.ts';

export const matmulTolerance = (K: number): number => 1e-6 * Math.sqrt(K) + 2e-6;

type Config = { name: string } & Partial<Omit<MatmulOptions, 'limits'>>;
const CONFIGS: Config[] = [
  { name: 'regblock 4×4/invocation', variant: 'regblock', rowBlocks: 1, workgroup: [8, 8] },
  { name: 'regblock (default, 8×4)', variant: 'regblock' },
  { name: 'regblock 16×4/invocation', variant: 'regblock', rowBlocks: 4 },
  { name: 'tiled', variant: 'tiled' },
];

const SIZES: [number, number, number][] = [
  [1, 1, 1],
  [37, 53, 29],
  [128, 768, 64],
  [6, 12, 8], // all multiples of 4 but smaller than a block
  [3, 5, 130], // a K tail after many full k-steps
  [200, 8, 96], // LoRA's rank as N: regblock's workgroup narrowed to the product, several workgroups of rows
];

/** Runs one matmul on the GPU and returns its scaled error against the CPU. */
async function matmulError(gpu: Gpu, spec: MatmulSpec, config: Config, seed = 1): Promise<number> {
  const { M, N, K } = spec;
  const a = randomArray(M * K, seed);
  const b = randomArray(K * N, seed + 1);
  const bias = spec.bias ? randomArray(N, seed + 2) : undefined;
  const cIn = spec.accumulate ? randomArray(M * N, seed + 3) : undefined;
  const { name: _, ...opts } = config;
  const mm = await prepareMatmul(gpu, spec, opts);
  const c = cIn ? gpu.buffer(cIn) : gpu.buffer(M * N * 4);
  const batch = gpu.commands(mm.kernel.label);
  mm.encode(batch, { a: gpu.buffer(a), b: gpu.buffer(b), ...(bias ? { bias: gpu.buffer(bias) } : {}), c });
  await batch.submit();
  const got = await gpu.read(c);
  const want = matmulCpu(spec, a, b, bias, cIn);
  return maxScaledError(got, want.c, want.magnitude);
}

/** The operands of a product with epilogues (MatmulSpec.activationGrad, residual, dropout), seeded. */
function epilogueInputs(spec: MatmulSpec, seed: number, step: number): EpilogueInputs {
  const n = spec.M * spec.N;
  // Pre-activations over [-3, 3): every region of gelu', silu' and tanh', both sides of relu's kink.
  return {
    ...(spec.activationGrad ? { pre: randomArray(n, seed + 4).map((x) => 3 * x) } : {}),
    ...(spec.residual ? { res: randomArray(n, seed + 5) } : {}),
    step,
  };
}

/** The buffers of a product's epilogue operands and second output (whole, or a piece's window of them). */
function epilogueBuffers(gpu: Gpu, spec: MatmulSpec, ep: EpilogueInputs) {
  const n = spec.M * spec.N;
  return {
    ...(ep.pre ? { pre: gpu.buffer(ep.pre) } : {}),
    ...(ep.res ? { res: gpu.buffer(ep.res) } : {}),
    ...(spec.dropout ? { globals: gpu.buffer(new Uint32Array([ep.step ?? 0, 1, 0, 0])) } : {}),
    ...(spec.activationOut ? { activated: gpu.buffer(new Float32Array(n).fill(NaN)) } : {}),
  };
}

/**
 * One product with epilogues on the GPU: the worst scaled error of C (and of the second output)
 * against the CPU. B in f16 when the spec says so (the CPU then takes the rounded B).
 */
async function epilogueError(gpu: Gpu, spec: MatmulSpec, config: Config, seed: number, step = 0): Promise<number> {
  const { M, N, K } = spec;
  const a = randomArray(M * K, seed);
  const b32 = randomArray(K * N, seed + 1);
  const halves = spec.halfB ? float32ToHalf(b32, 'F16') : undefined;
  const b = halves ? halfToFloat32(halves, 'F16') : b32;
  const bias = spec.bias ? randomArray(N, seed + 2) : undefined;
  const cIn = spec.accumulate ? randomArray(M * N, seed + 3) : undefined;
  const ep = epilogueInputs(spec, seed, step);
  const { name: _, ...opts } = config;
  const mm = await prepareMatmul(gpu, spec, opts);
  const c = gpu.buffer(cIn ?? new Float32Array(M * N).fill(NaN));
  const extra = epilogueBuffers(gpu, spec, ep);
  const batch = gpu.commands(mm.kernel.label);
  mm.encode(batch, { a: gpu.buffer(a), b: gpu.buffer(halves ?? b), ...(bias ? { bias: gpu.buffer(bias) } : {}), ...extra, c });
  await batch.submit();
  const want = matmulCpu({ ...spec, halfB: false }, a, b, bias, cIn, ep);
  const err = maxScaledError(await gpu.read(c), want.c, want.magnitude);
  return extra.activated ? Math.max(err, maxScaledError(await gpu.read(extra.activated), want.activated!, want.magnitude)) : err;
}

/**
 * Dispatches a split product's pieces (compiler/lower/split.ts), each binding its windows of the
 * whole operands, and expects C (and the second output) to equal the f64 product within the
 * tolerance of one product.
 */
async function expectPiecesEqualProduct(gpu: Gpu, spec: MatmulSpec, pieces: MatmulPiece[], variant: 'regblock' | 'tiled'): Promise<void> {
  const a = randomArray(spec.M * spec.K, 3);
  const b = randomArray(spec.K * spec.N, 4);
  const bias = spec.bias ? randomArray(spec.N, 5) : undefined;
  const cIn = spec.accumulate ? randomArray(spec.M * spec.N, 7) : undefined;
  const ep = epilogueInputs(spec, 6, 3);
  const [ab, bb, cb] = [gpu.buffer(a), gpu.buffer(b), cIn ? gpu.buffer(cIn) : gpu.buffer(spec.M * spec.N * 4)];
  const biasb = bias ? gpu.buffer(bias) : undefined;
  const extra = epilogueBuffers(gpu, spec, ep);
  const batch = gpu.commands('split matmul');
  for (const p of pieces) {
    const k = matmulKernel(p.spec, { variant, limits: gpu.info.limits });
    const range = (buffer: GPUBuffer, w: { offset: number; bytes: number }) => ({ buffer, offset: w.offset, size: w.bytes });
    const bound: Record<string, ReturnType<typeof range>> = { a: range(ab, p.a), b: range(bb, p.b), c: range(cb, p.c), ...(p.bias ? { bias: range(biasb!, p.bias) } : {}) };
    // pre, res and the second output are laid out like C: the piece binds the same window of them.
    for (const name of ['pre', 'res', 'activated'] as const) if (extra[name]) bound[name] = range(extra[name], p.c);
    if (extra.globals) bound.globals = range(extra.globals, { offset: 0, bytes: 16 });
    batch.dispatch(await gpu.pipeline(k.wgsl, { label: k.label }), k.bindings.map((n) => bound[n]!), k.workgroups);
  }
  await batch.submit();
  const want = matmulCpu(spec, a, b, bias, cIn, ep);
  expect(maxScaledError(await gpu.read(cb), want.c, want.magnitude), JSON.stringify(spec)).toBeLessThanOrEqual(matmulTolerance(spec.K));
  if (extra.activated) expect(maxScaledError(await gpu.read(extra.activated), want.activated!, want.magnitude), `${JSON.stringify(spec)} activated`).toBeLessThanOrEqual(matmulTolerance(spec.K));
}

export function gpuSuite(software: SoftwareGpu): void {
  let gpu: Gpu;

  beforeAll(async () => {
    gpu = await openNodeGpu({ gpu: software });
  });
  afterAll(() => {
    if (gpu && !gpu.isLost) gpu.destroy();
  });

  describe(`${software}: discovery`, () => {
    it('opens the requested adapter and describes it', () => {
      const info = gpu.info;
      expect(info.gpuClass).toBe(software);
      expect(info.isSoftware).toBe(true);
      expect(info.backend).toBe(software === 'swiftshader' ? 'vulkan' : 'opengles');
      expect(info.featureLevel).toBe(software === 'swiftshader' ? 'core' : 'compatibility');
      expect(matmulVariantFor(info)).toBe('regblock');
    });

    it("requests the adapter's limits, not the defaults", () => {
      const l = gpu.info.limits;
      // Compatibility defaults are 128 invocations and 128 MiB; both adapters offer more invocations.
      expect(l.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
      expect(l.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
      expect(l.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(8);
      expect(gpu.device.limits.maxComputeInvocationsPerWorkgroup).toBe(l.maxComputeInvocationsPerWorkgroup);
    });

    it('enables subgroups only where the adapter has them, never shader-f16 here', () => {
      expect(gpu.info.features.includes('subgroups')).toBe(software === 'swiftshader');
      expect(gpu.info.features).not.toContain('shader-f16');
    });
  });

  describe(`${software}: helpers and errors`, () => {
    it('round-trips a buffer and pads odd byte lengths', async () => {
      const data = new Float32Array([1, -2, 3.5, 1e-30, 7]);
      expect(Array.from(await gpu.read(gpu.buffer(data)))).toEqual(Array.from(data));
      const bytes = new Uint8Array([1, 2, 3]);
      expect(Array.from(await gpu.read(gpu.buffer(bytes), Uint8Array, 3))).toEqual([1, 2, 3]);
    });

    it('caches pipelines by source', async () => {
      const src = '@group(0) @binding(0) var<storage, read_write> o: array<f32>;\n@compute @workgroup_size(1) fn main() { o[0] = 1.0; }';
      expect(await gpu.pipeline(src)).toBe(await gpu.pipeline(src));
    });

    it('a WGSL error throws GpuError with the compiler message and line, not zeros', async () => {
      const bad = '@group(0) @binding(0) var<storage, read_write> o: array<f32>;\n@compute @workgroup_size(1) fn main() {\n  o[0] = undefined_thing;\n}';
      const err = await gpu.pipeline(bad, { label: 'broken' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GpuError);
      expect((err as GpuError).kind).toBe('validation');
      expect((err as GpuError).message).toMatch(/broken:3:10: error: .*undefined_thing/);
      expect((err as GpuError).message).toContain('  o[0] = undefined_thing;');
    });

    it('a workgroup over the device limit throws GpuError', async () => {
      const n = gpu.info.limits.maxComputeInvocationsPerWorkgroup * 2;
      const src = `@group(0) @binding(0) var<storage, read_write> o: array<f32>;\n@compute @workgroup_size(${n}) fn main() { o[0] = 1.0; }`;
      await expect(gpu.pipeline(src)).rejects.toThrow(GpuError);
    });

    it('a bad dispatch (missing binding) throws GpuError from submit', async () => {
      const k = await gpu.pipeline(
        '@group(0) @binding(0) var<storage, read> i: array<f32>;\n@group(0) @binding(1) var<storage, read_write> o: array<f32>;\n@compute @workgroup_size(1) fn main() { o[0] = i[0]; }',
      );
      const err = await gpu.commands('one binding short').dispatch(k, [gpu.buffer(4)], [1]).submit().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GpuError);
      expect((err as GpuError).kind).toBe('validation');
      expect((err as GpuError).message).toContain('one binding short');
      // The device is still usable afterwards.
      expect(Array.from(await gpu.read(gpu.buffer(new Float32Array([4]))))).toEqual([4]);
    });

    it('a wait that never ends times out with GpuError', async () => {
      const saved = gpu.timeoutMs;
      gpu.timeoutMs = 50;
      try {
        await expect(gpu.guard(new Promise<never>(() => {}), 'a stuck wait')).rejects.toThrow(/timeout error: a stuck wait/);
      } finally {
        gpu.timeoutMs = saved;
      }
    });

    it('dispatches in one batch run in order (the second reads what the first wrote)', async () => {
      const double = await gpu.pipeline(
        '@group(0) @binding(0) var<storage, read_write> x: array<f32>;\n@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < arrayLength(&x)) { x[g.x] = 2.0 * x[g.x]; } }',
      );
      const x = gpu.buffer(new Float32Array(100).fill(1.5));
      const batch = gpu.commands('ten doublings');
      for (let i = 0; i < 10; i++) batch.dispatch(double, [x], [2]);
      await batch.submit();
      const got = await gpu.read(x);
      expect(got[0]).toBe(1.5 * 1024);
      expect(got[99]).toBe(1.5 * 1024);
    });
  });

  describe(`${software}: doctor`, () => {
    it('passes its self-test on this adapter', async () => {
      const report = await runDoctor({ open: () => openNodeGpu({ gpu: software }) });
      expect(report.error).toBeUndefined();
      expect(report.checks.map((c) => [c.name, c.ok])).toEqual([
        ['matmul', true],
        ['reduction', true],
        ['speed', true],
      ]);
      expect(report.ok).toBe(true);
      expect(report.gpu?.gpuClass).toBe(software);
    });
  });

  describe(`${software}: matmul`, () => {
    for (const config of CONFIGS) {
      for (const [M, N, K] of SIZES) {
        it(`${config.name} ${M}×${N}×${K}, every transpose combination`, async () => {
          for (const transA of [false, true]) {
            for (const transB of [false, true]) {
              const err = await matmulError(gpu, { M, N, K, transA, transB }, config);
              expect(err, `transA=${transA} transB=${transB}`).toBeLessThanOrEqual(matmulTolerance(K));
            }
          }
        });
      }
    }

    const EPILOGUES: MatmulSpec[] = [
      { M: 37, N: 53, K: 29, bias: true, activation: 'gelu' },
      { M: 37, N: 52, K: 29, bias: true, activation: 'relu', transB: true },
      { M: 33, N: 64, K: 40, bias: true, activation: 'silu', transA: true },
      { M: 16, N: 20, K: 12, alpha: 0.25, activation: 'gelu' },
      { M: 19, N: 7, K: 9, accumulate: true, alpha: 2 },
      { M: 20, N: 24, K: 64, accumulate: true, transA: true, bias: true },
    ];
    for (const config of CONFIGS) {
      it(`${config.name}: bias, activation, alpha and accumulate epilogues`, async () => {
        for (const spec of EPILOGUES) {
          const err = await matmulError(gpu, spec, config, 7);
          expect(err, JSON.stringify(spec)).toBeLessThanOrEqual(matmulTolerance(spec.K));
        }
      });
    }

    // Epilogues that fuse a product's elementwise neighbours (compiler/lower/fuse.ts): the
    // activation as a second output, the activation's gradient at `pre`, dropout and a residual,
    // alone and with bias, alpha, an activation, accumulate (the kernel that completes a sum
    // applies them to C + result) and B in f16. Same tolerance as the plain product, the
    // magnitude scaled by what the epilogue multiplies by; dropout's mask must match the CPU's
    // exactly (a mismatch is an error of order 1).
    const FUSED: MatmulSpec[] = [
      { M: 37, N: 53, K: 29, bias: true, activationOut: 'gelu' },
      { M: 33, N: 64, K: 40, transA: true, activationOut: 'silu' },
      { M: 20, N: 52, K: 12, transB: true, bias: true, alpha: 0.5, activationOut: 'relu' },
      { M: 37, N: 53, K: 29, transB: true, activationGrad: 'gelu' },
      { M: 33, N: 64, K: 40, activationGrad: 'relu' },
      { M: 19, N: 7, K: 9, transA: true, alpha: 2, activationGrad: 'silu' },
      { M: 16, N: 20, K: 24, transA: true, transB: true, activationGrad: 'tanh' },
      { M: 37, N: 53, K: 29, bias: true, residual: true },
      { M: 33, N: 64, K: 40, bias: true, residual: true, dropout: { p: 0.1, seed: 3 } },
      { M: 37, N: 53, K: 29, transB: true, residual: true, dropout: { p: 0.5, seed: 7, index0: 1000 } },
      { M: 16, N: 20, K: 12, bias: true, activation: 'gelu', residual: true },
      { M: 20, N: 24, K: 64, accumulate: true, activationGrad: 'gelu' },
      { M: 20, N: 24, K: 64, accumulate: true, bias: true, residual: true, dropout: { p: 0.25, seed: 1 } },
      { M: 19, N: 7, K: 9, accumulate: true, activationOut: 'gelu' },
      { M: 33, N: 64, K: 40, halfB: true, transB: true, activationGrad: 'gelu' },
      { M: 37, N: 54, K: 30, halfB: true, bias: true, residual: true, dropout: { p: 0.1, seed: 9 } },
      // the exact GELU (BERT's), whose Φ helper the epilogue declares per calling function
      { M: 37, N: 53, K: 29, bias: true, activationOut: 'gelu_erf' },
      { M: 33, N: 64, K: 40, transB: true, activationGrad: 'gelu_erf' },
      { M: 16, N: 20, K: 12, bias: true, activation: 'gelu_erf', residual: true },
    ];
    for (const config of CONFIGS) {
      it(`${config.name}: fused epilogues (activation output, activation gradient, dropout, residual)`, async () => {
        for (const spec of FUSED) {
          for (const step of spec.dropout ? [0, 5] : [0]) {
            const err = await epilogueError(gpu, spec, config, 11, step);
            expect(err, `${JSON.stringify(spec)} step ${step}`).toBeLessThanOrEqual(matmulTolerance(spec.K));
          }
        }
      });
    }

    // A second product of the same M × N added before the bias (LoRA's rank-r update beside the
    // base product, MatmulSpec.second): the CPU's two products, the second added as C's old value.
    const SECONDS: MatmulSpec[] = [
      { M: 37, N: 53, K: 29, bias: true, second: { K: 8, transB: true, alpha: 2 } },
      { M: 40, N: 8, K: 12, second: { K: 3 } },
      { M: 33, N: 20, K: 9, transA: true, transB: true, second: { K: 5, transA: true, transB: true, alpha: 0.5 } },
      { M: 64, N: 128, K: 96, transB: true, accumulate: true, second: { K: 8 } },
      // with epilogues after the sum: the most bindings (a, b, a2, b2, bias, res, globals, c)
      { M: 37, N: 53, K: 29, bias: true, second: { K: 8, transB: true, alpha: 2 }, residual: true, dropout: { p: 0.1, seed: 5 } },
      { M: 40, N: 64, K: 12, second: { K: 3 }, activationGrad: 'gelu' },
      { M: 33, N: 20, K: 9, bias: true, second: { K: 5, transA: true }, activationOut: 'gelu' },
    ];
    for (const config of CONFIGS.filter((c) => c.variant === 'regblock')) {
      it(`${config.name}: a second product`, async () => {
        for (const spec of SECONDS) {
          const { M, N, K } = spec;
          const s2 = spec.second!;
          const [a, b, a2, b2] = [randomArray(M * K, 1), randomArray(K * N, 2), randomArray(M * s2.K, 3), randomArray(s2.K * N, 4)];
          const bias = spec.bias ? randomArray(N, 5) : undefined;
          const cIn = spec.accumulate ? randomArray(M * N, 6) : new Float32Array(M * N);
          const ep = epilogueInputs(spec, 7, 2);
          const { name: _, ...opts } = config;
          const mm = await prepareMatmul(gpu, spec, opts);
          const c = gpu.buffer(cIn);
          const extra = epilogueBuffers(gpu, spec, ep);
          const batch = gpu.commands(mm.kernel.label);
          mm.encode(batch, { a: gpu.buffer(a), b: gpu.buffer(b), a2: gpu.buffer(a2), b2: gpu.buffer(b2), ...(bias ? { bias: gpu.buffer(bias) } : {}), ...extra, c });
          await batch.submit();
          // The low-rank product joins the sum before the epilogue, as C's old value would.
          const lowRank = matmulCpu({ M, N, K: s2.K, transA: s2.transA, transB: s2.transB, alpha: s2.alpha }, a2, b2);
          const want = matmulCpu({ ...spec, second: undefined, accumulate: true }, a, b, bias, cIn.map((x, i) => x + lowRank.c[i]!), ep);
          const magnitude = want.magnitude.map((x, i) => x + lowRank.magnitude[i]!);
          expect(maxScaledError(await gpu.read(c), want.c, magnitude), JSON.stringify(spec)).toBeLessThanOrEqual(matmulTolerance(K + s2.K));
          if (extra.activated) expect(maxScaledError(await gpu.read(extra.activated), want.activated!, magnitude), `${JSON.stringify(spec)} activated`).toBeLessThanOrEqual(matmulTolerance(K + s2.K));
        }
      });
    }

    // A product split into pieces (compiler/lower/split.ts): each piece binds 256-aligned windows of
    // whole rows and addresses them with row strides and first columns; K pieces accumulate, the
    // bias comes with the first and the activation with the last. Same tolerance as one product.
    const SPLITS: MatmulSpec[] = [
      { M: 150, N: 132, K: 140, bias: true, activation: 'gelu' },
      { M: 150, N: 140, K: 132, transB: true, alpha: 0.5 },
      { M: 132, N: 140, K: 150, transA: true },
      { M: 140, N: 150, K: 132, transA: true, transB: true, bias: true, activation: 'relu' },
      { M: 130, N: 129, K: 131, transB: true }, // no vec4 anywhere
      // epilogues: the last K piece applies them; their tensors are windowed like C, dropout's
      // indices start at the window's first row
      { M: 132, N: 140, K: 150, transA: true, bias: true, residual: true, dropout: { p: 0.1, seed: 2 } },
      { M: 150, N: 140, K: 132, transB: true, activationGrad: 'gelu' },
      { M: 150, N: 132, K: 140, bias: true, activationOut: 'gelu' },
    ];
    for (const variant of ['regblock', 'tiled'] as const) {
      it(`${variant}: a product split into windowed pieces equals the whole product`, async () => {
        let kSplits = 0;
        // tiled: two cases (each piece is its own shader; SwiftShader runs tiled ones slowly)
        for (const spec of variant === 'tiled' ? [SPLITS[0]!, SPLITS[5]!] : SPLITS) {
          const limit = 4 * 64 * Math.max(spec.M, spec.N, spec.K);
          const pieces = splitMatmul(spec, limit)!;
          expect(pieces.length, JSON.stringify(spec)).toBeGreaterThan(1);
          kSplits += pieces.some((p) => p.spec.accumulate) ? 1 : 0;
          await expectPiecesEqualProduct(gpu, spec, pieces, variant);
        }
        expect(kSplits, 'cases split along K').toBeGreaterThan(0);
      });
    }

    // Split-K (splitMatmul's kSlice, chosen by the planner for long K on CPU adapters): slices of
    // K dispatched in turn, each adding into C; odd sizes (no vec4 reads), an accumulating product
    // and each epilogue, which the last slice applies to the whole sum.
    const SPLIT_K: MatmulSpec[] = [
      { M: 37, N: 53, K: 1001, bias: true, activation: 'gelu' },
      { M: 33, N: 21, K: 701, transA: true, alpha: 0.5 },
      { M: 19, N: 36, K: 515, transB: true, activationGrad: 'gelu' },
      { M: 36, N: 44, K: 640, bias: true, residual: true, dropout: { p: 0.1, seed: 2 } },
      { M: 36, N: 40, K: 600, activationOut: 'silu' },
      { M: 12, N: 17, K: 900, accumulate: true },
    ];
    it('regblock: split-K slices of 128 added into C in turn equal the whole product', async () => {
      for (const spec of SPLIT_K) {
        const pieces = splitMatmul(spec, gpu.info.limits.maxStorageBufferBindingSize, 128)!;
        expect(pieces.length, JSON.stringify(spec)).toBe(Math.ceil(spec.K / 128));
        await expectPiecesEqualProduct(gpu, spec, pieces, 'regblock');
      }
    });

    // B stored as half floats (frozen weights in f16), unpacked in the kernel; the reference is the
    // f64 product with B rounded to f16, so the tolerance is the f32 one.
    const HALF_B: MatmulSpec[] = [
      { M: 37, N: 54, K: 30, halfB: true }, // scalar reads of B
      { M: 37, N: 54, K: 30, halfB: true, transB: true },
      { M: 33, N: 64, K: 40, halfB: true, bias: true, activation: 'gelu' }, // vec2<u32> reads
      { M: 33, N: 64, K: 40, halfB: true, transB: true, transA: true },
    ];
    for (const variant of ['regblock', 'tiled'] as const) {
      it(`${variant}: B in f16`, async () => {
        for (const spec of HALF_B) {
          const a = randomArray(spec.M * spec.K, 8);
          const halves = float32ToHalf(randomArray(spec.K * spec.N, 9), 'F16');
          const b = halfToFloat32(halves, 'F16');
          const bias = spec.bias ? randomArray(spec.N, 10) : undefined;
          const mm = await prepareMatmul(gpu, spec, { variant });
          const c = gpu.buffer(spec.M * spec.N * 4);
          const batch = gpu.commands(mm.kernel.label);
          mm.encode(batch, { a: gpu.buffer(a), b: gpu.buffer(halves), ...(bias ? { bias: gpu.buffer(bias) } : {}), c });
          await batch.submit();
          const want = matmulCpu({ ...spec, halfB: false }, a, b, bias);
          expect(maxScaledError(await gpu.read(c), want.c, want.magnitude), JSON.stringify(spec)).toBeLessThanOrEqual(matmulTolerance(spec.K));
        }
      });
    }

    it('gelu does not overflow to NaN for large inputs', async () => {
      // Pre-activations of ±60..±90: tanh's argument is large; a naive exp-based tanh gives NaN.
      const spec: MatmulSpec = { M: 4, N: 4, K: 4, activation: 'gelu' };
      const a = new Float32Array([10, 10, 10, 10, -10, -10, -10, -10, 15, 15, 15, 15, -15, -15, -15, -15]);
      const b = new Float32Array(16).fill(1.5);
      const mm = await prepareMatmul(gpu, spec);
      const c = gpu.buffer(64);
      const batch = gpu.commands();
      mm.encode(batch, { a: gpu.buffer(a), b: gpu.buffer(b), c });
      await batch.submit();
      const got = Array.from(await gpu.read(c));
      expect(got.slice(0, 4)).toEqual([60, 60, 60, 60]);
      for (const v of got.slice(4, 8)) expect(Math.abs(v)).toBeLessThan(1e-6);
      expect(got.slice(8, 12)).toEqual([90, 90, 90, 90]);
      expect(got.every(Number.isFinite)).toBe(true);
    });

    it('rejects a binding over maxStorageBufferBindingSize with a clear GpuError', async () => {
      const limit = gpu.info.limits.maxStorageBufferBindingSize;
      const rows = Math.floor(limit / 4 / 64) + 1; // A = rows×64 floats, just over the limit
      const err = await prepareMatmul(gpu, { M: rows, N: 64, K: 64 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GpuError);
      expect((err as GpuError).kind).toBe('limit');
      expect((err as GpuError).message).toMatch(/A spans \d+ bytes, more than this adapter's maxStorageBufferBindingSize/);
    });
  });

  describe(`${software}: device loss`, () => {
    it('rejects pending and later work with a device-lost GpuError instead of hanging', async () => {
      const own = await openNodeGpu({ gpu: software });
      const buf = own.buffer(new Float32Array([1, 2, 3]));
      const pending = own.read(buf); // in flight when the device goes
      own.destroy();
      await expect(pending).rejects.toThrow(/device-lost error: the device was destroyed/);
      expect(own.isLost).toBe(true);
      await expect(own.read(buf)).rejects.toThrow(/device-lost/);
      await expect(own.pipeline('@compute @workgroup_size(1) fn main() {}')).rejects.toThrow(/device-lost/);
      await expect(own.sync()).rejects.toThrow(/device-lost/);
    });
  });
}
