// BENCHMARKS.md from bench/results.json: every table and number in it comes from the results
// file; nothing is typed by hand. bench/run.ts calls renderMarkdown after a run; this file run on
// its own regenerates the Markdown from a results file.
//
//   npx tsx bench/report.ts [bench/results.json] [BENCHMARKS.md]
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { MatmulResult } from './matmul-peers.ts';
import type { Stat } from './model.ts';
import type { MemoryReport, StepRecord, TrainResult } from './train.ts';
import type { runCompileBench } from './compile.ts';
import { type Gpt2sResult, gpt2sHeadline, gpt2sWasmHeadline } from './gpt2s.ts';
import type { BlasChoice } from './peers/blas.ts';
import { type GenerationFields, type RecomputeFields, recomputeSummary } from './quick-fields.ts';
import { KERNEL_TUNING } from './kernel-tuning.ts';
import { NEW_LENGTH } from './new-length.ts';

export const GOALS = { tfjsRatio: 3, loraVsFull: 0.7, trainableStateFraction: 0.02 };

/** One WebGPU adapter's results; `adapter` and BenchResults' `adapters` are the keys results.json has always had. */
export interface GpuResults {
  adapter: string;
  train?: TrainResult;
  matmul?: MatmulResult;
  errors: string[];
}

export interface BenchResults {
  generated: string;
  mode: 'full' | 'quick';
  elapsedSeconds: number;
  machine: { cpus: number; cpuModel: string; node: string; platform: string; loadAverageStart: number[]; loadAverageEnd: number[] };
  versions: Record<string, string>;
  model: string;
  compile?: ReturnType<typeof runCompileBench>;
  compileError?: string;
  adapters: GpuResults[];
  /** bench/multi-adapter.ts's printed table: 4 LoRA adapters, one mixed batch vs 4 passes. */
  multiAdapter?: { command: string; output: string } | { error: string };
  /** The BLAS the PyTorch peer runs on, chosen by measuring (bench/peers/blas.ts). */
  blas?: BlasChoice | { skipped: string };
  /** Training at GPT-2-small size (bench/gpt2s.ts), with when and under what load it ran. */
  gpt2s?: Gpt2sResult & Gpt2sRun;
  gpt2sError?: string;
  /** Generation ms per token at GPT-2-small size against PyTorch, and its flatness (bench/quick-fields.ts). */
  generation?: GenerationFields;
  /** `peftc memory examples/llama-lora.peft --batch 1 --seq 512 --frozen-dtype nf4`'s total. */
  nf4TinyllamaTotalGib?: number | { error: string };
  /** The same plan with --frozen-dtype nf4dq. */
  nf4dqTinyllamaTotalGib?: number | { error: string };
  /** --recompute blocks: activation and step-time ratios (bench/quick-fields.ts). */
  recompute?: RecomputeFields;
}

/** When the GPT-2-small part ran: it may be run on its own (`--gpt2s-only`) into older results. */
export interface Gpt2sRun {
  generated: string;
  mode: 'full' | 'quick';
  elapsedSeconds: number;
  loadAverageStart: number[];
  loadAverageEnd: number[];
}

/**
 * The quick run's GPT-2-small figures, tokens/s over PyTorch's at B = 1 × 128 (median of rounds):
 * gpt2s_train_vs_torch of the best WebGPU software adapter (gpt2s_adapter), gpt2s_wasm_train_vs_torch
 * of the wasm backend (null where it did not run); and the BLAS under PyTorch.
 */
export function gpt2sFields(res: BenchResults) {
  const h = gpt2sHeadline(res.gpt2s);
  const blas = res.blas && 'env' in res.blas ? res.blas : undefined;
  return {
    gpt2s_train_vs_torch: h.ratio,
    gpt2s_adapter: h.adapter,
    gpt2s_wasm_train_vs_torch: gpt2sWasmHeadline(res.gpt2s),
    torch_blas: blas ? `${blas.blas}${blas.architecture ? ` ${blas.architecture}` : ''}` : null,
    torch_matmul_gflops: blas?.gflops.median ?? null,
  };
}

