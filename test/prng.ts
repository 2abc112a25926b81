// mulberry32: the tests' small seeded generator, so a hostile or fuzzed case reproduces from its
// seed. (The runtime's own generator, runtime/cpu/random.ts, draws parameters; tests that only
// need varied cases use this one.)
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
