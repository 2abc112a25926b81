// The quick run's generation, memory and recomputation fields (issues 15 and 16):
//   gen_ms_per_token_vs_torch  ms per generated token at context 128, this project's best backend
//                              (the CPU reference, the wasm backend on every core, or WebGPU on
//                              llvmpipe, each with its key/value cache: the one faster at 128) over
//                              PyTorch's with its cache at its best (the fastest of its runs on 1
//                              and on 2 threads, each run before and after ours); below 1 is faster
//                              than PyTorch. GPT-2 small (examples/gpt2-lora.peft), random weights,
//                              greedy, a few tokens after each prefill (--gen-tokens).
//   gen_flatness               that backend's ms/token at context 512 over context 16 (1 is flat).
//   gen_backends               each backend's figures (ms and CPU ms per token by context, prefill
//                              ms), and the load average around the generation part.
//   gen_cpu_ms_per_token_vs_torch, gen_flatness_cpu: the same by CPU time per token (wall time
//                              on a loaded, shared machine swings with the load; CPU time less).
//   nf4_tinyllama_total_gib    `peftc memory examples/llama-lora.peft --batch 1 --seq 512
//                              --frozen-dtype nf4`'s total, computed in this process.
//   nf4_tinyllama_recompute_total_gib  the same with --recompute blocks (issue 16's goal: ≤ 1.0).
//   nf4dq_tinyllama_total_gib  nf4_tinyllama_total_gib's plan with --frozen-dtype nf4dq (block
//                              scales double-quantized: a byte per block of 64 instead of an f32).
//   recompute_activation_ratio activations_peak of GPT-2 small (examples/gpt2-lora.peft) at B = 8,
//                              T = 512 with --recompute blocks over without, from the plans
//                              (`peftc memory`, computed in this process; goal ≤ 1/3).
//   recompute_step_ratio       training step time with --recompute blocks over without, the two
//                              executors interleaved on llvmpipe (bench/recompute-step.ts, a
//                              small GPT-2 shape so that it fits the quick run; goal ≤ 1.35).
// Every generator runs in a process of its own (bench/generate.ts, bench/torch_generate.py), one
// after the other: PyTorch on 1 and on 2 threads, this project's backends, PyTorch again.
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { memoryReport } from '../cli/memory.ts';
import { nodeHost } from '../cli/node-host.ts';
import { compile } from '../compiler/build.ts';
import type { RecomputeMode } from '../compiler/autodiff/recompute.ts';
import type { Graph } from '../compiler/ir/types.ts';
import { PYTHON } from './peers/torch.ts';

const ROOT = resolve(import.meta.dirname, '..');
const CONTEXTS = [16, 128, 512];

export interface GenerationFields {
  gen_ms_per_token_vs_torch: number | null;
  gen_flatness: number | null;
  /** The same two by the processes' CPU time per token: steadier on a shared machine. */
  gen_cpu_ms_per_token_vs_torch: number | null;
  gen_flatness_cpu: number | null;
  /** The figures behind them: ms per token by context, this project's and PyTorch's at 128. */
  gen_ms_per_token: Record<string, number>;
  gen_cpu_ms_per_token: Record<string, number>;
  gen_torch_ms_per_token_128: number | null;
  gen_torch_cpu_ms_per_token_128: number | null;
  /** The thread count of PyTorch's fastest run, and every run (threads, ms and CPU ms per token at 128). */
  gen_torch_threads?: number;
  gen_torch_runs?: { threads: number; ms: number; cpuMs: number }[];
  gen_tokens: number;
  gen_model: string;
  /** The backend the figures above are of (the faster at context 128). */
  gen_best?: string;
  /** Every backend measured: `cpu`, `wasm`, `webgpu llvmpipe`. */
  gen_backends?: Record<string, { ms_per_token: Record<string, number>; cpu_ms_per_token: Record<string, number>; prefill_ms: Record<string, number>; flatness: number; flatness_cpu: number }>;
  /** Load average (1 min) before and after the generation part. */
  gen_load?: [number, number];
  errors: string[];
}

/** The last stdout line of a child, parsed; an error names the command and its last stderr line. */
function lastJson(cmd: string, args: string[], timeoutS: number): Record<string, unknown> {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: timeoutS * 1000, maxBuffer: 1 << 24 });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) {
    const why = (r.stderr ?? '').trim().split('\n').filter(Boolean).pop() ?? String(r.error ?? r.signal ?? r.status);
    throw new Error(`${args.find((a) => a.endsWith('.ts') || a.endsWith('.py'))}: ${why}`);
  }
  return JSON.parse(line) as Record<string, unknown>;
}

