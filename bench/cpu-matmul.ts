// Speed of the CPU reference's matrix multiply (and of attention, for scale).
// Run: npx tsx bench/cpu-matmul.ts   (measures and prints; never a test)
import { KERNELS, type KernelContext } from '../runtime/cpu/kernels/index.ts';
import { Random } from '../runtime/cpu/random.ts';
import { randomNormal, type Tensor } from '../runtime/cpu/tensor.ts';
import type { Attrs } from '../compiler/ir/types.ts';

function best(f: () => void, reps = 5): number {
  f();
  let t = Infinity;
  for (let i = 0; i < reps; i++) {
    const s = performance.now();
    f();
    t = Math.min(t, performance.now() - s);
  }
  return t;
}

const rng = new Random(1);
function measure(label: string, op: string, inputs: Tensor[], attrs: Attrs, flops: number): void {
  for (const precision of ['f32', 'f64'] as const) {
    const ctx: KernelContext = { precision, step: 0, training: true };
    const ins = inputs.map((t) => (t.data instanceof Int32Array ? t : randomNormal(t.shape, rng, 1, precision)));
    const ms = best(() => KERNELS[op]!(ins, attrs, ctx));
    console.log(`${label.padEnd(44)} ${precision}  ${ms.toFixed(1).padStart(8)} ms  ${(flops / ms / 1e6).toFixed(2).padStart(6)} GFLOP/s`);
  }
}

const N = 512;
measure('linear 512×512·512×512 in_out', 'linear', [randomNormal([N, N], rng), randomNormal([N, N], rng)], { layout: 'in_out' }, 2 * N ** 3);
measure('linear 512×512·(512×512)ᵀ out_in', 'linear', [randomNormal([N, N], rng), randomNormal([N, N], rng)], { layout: 'out_in' }, 2 * N ** 3);
measure('linear_grad_weight 512×512ᵀ·512×512', 'linear_grad_weight', [randomNormal([N, N], rng), randomNormal([N, N], rng)], { layout: 'in_out' }, 2 * N ** 3);
measure('linear GPT-2 MLP [4,128,768]→3072', 'linear', [randomNormal([4, 128, 768], rng), randomNormal([768, 3072], rng)], { layout: 'in_out' }, 2 * 512 * 768 * 3072);
const [B, S, H, hd] = [4, 128, 12, 64];
// Causal attention: about half of the S² scores, two S²·hd products each.
measure(
  'attention GPT-2 [4,128,12×64] causal', 'attention',
  [randomNormal([B, S, H * hd], rng), randomNormal([B, S, H * hd], rng), randomNormal([B, S, H * hd], rng)],
  { heads: H, kv_heads: H, causal: true, prefix: 0 }, 2 * B * H * (S * (S + 1)) / 2 * hd * 2,
);
