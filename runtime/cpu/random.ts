// A small deterministic PRNG for parameter initialisation and tests: xoshiro128**
// (Blackman & Vigna) seeded through splitmix32, 32-bit operations only, so it runs the
// same in every JS engine. Not for cryptography.

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;

  constructor(seed: number) {
    const sm = splitmix32(seed);
    this.a = sm();
    this.b = sm();
    this.c = sm();
    this.d = sm();
  }

  /** The next u32 in [0, 2³²). */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.b << 9) >>> 0;
    this.c = (this.c ^ this.a) >>> 0;
    this.d = (this.d ^ this.b) >>> 0;
    this.b = (this.b ^ this.c) >>> 0;
    this.a = (this.a ^ this.d) >>> 0;
    this.c = (this.c ^ t) >>> 0;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** A double uniform in the open interval (0, 1), with 53 random bits. */
  next(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo + 0.5) / 9007199254740992;
  }

  /** Uniform in (lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }

  /** Normal(mean, std) by the Box–Muller transform (the second value of each pair is kept). */
  normal(mean = 0, std = 1): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return mean + std * z;
    }
    const r = Math.sqrt(-2 * Math.log(this.next()));
    const t = 2 * Math.PI * this.next();
    this.spare = r * Math.sin(t);
    return mean + std * r * Math.cos(t);
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Fills `out` with uniform(lo, hi) values. */
export function fillUniform(out: Float32Array | Float64Array, rng: Random, lo: number, hi: number): void {
  for (let i = 0; i < out.length; i++) out[i] = rng.uniform(lo, hi);
}

/** Fills `out` with normal(mean, std) values. */
export function fillNormal(out: Float32Array | Float64Array, rng: Random, std: number, mean = 0): void {
  for (let i = 0; i < out.length; i++) out[i] = rng.normal(mean, std);
}