/** The figures of one adapter that the quick run's JSON line and the summary table carry. */
export function headline(a: GpuResults) {
  const t = a.train;
  const tfjs = t && 'ms' in t.tfjs ? t.tfjs : undefined;
  const torch = t && 'ms' in t.torch ? t.torch : undefined;
  const mm = a.matmul?.rows.filter((r) => r.ratio).map((r) => r.ratio!.median) ?? [];
  return {
    adapter: a.adapter,
    tfjs_ratio: t?.tfjsRatio?.median ?? null,
    lora_vs_full_step: t?.loraVsFull.median ?? null,
    trainable_state_fraction: t?.memory.trainableStateFraction ?? null,
    tokens_per_s: {
      lora: t?.ours.lora.tokensPerSecond.median ?? null,
      full: t?.ours.full.tokensPerSecond.median ?? null,
      tfjs_lora: tfjs?.tokensPerSecond.median ?? null,
      torch_cpu_lora: torch?.tokensPerSecond.median ?? null,
    },
    torch_ratio: t?.torchRatio?.median ?? null,
    ...(t && 'skipped' in t.torch ? { torch_skipped: t.torch.skipped } : {}),
    matmul_ratio_median: mm.length ? [...mm].sort((x, y) => x - y)[Math.floor(mm.length / 2)]! : null,
    lora_vs_full_flops: t?.flops.ratio ?? null,
    goals_met: t
      ? {
          tfjs_ratio: t.tfjsRatio ? t.tfjsRatio.median >= GOALS.tfjsRatio : null,
          lora_vs_full_step: t.loraVsFull.median <= GOALS.loraVsFull,
          trainable_state_fraction: t.memory.trainableStateFraction < GOALS.trainableStateFraction,
        }
      : null,
    reps: t?.reps ?? null,
  };
}

// ------------------------------------------------------------------ formatting

