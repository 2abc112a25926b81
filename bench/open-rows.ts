// Benchmark (not a test): the regblock matmul with M open (read from the sizes uniform, what the
// planner generates) against M baked as a constant, on the same shapes, interleaved rounds on one
// adapter; medians in GFLOP/s. docs/webgpu-runtime.md, "Sizes: baked and open".
//
//   npx tsx bench/open-rows.ts [--gpu llvmpipe] [--rounds 9]
import { loadavg } from 'node:os';
import type { MatmulSpec } from '../compiler/lower/matmul-spec.ts';
import { matmulKernel, regblockRowBlocks } from '../codegen/wgsl/matmul/index.ts';
import type { GpuChoice } from '../runtime/webgpu/device.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';
import { sizesBuffer } from '../runtime/webgpu/step-sizes.ts';
import { gpuFlag } from './model.ts';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const rounds = Number(arg('rounds', '9'));
const gpu = await openNodeGpu({ gpu: gpuFlag('llvmpipe') as GpuChoice });
// GPT-2 small at B·T = 128: c_attn's forward (with LoRA's second product), the MLP's first product, an input gradient.
const SHAPES: MatmulSpec[] = [
  { M: 128, N: 2304, K: 768, bias: true, second: { K: 8, alpha: 2 } },
  { M: 128, N: 3072, K: 768, bias: true, activationOut: 'gelu' },
  { M: 512, N: 768, K: 3072, transB: true },
];
const fill = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`regblock on ${gpu.info.gpuClass}, M open against baked, ${rounds} interleaved rounds (load ${loadavg()[0]!.toFixed(1)})`);
for (const spec of SHAPES) {
  const bufs: Record<string, GPUBuffer> = {
    a: gpu.buffer(fill(spec.M * spec.K)), b: gpu.buffer(fill(spec.K * spec.N)), bias: gpu.buffer(fill(spec.N)),
    a2: gpu.buffer(fill(spec.M * 8)), b2: gpu.buffer(fill(8 * spec.N)), c: gpu.buffer(4 * spec.M * spec.N), activated: gpu.buffer(4 * spec.M * spec.N),
  };
  const runs = await Promise.all(
    [false, true].map(async (openRows) => {
      const k = matmulKernel(spec, { variant: 'regblock', limits: gpu.info.limits, rowBlocks: regblockRowBlocks(spec, gpu.info.gpuClass), openRows });
      const pipeline = await gpu.pipeline(k.wgsl, { label: k.label });
      const bound = [...k.bindings.map((n) => bufs[n]!), ...(k.sizes ? [sizesBuffer(gpu, k.sizes)] : [])];
      const once = async () => {
        const t0 = performance.now();
        await gpu.commands(k.label).dispatch(pipeline, bound, k.workgroups).submit();
        await gpu.sync();
        return performance.now() - t0;
      };
      await once();
      return { openRows, once, flops: k.flops, times: [] as number[], out: await gpu.read(bufs.c!) };
    }),
  );
  const same = runs[0]!.out.every((x, i) => x === runs[1]!.out[i]);
  for (let r = 0; r < rounds; r++) for (const run of r % 2 ? [...runs].reverse() : runs) run.times.push(await run.once());
  const rate = (r: (typeof runs)[number]) => r.flops / (median(r.times) * 1e6);
  const ratio = median(runs[1]!.times.map((t, i) => runs[0]!.times[i]! / t));
  console.log(`  ${spec.M}×${spec.N}×${spec.K}${spec.transB ? ' (Bᵀ)' : ''}: baked ${rate(runs[0]!).toFixed(2)}, open ${rate(runs[1]!).toFixed(2)} GFLOP/s; open/baked rate ${ratio.toFixed(3)} (median of per-round ratios); outputs ${same ? 'identical' : 'DIFFER'}`);
  for (const b of Object.values(bufs)) b.destroy();
}
console.log(`(load ${loadavg()[0]!.toFixed(1)} at the end)`);
process.exit(0);
