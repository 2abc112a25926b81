// Milliseconds per dispatch of the op kernels the benchmark model's step spends most of its
// non-matmul time in (attention and its gradients, the layernorm gradient), at that model's
// shapes (batch 8 × 128, 4 heads of 32, n_embd 128). Each dispatch is submitted and waited for on
// its own; the kernels run in interleaved rounds and the median is reported. Not a test.
//
//   npx tsx bench/op-kernels.ts [--gpu swiftshader,llvmpipe] [--reps 7] [--ops attention,attention_grad_q]
//   (attention+lse and attention_grad_kv are the plan's fused kernels: attention with its lse,
//   grad_k with grad_v)
//                               [--against tmp/old-kernels/index.ts]   (a second generator registry,
//                               e.g. a copy of codegen/wgsl/ before a change: run
//                               interleaved with the current one, per-round ratios printed)
import { resolve } from 'node:path';
import { Random } from '../runtime/cpu/random.ts';
import type { GpuChoice } from '../runtime/webgpu/device.ts';
import { attentionGradKV, attentionWithLse, opKernel } from '../codegen/wgsl/index.ts';
import type { OpKernel, OpKernelRequest } from '../codegen/wgsl/types.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';
import { BATCH, flag, gpuFlag, MODEL } from './model.ts';
import { sizesBuffer } from '../runtime/webgpu/step-sizes.ts';

const choices = gpuFlag('swiftshader,llvmpipe').split(',').filter(Boolean) as GpuChoice[];
const reps = Number(flag('reps', '7'));
const against = flag('against', '');
const { B, T } = BATCH;
const H = MODEL.heads;
const D = MODEL.embd;

const f32 = (shape: number[]) => ({ shape, dtype: 'f32' as const });
const x = f32([B, T, D]);
const lse = f32([B, H, T]);
const attn = (op: string, grad: boolean): OpKernelRequest => ({
  op,
  attrs: { heads: H, kv_heads: H, causal: true, prefix: 0 },
  // gradients: q, k, v, dy, o, lse
  inputs: grad ? [x, x, x, x, x, lse] : [x, x, x],
  output: x,
});
const REQUESTS: Record<string, OpKernelRequest> = {
  attention: attn('attention', false),
  'attention+lse': attn('attention', false),
  attention_grad_q: attn('attention_grad_q', true),
  attention_grad_k: attn('attention_grad_k', true),
  attention_grad_v: attn('attention_grad_v', true),
  attention_grad_kv: attn('attention_grad_k', true),
  layernorm_grad_x: { op: 'layernorm_grad_x', attrs: { eps: MODEL.eps }, inputs: [f32([B, T, D]), f32([B, T, D]), f32([D])], output: f32([B, T, D]) },
  layernorm: { op: 'layernorm', attrs: { eps: MODEL.eps }, inputs: [f32([B, T, D]), f32([D]), f32([D])], output: f32([B, T, D]) },
};
const ops = flag('ops', Object.keys(REQUESTS).join(',')).split(',').filter(Boolean);
type Gen = (req: OpKernelRequest, caps: Parameters<typeof opKernel>[1]) => OpKernel;
/** The generator of a measured kernel: the registry's, or a fused kernel's (two results: `out1`). */
type Registry = { opKernel: Gen; attentionWithLse: Gen; attentionGradKV: Gen };
const generator = (reg: Registry, op: string): Gen => (op === 'attention+lse' ? reg.attentionWithLse : op === 'attention_grad_kv' ? reg.attentionGradKV : reg.opKernel);
const gens: [string, Registry][] = [['current', { opKernel, attentionWithLse, attentionGradKV }]];
if (against) gens.push(['against', (await import(resolve(against))) as Registry]);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

for (const choice of choices) {
  const gpu = await openNodeGpu({ gpu: choice });
  const rng = new Random(3);
  console.log(`\n${choice} (${gpu.info.description}): ms per dispatch, median of ${reps} interleaved rounds`);
  for (const op of ops) {
    const req = REQUESTS[op];
    if (!req) throw new Error(`unknown op ${op}; known: ${Object.keys(REQUESTS).join(', ')}`);
    const bufs = new Map<string, GPUBuffer>();
    req.inputs.forEach((t, i) => bufs.set(`in${i}`, gpu.buffer(Float32Array.from({ length: t.shape.reduce((a, b) => a * b, 1) }, () => rng.uniform(-2, 2)))));
    bufs.set('out', gpu.buffer(new Float32Array(req.output.shape.reduce((a, b) => a * b, 1))));
    bufs.set('out1', gpu.buffer(new Float32Array(req.output.shape.reduce((a, b) => a * b, 1)))); // ≥ lse or dv
    const runs = await Promise.all(
      gens.map(async ([name, reg]) => {
        const k = generator(reg, op)(req, gpu.info);
        const pipeline = await gpu.pipeline(k.wgsl, { label: k.label });
        const bound = [...k.bindings.map((b) => bufs.get(b)!), ...(k.sizes ? [sizesBuffer(gpu, k.sizes)] : [])];
        const once = async () => {
          const t0 = performance.now();
          await gpu.commands(k.label).dispatch(pipeline, bound, k.workgroups).submit();
          await gpu.sync();
          return performance.now() - t0;
        };
        await once(); // warm-up
        return { name, label: k.label, once, times: [] as number[] };
      }),
    );
    for (let r = 0; r < reps; r++) for (const run of r % 2 ? [...runs].reverse() : runs) run.times.push(await run.once());
    const cells = runs.map((r) => `${r.name} ${median(r.times).toFixed(2).padStart(8)} ms (${r.label})`);
    const ratio = runs.length > 1 ? `  current/against ${median(runs[0]!.times.map((t, i) => t / runs[1]!.times[i]!)).toFixed(2)}` : '';
    console.log(`  ${op.padEnd(18)} ${cells.join('   ')}${ratio}`);
    for (const b of bufs.values()) b.destroy();
  }
  gpu.destroy();
}
process.exit(0);
