// The dropout hash: PCG's output permutation as a stateless u32 → u32 hash
// (Jarzynski & Olano, "Hash Functions for GPU Rendering", JCGT 2020, `pcg`).
//
// This file is the bit-exact definition that the WGSL dropout kernel reproduces:
//
//   fn pcg(v: u32) -> u32 {
//     let state = v * 747796405u + 2891336453u;
//     let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
//     return (word >> 22u) ^ word;
//   }
//
// All arithmetic is u32 with wrap-around: multiplications go through Math.imul and
// every result is brought back to [0, 2³²) with `>>> 0`.

/** The PCG hash of a u32 (a JS number is taken modulo 2³²). Returns a u32 in [0, 2³²). */
export function pcg(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

// The keep threshold is the op's, shared with the kernel generators.
export { dropoutThreshold } from '../../compiler/ir/dropout.ts';

/** The per-(seed, step) key: pcg(seed + pcg(step)) in u32 arithmetic. */
export function dropoutKey(seed: number, step: number): number {
  return pcg(((seed >>> 0) + pcg(step)) >>> 0);
}

/** Whether element i is kept: pcg(i + key) ≥ threshold (u32 addition). */
export function dropoutKeep(i: number, key: number, threshold: number): boolean {
  return pcg(((i >>> 0) + key) >>> 0) >= threshold;
}
