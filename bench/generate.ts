// Generation speed on the CPU backend: milliseconds per token at several context lengths, with
// the key/value cache (a prefill of the context, then one-token steps) and, with --full, by
// re-evaluating the whole window for each token (what generate did before the cache). Random
// weights (speed does not depend on them); greedy choice included. Not a test: it measures and
// prints, one line per context, then the flatness (ms/token at the longest context over the
// shortest; 1 is flat). Besides wall time it reports the process's CPU time per token (`cpu`):
// on a shared machine that is what the work costs, whatever else runs. The CPU backend is one
// thread; --backend wasm runs the wasm backend's decoder on --threads threads (default: the cores).
//
//   npx tsx bench/generate.ts [--model examples/gpt2.peft] [--set …] [--contexts 16,128,512]
//                             [--tokens 8] [--full 16,128] [--json]
//                             [--backend wasm [--threads N] | --backend webgpu --gpu llvmpipe|swiftshader]
//
// With --backend webgpu one decoder with its cache in GPU buffers serves every context: the
// prefill's time (its bucket's plan compiled the first time), then the one-token steps as above.
import { resolve } from 'node:path';
import { compile } from '../compiler/build.ts';
import { nodeHost } from '../cli/node-host.ts';
import { vocabSize } from '../cli/tokenizer-choice.ts';
import { createStore } from '../runtime/arena.ts';
import { CpuBackend } from '../runtime/backend.ts';
import { Random } from '../runtime/cpu/random.ts';
import { CpuDecoder } from '../runtime/decode/cpu-decoder.ts';
import { generateByWindow, pick } from '../runtime/generate.ts';
import { GpuDecoder } from '../runtime/webgpu/decoder.ts';
import { initParams } from '../runtime/init.ts';
import { threadCount } from '../cli/backend-choice.ts';
import { openWasmBackend } from '../runtime/wasm/backend.ts';
import { gemmInfo } from '../runtime/wasm/gemm.ts';
import { servingGraph } from '../runtime/multi/set.ts';
import { WebGpuBackend } from '../runtime/webgpu/backend.ts';
import { openNodeGpu } from '../runtime/webgpu/node-gpu.ts';
import type { GpuChoice } from '../runtime/webgpu/device.ts';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const list = (s: string) => s.split(',').filter(Boolean).map(Number);

const model = resolve(arg('model', 'examples/gpt2.peft'));
const set = process.argv.includes('--set') ? [arg('set', '')] : [];
const contexts = list(arg('contexts', '16,128,512'));
const tokens = Number(arg('tokens', '8'));
const full = list(arg('full', ''));
const res = compile(model, nodeHost, { set, derivedPrefix: true });
if (!res.graph) throw new Error(`${model} does not compile: ${res.diagnostics.map((d) => d.message).join('; ')}`);
const g = res.graph;
const store = createStore(g, 'f32');
initParams(g, store, { seed: 1 });
const vocab = vocabSize(g)!;
const greedy = { temperature: 0, topK: 0, topP: 1 };
const rng = new Random(5);
const prompt = (n: number) => Array.from({ length: n }, () => rng.int(vocab));

/**
 * The host decoder: the CPU backend's (reference kernels, one thread) or, with --backend wasm, the
 * wasm backend's (f32 SIMD kernels on --threads threads, the weights read in WebAssembly memory).
 */
const hostBackend = arg('backend', 'cpu');
const wasmBackend = hostBackend === 'wasm' ? openWasmBackend(servingGraph(g), store, { threads: threadCount(arg('threads', '') || undefined) }) : undefined;
const hostDecoder = (): CpuDecoder => (wasmBackend ? new CpuDecoder(g, wasmBackend.runStore, {}, wasmBackend.decoding) : new CpuDecoder(g, store));

/** Mean ms per token over `tokens` steps after a prefill of `ctx` tokens. */
async function cached(ctx: number): Promise<{ prefillMs: number; msPerToken: number; cpuMsPerToken: number }> {
  const dec = hostDecoder();
  let t0 = performance.now();
  const { rows, logits } = await dec.start([prompt(ctx)]);
  const prefillMs = performance.now() - t0;
  let next = pick(logits[0]!, greedy, rng);
  t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < tokens; i++) next = pick((await dec.next(rows, [next]))[0]!, greedy, rng);
  const cpu = process.cpuUsage(c0);
  return { prefillMs, msPerToken: (performance.now() - t0) / tokens, cpuMsPerToken: (cpu.user + cpu.system) / 1000 / tokens };
}

/** ms per token re-evaluating the window (one token: it is slow). */
async function reevaluated(ctx: number): Promise<{ ms: number; cpuMs: number }> {
  const backend = new CpuBackend(servingGraph(g), store);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await generateByWindow(backend, prompt(ctx), { ...greedy, maxTokens: 1, seed: 0, maxContext: Infinity, promptLength: g.promptLength });
  const cpu = process.cpuUsage(c0);
  return { ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 };
}

/**
 * WebGPU with its key/value cache in GPU buffers (runtime/webgpu/decoder.ts), one decoder for
 * every context: the prefill's ms (its plan compiled the first time a bucket is seen), then the
 * mean ms and CPU ms (the process's, llvmpipe's threads included) per one-token step.
 */
