// Benchmark (not a test): time to compile a 48-layer GPT-2-XL-size model (n_embd 1600, 25 heads,
// vocab 50257) with LoRA, front end to WGSL: parse and build the Model IR, the Training IR
// (autodiff), the plan (buildPlan: layout, fusions, buffer pool and every kernel's WGSL), and
// the WGSL text (formatWgsl). Target for the Training IR: under 200 ms. Prints the first (cold)
// run and the median of warm runs. The plan is made for batch 8 × 128 and a hardware adapter's
// limits (2 GiB bindings, as the H200's): GPT-2-XL's token table (321 MB) is over WebGPU's
// default 128 MiB binding limit.
//
//   npx tsx bench/compile.ts [--reps 15]
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildTrainingGraph } from '../compiler/training.ts';
import { compile } from '../compiler/build.ts';
import { formatWgsl } from '../compiler/lower/format.ts';
import { buildPlan } from '../compiler/lower/plan.ts';
import { wgslBackend } from '../codegen/wgsl/backend.ts';
import { DEFAULT_CAPS } from '../codegen/wgsl/caps.ts';
import { summarize } from '../compiler/params.ts';
import { nodeHost } from '../cli/node-host.ts';
import type { GpuCaps } from '../codegen/wgsl/types.ts';

const file = resolve(import.meta.dirname, '../examples/gpt2-lora.peft');
const set = ['n_embd=1600,n_layer=48,n_head=25'];
const DIMS = { B: 8, T: 128 };
const CAPS: GpuCaps = { ...DEFAULT_CAPS, limits: { ...DEFAULT_CAPS.limits, maxStorageBufferBindingSize: 2 ** 31 - 4, maxBufferSize: 2 ** 40 } };

/** Cumulative milliseconds from the start to the end of each stage. */
interface Stages {
  ir: number;
  train: number;
  plan: number;
  wgsl: number;
}

function once(): Stages & { params: number; nodes: number; shaders: number; dispatches: number; wgslChars: number } {
  const t0 = performance.now();
  const res = compile(file, nodeHost, { set });
  const t1 = performance.now();
  if (!res.graph) throw new Error('compile failed');
  const t = buildTrainingGraph(res.graph);
  const t2 = performance.now();
  const plan = buildPlan(t, DIMS, wgslBackend(CAPS));
  const t3 = performance.now();
  const wgsl = formatWgsl(plan);
  const t4 = performance.now();
  return {
    ir: t1 - t0,
    train: t2 - t0,
    plan: t3 - t0,
    wgsl: t4 - t0,
    params: summarize(res.graph).total,
    nodes: t.graph.nodes.length,
    shaders: plan.shaders.length,
    dispatches: plan.steps.filter((s) => s.kind === 'dispatch').length,
    wgslChars: wgsl.length,
  };
}

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export function runCompileBench(reps = 15) {
  const cold = once();
  const warm = Array.from({ length: reps }, once);
  const pick = (k: keyof Stages) => warm.map((w) => w[k]);
  const range = (k: keyof Stages) => ({ min: Math.min(...pick(k)), max: Math.max(...pick(k)) });
  return {
    params: cold.params,
    nodes: cold.nodes,
    shaders: cold.shaders,
    dispatches: cold.dispatches,
    wgsl_chars: cold.wgslChars,
    dims: DIMS,
    cold_ms: { ir: cold.ir, train_ir: cold.train, plan: cold.plan, wgsl: cold.wgsl },
    warm_median_ms: { ir: med(pick('ir')), train_ir: med(pick('train')), plan: med(pick('plan')), wgsl: med(pick('wgsl')) },
    /** Range of the warm runs of the Training IR (kept from the first version of this bench). */
    warm_range_ms: range('train'),
    warm_range_wgsl_ms: range('wgsl'),
    reps,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf('--reps');
  const r = runCompileBench(i >= 0 ? Number(process.argv[i + 1]) : 15);
  console.log(`48-layer GPT-2-XL + LoRA: ${r.params.toLocaleString('en-US')} parameters, ${r.nodes} training-graph nodes, ${r.dispatches} dispatches, ${r.shaders} shaders (${r.wgsl_chars.toLocaleString('en-US')} characters of WGSL)`);
  const line = (m: typeof r.cold_ms) => `${m.ir.toFixed(1)} ms to Model IR, ${m.train_ir.toFixed(1)} ms to Training IR, ${m.plan.toFixed(1)} ms to the plan, ${m.wgsl.toFixed(1)} ms to WGSL text`;
  console.log(`cold: ${line(r.cold_ms)}`);
  console.log(`warm median of ${r.reps}: ${line(r.warm_median_ms)} (to WGSL: ${r.warm_range_wgsl_ms.min.toFixed(1)}–${r.warm_range_wgsl_ms.max.toFixed(1)} ms)`);
}
