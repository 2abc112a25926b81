// `peftc grad`: loss, logits and the gradient of every trainable parameter for given
// weights and tokens, written to safetensors — how users (and the tests) compare the
// project's numbers with PyTorch's for the same weights.
import { readFileSync } from 'node:fs';
import { buildTrainingGraph } from '../compiler/autodiff/backward.ts';
import type { Graph } from '../compiler/ir/types.ts';
import { createStore } from '../runtime/arena.ts';
import { CpuExecutor } from '../runtime/cpu/executor.ts';
import { initParams } from '../runtime/init.ts';
import { readSafetensorsFile, writeSafetensorsFile } from '../runtime/io/safetensors-node.ts';
import type { WriteTensor } from '../runtime/io/safetensors.ts';
import { lmTargets } from '../runtime/targets.ts';
import { parseTokens } from '../runtime/tokens-file.ts';
import { loadWeights } from '../runtime/weights.ts';
import { compileFile, report, type CompileFlags } from './common.ts';

export interface GradFlags extends CompileFlags {
  init?: string;
  tokens: string;
  out: string;
  backend?: string;
  seed?: string;
}

export async function gradCommand(file: string, flags: GradFlags): Promise<number> {
  const res = compileFile(file, flags);
  if (report(res)) return 1;
  const g = res.graph!;
  if (g.task !== 'causal_lm') throw new UserError('`peftc grad` takes a language model (its targets come from the tokens)');
  const backend = flags.backend ?? 'cpu';
  if (backend !== 'cpu') throw new UserError(`backend \`${backend}\` is not available for \`grad\` yet; use --backend cpu`);
  const store = createStore(g, 'f32');
  initParams(g, store, { seed: Number(flags.seed ?? 0) });
  if (flags.init) loadWeights(g, store, await readSafetensorsFile(flags.init));
  const tokens = parseTokens(readText(flags.tokens), vocabOf(g), flags.tokens);
  const exec = new CpuExecutor(buildTrainingGraph(g));
  const out = exec.run(store, { tokens, targets: lmTargets(tokens, g.promptLength) }, { precision: 'f32', training: false, step: 0 });
  const tensors: Record<string, WriteTensor> = {
    loss: { dtype: 'F32', shape: [1], data: Float32Array.of(out.loss) },
    logits: { dtype: 'F32', shape: out.logits.shape, data: Float32Array.from(out.logits.data) },
  };
  for (const [path, gr] of out.grads) tensors[`grad.${path}`] = { dtype: 'F32', shape: gr.shape, data: Float32Array.from(gr.data) };
  await writeSafetensorsFile(flags.out, tensors, { source: file, backend });
  process.stdout.write(`loss ${out.loss}\n`);
  return 0;
}

/** An error in what the user asked for: printed as one line, exit 1. */
export class UserError extends Error {
  override name = 'UserError';
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new UserError(`cannot read \`${path}\``);
  }
}

function vocabOf(g: Graph): number {
  const emb = g.nodes.find((n) => n.op === 'embedding' && g.nodes[n.inputs[1]!]!.op === 'input');
  return emb ? (g.nodes[emb.inputs[0]!]!.shape[0] as number) : Number.MAX_SAFE_INTEGER;
}
