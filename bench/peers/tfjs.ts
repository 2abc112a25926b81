// The peer: @tensorflow/tfjs-backend-webgpu 4.22 on the same WebGPU adapter in Node, and the
// benchmark's GPT-2 + LoRA written in tfjs ops with tfjs's own autodiff and Adam.
//
// The model follows Hugging Face's GPT2LMHeadModel as examples/gpt2.peft does (and
// scripts/reference/gpt2_lora.py): Conv1D weights [in, out]; pre-LN blocks; causal softmax
// attention (scores / √head_dim, masked positions −1e9); gelu_new (tanh); LayerNorm with biased
// variance, eps 1e-5; logits tied to wte; mean cross-entropy over targets ≠ −100. LoRA (PEFT,
// fan_in_fan_out): c_attn(x) = x·W + b + (α/r)·(x·Aᵀ)·Bᵀ with A [r, in], B [out, r].
// Frozen parameters are tf.variable(trainable = false) and only the trainable ones go to
// tf.variableGrads, so tfjs differentiates only along paths to them, as this project does.
// The step: gradients, global-norm clipping to 1 (as this project and PyTorch's
// clip_grad_norm_), tf.train.adam (PyTorch's Adam update; weight decay 0 in every framework).
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type * as TF from '@tensorflow/tfjs-core';
import { buildSync } from 'esbuild';
import type { Gpu } from '../../runtime/webgpu/gpu.ts';
import { MODEL } from '../model.ts';

export type Tfjs = typeof TF;

/**
 * tfjs-core's Node bundle (its package "main") registers no gradients: the union package
 * @tensorflow/tfjs does that with its own copy of the core. So tfjs-core's and the WebGPU
 * backend's ES modules, with register_all_gradients, are bundled once by esbuild into one
 * CommonJS file (about half a second) and loaded from node_modules/.cache: one copy of tfjs,
 * as shipped, nothing changed.
 */
function loadTfjsBundle(): { tf: Tfjs; WebGPUBackend: new (device: GPUDevice, info: { vendor: string; architecture: string }) => TF.KernelBackend } {
  const root = resolve(import.meta.dirname, '../..');
  const entry = `export * from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-webgpu';
export { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu/dist/webgpu';
`;
  const outfile = join(root, 'node_modules/.cache/peftc-bench/tfjs.cjs');
  mkdirSync(dirname(outfile), { recursive: true });
  buildSync({
    stdin: { contents: entry, resolveDir: root, loader: 'js' },
    bundle: true,
    format: 'cjs',
    platform: 'node',
    mainFields: ['module', 'main'],
    outfile,
    logLevel: 'error',
  });
  const mod = createRequire(import.meta.url)(outfile) as Tfjs & { WebGPUBackend: never };
  return { tf: mod, WebGPUBackend: mod.WebGPUBackend };
}

/**
 * tfjs with its WebGPU backend on `gpu`'s adapter. tfjs's backend factory asks navigator.gpu for
 * a high-performance adapter, which in Node would not be the software adapter chosen here, so
 * the 'webgpu' backend is registered again with a device of our adapter (its kernels are
 * registered by backend name and stay). Node 20 has no navigator; tfjs only checks that
 * navigator.gpu exists.
 */
export async function openTfjs(gpu: Gpu): Promise<Tfjs> {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: { gpu: {} }, configurable: true, writable: true });
  else if (!g.navigator.gpu) (g.navigator as { gpu?: unknown }).gpu = {};
  const { tf, WebGPUBackend } = loadTfjsBundle();
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', async () => new WebGPUBackend(gpu.device, { vendor: gpu.info.vendor, architecture: gpu.info.architecture }));
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not start its WebGPU backend');
  await tf.ready();
  return tf;
}

type Params = Map<string, { shape: number[]; data: Float32Array }>;

export class TfjsGpt2 {
  private readonly vars = new Map<string, TF.Variable>();
  private readonly trainable: TF.Variable[] = [];
  private readonly optimizer: TF.AdamOptimizer;
  private readonly mask: TF.Tensor; // [T, T]: 0 where visible, −1e9 above the diagonal
  private readonly positions: TF.Tensor; // i32 [T]

  constructor(
    private readonly tf: Tfjs,
    params: Params,
    trainablePaths: ReadonlySet<string>,
    private readonly dims: { B: number; T: number },
    private readonly opt: { lr: number; beta1: number; beta2: number; eps: number; clipNorm: number },
  ) {
    for (const [path, p] of params) {
      const train = trainablePaths.has(path);
      const v = tf.variable(tf.tensor(p.data, p.shape, 'float32'), train, path.replace(/[^A-Za-z0-9_.]/g, '_'));
      this.vars.set(path, v);
      if (train) this.trainable.push(v);
    }
    this.optimizer = tf.train.adam(opt.lr, opt.beta1, opt.beta2, opt.eps);
    const T = dims.T;
    const m = new Float32Array(T * T);
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = -1e9;
    this.mask = tf.tensor2d(m, [T, T]);
    this.positions = tf.range(0, T, 1, 'int32');
  }

