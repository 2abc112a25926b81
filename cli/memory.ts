// `peftc memory`: what one training step's WebGPU plan allocates, by category, for a batch of
// --batch × --seq tokens and a frozen dtype, without running anything or opening a GPU (unless
// --gpu names one whose limits to plan for). Quantized frozen weights (int8, nf4, nf4dq) are counted as
// their codes plus f32 scales, in the same 256-byte-aligned slots as the f32 and f16 arenas.
import { buildTrainingGraph } from '../compiler/training.ts';
import { recomputeOf, type RecomputeMode } from '../compiler/autodiff/recompute.ts';
import type { Graph } from '../compiler/ir/types.ts';
import { arenaParts } from '../compiler/lower/memory.ts';
import { DEFAULT_LOSS_CHUNK_BYTES, PlanError, buildPlan } from '../compiler/lower/plan.ts';
import type { Plan } from '../compiler/lower/types.ts';
import type { FrozenDtype } from '../compiler/quant/dtype.ts';
import { wgslBackend } from '../codegen/wgsl/backend.ts';
import type { Command } from 'commander';
import { addCompileFlags, compileFile, report, type CompileFlags } from './common.ts';
import { UserError } from './errors.ts';
import { frozenDtype, frozenPlanOptions, positiveInt } from './flags.ts';
import { capsFor } from './plan.ts';
import { recomputeFlag, recomputeOption } from './recompute-flag.ts';

export interface MemoryFlags {
  batch?: string;
  seq?: string;
  gpu?: string;
  frozenDtype?: string;
  /** --recompute none|blocks (default: the model's setting). */
  recompute?: string;
  json?: boolean;
}

/** Bytes by category, as `--json` prints them. */
export interface MemoryReport {
  frozen: number;
  trainable: number;
  gradients: number;
  optimizer: number;
  activations_peak: number;
  /** Token and target inputs, the globals buffer. */
  other: number;
  total: number;
  /** How the frozen weight matrices are stored, and in how many buffers the frozen arena is (maxBufferSize). */
  frozen_dtype: FrozenDtype;
  frozen_buffers: number;
  /** Activation recomputation the plan was made with. */
  recompute: RecomputeMode;
  /** The loss over chunks of rows, as training plans it: rows per chunk and chunks (0 and 1 where the logits are whole). */
  loss_chunk_rows: number;
  loss_chunks: number;
  B: number;
  T: number;
}

export async function memoryReport(g: Graph, flags: MemoryFlags): Promise<MemoryReport> {
  const dims = { B: positiveInt('--batch', flags.batch, 8), T: positiveInt('--seq', flags.seq, 128) };
  const dtype = frozenDtype(flags.frozenDtype);
  const recompute = flags.recompute === undefined ? recomputeOf(g) : recomputeFlag(flags.recompute);
  const caps = await capsFor(flags.gpu);
  // Planned without the buffer-size limit, which only decides how the frozen arena is cut into
  // buffers: that is checked below for the dtype asked for (a 7B model's f32 table exceeds it).
  const unbounded = { ...caps, limits: { ...caps.limits, maxBufferSize: Number.MAX_SAFE_INTEGER } };
  let plan: Plan;
  try {
    // The frozen arena as the GPU would hold it: f16 or quantized slots (codes and scales).
    // The loss over chunks of rows, as the trainer plans it (compiler/lower/chunked-loss.ts).
    plan = buildPlan(buildTrainingGraph(g, undefined, recompute), dims, wgslBackend(unbounded), { ...frozenPlanOptions(dtype), lossChunkBytes: DEFAULT_LOSS_CHUNK_BYTES });
  } catch (e) {
    if (e instanceof PlanError) throw new UserError(e.message);
    throw e;
  }
  const frozen = plan.frozen;
  let parts: number;
  try {
    parts = arenaParts(frozen, caps.limits.maxBufferSize).length;
  } catch (e) {
    throw new UserError(`the frozen arena does not fit this adapter's buffers: ${(e as Error).message}`);
  }
  const s = plan.stats;
  const other = s.inputBytes + plan.buffers.filter((b) => b.kind === 'globals').reduce((a, b) => a + b.bytes, 0);
  const r = { frozen: frozen.bytes, trainable: s.trainableBytes, gradients: s.gradBytes, optimizer: s.optimizerStateBytes + s.optimizerScratchBytes, activations_peak: s.activationPeakBytes, other };
  const total = Object.values(r).reduce((a, b) => a + b, 0);
  const chunk = s.lossChunk;
  return { ...r, total, frozen_dtype: dtype, frozen_buffers: parts, recompute, loss_chunk_rows: chunk?.rows ?? 0, loss_chunks: chunk?.chunks ?? 1, ...dims };
}

const ROWS: [keyof MemoryReport, string][] = [
  ['frozen', 'frozen params'],
  ['trainable', 'trainable params'],
  ['gradients', 'gradients'],
  ['optimizer', 'optimizer'],
  ['activations_peak', 'activations peak'],
  ['other', 'other'],
];

export function formatMemory(r: MemoryReport): string {
  const mib = (n: number) => (n / 2 ** 20).toFixed(1).padStart(10);
  const pct = (n: number) => `${((100 * n) / r.total).toFixed(1).padStart(5)} %`;
  const lines = [`memory of one training step, B=${r.B} T=${r.T}, frozen weights ${r.frozen_dtype} (${r.frozen_buffers} buffer${r.frozen_buffers === 1 ? '' : 's'}), recompute ${r.recompute}`];
  if (r.loss_chunk_rows > 0) lines.push(`loss over ${r.loss_chunks} chunk${r.loss_chunks === 1 ? '' : 's'} of ${r.loss_chunk_rows} rows of logits: the whole logits never exist`);
  lines.push('');
  lines.push(`  ${'category'.padEnd(18)}${'MiB'.padStart(10)}  ${'share'.padStart(7)}`);
  for (const [k, name] of ROWS) lines.push(`  ${name.padEnd(18)}${mib(r[k] as number)}  ${pct(r[k] as number)}`);
  lines.push(`  ${'total'.padEnd(18)}${mib(r.total)}  ${pct(r.total)}   (${(r.total / 2 ** 30).toFixed(3)} GiB)`);
  return lines.join('\n') + '\n';
}

export async function memoryCommand(file: string, flags: MemoryFlags & CompileFlags): Promise<number> {
  const res = compileFile(file, flags);
  if (report(res)) return 1;
  const r = await memoryReport(res.graph!, flags);
  process.stdout.write(flags.json ? JSON.stringify(r) + '\n' : formatMemory(r));
  return 0;
}

export function registerMemory(program: Command): void {
  addCompileFlags(
    program
      .command('memory')
      .argument('<file>', '.peft file')
      .option('--batch <n>', 'batch size of the step', '8')
      .option('--seq <n>', 'sequence length of the step', '128')
      .option('--frozen-dtype <dtype>', 'frozen weight matrices as f32, f16, int8, nf4 or nf4dq', 'f32')
      .option('--gpu <choice>', "plan for this WebGPU adapter's limits: auto | hardware | swiftshader | llvmpipe (default: WebGPU's default limits)")
      .addOption(recomputeOption())
      .option('--json', 'print one JSON object of bytes by category')
      .description("one training step's WebGPU memory by category (frozen, trainable, gradients, optimizer, activations, other), without running it"),
  ).action(async (file: string, flags: MemoryFlags & CompileFlags) => {
    process.exitCode = await memoryCommand(file, flags);
  });
}
