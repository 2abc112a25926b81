// Dropout's keep threshold, part of the op's definition: the CPU reference (runtime/cpu/rng.ts)
// and every generated kernel compare the PCG hash of an element against this same u32.

/**
 * The keep threshold of dropout with probability p: floor(p · 2³²), computed in f64 on the
 * host (a GPU kernel should receive it as a u32 uniform rather than compute it in f32, where
 * p = 0.1 rounds to 0.10000000149 and the threshold would move by 7).
 */
export function dropoutThreshold(p: number): number {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout probability must be in [0, 1), got ${p}`);
  return Math.floor(p * 4294967296);
}