export function generationFields(opts: { tokens: number; torch: boolean; log: (l: string) => void }): GenerationFields {
  const out: GenerationFields = { gen_ms_per_token_vs_torch: null, gen_flatness: null, gen_cpu_ms_per_token_vs_torch: null, gen_flatness_cpu: null, gen_ms_per_token: {}, gen_cpu_ms_per_token: {}, gen_torch_ms_per_token_128: null, gen_torch_cpu_ms_per_token_128: null, gen_tokens: opts.tokens, gen_model: 'examples/gpt2-lora.peft (GPT-2 small)', errors: [] };
  out.gen_backends = {};
  out.gen_load = [loadavg()[0]!, NaN];
  const torchRuns: { threads: number; ms: number; cpuMs: number }[] = [];
  const torchAt128 = () => {
    for (const threads of [1, 2]) {
      try {
        const torch = lastJson(PYTHON, [join(ROOT, 'bench/torch_generate.py'), '--contexts', '128', '--tokens', String(opts.tokens), '--threads', String(threads)], 600);
        const row = (torch.rows as { ms_per_token: number; cpu_ms_per_token: number }[])[0]!;
        torchRuns.push({ threads, ms: row.ms_per_token, cpuMs: row.cpu_ms_per_token });
        opts.log(`PyTorch (${threads} thread${threads === 1 ? '' : 's'}, kv cache): 128: ${row.ms_per_token} ms/token`);
      } catch (e) {
        out.errors.push((e as Error).message);
      }
    }
  };
  if (opts.torch) torchAt128();
  const runs: [string, string[]][] = [['cpu', []], ['wasm', ['--backend', 'wasm']], ['webgpu llvmpipe', ['--backend', 'webgpu', '--gpu', 'llvmpipe']]];
  for (const [name, extra] of runs) {
    try {
      const ours = lastJson(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/generate.ts'), '--model', 'examples/gpt2-lora.peft', '--contexts', CONTEXTS.join(','), '--tokens', String(opts.tokens), ...extra, '--json'], 1800);
      const b = { ms_per_token: {} as Record<string, number>, cpu_ms_per_token: {} as Record<string, number>, prefill_ms: {} as Record<string, number>, flatness: ours.gen_flatness as number, flatness_cpu: ours.gen_flatness_cpu as number };
      for (const r of ours.rows as { context: number; cache_ms_per_token: number; cache_cpu_ms_per_token: number; prefill_ms: number }[]) {
        b.ms_per_token[r.context] = r.cache_ms_per_token;
        b.cpu_ms_per_token[r.context] = r.cache_cpu_ms_per_token;
        b.prefill_ms[r.context] = r.prefill_ms;
      }
      out.gen_backends[name] = b;
      opts.log(`this project (${name}, kv cache): ${CONTEXTS.map((c) => `${c}: ${b.ms_per_token[c]} ms/token`).join(', ')}; flatness ${b.flatness}`);
    } catch (e) {
      out.errors.push(`${name}: ${(e as Error).message}`);
    }
  }
  out.gen_load[1] = loadavg()[0]!;
  // The best backend: the faster at context 128 by wall time.
  const best = Object.entries(out.gen_backends).sort(([, a], [, b]) => (a.ms_per_token[128] ?? Infinity) - (b.ms_per_token[128] ?? Infinity))[0];
  if (best) {
    out.gen_best = best[0];
    out.gen_ms_per_token = best[1].ms_per_token;
    out.gen_cpu_ms_per_token = best[1].cpu_ms_per_token;
    out.gen_flatness = best[1].flatness;
    out.gen_flatness_cpu = best[1].flatness_cpu;
  }
  if (!opts.torch) return out;
  torchAt128();
  // PyTorch at its best: its fastest run (by wall time; by CPU time, its least).
  const fastest = [...torchRuns].sort((a, b) => a.ms - b.ms)[0];
  if (fastest) {
    out.gen_torch_ms_per_token_128 = fastest.ms;
    out.gen_torch_threads = fastest.threads;
    out.gen_torch_cpu_ms_per_token_128 = Math.min(...torchRuns.map((r) => r.cpuMs));
    out.gen_torch_runs = torchRuns;
  }
  const ours128 = out.gen_ms_per_token[128];
  if (ours128 !== undefined && out.gen_torch_ms_per_token_128) out.gen_ms_per_token_vs_torch = +(ours128 / out.gen_torch_ms_per_token_128).toFixed(3);
  const cpu128 = out.gen_cpu_ms_per_token[128];
  if (cpu128 !== undefined && out.gen_torch_cpu_ms_per_token_128) out.gen_cpu_ms_per_token_vs_torch = +(cpu128 / out.gen_torch_cpu_ms_per_token_128).toFixed(3);
  return out;
}

/** `peftc memory examples/llama-lora.peft --batch 1 --seq 512 --frozen-dtype nf4|nf4dq [--recompute …]`'s total in GiB. */
export async function nf4TinyllamaTotalGib(recompute: RecomputeMode = 'none', frozenDtype: 'nf4' | 'nf4dq' = 'nf4'): Promise<number> {
  const r = await memoryReport(exampleGraph('llama-lora.peft'), { batch: '1', seq: '512', frozenDtype, recompute });
  return +(r.total / 2 ** 30).toFixed(3);
}

function exampleGraph(name: string): Graph {
  const res = compile(join(ROOT, 'examples', name), nodeHost, {});
  if (!res.graph) throw new Error(`examples/${name} does not compile: ${res.diagnostics.map((d) => d.message).join('; ')}`);
  return res.graph;
}

export interface RecomputeFields {
  nf4_tinyllama_recompute_total_gib: number | null;
  recompute_activation_ratio: number | null;
  /** GPT-2 small, B = 8, T = 512: activations_peak in bytes without and with recomputation. */
  recompute_activations: { none: number; blocks: number } | null;
  recompute_step_ratio: number | null;
  /** bench/recompute-step.ts's JSON: the medians, the model, the adapter, the plans' peaks. */
  recompute_step: Record<string, unknown> | null;
  errors: string[];
}

/** The recomputation figures: two plans' activation peaks (computed) and an interleaved step timing (measured). */
export async function recomputeFields(opts: { rounds: number; log: (l: string) => void }): Promise<RecomputeFields> {
  const out: RecomputeFields = { nf4_tinyllama_recompute_total_gib: null, recompute_activation_ratio: null, recompute_activations: null, recompute_step_ratio: null, recompute_step: null, errors: [] };
  try {
    out.nf4_tinyllama_recompute_total_gib = await nf4TinyllamaTotalGib('blocks');
    const g = exampleGraph('gpt2-lora.peft');
    const peak = async (recompute: RecomputeMode) => (await memoryReport(g, { batch: '8', seq: '512', recompute })).activations_peak;
    out.recompute_activations = { none: await peak('none'), blocks: await peak('blocks') };
    out.recompute_activation_ratio = +(out.recompute_activations.blocks / out.recompute_activations.none).toFixed(3);
    opts.log(`GPT-2 small B=8 T=512 activations_peak: ${(out.recompute_activations.none / 2 ** 20).toFixed(0)} MiB → ${(out.recompute_activations.blocks / 2 ** 20).toFixed(0)} MiB with --recompute blocks (${out.recompute_activation_ratio}); TinyLlama nf4 total ${out.nf4_tinyllama_recompute_total_gib} GiB`);
  } catch (e) {
    out.errors.push((e as Error).message);
  }
  try {
    const r = lastJson(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/recompute-step.ts'), '--rounds', String(opts.rounds), '--json'], 1200);
    out.recompute_step = r;
    out.recompute_step_ratio = r.recompute_step_ratio as number;
    opts.log(`step time, interleaved on ${String(r.adapter)}: ${String(r.ms_none)} ms → ${String(r.ms_blocks)} ms with --recompute blocks (${out.recompute_step_ratio})`);
  } catch (e) {
    out.errors.push((e as Error).message);
  }
  return out;
}

/** §7's paragraph on recomputation (BENCHMARKS.md). */
export function recomputeSummary(r: RecomputeFields | undefined): string {
  if (!r) return 'Recomputation: not measured in this run.';
  const f = (x: number | null, d = 3) => (x === null ? 'n/a' : x.toFixed(d));
  const a = r.recompute_activations;
  const s = r.recompute_step as { adapter?: string; model?: string; B?: number; T?: number; rounds?: number; ms_none?: number; ms_blocks?: number } | null;
  const act = a ? ` (${(a.none / 2 ** 20).toFixed(0)} → ${(a.blocks / 2 ** 20).toFixed(0)} MiB)` : '';
  const step = s ? ` (${s.ms_none} → ${s.ms_blocks} ms, median of ${s.rounds} interleaved rounds on ${s.adapter}, ${s.model}, B = ${s.B}, T = ${s.T})` : '';
  return (
    `Activation recomputation (\`--recompute blocks\`): \`recompute_activation_ratio\` **${f(r.recompute_activation_ratio)}**, GPT-2 small's activations_peak at B = 8, T = 512 over that without${act}, from the plans (computed); ` +
    `\`recompute_step_ratio\` **${f(r.recompute_step_ratio)}**, step time over that without${step} (measured); ` +
    `\`nf4_tinyllama_recompute_total_gib\` **${f(r.nf4_tinyllama_recompute_total_gib)} GiB** (TinyLlama-1.1B, nf4, B = 1, T = 512).${r.errors.length ? ` Errors: ${r.errors.join('; ')}.` : ''}`
  );
}
