// Matmul GFLOP/s for the training step's shapes (B·T = 1024 rows of the benchmark model): this
// project's kernel in the variant its planner picks for the adapter (prepareMatmul) versus
// tfjs-webgpu's tf.matMul, on the same adapter (tfjs on a device of its own). Each result is
// checked against a float64 CPU product first; then the two are timed in interleaved
// repetitions, each one dispatch (ours) or one tf.matMul (tfjs), submitted and waited for
// (onSubmittedWorkDone), with no readback.
import type { GpuChoice } from '../runtime/webgpu/device.ts';
import type { MatmulSpec } from '../compiler/lower/matmul-spec.ts';
import { prepareMatmul } from '../runtime/webgpu/matmul.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';
import { matmulCpu, maxScaledError, randomArray } from '../test/webgpu/reference.ts';
import { type Stat, stat } from './model.ts';
import { openTfjs } from './peers/tfjs.ts';
import type { GpuLabel } from './train.ts';

export const MATMUL_CASES: { name: string; spec: MatmulSpec }[] = [
  { name: 'c_attn x·W [1024×128]·[128×384]', spec: { M: 1024, N: 384, K: 128 } },
  { name: 'c_attn dx = dy·Wᵀ [1024×384]·[128×384]ᵀ', spec: { M: 1024, N: 128, K: 384, transB: true } },
  { name: 'c_attn dW = xᵀ·dy [1024×128]ᵀ·[1024×384]', spec: { M: 128, N: 384, K: 1024, transA: true } },
  { name: 'mlp.c_fc x·W [1024×128]·[128×512]', spec: { M: 1024, N: 512, K: 128 } },
  { name: 'mlp.c_proj x·W [1024×512]·[512×128]', spec: { M: 1024, N: 128, K: 512 } },
  { name: 'lm_head x·wteᵀ [1024×128]·[256×128]ᵀ', spec: { M: 1024, N: 256, K: 128, transB: true } },
  { name: 'lora_A x·Aᵀ [1024×128]·[8×128]ᵀ', spec: { M: 1024, N: 8, K: 128, transB: true } },
  { name: '512³', spec: { M: 512, N: 512, K: 512 } },
];

export interface MatmulRow {
  name: string;
  flops: number;
  ours: { gflops: Stat; kernel: string; error: number };
  tfjs?: { gflops: Stat; error: number };
  /** Per repetition: ours GFLOP/s over tfjs's. */
  ratio?: Stat;
}

export interface MatmulResult {
  /** The WebGPU adapter it ran on (`adapter`: the key results.json has always had). */
  adapter: GpuLabel;
  reps: number;
  rows: MatmulRow[];
  tfjsError?: string;
}

export async function runMatmulBench(o: { gpu: GpuChoice; reps: number; tfjs: boolean; log?: (l: string) => void }): Promise<MatmulResult> {
  const log = o.log ?? (() => undefined);
  const gpu = await openNodeGpu({ gpu: o.gpu });
  const label = { choice: o.gpu, description: gpu.info.description, backend: gpu.info.backend, featureLevel: gpu.info.featureLevel };
  let tf: Awaited<ReturnType<typeof openTfjs>> | undefined;
  let tfGpu: Awaited<ReturnType<typeof openNodeGpu>> | undefined;
  let tfjsError: string | undefined;
  if (o.tfjs) {
    try {
      tfGpu = await openNodeGpu({ gpu: o.gpu });
      tf = await openTfjs(tfGpu);
    } catch (e) {
      tfjsError = (e as Error).message;
    }
  }
  const rows: MatmulRow[] = [];
  for (const c of MATMUL_CASES) {
    const { M, N, K, transA, transB } = c.spec;
    const a = randomArray(M * K, 1);
    const b = randomArray(K * N, 2);
    const ref = matmulCpu(c.spec, a, b);
    const flops = 2 * M * N * K;

    const mm = await prepareMatmul(gpu, c.spec);
    const bufs = { a: gpu.buffer(a), b: gpu.buffer(b), c: gpu.buffer(M * N * 4) };
    const ours = async () => {
      const batch = gpu.commands(mm.kernel.label);
      mm.encode(batch, bufs);
      await batch.submit();
      await gpu.sync();
    };
    await ours();
    const oursError = maxScaledError(await gpu.read(bufs.c), ref.c, ref.magnitude);

    let theirs: (() => Promise<void>) | undefined;
    let tfjsErr = 0;
    let dispose = () => undefined as void;
    if (tf && tfGpu) {
      const ta = tf.tensor2d(a, transA ? [K, M] : [M, K]);
      const tb = tf.tensor2d(b, transB ? [N, K] : [K, N]);
      // tfjs keeps a compute pass open across ops; its own flush ends the pass, then submits.
      const backend = tf.backend() as unknown as { endComputePassEncoder(): void; submitQueue(): void };
      const device = tfGpu;
      theirs = async () => {
        const out = tf!.matMul(ta, tb, transA, transB);
        backend.endComputePassEncoder();
        backend.submitQueue();
        await device.sync(); // waits for the queue; throws if any tfjs command failed validation
        out.dispose();
      };
      const first = tf.matMul(ta, tb, transA, transB);
      tfjsErr = maxScaledError((await first.data()) as Float32Array, ref.c, ref.magnitude);
      first.dispose();
      await theirs();
      dispose = () => tf!.dispose([ta, tb]);
    }

    const oursG: number[] = [];
    const theirsG: number[] = [];
    for (let r = 0; r < o.reps; r++) {
      let t0 = performance.now();
      await ours();
      oursG.push(flops / ((performance.now() - t0) * 1e6));
      if (theirs) {
        t0 = performance.now();
        await theirs();
        theirsG.push(flops / ((performance.now() - t0) * 1e6));
      }
    }
    const row: MatmulRow = { name: c.name, flops, ours: { gflops: stat(oursG), kernel: mm.kernel.label, error: oursError } };
    if (theirs) {
      row.tfjs = { gflops: stat(theirsG), error: tfjsErr };
      row.ratio = stat(oursG.map((g, i) => g / theirsG[i]!));
    }
    rows.push(row);
    log(`${o.gpu} matmul ${c.name}: ours ${row.ours.gflops.median.toFixed(2)} GFLOP/s${row.tfjs ? `, tfjs ${row.tfjs.gflops.median.toFixed(2)}` : ''}`);
    for (const buf of Object.values(bufs)) buf.destroy();
    dispose();
  }
  return { adapter: label, reps: o.reps, rows, tfjsError };
}