const fix = (x: number, d: number): string => x.toFixed(d);
/** Digits that keep about three significant figures. */
const digits = (x: number): number => (Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : Math.abs(x) >= 1 ? 2 : 3);
const num = (x: number, d = digits(x)): string => fix(x, d);
/** median [min–max] */
const st = (s: Stat, d?: number): string => {
  const k = d ?? digits(s.median);
  return `${fix(s.median, k)} [${fix(s.min, k)}–${fix(s.max, k)}]`;
};
const mib = (n: number): string => (n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`);
const pct = (x: number, d = 2): string => `${(100 * x).toFixed(d)} %`;
const mark = (ok: boolean): string => (ok ? 'met' : '**missed**');

function table(head: string[], rows: string[][], align?: ('l' | 'r')[]): string {
  const a = align ?? head.map((_, i) => (i === 0 ? 'l' : 'r'));
  return [
    `| ${head.join(' | ')} |`,
    `| ${a.map((x) => (x === 'r' ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

const stepRow = (name: string, r: StepRecord, extra: string): string[] => [
  name,
  st(r.ms, 0),
  st(r.tokensPerSecond, 0),
  r.dispatchesPerStep ? String(r.dispatchesPerStep) : '—',
  `${fix(r.setupMs / 1000, 1)} s`,
  `${fix(r.firstStepMs / 1000, 1)} s`,
  extra,
];

// ------------------------------------------------------------------ sections

function summary(res: BenchResults): string {
  const rows = res.adapters.map((a) => {
    const h = headline(a);
    const cell = (x: number | null, f: (x: number) => string) => (x === null ? 'n/a' : f(x));
    return [
      a.adapter,
      cell(h.tfjs_ratio, (x) => `${num(x)}× (${mark(x >= GOALS.tfjsRatio)})`),
      cell(h.lora_vs_full_step, (x) => `${num(x)} (${mark(x <= GOALS.loraVsFull)})`),
      cell(h.trainable_state_fraction, (x) => `${pct(x)} (${mark(x < GOALS.trainableStateFraction)})`),
      cell(h.torch_ratio, (x) => `${num(x)}×`),
      cell(h.matmul_ratio_median, (x) => `${num(x)}×`),
    ];
  });
  return table(
    ['adapter', `tokens/s vs tfjs-webgpu (goal ≥ ${GOALS.tfjsRatio}×)`, `LoRA step / full step (goal ≤ ${GOALS.loraVsFull})`, `trainable state, LoRA / full (goal < ${pct(GOALS.trainableStateFraction, 0)})`, 'tokens/s vs PyTorch CPU (reference)', 'matmul GFLOP/s vs tf.matMul (median of shapes)'],
    rows,
  );
}

function trainSection(res: BenchResults): string {
  const out: string[] = [];
  for (const a of res.adapters) {
    const t = a.train;
    if (!t) {
      out.push(`**${a.adapter}**: no training results (${a.errors.join('; ') || 'not run'}).`);
      continue;
    }
    out.push(`**${a.adapter}** — ${t.adapter.description} (${t.adapter.backend}, ${t.adapter.featureLevel}); ${t.warmup} warm-up round, ${t.reps} measured rounds.\n`);
    const rows = [stepRow('this project, LoRA', t.ours.lora, `${t.ours.shaders.lora} shaders`), stepRow('this project, full fine-tuning', t.ours.full, `${t.ours.shaders.full} shaders`)];
    if ('ms' in t.tfjs) rows.push(stepRow('tfjs-webgpu, LoRA', t.tfjs, 'tfjs autodiff + tf.train.adam'));
    if ('ms' in t.torch) rows.push(stepRow(`PyTorch ${t.torch.version}, CPU, LoRA`, t.torch, `${t.torch.threads} threads; own step timer`));
    out.push(table(['implementation', 'ms/step', 'tokens/s', 'dispatches/step', 'setup', 'first step', 'notes'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'l']));
    const notes: string[] = [];
    if (t.tfjsRatio) notes.push(`this project's tokens/s over tfjs-webgpu's: **${st(t.tfjsRatio)}×** per round (goal ≥ ${GOALS.tfjsRatio}×: ${mark(t.tfjsRatio.median >= GOALS.tfjsRatio)})`);
    if (!('ms' in t.tfjs)) notes.push(`tfjs-webgpu did not run: ${t.tfjs.error}`);
    if (t.torchRatio) notes.push(`over PyTorch's on the CPU: ${st(t.torchRatio)}× per round`);
    if (!('ms' in t.torch)) notes.push(`PyTorch reference skipped: ${t.torch.skipped}`);
    if (t.tfjsLossMaxRelDiff !== undefined) notes.push(`same model check: the losses of this project's and tfjs's LoRA steps (${t.ours.lora.losses.length} steps from the same weights) differ by at most ${t.tfjsLossMaxRelDiff.toExponential(1)} relative`);
    if (t.torchLossMaxRelDiff !== undefined) notes.push(`and PyTorch's by at most ${t.torchLossMaxRelDiff.toExponential(1)}`);
    out.push(`\n${notes.map((n) => `- ${n}`).join('\n')}\n`);
  }
  return out.join('\n');
}

function memoryTable(lora: MemoryReport, full: MemoryReport): string {
  const rows: [string, keyof MemoryReport][] = [
    ['frozen parameters', 'frozen'],
    ['trainable parameters', 'trainable'],
    ['gradients', 'grads'],
    ['optimizer moments (Adam m, v)', 'optimizerState'],
    ['optimizer scratch (decay mask, lr, partial sums)', 'optimizerScratch'],
    ['activations (pool; peak)', 'activations'],
    ['inputs (tokens, targets)', 'inputs'],
    ['**total**', 'total'],
    ['trainable state (parameters + gradients + moments)', 'trainableState'],
  ];
  return table(
    ['category', 'LoRA', 'full fine-tuning', 'LoRA / full'],
    rows.map(([name, k]) => [name, mib(lora[k]), mib(full[k]), k === 'frozen' || k === 'inputs' ? '—' : pct(lora[k] / full[k])]),
  );
}

function loraSection(res: BenchResults): string {
  const out: string[] = [];
  const rows: string[][] = [];
  for (const a of res.adapters) {
    const t = a.train;
    if (!t) continue;
    rows.push([a.adapter, st(t.ours.lora.ms, 0), st(t.ours.full.ms, 0), `${st(t.loraVsFull)} (${mark(t.loraVsFull.median <= GOALS.loraVsFull)})`]);
  }
  out.push(table(['adapter', 'LoRA ms/step', 'full ms/step', `LoRA / full, per round (goal ≤ ${GOALS.loraVsFull})`], rows));
  const first = res.adapters.find((a) => a.train)?.train;
  if (first) {
    const fl = first.flops;
    out.push(`\nFull fine-tuning is the same GPT-2 without LoRA (examples/gpt2.peft, every parameter trainable). ` +
      `What the work alone predicts: the LoRA step's matmul-class FLOPs (linears, input and weight gradients, dense attention forward and backward; counted from the Training IR) are ${num(fl.lora.total / 1e9, 2)} GFLOP against ${num(fl.full.total / 1e9, 2)} GFLOP for the full step, **${num(fl.ratio, 3)}**. ` +
      'LoRA sits on c_attn in every layer, down to layer 0, so its backward pass needs the input gradient of every layer above it as full fine-tuning does; only the weight gradients of the frozen matrices (and their optimizer update) are saved. ' +
      `At equal efficiency per FLOP the LoRA step would take ${num(fl.ratio, 3)} of the full step${fl.ratio > GOALS.loraVsFull ? `, already above the goal of ${GOALS.loraVsFull}` : ''}. ` +
      'The measured ratio differs from it by how fast the work the two steps share runs against the work only full fine-tuning adds:\n');
    const eff = res.adapters.flatMap((a) => {
      const t = a.train;
      if (!t) return [];
      const lora = t.ours.lora.ms.median;
      const full = t.ours.full.ms.median;
      const extra = t.flops.full.total - t.flops.lora.total;
      return [[a.adapter, `${num(t.flops.lora.total / (lora * 1e6))} GFLOP/s`, `${num(extra / 1e9, 2)} GFLOP in ${num(full - lora, 0)} ms: ${full > lora ? `${num(extra / ((full - lora) * 1e6))} GFLOP/s` : 'n/a'}`]];
    });
    out.push(table(['adapter', 'LoRA step (shared work)', 'what full fine-tuning adds (weight gradients, their update)'], eff));
    const f = first.memory.trainableStateFraction;
    out.push(`\nGPU memory by category, from the plan's memory report (\`plan.stats\`; ${first.adapter.choice}'s plan):\n`);
    out.push(memoryTable(first.memory.lora, first.memory.full));
    out.push(`\nTrainable state of LoRA: **${pct(f)}** of full fine-tuning's (goal < ${pct(GOALS.trainableStateFraction, 0)}: ${mark(f < GOALS.trainableStateFraction)}). ` +
      'The share is set by the model: rank 8 on c_attn of a 128-wide model is r·(d + 3d) = 4,096 of the 49,152 + 384 values of each c_attn, and the embeddings and MLPs dilute it to about 2 %; ' +
      'it falls with width (GPT-2 small, d = 768: 0.24 %).');
  }
  return out.join('\n');
}

function matmulSection(res: BenchResults): string {
  const out: string[] = [];
  for (const a of res.adapters) {
    const m = a.matmul;
    if (!m) {
      out.push(`**${a.adapter}**: no matmul results (${a.errors.join('; ') || 'not run'}).\n`);
      continue;
    }
    out.push(`**${a.adapter}** — GFLOP/s, median [min–max] of ${m.reps} interleaved repetitions${m.tfjsError ? `; tfjs did not run: ${m.tfjsError}` : ''}:\n`);
    out.push(table(
      ['shape', 'this project', 'kernel', 'tfjs tf.matMul', 'ratio (per rep.)', 'max error ours / tfjs'],
      m.rows.map((r) => [
        r.name,
        st(r.ours.gflops),
        `\`${r.ours.kernel}\``,
        r.tfjs ? st(r.tfjs.gflops) : '—',
        r.ratio ? `${st(r.ratio)}×` : '—',
        `${r.ours.error.toExponential(1)} / ${r.tfjs ? r.tfjs.error.toExponential(1) : '—'}`,
      ]),
      ['l', 'r', 'l', 'r', 'r', 'r'],
    ));
    out.push('');
  }
  out.push('Errors are the largest |result − float64 product| / (Σₖ|aₘₖ·bₖₙ| + 1) over the output.');
  return out.join('\n');
}

function compileSection(res: BenchResults): string {
  const c = res.compile;
  if (!c) return `Not run${res.compileError ? `: ${res.compileError}` : ''}.`;
  const rows = [
    ['parse → Model IR', c.cold_ms.ir, c.warm_median_ms.ir],
    ['→ Training IR (autodiff)', c.cold_ms.train_ir, c.warm_median_ms.train_ir],
    ['→ plan (layout, fusions, pool, every kernel\'s WGSL)', c.cold_ms.plan, c.warm_median_ms.plan],
    ['→ WGSL text (`--emit wgsl`)', c.cold_ms.wgsl, c.warm_median_ms.wgsl],
  ].map(([name, cold, warm]) => [name as string, `${num(cold as number, 0)} ms`, `${num(warm as number, 0)} ms`]);
  return [
    `GPT-2-XL size with LoRA (48 layers, n_embd 1600, 25 heads, vocab 50257): ${c.params.toLocaleString('en-US')} parameters, ${c.nodes.toLocaleString('en-US')} training-graph nodes; ` +
      `plan for batch ${c.dims.B} × ${c.dims.T} and a hardware adapter's limits: ${c.dispatches.toLocaleString('en-US')} dispatches, ${c.shaders} shaders, ${c.wgsl_chars.toLocaleString('en-US')} characters of WGSL. Cumulative time from the start of each run:\n`,
    table(['stage (cumulative)', 'cold (first run)', `warm (median of ${c.reps})`], rows),
    `\nWarm runs to WGSL ranged ${num(c.warm_range_wgsl_ms.min, 0)}–${num(c.warm_range_wgsl_ms.max, 0)} ms.`,
  ].join('\n');
}

function profileSection(res: BenchResults): string {
  const out: string[] = [];
  for (const a of res.adapters) {
    const t = a.train;
    const p = t?.profile;
    if (!t || !p) continue;
    const top = p.families.slice(0, 10);
    const others = p.families.slice(10);
    const othersMs = others.reduce((s, f) => s + f.ms, 0);
    out.push(`**${a.adapter}** — this project's LoRA step with every dispatch submitted and waited for on its own (${num(p.totalMs, 0)} ms in all, against ${num(t.ours.lora.ms.median, 0)} ms for the median step in one submission):\n`);
    out.push(table(
      ['kernel family', 'dispatches', 'ms', 'share'],
      [
        ...top.map((f) => [`\`${f.family}\``, String(f.count), num(f.ms, 1), pct(f.ms / p.totalMs, 1)]),
        ...(others.length ? [['everything else', String(others.reduce((s, f) => s + f.count, 0)), num(othersMs, 1), pct(othersMs / p.totalMs, 1)]] : []),
      ],
    ));

    const sum = (pred: (f: string) => boolean) => p.families.filter((f) => pred(f.family)).reduce((s, f) => s + f.ms, 0);
    const fl = t.flops.lora;
    const mm = { name: 'matmuls (linears, input and weight gradients, LoRA)', ms: sum((f) => f.startsWith('matmul')), flops: fl.linear + fl.weightGrad };
    const fwd = { name: 'attention forward', ms: sum((f) => f === 'attention'), flops: fl.attention };
    const back = { name: 'attention backward (`attention_grad_q/k/v`)', ms: sum((f) => f.startsWith('attention_grad')), flops: fl.attentionGrad };
    const rest = p.totalMs - mm.ms - fwd.ms - back.ms;
    out.push('\nBy kind of work (FLOPs counted from the Training IR, attention dense):\n');
    out.push(table(
      ['work', 'GFLOP', 'ms (profiled)', 'share', 'GFLOP/s'],
      [
        ...[mm, fwd, back].map((g) => [g.name, num(g.flops / 1e9, 2), num(g.ms, 0), pct(g.ms / p.totalMs, 0), num(g.flops / (g.ms * 1e6))]),
        ['everything else (norms, adds, concats, loss, optimizer)', '—', num(rest, 0), pct(rest / p.totalMs, 0), '—'],
      ],
    ));

    const mmRate = mm.flops / mm.ms;
    const saved = Math.max(0, back.ms - back.flops / mmRate);
    const projected = t.ours.lora.ms.median * (1 - saved / p.totalMs);
    const lines = [
      `the attention backward runs at ${num(back.flops / (back.ms * 1e6))} GFLOP/s against the matmuls' ${num(mmRate / 1e6)}; at the matmuls' rate it would take ${num(back.flops / mmRate, 0)} ms instead of ${num(back.ms, 0)} ms, and the step about ${num(projected, 0)} ms (${num((t.tokensPerStep / projected) * 1000, 0)} tokens/s` +
        ('ms' in t.tfjs ? `, ${num(t.tfjs.ms.median / projected)}× tfjs-webgpu's median step; an estimate from this profile)` : ')'),
    ];
    if ('ms' in t.tfjs) lines.push(`tfjs-webgpu issues ${t.tfjs.dispatchesPerStep} dispatches per step for the same work, this project ${t.ours.lora.dispatchesPerStep}`);
    out.push(`\n${lines.map((l) => `- ${l}`).join('\n')}\n`);
  }
  return out.length ? out.join('\n') : 'No profile in this run (the full run profiles; `--profile` asks for it).';
}

export function renderMarkdown(res: BenchResults): string {
  const m = res.machine;
  const v = res.versions;
  return `# Benchmarks

<!-- Generated by \`npm run bench\` (bench/run.ts → bench/report.ts) from bench/results.json. Do not edit by hand: rerun the benchmark. -->

${res.mode === 'quick' ? '**Quick run** (fewer repetitions): for a look, not for quoting.\n\n' : ''}Run ${res.generated} (${num(res.elapsedSeconds / 60, 1)} min) on ${m.cpus} CPU cores (${m.cpuModel}), ${m.platform}, Node ${m.node}; load average ${m.loadAverageStart.map((x) => x.toFixed(1)).join(' / ')} at the start and ${m.loadAverageEnd.map((x) => x.toFixed(1)).join(' / ')} at the end (1 / 5 / 15 min). The machine is shared with other work, so every figure is a **median [min–max]** over repetitions, and the frameworks run in **interleaved rounds** (one step of each per round, the order rotating) so that a change of load hits them alike; ratios are taken within each round. Versions: ${Object.entries(v).map(([k, x]) => `${k} ${x}`).join(', ')}.

Model for §1–3: ${res.model}; LoRA r = 8, α = 16 on \`h.*.attn.c_attn\` (examples/gpt2-lora.peft); one step = forward, backward, global-norm clipping to 1, Adam (lr 1e-3, weight decay 0), loss read back. Every implementation starts from the same weights (LoRA B random, so every gradient is non-zero) and trains on the same batch; their losses agree step by step (below), which checks that they compute the same model.

## Summary

${summary(res)}

## 1. Training throughput: this project, tfjs-webgpu, PyTorch

tfjs-webgpu (\`@tensorflow/tfjs-backend-webgpu\`) runs in the same process on its own device of the same adapter, with the model written in tfjs ops (bench/peers/tfjs.ts: Conv1D layout, pre-LN, causal softmax attention, gelu tanh, tied head, LoRA with the base as non-trainable variables), tfjs's autodiff (\`tf.variableGrads\` over the LoRA variables only) and \`tf.train.adam\`. PyTorch (bench/torch_gpt2_lora.py, Debian's python3-torch, CPU) is a reference, not a WebGPU peer; where torch is absent this part is skipped and says so. "setup": plan, pipelines and upload (this project), backend start and upload (tfjs), start and weight load (PyTorch); tfjs compiles its shaders during the first step.

${trainSection(res)}
## 2. LoRA versus full fine-tuning (this project)

${loraSection(res)}

## 3. Matmul GFLOP/s on training shapes

This project's kernel in the variant the planner picks for the adapter (\`prepareMatmul\`) against tfjs-webgpu's \`tf.matMul\` on the same adapter, for the shapes of the benchmark model's training step (1024 = 8 × 128 rows). Each repetition is one dispatch (ours) or one \`tf.matMul\` (tfjs), submitted and waited for, with no readback; both results are first checked against a float64 product.

${matmulSection(res)}

## 4. Compile time, front end to WGSL

${compileSection(res)}

## 5. Many adapters over one base: a mixed batch against one pass per adapter

${multiSection(res)}

## 6. GPT-2 small: training against PyTorch on the CPU

${gpt2sSection(res)}

## 7. Generation and memory at scale

${generationSection(res)}

## Where the time goes

${profileSection(res)}

${NEW_LENGTH}
${KERNEL_TUNING}`;
}

const envText = (c: { env: Record<string, string>; unset: string[] }): string =>
  [...Object.entries(c.env).map(([k, v]) => `${k}=${v}`), ...c.unset.map((k) => `${k} unset`)].join(', ') || 'as inherited';

function blasSection(res: BenchResults): string {
  const b = res.blas;
  if (!b) return 'Not probed in this run.';
  if ('skipped' in b) return `PyTorch did not run: ${b.skipped}.`;
  const inherited = Object.entries(b.inherited).map(([k, v]) => `${k}=${v}`).join(', ') || 'none';
  return [
    `PyTorch calls the BLAS that Debian's alternatives select for libblas.so.3 (scripts/setup-bench.sh installs OpenBLAS). OpenBLAS picks its kernel from the CPU; a release older than the CPU falls back to a generic kernel, so the benchmark measures the candidates — the environment as inherited (OPENBLAS_* variables inherited: ${inherited}), and each kernel the CPU's flags allow — with bench/torch_blas.py (a ${b.size}³ float32 matmul on ${b.threads} threads, its product checked against float64 sums) and runs the PyTorch peer on the fastest correct one:\n`,
    table(
      ['environment', 'BLAS', 'kernel', 'GFLOP/s, median [min–max]', 'peer'],
      b.candidates.map((c) => [envText(c), c.blas ?? '—', c.architecture ?? '—', c.error ? `failed: ${c.error}` : `${num(c.gflops!.median)} [${num(c.gflops!.min)}–${num(c.gflops!.max)}]`, c === b.candidates.find((x) => envText(x) === envText(b)) ? '**chosen**' : '']),
      ['l', 'l', 'l', 'r', 'l'],
    ),
  ].join('\n');
}

function gpt2sSection(res: BenchResults): string {
  const g = res.gpt2s;
  if (!g) return `Not measured in this run${res.gpt2sError ? `: ${res.gpt2sError}` : ' (`npm run bench -- --gpt2s-only` measures it alone)'}.`;
  const load = (l: number[]) => l.map((x) => x.toFixed(1)).join(' / ');
  const out: string[] = [];
  out.push(`${g.model}; one step = forward, backward, clipping, Adam, loss read back; every implementation starts from the same weights (initialised from seed 0, LoRA B random) and trains on the same random tokens. ` +
    `Measured ${g.generated} (${num(g.elapsedSeconds / 60, 1)} min${g.generated !== res.generated ? `, in a run of its own, not with §1–5 (${res.generated}), whose PyTorch rows ran on the BLAS installed then, not recorded (Debian's default without OpenBLAS is the reference BLAS)` : ''}); load average ${load(g.loadAverageStart)} at the start and ${load(g.loadAverageEnd)} at the end (1 / 5 / 15 min) on ${res.machine.cpus} CPU cores shared with other work: absolute times are slow and noisy, the per-round ratios are the figures to read.\n`);
  out.push('### The BLAS under PyTorch\n');
  out.push(blasSection(res));
  for (const b of g.batches) {
    out.push(`\n### Batch ${b.B} × ${b.T} tokens\n`);
    out.push(`${b.warmup} warm-up round (its step is "first step"), ${b.reps} measured round${b.reps === 1 ? '' : 's'}, one step of each implementation per round, the order rotating. PyTorch runs with 1 and with 2 threads; each round's ratio is against the faster of the two (on a loaded machine its 2 OpenMP threads wait on each other at every elementwise op).\n`);
    out.push(table(
      ['implementation', 'ms/step', 'tokens/s', 'tokens/s over PyTorch, per round', 'setup', 'first step', 'loss vs PyTorch (max rel.)'],
      b.runners.map((r) => [
        r.name.startsWith('torch') || r.name === 'cpu' || r.name === 'wasm' ? r.description : `this project, WebGPU ${r.name} — ${r.description}`,
        st(r.ms, 0),
        st(r.tokensPerSecond),
        b.vsTorch[r.name] ? `${st(b.vsTorch[r.name]!)}×` : '—',
        `${fix(r.setupMs / 1000, 1)} s`,
        `${fix(r.firstStepMs / 1000, 1)} s`,
        b.lossMaxRelDiff[r.name] !== undefined ? b.lossMaxRelDiff[r.name]!.toExponential(1) : '—',
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
    ));
    if (b.errors.length) out.push(`\nFailures: ${b.errors.join('; ')}`);
  }
  const h = gpt2sHeadline(g);
  if (h.ratio !== null) out.push(`\nBest software adapter at B = ${h.B}: **${h.adapter}, ${num(h.ratio)}×** PyTorch's tokens/s (median of rounds; \`gpt2s_train_vs_torch\` in the quick run's JSON).`);
  const wasm = gpt2sWasmHeadline(g);
  if (wasm !== null) out.push(`\nThe wasm backend at B = 1: **${num(wasm)}×** PyTorch's tokens/s (median of rounds; \`gpt2s_wasm_train_vs_torch\` in the quick run's JSON).`);
  return out.join('\n');
}

function multiSection(res: BenchResults): string {
  const m = res.multiAdapter;
  if (!m) return 'Not measured in this run (the full run measures it; `npx tsx bench/multi-adapter.ts` alone).';
  if ('error' in m) return `Failed: ${m.error}`;
  return `Serving 4 LoRA adapters (docs/multi-adapter.md): one mixed batch, each sequence gathering its own adapter's A and B (\`linear_gather\`), against 4 separate passes, one per adapter over its own sequences; forward with logits read back, the two forms alternating. \`${m.command}\`:

\`\`\`
${m.output.trim()}
\`\`\``;
}

/** §7: bench/quick-fields.ts's figures (every run, the quick one included, unless --no-gen). */
function generationSection(res: BenchResults): string {
  const g = res.generation;
  const gib = res.nf4TinyllamaTotalGib;
  const out: string[] = [];
  if (!g) out.push('Generation: not measured in this run.');
  else {
    const ctx = Object.entries(g.gen_ms_per_token).map(([c, ms]) => `${c}: ${num(ms, 1)}`).join(', ');
    const torchRuns = g.gen_torch_runs?.length ? ` (its runs, threads: ms/token: ${g.gen_torch_runs.map((r) => `${r.threads}: ${num(r.ms, 1)}`).join(', ')}; the fastest counts)` : '';
    out.push(`Generation at ${g.gen_model}, random weights, greedy, ${g.gen_tokens} tokens after each prefill (bench/generate.ts, each backend with its key/value cache: the CPU reference, one thread; the wasm backend, on every core, the cache in its WebAssembly memory; WebGPU on llvmpipe, the cache in GPU buffers) against PyTorch with its cache at its best: run on 1 and on 2 threads, before and after this project's backends (bench/torch_generate.py). Best backend at context 128: ${g.gen_best ?? 'cpu'}; its ms per token by context: ${ctx || 'n/a'}; PyTorch at 128: ${g.gen_torch_ms_per_token_128 === null ? 'n/a' : num(g.gen_torch_ms_per_token_128, 1)}${g.gen_torch_threads ? ` on ${g.gen_torch_threads} thread${g.gen_torch_threads === 1 ? '' : 's'}` : ''}${torchRuns}.${g.gen_load ? ` Load average (1 min) ${num(g.gen_load[0], 1)} before and ${num(g.gen_load[1], 1)} after this part, on the shared 2 cores: wall times swing with it, CPU times (the process's, llvmpipe's threads included) less.` : ''}`);
    if (g.gen_backends && Object.keys(g.gen_backends).length) {
      const rows = Object.entries(g.gen_backends).flatMap(([name, b]) => Object.keys(b.ms_per_token).map((c) => `| ${name} | ${c} | ${num(b.ms_per_token[c]!, 1)} | ${num(b.cpu_ms_per_token[c]!, 1)} | ${num(b.prefill_ms[c]!, 0)} |`));
      out.push(['| backend | context | ms/token | CPU ms/token | prefill ms (first of a plan: compiles) |', '| --- | ---: | ---: | ---: | ---: |', ...rows].join('\n'));
    }
    out.push(`\`gen_ms_per_token_vs_torch\` (context 128; below 1 is faster than PyTorch): **${g.gen_ms_per_token_vs_torch === null ? 'n/a' : num(g.gen_ms_per_token_vs_torch)}**; \`gen_flatness\` (ms/token at 512 over 16; 1 is flat): **${g.gen_flatness === null ? 'n/a' : num(g.gen_flatness)}**. By CPU time per token (steadier under load): ${g.gen_cpu_ms_per_token_vs_torch === null ? 'n/a' : num(g.gen_cpu_ms_per_token_vs_torch)} and ${g.gen_flatness_cpu === null ? 'n/a' : num(g.gen_flatness_cpu)}.${g.errors.length ? ` Errors: ${g.errors.join('; ')}.` : ''}`);
  }
  if (gib === undefined) out.push('Memory: not measured in this run.');
  else out.push(typeof gib === 'number'
    ? `\`nf4_tinyllama_total_gib\`: **${num(gib, 3)} GiB**, the plan's total for one training step of examples/llama-lora.peft (TinyLlama-1.1B) at B = 1, T = 512 with an nf4 base (\`peftc memory … --batch 1 --seq 512 --frozen-dtype nf4\`, computed, not measured).`
    : `\`nf4_tinyllama_total_gib\`: failed: ${gib.error}`);
  const dq = res.nf4dqTinyllamaTotalGib;
  if (dq !== undefined) out.push(typeof dq === 'number' ? `\`nf4dq_tinyllama_total_gib\`: **${num(dq, 3)} GiB**, the same plan with the block scales double-quantized (\`--frozen-dtype nf4dq\`).` : `\`nf4dq_tinyllama_total_gib\`: failed: ${dq.error}`);
  out.push(recomputeSummary(res.recompute));
  return out.join('\n\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const input = resolve(process.argv[2] ?? resolve(import.meta.dirname, 'results.json'));
  const output = resolve(process.argv[3] ?? resolve(import.meta.dirname, '../BENCHMARKS.md'));
  writeFileSync(output, renderMarkdown(JSON.parse(readFileSync(input, 'utf8')) as BenchResults));
  console.log(`wrote ${output}`);
}
