// Benchmark (not a test): time to parse and compile a 48-layer GPT-2-XL-size model
// (n_embd 1600, 25 heads) with LoRA, front end to Model IR and to Training IR.
// Target: under 200 ms. Prints the first (cold) run and the median of warm runs.
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildTrainingGraph } from '../compiler/autodiff/backward.ts';
import { compile } from '../compiler/build.ts';
import { summarize } from '../compiler/params.ts';
import { nodeHost } from '../cli/node-host.ts';

const file = resolve(import.meta.dirname, '../examples/gpt2-lora.peft');
const set = ['n_embd=1600,n_layer=48,n_head=25'];

function once(): { ir: number; train: number; params: number; nodes: number } {
  const t0 = performance.now();
  const res = compile(file, nodeHost, { set });
  const t1 = performance.now();
  if (!res.graph) throw new Error('compile failed');
  const t = buildTrainingGraph(res.graph);
  const t2 = performance.now();
  return { ir: t1 - t0, train: t2 - t0, params: summarize(res.graph).total, nodes: t.graph.nodes.length };
}

export function runCompileBench(reps = 15) {
  const cold = once();
  const warm = Array.from({ length: reps }, once);
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return {
    params: cold.params,
    nodes: cold.nodes,
    cold_ms: { ir: cold.ir, train_ir: cold.train },
    warm_median_ms: { ir: med(warm.map((w) => w.ir)), train_ir: med(warm.map((w) => w.train)) },
    warm_range_ms: { min: Math.min(...warm.map((w) => w.train)), max: Math.max(...warm.map((w) => w.train)) },
    reps,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = runCompileBench();
  console.log(`48-layer GPT-2-XL + LoRA: ${r.params.toLocaleString('en-US')} parameters, ${r.nodes} training-graph nodes`);
  console.log(`cold: ${r.cold_ms.ir.toFixed(1)} ms to Model IR, ${r.cold_ms.train_ir.toFixed(1)} ms to Training IR`);
  console.log(`warm median of ${r.reps}: ${r.warm_median_ms.ir.toFixed(1)} ms to Model IR, ${r.warm_median_ms.train_ir.toFixed(1)} ms to Training IR (range ${r.warm_range_ms.min.toFixed(1)}–${r.warm_range_ms.max.toFixed(1)} ms)`);
}
