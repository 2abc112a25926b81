// BENCHMARKS.md's "Kernel tuning" section: the measurements behind the kernels' block sizes
// (codegen/wgsl/matmul/tuning.ts). They were taken once, by hand, with bench/matmul.ts; the
// report carries them unchanged so that a regenerated BENCHMARKS.md keeps them.

export const KERNEL_TUNING = `## Kernel tuning

Measurements behind the constants of the code generators, taken with \`bench/matmul.ts\` on the
2-core development machine (median GFLOP/s or ms of its repetitions); the constants point here.
The attention kernels' are in [docs/webgpu-kernels.md](docs/webgpu-kernels.md#attention-kernel-tuning).

### Matmul (\`codegen/wgsl/matmul/tuning.ts\`)

| constant | value | measured |
| --- | --- | --- |
| \`matmulVariantFor\` | \`regblock\` (no workgroup memory) on software adapters, \`tiled\` on hardware | on SwiftShader and llvmpipe a workgroup barrier costs about 10× the arithmetic it protects |
| \`REGBLOCK_DEFAULTS.rowBlocks\` (rows per invocation, in blocks of 4) | 2: 8 × 4 outputs | 8 × 4 beat 4 × 4 on both software adapters (llvmpipe about 15 against 11 GFLOP/s); 16 × 4 was no better within the noise and wastes more work on small M |
| \`REGBLOCK_DEFAULTS.workgroup\` | 16 × 4 invocations | — |
| \`regblockWorkgroup\` for N under 32 (LoRA's x·Aᵀ, dy·B, dyᵀ·(x·Aᵀ), N = rank) | enough columns of 4 to cover N (a power of two), 16 invocations in all | the N = 8 products of the benchmark model (1024 × 8 × 128, 1024 × 8 × 384, 384 × 8 × 1024): SwiftShader 3.3–6.6 ms shaped 2 × 8 against 4–9.9 ms at 16 × 4, where 14 of every 16 invocations return at once and their SIMD lanes still run; llvmpipe 0.6–1.8 against 0.8–1.9 ms |
| \`regblockRowBlocks\` on llvmpipe, A not transposed, M ≥ 256 | 4: 16 × 4 outputs | [1024×128]·[128×384] 17.0 against 15.3 GFLOP/s, ·[384×128]ᵀ 17.3 against 15.2, [1024×128]·[128×512] + bias + gelu 16.8 against 8.1; but xᵀ·dy 10.7 against 16.3 (so not for a transposed A); on SwiftShader 8 × 4 wins everywhere (3.4 against 2.6 GFLOP/s) |
| \`TILED_DEFAULTS\` | 16 × 16 invocations, BK = 16 | not measured on hardware here (no GPU on the development machine) |
| \`LONG_K\`, \`matmulKSlice\` (split-K, llvmpipe only) | K ≥ 8192: slices of 2048 along K, dispatched in turn, each adding into C (compiler/lower/split.ts) | GPT-2 small's lm_head input gradient dlogits·W, [128×50257]·[50257×768] (\`bench/matmul.ts --long-k --even-stride\`: interleaved rounds, medians). Quietest run (load average 4.3): in the binding limit's two pieces (43,648 + 6,609) 2.06 GFLOP/s, in slices of 2048 3.48 (1.69×), the forward h·Wᵀ of the same size 5.37. The rest of the gap is the odd row stride of dlogits (V = 50,257), which makes every read of A scalar: the same slices over a row stride of 50,256 ran at 5.10, the forward's rate. Four earlier runs at load 9.6–12: 0.81 / 0.95 / 0.52 / 0.61 → 0.98 / 1.23 / 0.75 / 0.66 (1.08–1.44×), forward 1.96 / 1.61 / 1.63 / 1.29. Slices of 4096, 1024, 512, 256 (one run at load 11): 0.74, 0.93, 0.76, 0.99 against 0.75 for 2048, no winner inside the noise; 2048 makes 25 dispatches of 3 distinct shaders. SwiftShader (whose binding limit holds the whole product, load 7.5): one K loop 0.66 GFLOP/s, the forward 0.65, slices of 2048 0.61, so it keeps one dispatch. |
`;
