// Forward values against independent hand-computed or closed-form values.
import { describe, expect, it } from 'vitest';
import { KernelError } from '../../runtime/cpu/kernels/index.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { ints, randomNormal, tensor, type Tensor } from '../../runtime/cpu/tensor.ts';
import { F32, run, scaledErr } from './helpers.ts';

const vals = (t: Tensor) => Array.from(t.data);
const close = (got: Tensor | number[], want: number[], tol = 1e-12) => {
  const g = Array.isArray(got) ? got : vals(got);
  expect(g.length).toBe(want.length);
  g.forEach((v, i) => expect(Math.abs(v - want[i]!), `element ${i}: ${v} vs ${want[i]}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(want[i]!))));
};

describe('activations', () => {
  it('gelu (tanh approximation) matches values computed outside the project (Python math)', () => {
    const xs = [-3, -1, -0.5, 0, 0.5, 1, 2, 3];
    const want = [
      -0.0036373920817729943, -0.15880800939172324, -0.15428599017485606, 0, 0.34571400982514394, 0.8411919906082768,
      1.954597694087775, 2.996362607918227,
    ];
    close(run('gelu', [tensor([8], xs)]), want, 1e-15);
    // And against the formula written out here.
    const f = (x: number) => 0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)));
    close(run('gelu', [tensor([8], xs)]), xs.map(f), 1e-15);
  });

  it('relu, silu, tanh', () => {
    close(run('relu', [tensor([4], [-2, -0, 0.5, 3])]), [0, 0, 0.5, 3]);
    close(run('silu', [tensor([4], [-2, 0, 1, 5])]), [-0.2384058440442351, 0, 0.7310585786300049, 4.966535745378576], 1e-15);
    close(run('tanh', [tensor([3], [-1, 0, 2])]), [Math.tanh(-1), 0, Math.tanh(2)]);
    // silu stays finite for large |x|.
    close(run('silu', [tensor([2], [-800, 800])]), [-0, 800]);
  });

  it('add, mul, scale with suffix broadcasting', () => {
    const a = tensor([2, 3], [1, 2, 3, 4, 5, 6]);
    close(run('add', [a, tensor([3], [10, 20, 30])]), [11, 22, 33, 14, 25, 36]);
    close(run('add', [tensor([3], [10, 20, 30]), a]), [11, 22, 33, 14, 25, 36]);
    close(run('mul', [a, tensor([], [2])]), [2, 4, 6, 8, 10, 12]);
    close(run('scale', [a], { factor: 0.5 }), [0.5, 1, 1.5, 2, 2.5, 3]);
    expect(() => run('add', [a, tensor([2], [1, 2])])).toThrow(KernelError);
  });
});

describe('norms', () => {
  it('layernorm of [1, 2, 3, 4]: mean 2.5, biased variance 1.25', () => {
    const x = tensor([1, 4], [1, 2, 3, 4]);
    const s = Math.sqrt(1.25);
    close(run('layernorm', [x], { eps: 0 }), [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s]);
    const gamma = tensor([4], [1, 2, 3, 4]);
    const beta = tensor([4], [0, 1, 0, -1]);
    close(run('layernorm', [x, gamma, beta], { eps: 0 }), [-1.5 / s, 1 - 1 / s, 1.5 / s, 6 / s - 1]);
    // eps enters under the square root.
    close(run('layernorm', [x], { eps: 2.75 }), [-0.75, -0.25, 0.25, 0.75]);
  });

  it('rmsnorm of [1, 2, 3, 4]: mean square 7.5', () => {
    const r = 1 / Math.sqrt(7.5);
    close(run('rmsnorm', [tensor([1, 4], [1, 2, 3, 4]), tensor([4], [1, 1, 2, 0.5])], { eps: 0 }), [r, 2 * r, 6 * r, 2 * r]);
  });
});

/** attention weights of one head: with v the identity (hd = Sk), the output rows are the softmax rows. */
function attentionWeights(S: number, prefix: number, causal: boolean, seed = 5): number[][] {
  const Sk = prefix + S;
  const rng = new Random(seed);
  const q = randomNormal([1, S, Sk], rng);
  const k = randomNormal([1, Sk, Sk], rng);
  const v = tensor([1, Sk, Sk], Array.from({ length: Sk * Sk }, (_, i) => (Math.floor(i / Sk) === i % Sk ? 1 : 0)));
  const out = run('attention', [q, k, v], { heads: 1, kv_heads: 1, causal, prefix });
  return Array.from({ length: S }, (_, i) => vals(out).slice(i * Sk, (i + 1) * Sk));
}

describe('attention', () => {
  it('softmax rows sum to 1, with zeros exactly on causally masked keys', () => {
    for (const [S, prefix, causal] of [[5, 0, true], [4, 3, true], [4, 2, false]] as const) {
      const w = attentionWeights(S, prefix, causal);
      w.forEach((row, i) => {
        expect(Math.abs(row.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-14);
        row.forEach((p, j) => {
          const visible = j < prefix || !causal || j - prefix <= i;
          if (visible) expect(p).toBeGreaterThan(0);
          else expect(p).toBe(0);
        });
      });
    }
  });

  it('scores are q·k/√hd: a hand-computed two-key case', () => {
    // hd = 2, q = (1, 0), keys (1, 0) and (0, 1): scores 1/√2 and 0.
    const q = tensor([1, 1, 2], [1, 0]);
    const k = tensor([1, 2, 2], [1, 0, 0, 1]);
    const v = tensor([1, 2, 2], [1, 2, 3, 5]);
    const e = Math.exp(1 / Math.SQRT2);
    const p0 = e / (e + 1);
    const out = run('attention', [q, k, v], { heads: 1, kv_heads: 1, causal: false, prefix: 1 });
    close(out, [p0 * 1 + (1 - p0) * 3, p0 * 2 + (1 - p0) * 5], 1e-14);
  });

  it('with a single visible key the output is that key\'s value; query heads read kv head floor(h·KV/H)', () => {
    const rng = new Random(3);
    const hd = 3;
    const q = randomNormal([2, 1, 4 * hd], rng);
    const k = randomNormal([2, 1, 2 * hd], rng);
    const v = randomNormal([2, 1, 2 * hd], rng);
    const out = run('attention', [q, k, v], { heads: 4, kv_heads: 2, causal: true, prefix: 0 });
    for (let b = 0; b < 2; b++) {
      for (let h = 0; h < 4; h++) {
        const kvh = h < 2 ? 0 : 1;
        close(vals(out).slice(b * 4 * hd + h * hd, b * 4 * hd + (h + 1) * hd), vals(v).slice(b * 2 * hd + kvh * hd, b * 2 * hd + (kvh + 1) * hd), 1e-15);
      }
    }
  });

  it('the first query of a causal sequence sees only the prefix and itself', () => {
    const w = attentionWeights(3, 2, true);
    expect(w[0]!.slice(3)).toEqual([0, 0]);
    // Large scores stay finite (max subtraction): each query picks its best key outright.
    const q = tensor([1, 2, 1], [1000, -1000]);
    const k = tensor([1, 2, 1], [1000, 1]);
    const v = tensor([1, 2, 1], [1, 2]);
    close(run('attention', [q, k, v], { heads: 1, kv_heads: 1, causal: false, prefix: 0 }), [1, 2]);
  });

  it("attention_lse is each softmax row's log-sum-exp: hand-computed, and e^(s − lse) are the attention weights", () => {
    // The two-key case above: scores 1/√2 and 0, so lse = log(e^(1/√2) + 1).
    const lse = run('attention_lse', [tensor([1, 1, 2], [1, 0]), tensor([1, 2, 2], [1, 0, 0, 1])], { heads: 1, kv_heads: 1, causal: false, prefix: 1 });
    expect(lse.shape).toEqual([1, 1, 1]);
    close(lse, [Math.log(Math.exp(1 / Math.SQRT2) + 1)], 1e-15);
    // Against the weights attention computes (v the identity), masks included: p_ij = e^(s_ij − lse_i),
    // s written out here; scores ~ 10 stay exact (the kernel subtracts the row max).
    for (const [S, prefix, causal] of [[5, 0, true], [4, 3, true], [4, 2, false]] as const) {
      const Sk = prefix + S;
      const rng = new Random(5);
      const q = randomNormal([1, S, Sk], rng, 3);
      const k = randomNormal([1, Sk, Sk], rng, 3);
      const v = tensor([1, Sk, Sk], Array.from({ length: Sk * Sk }, (_, i) => (Math.floor(i / Sk) === i % Sk ? 1 : 0)));
      const attrs = { heads: 1, kv_heads: 1, causal, prefix };
      const w = vals(run('attention', [q, k, v], attrs));
      const l = vals(run('attention_lse', [q, k], attrs));
      for (let i = 0; i < S; i++) {
        for (let j = 0; j < Sk; j++) {
          if (causal && j >= prefix + i + 1) continue; // masked: weight 0 (the test above)
          let s = 0;
          for (let c = 0; c < Sk; c++) s += vals(q)[i * Sk + c]! * vals(k)[j * Sk + c]!;
          const p = Math.exp(s / Math.sqrt(Sk) - l[i]!);
          expect(Math.abs(p - w[i * Sk + j]!), `S ${S} prefix ${prefix} (${i}, ${j})`).toBeLessThan(1e-13);
        }
      }
    }
  });

  it('rejects k whose length is not prefix + S', () => {
    const q = tensor([1, 2, 2], [1, 2, 3, 4]);
    const k = tensor([1, 2, 2], [1, 2, 3, 4]);
    expect(() => run('attention', [q, k, k], { heads: 1, kv_heads: 1, causal: true, prefix: 1 })).toThrow(/prefix \+ S/);
  });
});

describe('rope', () => {
  const rng = new Random(11);

  it('is the identity at position 0 and inverse undoes it', () => {
    const x = randomNormal([2, 6, 16], rng);
    const y = run('rope', [x], { heads: 2, theta: 10000, inverse: false });
    close(vals(y).slice(0, 16), vals(x).slice(0, 16));
    close(vals(y).slice(6 * 16, 7 * 16), vals(x).slice(6 * 16, 7 * 16));
    close(run('rope', [y], { heads: 2, theta: 10000, inverse: true }), vals(x), 1e-14);
  });

  it('rotates pair (x_i, x_{i+hd/2}) by p·theta^(−2i/hd): a 90° case', () => {
    // hd = 4: pair 0 = (x0, x2) at frequency 1, pair 1 = (x1, x3) at theta^(−1/2) = π/2 at p = 1.
    const theta = (2 / Math.PI) ** 2;
    const x = tensor([1, 2, 4], [0, 0, 0, 0, 1, 2, 3, 4]);
    const y = vals(run('rope', [x], { heads: 1, theta, inverse: false }));
    const [c, s] = [Math.cos(1), Math.sin(1)];
    close(y.slice(4), [1 * c - 3 * s, -4, 3 * c + 1 * s, 2], 1e-14);
  });

  it('matches the Hugging Face formula q·cos + rotate_half(q)·sin written independently', () => {
    const [B, S, H, hd, theta] = [2, 5, 3, 8, 500];
    const x = randomNormal([B, S, H * hd], rng);
    const y = run('rope', [x], { heads: H, theta, inverse: false });
    const want: number[] = [];
    for (let b = 0; b < B; b++) {
      for (let p = 0; p < S; p++) {
        for (let h = 0; h < H; h++) {
          const q = vals(x).slice(((b * S + p) * H + h) * hd, ((b * S + p) * H + h + 1) * hd);
          const invFreq = Array.from({ length: hd / 2 }, (_, i) => 1 / theta ** ((2 * i) / hd));
          const emb = [...invFreq, ...invFreq].map((f) => p * f);
          const rot = [...q.slice(hd / 2).map((v) => -v), ...q.slice(0, hd / 2)];
          for (let i = 0; i < hd; i++) want.push(q[i]! * Math.cos(emb[i]!) + rot[i]! * Math.sin(emb[i]!));
        }
      }
    }
    close(y, want, 1e-13);
  });
});

describe('cross_entropy', () => {
  it('of uniform logits is log V', () => {
    const V = 7;
    const loss = run('cross_entropy', [tensor([2, 3, V], new Array(2 * 3 * V).fill(0.3)), ints([2, 3], [0, 1, 2, 3, 4, 6])], { ignore_index: -100 });
    expect(loss.shape).toEqual([]);
    close(loss, [Math.log(V)], 1e-15);
  });

  it('matches a hand-computed value and averages over counted positions only', () => {
    const logits = tensor([3, 3], [1, 2, 3, 5, 5, 5, 9, 9, 9]);
    // Row 0: −log softmax([1,2,3])[2] = 0.40760596444438013 (Python). Row 1 ignored. Row 2: log 3.
    const loss = run('cross_entropy', [logits, ints([3], [2, -1, 0])], { ignore_index: -1 });
    close(loss, [(0.40760596444438013 + Math.log(3)) / 2], 1e-15);
  });

  it('is stable for large logits and 0 when nothing counts', () => {
    close(run('cross_entropy', [tensor([1, 2], [1000, 0]), ints([1], [0])], { ignore_index: -100 }), [0]);
    close(run('cross_entropy', [tensor([1, 2], [0, 1000]), ints([1], [0])], { ignore_index: -100 }), [1000]);
    const none = run('cross_entropy', [tensor([2, 2], [1, 2, 3, 4]), ints([2], [-100, -100])], { ignore_index: -100 });
    close(none, [0]);
    const grad = run('cross_entropy_grad', [tensor([2, 2], [1, 2, 3, 4]), ints([2], [-100, -100])], { ignore_index: -100 });
    close(grad, [0, 0, 0, 0]);
  });

  it('gradient rows sum to 0 on counted positions and are 0 on ignored ones', () => {
    const g = vals(run('cross_entropy_grad', [randomNormal([3, 4], new Random(2)), ints([3], [1, -100, 3])], { ignore_index: -100 }));
    expect(Math.abs(g.slice(0, 4).reduce((a, b) => a + b, 0))).toBeLessThan(1e-15);
    expect(g.slice(4, 8)).toEqual([0, 0, 0, 0]);
  });

  it('rejects targets outside the vocabulary', () => {
    expect(() => run('cross_entropy', [tensor([1, 2], [0, 0]), ints([1], [2])], { ignore_index: -100 })).toThrow(KernelError);
  });
});

describe('embedding, positions, pool and data movement', () => {
  it('embedding looks rows up; embedding_grad sums repeated ids', () => {
    const table = tensor([3, 2], [1, 2, 3, 4, 5, 6]);
    const ids = ints([2, 2], [2, 0, 2, 1]);
    const y = run('embedding', [table, ids]);
    expect(y.shape).toEqual([2, 2, 2]);
    close(y, [5, 6, 1, 2, 5, 6, 3, 4]);
    close(run('embedding_grad', [ids, tensor([2, 2, 2], [1, 1, 2, 2, 3, 3, 4, 4])], { rows: 4 }), [2, 2, 4, 4, 4, 4, 0, 0]);
    expect(() => run('embedding', [table, ints([1], [3])])).toThrow(/outside/);
  });

  it('positions is i32 0 … S−1', () => {
    const p = run('positions', [ints([2, 4], [9, 9, 9, 9, 9, 9, 9, 9])]);
    expect(p.data).toBeInstanceOf(Int32Array);
    expect(p.shape).toEqual([4]);
    expect(vals(p)).toEqual([0, 1, 2, 3]);
  });

  it('pool first, last, mean and pool_grad', () => {
    const x = tensor([1, 3, 2], [1, 2, 3, 4, 5, 9]);
    close(run('pool', [x], { mode: 'first' }), [1, 2]);
    close(run('pool', [x], { mode: 'last' }), [5, 9]);
    close(run('pool', [x], { mode: 'mean' }), [3, 5]);
    close(run('pool_grad', [tensor([1, 2], [3, 6]), x], { mode: 'mean' }), [1, 2, 1, 2, 1, 2]);
    close(run('pool_grad', [tensor([1, 2], [3, 6]), x], { mode: 'last' }), [0, 0, 0, 0, 3, 6]);
  });

  it('slice, pad and concat along the middle and last axes; integers stay integers', () => {
    const x = tensor([2, 3, 2], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    close(run('slice', [x], { axis: 1, start: 1, size: 2 }), [2, 3, 4, 5, 8, 9, 10, 11]);
    close(run('slice', [x], { axis: -1, start: 1, size: 1 }), [1, 3, 5, 7, 9, 11]);
    const p = run('pad', [tensor([1, 2], [7, 8])], { axis: 1, start: 1, total: 4 });
    expect(p.shape).toEqual([1, 4]);
    close(p, [0, 7, 8, 0]);
    const c = run('concat', [tensor([2, 1], [1, 2]), tensor([2, 2], [3, 4, 5, 6])], { axis: -1 });
    expect(c.shape).toEqual([2, 3]);
    close(c, [1, 3, 4, 2, 5, 6]);
    const ci = run('concat', [ints([1, 2], [1, 2]), ints([1, 1], [3])], { axis: 1 });
    expect(ci.data).toBeInstanceOf(Int32Array);
    expect(vals(ci)).toEqual([1, 2, 3]);
    expect(() => run('slice', [x], { axis: 1, start: 2, size: 2 })).toThrow(KernelError);
  });

  it('sum_to and expand_batch', () => {
    close(run('sum_to', [tensor([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]), tensor([2], [0, 0])]), [16, 20]);
    close(run('sum_to', [tensor([2, 2], [1, 2, 3, 4]), tensor([], [0])]), [10]);
    const e = run('expand_batch', [tensor([1, 2], [1, 2]), ints([3, 5], new Array(15).fill(0))]);
    expect(e.shape).toEqual([3, 1, 2]);
    close(e, [1, 2, 1, 2, 1, 2]);
  });
});

describe('kernel errors', () => {
  it('name the op and the problem', () => {
    const x = tensor([2, 3], [1, 2, 3, 4, 5, 6]);
    expect(() => run('layernorm', [x], {})).toThrow('layernorm: missing attribute eps');
    expect(() => run('linear', [x, tensor([2, 2], [1, 2, 3, 4])], { layout: 'in_out' })).toThrow(/linear: input features 3/);
    expect(() => run('linear', [x, tensor([3, 2], [1, 2, 3, 4, 5, 6])], { layout: 'rows' })).toThrow(/layout/);
    expect(() => run('embedding', [x, tensor([1], [0])])).toThrow(/i32/);
  });

  it('f32 mode returns Float32Array, f64 mode Float64Array', () => {
    const x = tensor([2], [1, 2]);
    expect(run('gelu', [x], {}, F32).data).toBeInstanceOf(Float32Array);
    expect(run('gelu', [x]).data).toBeInstanceOf(Float64Array);
    expect(scaledErr(run('gelu', [x], {}, F32), run('gelu', [x]))).toBeLessThan(1e-7);
  });
});
