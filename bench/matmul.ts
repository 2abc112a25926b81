// Matmul GFLOP/s of each kernel variant on each software adapter, for training-sized shapes.
// Not a test: it measures and prints. Columns: regblock with 4×4, 8×4 or 16×4 outputs (rows ×
// columns of C) per invocation; tiled with a 64×64 block of C per workgroup in workgroup memory. Each (variant, shape) is checked against a CPU product
// first, then timed as the median of several single-dispatch submits (each waits for the queue).
//
//   npx tsx bench/matmul.ts [--gpu swiftshader,llvmpipe] [--reps 7]
//   npx tsx bench/matmul.ts --long-k [--gpu llvmpipe] [--reps 5] [--slices 2048,512] [--vocab 50257] [--even-stride]
//
// With --long-k: GPT-2 small's lm_head products at B = 1 × 128 tokens (V = 50,257, D = 768) as
// the planner dispatches them, in interleaved rounds: the input gradient dlogits·W (K = V) in the
// pieces the binding limit alone makes (one long K loop per piece) and with split-K
// (compiler/lower/split.ts, codegen/wgsl/matmul/tuning.ts LONG_K), and the forward h·Wᵀ (K = D).

import type { GpuChoice } from '../runtime/webgpu/device.ts';
import type { Gpu } from '../runtime/webgpu/gpu.ts';
import type { MatmulSpec } from '../compiler/lower/matmul-spec.ts';
import type { MatmulVariant } from '../codegen/wgsl/matmul/index.ts';
import { prepareMatmul } from '../runtime/webgpu/matmul.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';
import { gpuFlag } from './model.ts';
import { matmulCpu, maxScaledError, randomArray } from '../test/webgpu/reference.ts';
import { type MatmulPiece, splitMatmul } from '../compiler/lower/split.ts';
import { LONG_K, matmulKernel, matmulKSlice } from '../codegen/wgsl/matmul/index.ts';

interface Case {
  name: string;
  spec: MatmulSpec;
}

const CASES: Case[] = [
  { name: 'x·W  [1024×128]·[128×384]', spec: { M: 1024, N: 384, K: 128 } },
  { name: 'x·Wᵀ [1024×128]·[384×128]ᵀ', spec: { M: 1024, N: 384, K: 128, transB: true } },
  { name: 'xᵀ·dy [1024×128]ᵀ·[1024×384]', spec: { M: 128, N: 384, K: 1024, transA: true } },
  { name: 'x·W+b, gelu [1024×128]·[128×512]', spec: { M: 1024, N: 512, K: 128, bias: true, activation: 'gelu' } },
  { name: '512³', spec: { M: 512, N: 512, K: 512 } },
];

interface Config {
  label: string;
  variant: MatmulVariant;
  workgroup?: [number, number];
  rowBlocks?: number;
}

const CONFIGS: Config[] = [
  { label: 'regblock 4×4', variant: 'regblock', workgroup: [8, 8], rowBlocks: 1 },
  { label: 'regblock 8×4 (default)', variant: 'regblock' },
  { label: 'regblock 16×4', variant: 'regblock', rowBlocks: 4 },
  { label: 'tiled 64×64', variant: 'tiled' },
];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

async function timeCase(gpu: Gpu, c: Case, cfg: Config, reps: number): Promise<{ gflops: number; err: number }> {
  const { M, N, K } = c.spec;
  const a = randomArray(M * K, 1);
  const b = randomArray(K * N, 2);
  const bias = randomArray(N, 3);
  const { label: _, ...options } = cfg;
  const mm = await prepareMatmul(gpu, c.spec, options);
  const buffers = { a: gpu.buffer(a), b: gpu.buffer(b), bias: gpu.buffer(bias), c: gpu.buffer(M * N * 4) };
  const run = async (): Promise<void> => {
    const batch = gpu.commands(mm.kernel.label);
    mm.encode(batch, buffers);
    await batch.submit();
    await gpu.sync();
  };
  await run(); // warm-up, and the result to check
  const ref = matmulCpu(c.spec, a, b, c.spec.bias ? bias : undefined);
  const err = maxScaledError(await gpu.read(buffers.c), ref.c, ref.magnitude);
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  const median = times[Math.floor(times.length / 2)]!;
  for (const buf of Object.values(buffers)) buf.destroy();
  return { gflops: mm.kernel.flops / (median * 1e6), err };
}

/** Encodes a split product's pieces, each binding its windows of the whole operands, and returns a timed run. */
async function piecesRun(gpu: Gpu, pieces: MatmulPiece[], buffers: { a: GPUBuffer; b: GPUBuffer; c: GPUBuffer }): Promise<() => Promise<number>> {
  const steps: { k: Awaited<ReturnType<Gpu['pipeline']>>; bind: { buffer: GPUBuffer; offset: number; size: number }[]; wg: [number, number, number] }[] = [];
  for (const p of pieces) {
    const k = matmulKernel(p.spec, { variant: 'regblock', limits: gpu.info.limits });
    const range = { a: p.a, b: p.b, c: p.c } as const;
    const bind = k.bindings.map((n) => ({ buffer: buffers[n as 'a' | 'b' | 'c'], offset: range[n as 'a' | 'b' | 'c'].offset, size: range[n as 'a' | 'b' | 'c'].bytes }));
    steps.push({ k: await gpu.pipeline(k.wgsl, { label: k.label }), bind, wg: k.workgroups });
  }
  return async () => {
    const t0 = performance.now();
    const batch = gpu.commands('pieces');
    for (const s of steps) batch.dispatch(s.k, s.bind, s.wg);
    await batch.submit();
    await gpu.sync();
    return performance.now() - t0;
  };
}