async function onGpu(decoder: GpuDecoder, ctx: number): Promise<{ prefillMs: number; msPerToken: number; cpuMsPerToken: number }> {
  let t0 = performance.now();
  const { rows, logits } = await decoder.start([prompt(ctx)]);
  const prefillMs = performance.now() - t0;
  let next = pick(logits[0]!, greedy, rng);
  // one untimed step: the step plan is compiled on the first
  next = pick((await decoder.next(rows, [next]))[0]!, greedy, rng);
  t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < tokens; i++) next = pick((await decoder.next(rows, [next]))[0]!, greedy, rng);
  const cpu = process.cpuUsage(c0);
  decoder.drop(rows);
  return { prefillMs, msPerToken: (performance.now() - t0) / tokens, cpuMsPerToken: (cpu.user + cpu.system) / 1000 / tokens };
}

if (arg('backend', 'cpu') === 'webgpu') {
  const out: { context: number; cache_ms_per_token: number; cache_cpu_ms_per_token: number; prefill_ms: number }[] = [];
  const gpu = await openNodeGpu({ gpu: arg('gpu', 'llvmpipe') as GpuChoice });
  const decoder = new GpuDecoder(new WebGpuBackend(gpu, servingGraph(g), store));
  decoder.reserve(1, g.promptLength + Math.max(...contexts) + tokens + 1);
  for (const ctx of contexts) {
    const r = await onGpu(decoder, ctx);
    out.push({ context: ctx, cache_ms_per_token: +r.msPerToken.toFixed(1), cache_cpu_ms_per_token: +r.cpuMsPerToken.toFixed(1), prefill_ms: +r.prefillMs.toFixed(0) });
    if (!process.argv.includes('--json')) console.log(`context ${String(ctx).padStart(4)}  webgpu (${arg('gpu', 'llvmpipe')}) kv cache ${r.msPerToken.toFixed(1).padStart(8)} ms/token, cpu ${r.cpuMsPerToken.toFixed(1).padStart(8)} ms/token  (prefill ${r.prefillMs.toFixed(0)} ms)`);
  }
  const flat = (k: 'cache_ms_per_token' | 'cache_cpu_ms_per_token') => out[out.length - 1]![k] / out[0]![k];
  if (process.argv.includes('--json')) console.log(JSON.stringify({ model: arg('model', 'examples/gpt2.peft'), backend: 'webgpu', gpu: arg('gpu', 'llvmpipe'), tokens, rows: out, gen_flatness: +flat('cache_ms_per_token').toFixed(3), gen_flatness_cpu: +flat('cache_cpu_ms_per_token').toFixed(3) }));
  else console.log(`gen_flatness ${flat('cache_ms_per_token').toFixed(2)}, by cpu time ${flat('cache_cpu_ms_per_token').toFixed(2)}; plans ${decoder.plans.join(', ')}`);
  decoder.close();
  gpu.destroy();
  process.exit(0);
}

const rows: Record<string, number | string>[] = [];
// A first, untimed run compiles the kernels (V8's JIT): otherwise the first context pays for it.
await cached(Math.min(...contexts));
for (const ctx of contexts) {
  const r = await cached(ctx);
  rows.push({ context: ctx, cache_ms_per_token: +r.msPerToken.toFixed(1), cache_cpu_ms_per_token: +r.cpuMsPerToken.toFixed(1), prefill_ms: +r.prefillMs.toFixed(0) });
  if (!process.argv.includes('--json')) console.log(`context ${String(ctx).padStart(4)}  kv cache ${r.msPerToken.toFixed(1).padStart(8)} ms/token, cpu ${r.cpuMsPerToken.toFixed(1).padStart(8)} ms/token  (prefill ${r.prefillMs.toFixed(0)} ms)`);
}
for (const ctx of full) {
  const r = await reevaluated(ctx);
  rows.push({ context: ctx, full_ms_per_token: +r.ms.toFixed(0), full_cpu_ms_per_token: +r.cpuMs.toFixed(0) });
  if (!process.argv.includes('--json')) console.log(`context ${String(ctx).padStart(4)}  full re-evaluation ${r.ms.toFixed(0).padStart(8)} ms/token, cpu ${r.cpuMs.toFixed(0).padStart(8)} ms/token`);
}
const per = rows.filter((r) => r.cache_ms_per_token !== undefined);
const flat = (k: string) => (per[per.length - 1]![k] as number) / (per[0]![k] as number);
const flatness = flat('cache_ms_per_token');
if (process.argv.includes('--json')) console.log(JSON.stringify({ model: arg('model', 'examples/gpt2.peft'), backend: hostBackend, threads: wasmBackend ? gemmInfo().threads : 1, tokens, rows, gen_flatness: +flatness.toFixed(3), gen_flatness_cpu: +flat('cache_cpu_ms_per_token').toFixed(3) }));
else console.log(`gen_flatness ${flatness.toFixed(2)}, by cpu time ${flat('cache_cpu_ms_per_token').toFixed(2)} (ms/token at context ${per[per.length - 1]!.context} over context ${per[0]!.context})`);
