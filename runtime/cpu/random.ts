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
  // xoshiro128**'s four state words. An Int32Array rather than four number fields: words of 2³¹
  // and above do not fit V8's small integers, and as fields they were boxed on every update
  // (initialising GPT-2 small's 124 M values took 20 s). The bits are the same either way.
  private readonly s = new Int32Array(4);
  // The second value of a Box–Muller pair, kept for the next call. A number and a flag rather
  // than `number | null`, so the field stays a plain double.
  private spare = 0;
  private hasSpare = false;

  constructor(seed: number) {
    const sm = splitmix32(seed);
    for (let i = 0; i < 4; i++) this.s[i] = sm();
  }

  /** The next u32 in [0, 2³²). */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
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
    if (this.hasSpare) {
      this.hasSpare = false;
      return mean + std * this.spare;
    }
    const r = Math.sqrt(-2 * Math.log(this.next()));
    const t = 2 * Math.PI * this.next();
    this.spare = r * Math.sin(t);
    this.hasSpare = true;
    return mean + std * r * Math.cos(t);
  }

  /**
   * Fills `out` with normal(mean, std) values: the same values as calling normal() for each
   * element, a whole Box–Muller pair per iteration (a GPT-2-small base is 124 M draws).
   */
  fillNormal(out: Float32Array | Float64Array, std: number, mean: number): void {
    let i = 0;
    const n = out.length;
    if (this.hasSpare && n > 0) out[i++] = this.normal(mean, std);
    for (; i + 1 < n; i += 2) {
      const r = Math.sqrt(-2 * Math.log(this.next()));
      const t = 2 * Math.PI * this.next();
      out[i] = mean + std * r * Math.cos(t);
      out[i + 1] = mean + std * (r * Math.sin(t));
    }
    if (i < n) out[i] = this.normal(mean, std);
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** x rotated left by k bits, as an int32 (callers take `>>> 0` where they need the u32). */
function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Fills `out` with uniform(lo, hi) values. */
export function fillUniform(out: Float32Array | Float64Array, rng: Random, lo: number, hi: number): void {
  for (let i = 0; i < out.length; i++) out[i] = rng.uniform(lo, hi);
}

/** Fills `out` with normal(mean, std) values. */
export function fillNormal(out: Float32Array | Float64Array, rng: Random, std: number, mean = 0): void {
  rng.fillNormal(out, std, mean);
}