  private p(path: string): TF.Tensor {
    const v = this.vars.get(path);
    if (!v) throw new Error(`tfjs model: no parameter ${path}`);
    return v;
  }

  private layerNorm(x: TF.Tensor, prefix: string): TF.Tensor {
    const tf = this.tf;
    const mean = tf.mean(x, -1, true);
    const xc = tf.sub(x, mean);
    const variance = tf.mean(tf.square(xc), -1, true);
    return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(variance, MODEL.eps))), this.p(`${prefix}.weight`)), this.p(`${prefix}.bias`));
  }

  /** Conv1D: x [N, in] · W [in, out] + b. */
  private conv1d(x: TF.Tensor, prefix: string): TF.Tensor {
    return this.tf.add(this.tf.matMul(x, this.p(`${prefix}.weight`)), this.p(`${prefix}.bias`));
  }

  private gelu(x: TF.Tensor): TF.Tensor {
    const tf = this.tf;
    const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
    return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
  }

  /** x [B·T, C] → causal multi-head self-attention with c_attn (+ LoRA) and c_proj, [B·T, C]. */
  private attention(x: TF.Tensor, prefix: string): TF.Tensor {
    const tf = this.tf;
    const { B, T } = this.dims;
    const C = MODEL.embd;
    const H = MODEL.heads;
    const D = C / H;
    let qkv = this.conv1d(x, `${prefix}.c_attn`);
    if (this.vars.has(`${prefix}.c_attn.lora_A.weight`)) {
      const down = tf.matMul(x, this.p(`${prefix}.c_attn.lora_A.weight`), false, true); // [N, r]
      const up = tf.matMul(down, this.p(`${prefix}.c_attn.lora_B.weight`), false, true); // [N, 3C]
      qkv = tf.add(qkv, tf.mul(up, MODEL.alpha / MODEL.rank));
    }
    const heads = (t: TF.Tensor) => tf.transpose(tf.reshape(t, [B, T, H, D]), [0, 2, 1, 3]); // [B, H, T, D]
    const [q, k, v] = tf.split(qkv, 3, -1).map(heads) as [TF.Tensor, TF.Tensor, TF.Tensor];
    const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(D)), this.mask); // [B, H, T, T]
    const y = tf.matMul(tf.softmax(scores, -1), v); // [B, H, T, D]
    const merged = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B * T, C]);
    return this.conv1d(merged, `${prefix}.c_proj`);
  }

  /** The mean cross-entropy of one batch (tokens, targets: i32 [B, T]). */
  loss(tokens: TF.Tensor, targets: TF.Tensor): TF.Scalar {
    const tf = this.tf;
    const { B, T } = this.dims;
    const wte = this.p('wte.weight');
    const emb = tf.gather(wte, tf.reshape(tokens, [B * T])); // [B·T, C]
    const pos = tf.tile(tf.gather(this.p('wpe.weight'), this.positions), [B, 1]);
    let x = tf.add(emb, pos);
    for (let i = 0; i < MODEL.layers; i++) {
      x = tf.add(x, this.attention(this.layerNorm(x, `h.${i}.ln_1`), `h.${i}.attn`));
      const m = this.gelu(this.conv1d(this.layerNorm(x, `h.${i}.ln_2`), `h.${i}.mlp.c_fc`));
      x = tf.add(x, this.conv1d(m, `h.${i}.mlp.c_proj`));
    }
    const logits = tf.matMul(this.layerNorm(x, 'ln_f'), wte, false, true); // [B·T, V]
    const flat = tf.reshape(targets, [B * T]);
    const valid = tf.cast(tf.greaterEqual(flat, 0), 'float32'); // −100 = ignored
    const picked = tf.sum(tf.mul(tf.logSoftmax(logits, -1), tf.oneHot(tf.maximum(flat, tf.scalar(0, 'int32')), MODEL.vocab)), -1);
    return tf.div(tf.neg(tf.sum(tf.mul(picked, valid))), tf.sum(valid)) as TF.Scalar;
  }

  /** One training step; resolves to the loss once the GPU has finished it. */
  async step(tokens: TF.Tensor, targets: TF.Tensor): Promise<number> {
    const tf = this.tf;
    const { value, grads } = tf.variableGrads(() => this.loss(tokens, targets), this.trainable);
    const clipped = tf.tidy(() => {
      const norm = tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))));
      const factor = tf.minimum(1, tf.div(this.opt.clipNorm, tf.add(norm, 1e-6)));
      return Object.entries(grads).map(([name, g]) => ({ name, tensor: tf.mul(g, factor) }));
    });
    this.optimizer.applyGradients(clipped);
    tf.dispose(Object.values(grads));
    tf.dispose(clipped.map((c) => c.tensor));
    const loss = (await value.data())[0]!;
    value.dispose();
    return loss;
  }

  dispose(): void {
    this.tf.dispose([...this.vars.values(), this.mask, this.positions]);
    this.optimizer.dispose();
  }
}
