// The dropout hash and mask: bit-exact pcg against an independent BigInt implementation,
// the keep fraction, determinism across calls, change across steps and seeds, f32/f64 masks.
import { describe, expect, it } from 'vitest';
import { dropoutThreshold, pcg } from '../../runtime/cpu/rng.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { tensor, type Tensor } from '../../runtime/cpu/tensor.ts';
import { run } from './helpers.ts';

const M = 2n ** 32n;
function pcgBig(v: number): number {
  const state = (BigInt(v >>> 0) * 747796405n + 2891336453n) % M;
  const word = (((state >> ((state >> 28n) + 4n)) ^ state) * 277803737n) % M;
  return Number((word >> 22n) ^ word);
}

const ones = (n: number) => tensor([n], new Array(n).fill(1));
const mask = (t: Tensor) => Array.from(t.data, (v) => (v !== 0 ? 1 : 0));

describe('pcg hash', () => {
  it('agrees bit for bit with a BigInt implementation of the u32 formula', () => {
    const rng = new Random(1);
    const inputs = [0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 747796405, 123456789];
    for (let i = 0; i < 2000; i++) inputs.push(rng.nextU32());
    for (const v of inputs) expect(pcg(v)).toBe(pcgBig(v));
    // Pinned values, for the WGSL kernel's test.
    expect([pcg(0), pcg(1), pcg(0xffffffff), pcg(12345)]).toEqual([129708002, 2831084092, 3861530882, 4099845390]);
  });

  it('returns u32 values and wraps its input modulo 2³²', () => {
    expect(pcg(2 ** 32 + 5)).toBe(pcg(5));
    expect(pcg(-1)).toBe(pcg(0xffffffff));
    for (let v = 0; v < 100; v++) {
      const h = pcg(v);
      expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
    }
  });

  it('threshold is floor(p·2³²)', () => {
    expect(dropoutThreshold(0)).toBe(0);
    expect(dropoutThreshold(0.5)).toBe(2 ** 31);
    expect(dropoutThreshold(0.1)).toBe(429496729);
    expect(() => dropoutThreshold(1)).toThrow();
  });
});

describe('dropout', () => {
  const train = (step: number) => ({ precision: 'f64' as const, step, training: true });

  it('keeps about 1 − p of the elements and scales them by 1/(1 − p)', () => {
    const n = 200_000;
    for (const p of [0.1, 0.5, 0.9]) {
      const y = run('dropout', [ones(n)], { p, seed: 1234 }, train(0));
      let kept = 0;
      for (const v of y.data) {
        if (v !== 0) {
          kept++;
          expect(v).toBe(1 / (1 - p));
        }
      }
      // Binomial standard deviation is at most 0.0012 here; allow 5σ.
      expect(Math.abs(kept / n - (1 - p))).toBeLessThan(0.006);
    }
  });

  it('keeps element i iff pcg(i + pcg(seed + pcg(step))) ≥ floor(p·2³²)', () => {
    const [p, seed, step] = [0.25, 99, 17];
    const y = run('dropout', [ones(1000)], { p, seed }, train(step));
    const key = pcgBig((seed + pcgBig(step)) % 2 ** 32);
    const want = Array.from({ length: 1000 }, (_, i) => (pcgBig((i + key) % 2 ** 32) >= Math.floor(p * 2 ** 32) ? 1 : 0));
    expect(mask(y)).toEqual(want);
  });

  it('is deterministic for the same seed and step, and differs across steps and seeds', () => {
    const a = mask(run('dropout', [ones(4096)], { p: 0.5, seed: 3 }, train(5)));
    const b = mask(run('dropout', [ones(4096)], { p: 0.5, seed: 3 }, train(5)));
    const c = mask(run('dropout', [ones(4096)], { p: 0.5, seed: 3 }, train(6)));
    const d = mask(run('dropout', [ones(4096)], { p: 0.5, seed: 4 }, train(5)));
    expect(a).toEqual(b);
    const diff = (u: number[], v: number[]) => u.filter((x, i) => x !== v[i]).length / u.length;
    expect(diff(a, c)).toBeGreaterThan(0.4);
    expect(diff(a, d)).toBeGreaterThan(0.4);
  });

  it('f32 and f64 modes drop the same elements', () => {
    const x = tensor([3, 1000], Array.from({ length: 3000 }, (_, i) => Math.sin(i) + 2));
    const y64 = run('dropout', [x], { p: 0.3, seed: 11 }, train(2));
    const y32 = run('dropout', [x], { p: 0.3, seed: 11 }, { precision: 'f32', step: 2, training: true });
    expect(y32.data).toBeInstanceOf(Float32Array);
    expect(mask(y32)).toEqual(mask(y64));
    for (let i = 0; i < 3000; i++) expect(y32.data[i]).toBe(Math.fround(y64.data[i]!));
  });

  it('is the identity when p = 0 or in eval mode', () => {
    const x = tensor([5], [1, -2, 3, -4, 5]);
    expect(Array.from(run('dropout', [x], { p: 0, seed: 1 }, train(1)).data)).toEqual([1, -2, 3, -4, 5]);
    expect(Array.from(run('dropout', [x], { p: 0.9, seed: 1 }, { precision: 'f64', step: 1, training: false }).data)).toEqual([1, -2, 3, -4, 5]);
  });
});
