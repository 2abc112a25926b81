// `peftc params`: the module tree with trainable shares and Hugging Face's summary line;
// `--flat` for one row per parameter; `--json` for tools.
import { Option } from 'commander';
import type { CompileResult } from '../compiler/build.ts';
import { formatCount, summarize, summaryLine, type ParamSummary } from '../compiler/params.ts';
import { FROZEN_DTYPES, frozenDtypeOf } from '../compiler/quant/dtype.ts';
import { frozenBytes, type FrozenBytes } from '../compiler/quant/frozen-bytes.ts';
import { renderTreeText } from '../viz/terminal.ts';
import { buildVizTree, type VizNode } from '../viz/tree.ts';
import { compileFile, report, type CompileFlags } from './common.ts';
import { allocatedRanks, annotateRanks } from './rank-selection.ts';
import { frozenDtype } from './flags.ts';

export interface ParamsFlags extends CompileFlags {
  json?: boolean;
  flat?: boolean;
  /** A checkpoint directory: show the ranks `rank = auto(…)` allocated. */
  adapter?: string;
  /** `--frozen-dtype`: also show what the frozen parameters weigh stored that way. */
  frozenDtype?: string;
}

export function paramsCommand(file: string, flags: ParamsFlags): number {
  const res = compileFile(file, flags);
  if (report(res)) return 1;
  const ranks = flags.adapter ? allocatedRanks(res.graph!, flags.adapter) : undefined;
  process.stdout.write(paramsText(res, flags, { color: process.stdout.isTTY === true, ...(ranks ? { ranks } : {}) }));
  return 0;
}

/** What `peftc params` prints for a compiled program. */
export function paramsText(res: CompileResult, flags: Pick<ParamsFlags, 'json' | 'flat' | 'frozenDtype'>, opts: { color?: boolean; ranks?: Map<string, number> } = {}): string {
  const s = summarize(res.graph!);
  const fb = flags.frozenDtype === undefined ? undefined : frozenBytes(res.graph!, knownDtype(flags.frozenDtype));
  if (flags.json) {
    const extra = { ...(opts.ranks ? { ranks: Object.fromEntries(opts.ranks) } : {}), ...(fb ? { frozen_dtype: fb.dtype, frozen_bytes: fb.bytes, frozen_f32_bytes: fb.f32_bytes } : {}) };
    return JSON.stringify({ ...s, ...extra }, null, 2) + '\n';
  }
  const tree = buildVizTree(res.graph!, res.root!, res.plan);
  sizeAsGiven(tree);
  if (opts.ranks) annotateRanks(tree, opts.ranks);
  let body = flags.flat ? flatTable(s) : renderTreeText(tree, { color: opts.color ?? false });
  if (opts.ranks?.size) body += `\nranks allocated by rank = auto(…): ${[...opts.ranks].map(([m, r]) => `${m} ${r}`).join(', ')}; total ${[...opts.ranks.values()].reduce((a, b) => a + b, 0)}\n`;
  let out = body + '\n' + summaryLine(s.trainable, s.total) + (fb ? ` || ${frozenPart(fb)}` : '') + '\n';
  if (s.kept.trainable !== s.trainable) {
    out += `after training (reparameterisation discarded): ${summaryLine(s.kept.trainable, s.kept.total)}\n`;
  }
  return out;
}

/**
 * An adapter's size as the program (or its preset) gives it: `reduction=16` alone, not next to
 * the width it resolves to (`bottleneck=1`), which reads as a second, conflicting setting; the
 * row's count is that width's. The partition view shows both (docs/viz.md).
 */
function sizeAsGiven(n: VizNode): void {
  for (const m of n.methods) if (m.name === 'adapter' && m.settings.reduction) delete m.settings.bottleneck;
  n.children.forEach(sizeAsGiven);
}

/** --frozen-dtype for `peftc params`: commander refuses any other name in one line. */
export function frozenDtypeOption(): Option {
  return new Option('--frozen-dtype <dtype>', "also show the frozen parameters' bytes stored this way").choices([...FROZEN_DTYPES]);
}

function knownDtype(value: string) {
  const d = frozenDtypeOf(value);
  if (!d) throw new Error(`--frozen-dtype must be one of ${FROZEN_DTYPES.join(', ')}, not \`${value}\``);
  return d;
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

/** `frozen nf4: 12,345 bytes (0.0 MiB; f32 0.1 MiB)`: the summary line's frozen-dtype part. */
function frozenPart(fb: FrozenBytes): string {
  return `frozen ${fb.dtype}: ${formatCount(fb.bytes)} bytes (${mib(fb.bytes)}; f32 ${mib(fb.f32_bytes)})`;
}

function flatTable(s: ParamSummary): string {
  const rows = s.params.map((p) => [p.path, `[${p.shape.join(', ')}]`, formatCount(p.count), p.partition + (p.transient ? ' (transient)' : ''), p.origin]);
  const head = ['path', 'shape', 'count', 'partition', 'origin'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}