/** A product's pieces, or the whole product as one piece where it needs no split (a larger binding limit). */
function piecesOf(spec: MatmulSpec, limit: number, kSlice?: number): MatmulPiece[] {
  const whole = (elems: number) => ({ offset: 0, bytes: 4 * elems });
  return splitMatmul(spec, limit, kSlice) ?? [{ spec, a: whole(spec.M * spec.K), b: whole(spec.K * spec.N), c: whole(spec.M * spec.N) }];
}

/** --long-k: the lm_head products' GFLOP/s, before and after split-K, interleaved. */
async function longK(choice: GpuChoice, rounds: number): Promise<void> {
  const gpu = await openNodeGpu({ gpu: choice });
  const [R, V, D] = [128, Number(arg('vocab', '50257')), 768];
  const limit = gpu.info.limits.maxStorageBufferBindingSize;
  const dgrad: MatmulSpec = { M: R, N: D, K: V };
  const forward: MatmulSpec = { M: R, N: V, K: D, transB: true };
  const slice = matmulKSlice(dgrad, 'llvmpipe') ?? LONG_K.slice;
  const dl = gpu.buffer(randomArray(R * V, 1));
  const w = gpu.buffer(randomArray(V * D, 2));
  const h = gpu.buffer(randomArray(R * D, 3));
  const dh = gpu.buffer(R * D * 4);
  const logits = gpu.buffer(R * V * 4);
  const cases = [
    { name: `dlogits·W [${R}×${V}]·[${V}×${D}], binding pieces only`, flops: 2 * R * V * D, run: await piecesRun(gpu, piecesOf(dgrad, limit), { a: dl, b: w, c: dh }), n: piecesOf(dgrad, limit).length },
    ...(await Promise.all(
      (arg('slices', '') ? arg('slices', '').split(',').map(Number) : [slice]).map(async (k) => ({
        name: `dlogits·W, split-K slices of ${k}`,
        flops: 2 * R * V * D,
        run: await piecesRun(gpu, piecesOf(dgrad, limit, k), { a: dl, b: w, c: dh }),
        n: piecesOf(dgrad, limit, k).length,
      })),
    )),
    // The same product over V − V mod 4 rows: a row stride of dlogits that allows vec4 reads.
    ...(await (async () => {
      if (!process.argv.includes('--even-stride')) return [];
      const V4 = V - (V % 4);
      const even: MatmulSpec = { M: R, N: D, K: V4 };
      const pieces = piecesOf(even, limit, slice);
      return [{ name: `dlogits·W, row stride ${V4}, slices of ${slice}`, flops: 2 * R * V4 * D, run: await piecesRun(gpu, pieces, { a: gpu.buffer(randomArray(R * V4, 4)), b: w, c: dh }), n: pieces.length }];
    })()),
    { name: `h·Wᵀ [${R}×${D}]·[${V}×${D}]ᵀ (forward)`, flops: 2 * R * V * D, run: await piecesRun(gpu, piecesOf(forward, limit), { a: h, b: w, c: logits }), n: piecesOf(forward, limit).length },
  ];
  const times: number[][] = cases.map(() => []);
  for (const c of cases) await c.run(); // warm-up
  for (let r = 0; r < rounds; r++) {
    const line: string[] = [];
    for (const [i, c] of cases.entries()) {
      const ms = await c.run();
      times[i]!.push(ms);
      line.push(`${(c.flops / ms / 1e6).toFixed(2)}`);
    }
    console.log(`round ${r + 1}: ${line.join(' / ')} GFLOP/s`);
  }
  console.log(`\n${choice}: ${gpu.info.description}; median of ${rounds} interleaved rounds, load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  for (const [i, c] of cases.entries()) {
    const t = [...times[i]!].sort((x, y) => x - y);
    const med = t[Math.floor(t.length / 2)]!;
    console.log(`${c.name.padEnd(52)} ${c.n} dispatches  ${med.toFixed(0)} ms  ${(c.flops / med / 1e6).toFixed(2)} GFLOP/s`);
  }
  gpu.destroy();
}

async function main(): Promise<void> {
  const choices = gpuFlag('swiftshader,llvmpipe').split(',') as GpuChoice[];
  const reps = Number(arg('reps', '7'));
  if (process.argv.includes('--long-k')) {
    for (const choice of choices) await longK(choice, reps);
    return;
  }
  for (const choice of choices) {
    const gpu = await openNodeGpu({ gpu: choice });
    const info = gpu.info;
    console.log(`\n${choice}: ${info.description} (${info.backend}, ${info.featureLevel}); median of ${reps} reps, GFLOP/s`);
    const rows: string[][] = [['shape', ...CONFIGS.map((c) => c.label)]];
    for (const c of CASES) {
      const row = [c.name];
      for (const cfg of CONFIGS) {
        const { gflops, err } = await timeCase(gpu, c, cfg, reps);
        row.push(err <= 1e-5 ? gflops.toFixed(2) : `WRONG (err ${err.toExponential(1)})`);
      }
      rows.push(row);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) console.log(r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
    gpu.destroy();
  }
}

await main();
process.exit(0);
