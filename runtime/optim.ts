// Optimizers over the trainable arena: AdamW (decoupled weight decay, bias correction,
// PyTorch's update order) and SGD with momentum, after clipping the gradients to a
// global L2 norm. Gradients are gathered into one arena laid out like the parameters,
// so each update is one pass over three flat arrays — the same shape the GPU
// optimizer dispatch has.
import type { OptimizerConfig } from '../compiler/autodiff/backward.ts';
import { lrScale } from '../compiler/peft/lora-plus.ts';
import type { Arena } from './arena.ts';
import { allocFloat, type FloatArray, type FloatTensor } from './cpu/tensor.ts';

export interface OptimizerState {
  step: number;
  m: FloatArray;
  v: FloatArray;
}

export class Optimizer {
  readonly state: OptimizerState;
  private readonly grad: FloatArray;
  /** 1 where weight decay applies (matrices), 0 for biases, norms and vectors. */
  private readonly decay: Uint8Array;
  /** Each value's learning-rate multiplier (LoRA+'s lr_ratio for B, else 1), or none when all are 1. */
  private readonly lrScale?: Float32Array;

  constructor(
    readonly config: OptimizerConfig,
    readonly params: Arena,
  ) {
    const n = params.size;
    const precision = params.data instanceof Float64Array ? 'f64' : 'f32';
    this.grad = allocFloat(n, precision);
    this.state = { step: 0, m: allocFloat(n, precision), v: allocFloat(n, precision) };
    this.decay = new Uint8Array(n);
    for (const s of params.slots) if (s.param.shape.length >= 2) this.decay.fill(1, s.offset, s.offset + s.size);
    if (params.slots.some((s) => lrScale(s.param) !== 1)) {
      this.lrScale = new Float32Array(n);
      for (const s of params.slots) this.lrScale.fill(lrScale(s.param), s.offset, s.offset + s.size);
    }
  }

  /** Gathers gradients into the gradient arena; returns their global L2 norm (before clipping). */
  gather(grads: Map<string, FloatTensor>): number {
    this.grad.fill(0);
    for (const s of this.params.slots) {
      const g = grads.get(s.param.path);
      if (g) this.grad.set(g.data, s.offset);
    }
    let sq = 0;
    for (let i = 0; i < this.grad.length; i++) sq += this.grad[i]! * this.grad[i]!;
    return Math.sqrt(sq);
  }

  /** One update with learning rate `lr`; returns the gradient norm before clipping. */
  step(grads: Map<string, FloatTensor>, lr = this.config.lr): number {
    const norm = this.gather(grads);
    // A non-finite gradient would poison every parameter: the caller stops instead.
    if (!Number.isFinite(norm)) return norm;
    const c = this.config;
    const clip = c.clipNorm > 0 && norm > c.clipNorm ? c.clipNorm / (norm + 1e-6) : 1;
    const st = this.state;
    st.step++;
    const p = this.params.data;
    const g = this.grad;
    if (c.kind === 'sgd') {
      for (let i = 0; i < p.length; i++) {
        let gi = g[i]! * clip + (this.decay[i] ? c.weightDecay * p[i]! : 0);
        if (c.momentum) gi = st.m[i] = c.momentum * st.m[i]! + gi;
        p[i] = p[i]! - (this.lrScale ? lr * this.lrScale[i]! : lr) * gi;
      }
      return norm;
    }
    const bc1 = 1 - Math.pow(c.beta1, st.step);
    const bc2 = 1 - Math.pow(c.beta2, st.step);
    for (let i = 0; i < p.length; i++) {
      const lri = this.lrScale ? lr * this.lrScale[i]! : lr;
      const gi = g[i]! * clip;
      const m = (st.m[i] = c.beta1 * st.m[i]! + (1 - c.beta1) * gi);
      const v = (st.v[i] = c.beta2 * st.v[i]! + (1 - c.beta2) * gi * gi);
      const decayed = this.decay[i] ? p[i]! * (1 - lri * c.weightDecay) : p[i]!;
      p[i] = decayed - (lri * (m / bc1)) / (Math.sqrt(v / bc2) + c.eps);
    }
    return norm;
  }
}
