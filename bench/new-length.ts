// BENCHMARKS.md's "First step and a new length" section: what a plan's first step costs on
// llvmpipe, and what a second length costs in the same process, before and after the sizes that
// change with the batch and length were left open in the kernels (docs/webgpu-runtime.md, "Sizes:
// baked and open"). Measured by hand with bench/first-step.ts (the commits named below); the
// figures are kept here so that `npm run bench` reprints them.
export const NEW_LENGTH = `## First step and a new length

\`npx tsx bench/first-step.ts --batch 1 --seq 128,64\` (and \`--prefill 8,40\`): GPT-2 small
(vocab 50,257, 768 wide, 12 layers, dropout 0.1) with LoRA r = 8 on c_attn
(examples/gpt2-lora.peft), on llvmpipe, Mesa's shader disk cache off (a first run on a machine;
with it on, a source compiled by any earlier run is not compiled again). In one process: the plan
for T = 128, its first step and a steady step, then a plan for T = 64 sharing the parameters. Before:
commit 711a1c4 (every size a WGSL constant); after: the sizes of rows, lengths and dropout seeds
open. Runs alternated on the shared 2-core machine; the load (1-minute average) is given with
every figure, and it moves the times by 2× and more, so compare within a row.

| | distinct shaders (T 128) | first step, T 128 | new pipelines for T 64 | first step, T 64 (after T 128) | steady step, T 64 |
| --- | ---: | ---: | ---: | ---: | ---: |
| before, run 1 | 85 | 66.2 s (load 4.0) | 82 of 85 | 48.0 s (load 4.1) | 15.1 s |
| after, run 1 | 39 | 60.0 s (load 3.5) | 15 of 39 | 16.8 s (load 4.0) | 11.0 s |
| before, run 2 | 85 | 38.8 s (load 2.4) | 82 of 85 | 38.2 s (load 1.9) | 8.1 s |
| after, run 2 | 39 | 48.5 s (load 2.9) | 15 of 39 | 12.9 s (load 3.0) | 6.3 s |

- A new length: 38–48 s → 13–17 s for its first step, of which 6–11 s is the step itself; what
  it still compiles is the 15 kernels that bake a length (attention's key gradients, the weight
  gradients whose K is the rows, the embedding and shape ops, the loss).
- The first step of the first length is not measurably faster (60.0 against 66.2 s, 48.5 against
  38.8 s, in opposite directions with the load), though it compiles 39 pipelines instead of 85:
  the 24 per-layer dropout shaders and the per-layer products with a dropout epilogue (a seed
  each, baked) were cheap ones; the time goes to the attention kernels (below) and the step.
- Generation's prefill (\`--prefill 8,40\`, a prompt of 8 tokens, then one of 40 in a new bucket of
  41 positions, load 5.5–6.2): before 17 new pipelines and 8.57 s for the second prefill; after 9
  new (embeddings, positions, the residual add, the q/k/v slices, the last-position pool) and
  4.67 s. Its kv_attention kernels, products and norms are shared.
- Where a first step's compilation goes (the tiny GPT at B 2 × T 64, every shader's first
  dispatch timed alone, load about 6): attention's key gradients 11.8 s, its query gradient 4.4 s,
  the attention forward 2.4 s, the layernorm gradient and forward 2.5 + 1.6 s, each product
  0.2–0.7 s, everything else under 0.2 s each; 30 s in all. The open kernels reuse all but the first.
- The open kernels run at the baked ones' speed, in interleaved rounds of single dispatches
  (\`bench/op-kernels.ts --against\` the old generators, \`bench/open-rows.ts\`; ratios of times,
  open over baked, median of per-round ratios, at the benchmark model's shapes): attention+lse
  0.99, attention_grad_q 0.99 (21 rounds, load 4.2), layernorm 1.04, layernorm_grad_x 1.03 (11
  rounds); regblock products, rates open over baked, one figure per run: [128×768]·[768×2304] +
  LoRA 1.03 / 1.03 / 1.12, [128×768]·[768×3072] + gelu 1.01 / 0.99 / 1.02, [512×3072]·[768×3072]ᵀ
  1.14 / 0.89 / 0.92 / 1.02, [512×768]·[768×768] + bias 1.00, [512×3072]·[3072×768] 1.07 (9 to 25
  rounds at load 2.8–9; the same shape moves ±10 % between runs, in both directions). The outputs
  are bit-identical. So M stays open for the products.
`;
