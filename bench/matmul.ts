// Matmul GFLOP/s of each kernel variant on each software adapter, for training-sized shapes.
// Not a test: it measures and prints. Columns: regblock with 4×4, 8×4 or 16×4 outputs (rows ×
// columns of C) per invocation; tiled with a 64×64 block of C per workgroup in workgroup memory. Each (variant, shape) is checked against a CPU product
// first, then timed as the median of several single-dispatch submits (each waits for the queue).
//
//   npx tsx bench/matmul.ts [--gpu swiftshader,llvmpipe] [--reps 7]

import type { AdapterChoice } from '../runtime/webgpu/device.ts';
import type { Gpu } from '../runtime/webgpu/gpu.ts';
import type { MatmulSpec } from '../compiler/lower/matmul-spec.ts';
import type { MatmulVariant } from '../codegen/wgsl/matmul/index.ts';
import { prepareMatmul } from '../runtime/webgpu/matmul.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';
import { gpuFlag } from './model.ts';
import { matmulCpu, maxScaledError, randomArray } from '../test/webgpu/reference.ts';

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
    const batch = gpu.batch(mm.kernel.label);
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

async function main(): Promise<void> {
  const adapters = gpuFlag('swiftshader,llvmpipe').split(',') as AdapterChoice[];
  const reps = Number(arg('reps', '7'));
  for (const choice of adapters) {
    const gpu = await openNodeGpu({ adapter: choice });
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
