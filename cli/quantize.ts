// `peftc quantize FILE --init W.safetensors --dtype int8|nf4|nf4dq -o Wq.safetensors`: store a base
// quantized once (runtime/io/quantized-weights.ts has the layout). The model says which tensors
// are weight matrices of linears and tables (compiler/quant/select.ts) and their layout; every
// other base tensor is kept in f32. Every verb that takes --init loads the result directly.
import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { isQuantDtype } from '../compiler/quant/dtype.ts';
import { quantizableWeights } from '../compiler/quant/select.ts';
import { quantizeWeight, type QuantDtype, type QuantizedWeight } from '../compiler/quant/weight.ts';
import { createStore } from '../runtime/arena.ts';
import { loadInit } from '../runtime/interop/hf-weights-node.ts';
import { quantizedTensors } from '../runtime/io/quantized-weights.ts';
import { writeSafetensorsFile } from '../runtime/io/safetensors-node.ts';
import type { WriteTensor } from '../runtime/io/safetensors.ts';
import { addCompileFlags, compileFile, report, type CompileFlags } from './common.ts';
import { UserError } from './errors.ts';

export interface QuantizeFlags extends CompileFlags {
  init: string;
  dtype: string;
  out: string;
  allowNonfinite?: boolean;
}

export async function quantizeCommand(file: string, flags: QuantizeFlags): Promise<number> {
  const dtype = quantDtype(flags.dtype);
  const res = compileFile(file, flags);
  if (report(res)) return 1;
  const g = res.graph!;
  const store = createStore(g, 'f32');
  const { loaded } = await loadInit(flags.init, g, store, undefined, { allowNonFinite: flags.allowNonfinite ?? false });
  const layouts = quantizableWeights(g);
  const matrices = new Map<string, QuantizedWeight>();
  const rest = new Map<string, WriteTensor>();
  for (const p of g.params.filter((p) => loaded.has(p.path))) {
    if (!store.frozen.has(p.path)) continue; // the base only: a --full model's weights are trainable
    const v = store.frozen.view(p.path);
    const layout = layouts.get(p.path);
    if (layout) matrices.set(p.path, quantizeWeight(v, p.shape, layout, dtype));
    else rest.set(p.path, { dtype: 'F32', shape: p.shape, data: Float32Array.from(v) });
  }
  if (!matrices.size) throw new UserError(`${flags.init}: no frozen weight matrix of ${file} to quantize (a --full model has none)`);
  const { tensors, metadata } = quantizedTensors(dtype, matrices, rest);
  await writeSafetensorsFile(flags.out, tensors, { ...metadata, source: file });
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  const f32 = 4 * [...loaded].reduce((a, p) => a + store.frozen.view(p).length, 0);
  process.stdout.write(`${flags.out}: ${matrices.size} matrices in ${dtype}, ${rest.size} other tensors in f32, ${mib(statSync(flags.out).size)} (${mib(f32)} in f32)\n`);
  return 0;
}

function quantDtype(v: string): QuantDtype {
  if (isQuantDtype(v)) return v;
  throw new UserError(`--dtype must be int8, nf4 or nf4dq, not \`${v}\``);
}

export function registerQuantize(program: Command): void {
  addCompileFlags(
    program
      .command('quantize')
      .argument('<file>', '.peft file: says which tensors are weight matrices and how they are laid out')
      .requiredOption('--init <weights.safetensors>', 'the base weights (Hugging Face names or parameter paths)')
      .requiredOption('--dtype <dtype>', 'int8 (one scale per output channel) | nf4 (bitsandbytes NF4, blocks of 64) | nf4dq (NF4 with its block absmaxes quantized again to 8 bits, as QLoRA)')
      .requiredOption('-o, --out <file.safetensors>', 'where to write the quantized base')
      .option('--allow-nonfinite', 'load NaN/±Inf weights instead of refusing them')
      .description('store a base with its frozen weight matrices quantized; --init loads it directly (docs/quantization.md)'),
  ).action(async (file: string, flags: QuantizeFlags) => {
    process.exitCode = await quantizeCommand(file, flags);
  });
}
