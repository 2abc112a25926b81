// `peftc viz`: writes the partition view, one self-contained HTML file.
import { renameSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { summarize } from '../compiler/params.ts';
import { renderPartitionsHtml } from '../viz/html.ts';
import { buildVizTree } from '../viz/tree.ts';
import { stepFlops } from '../viz/flops.ts';
import { formatBytes } from '../viz/format.ts';
import { frozenBytes } from '../compiler/quant/frozen-bytes.ts';
import { compileFile, report, type CompileFlags } from './common.ts';
import { frozenDtype } from './flags.ts';
import { allocatedRanks, annotateRanks } from './rank-selection.ts';

export interface VizFlags extends CompileFlags {
  output?: string;
  /** A checkpoint directory: show the ranks `rank = auto(…)` allocated. */
  adapter?: string;
  /** `--frozen-dtype f32|f16|int8|nf4`: the frozen bytes shown in the totals (docs/quantization.md). */
  frozenDtype?: string;
}

export function vizCommand(file: string, flags: VizFlags): number {
  const dtype = frozenDtype(flags.frozenDtype);
  const res = compileFile(file, flags);
  if (report(res)) return 1;
  // The comparison: the same program with every parameter training.
  // The full fine-tune of the same model: its base, every parameter trainable, no PEFT.
  const full = flags.full ? res : compileFile(file, { ...flags, full: true }, { basePeftOff: true });
  if (!full.graph && report(full)) return 1;
  const summary = summarize(res.graph!);
  const tree = buildVizTree(res.graph!, res.root!, res.plan);
  if (flags.adapter) annotateRanks(tree, allocatedRanks(res.graph!, flags.adapter));
  const html = renderPartitionsHtml(tree, summary, {
    file: basename(file),
    full: flags.full ?? false,
    fullSummary: summarize(full.graph!),
    flops: { peft: stepFlops(res.graph!), full: stepFlops(full.graph!) },
    frozen: frozenBytes(res.graph!, dtype),
  });
  const out = flags.output ?? 'partitions.html';
  const tmp = `${out}.tmp-${process.pid}`;
  writeFileSync(tmp, html);
  renameSync(tmp, out);
  process.stdout.write(`wrote ${out} (${formatBytes(Buffer.byteLength(html))}); open it in a browser\n`);
  return 0;
}
