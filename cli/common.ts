// Shared pieces of the CLI verbs: compiling a file with the common flags and printing
// diagnostics as `file:line:col: error CODE: message` with the source line underlined.
import { relative } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { compile, type CompileResult } from '../compiler/build.ts';
import { waitLimitMs } from '../runtime/webgpu/queue-watch.ts';
import type { Diagnostic } from '../grammar/diagnostics.ts';
import { formatDiagnostic } from '../grammar/index.ts';
import { nodeHost } from './node-host.ts';
import { applyRecompute } from './recompute-flag.ts';
import { BACKEND_HELP, THREADS_HELP } from './backend-choice.ts';

export interface CompileFlags {
  set?: string[];
  full?: boolean;
  /** --recompute none|blocks, on the verbs that take it (cli/recompute-flag.ts). */
  recompute?: string;
}

export function addCompileFlags(cmd: Command): Command {
  return cmd
    .option('--set <key=value,...>', 'override config constants (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--full', 'train every parameter (full fine-tuning)');
}

/** The flags of the verbs that run a model: its tokenizer and where it computes. */
export function addRuntimeFlags(cmd: Command): Command {
  return cmd
    .option('--tokenizer <name|path>', 'byte | gpt2 | llama, or a Hugging Face tokenizer.json (its file or folder); default: from the vocabulary size')
    .option('--backend <name>', BACKEND_HELP, 'cpu')
    .option('--threads <n>', THREADS_HELP)
    .option('--gpu <choice>', 'WebGPU adapter: auto | hardware | swiftshader | llvmpipe', 'auto')
    .option('--frozen-dtype <dtype>', 'frozen weight matrices as f32, f16 (WebGPU: half their memory; the CPU then computes with the same rounded weights), int8, nf4 or nf4dq (the base quantized; on WebGPU stored as codes and scales, dequantized inside the kernels; docs/quantization.md); default f32, or what the --adapter checkpoint recorded')
    .addOption(gpuTimeoutOption());
}

/**
 * --gpu-timeout SECONDS: how long a GPU wait may go without the GPU finishing any work (0: no
 * limit; default 60 s, growing with the slowest work seen). It reaches openNodeGpu through
 * PEFTC_GPU_TIMEOUT, so every verb that opens a GPU honours it.
 */
export function gpuTimeoutOption(): Option {
  return new Option('--gpu-timeout <seconds>', 'WebGPU: fail a wait when the GPU finishes no work for this long (0: no limit; default 60 s, growing with the slowest work seen)').argParser((v: string) => {
    try {
      process.env.PEFTC_GPU_TIMEOUT = String(waitLimitMs(v) / 1000);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
    return v;
  });
}


export function compileFile(file: string, flags: CompileFlags, extra: { derivedPrefix?: boolean; basePeftOff?: boolean } = {}): CompileResult {
  const res = compile(file, nodeHost, { set: flags.set ?? [], full: flags.full ?? false, derivedPrefix: extra.derivedPrefix ?? false, basePeftOff: extra.basePeftOff ?? false });
  if (res.graph) applyRecompute(res.graph, flags.recompute);
  return res;
}

/** Diagnostics printed at most; the rest are counted. One mistake rarely needs more. */
export const MAX_PRINTED_DIAGNOSTICS = 50;

type Reported = { diagnostics: Diagnostic[]; texts: Map<string, string>; omitted?: { errors: number; warnings: number } };

/** Prints the diagnostics (the first MAX_PRINTED_DIAGNOSTICS) to stderr; returns true if any is an error. */
export function report(res: Reported): boolean {
  process.stderr.write(reportText(res));
  return res.diagnostics.some((d) => d.severity === 'error') || (res.omitted?.errors ?? 0) > 0;
}

/** What report() prints: bounded however many diagnostics there are. */
export function reportText(res: Reported): string {
  let out = '';
  for (const d of res.diagnostics.slice(0, MAX_PRINTED_DIAGNOSTICS)) {
    const shown = d.range.synthetic ? d : { ...d, range: { ...d.range, file: display(d.range.file) } };
    if (shown.related) shown.related = shown.related.map((r) => ({ ...r, range: { ...r.range, file: display(r.range.file) } }));
    out += formatDiagnostic(shown, res.texts.get(d.range.file) ?? '') + '\n';
  }
  const hidden = res.diagnostics.slice(MAX_PRINTED_DIAGNOSTICS);
  const errors = res.diagnostics.filter((d) => d.severity === 'error').length + (res.omitted?.errors ?? 0);
  const hiddenErrors = hidden.filter((d) => d.severity === 'error').length + (res.omitted?.errors ?? 0);
  const hiddenAll = hidden.length + (res.omitted?.errors ?? 0) + (res.omitted?.warnings ?? 0);
  if (hiddenAll) out += `… and ${hiddenAll} more ${hiddenErrors === hiddenAll ? 'error' : 'diagnostic'}${hiddenAll === 1 ? '' : 's'}\n`;
  if (errors) out += `${errors} error${errors === 1 ? '' : 's'}\n`;
  return out;
}

function display(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}
