// `peftc params`: a per-parameter table and Hugging Face's summary line, or JSON.
import { formatCount, summarize, summaryLine } from '../compiler/params.ts';
import { compileFile, report, type CompileFlags } from './common.ts';

export function paramsCommand(file: string, flags: CompileFlags & { json?: boolean }): number {
  const res = compileFile(file, flags);
  if (report(res)) return 1;
  const s = summarize(res.graph!);
  if (flags.json) {
    process.stdout.write(JSON.stringify(s, null, 2) + '\n');
    return 0;
  }
  const rows = s.params.map((p) => [p.path, `[${p.shape.join(', ')}]`, formatCount(p.count), p.partition + (p.transient ? ' (transient)' : ''), p.origin]);
  const head = ['path', 'shape', 'count', 'partition', 'origin'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  process.stdout.write([line(head), ...rows.map(line)].join('\n') + '\n\n');
  process.stdout.write(summaryLine(s.trainable, s.total) + '\n');
  if (s.kept.trainable !== s.trainable) {
    process.stdout.write(`after training (reparameterisation discarded): ${summaryLine(s.kept.trainable, s.kept.total)}\n`);
  }
  return 0;
}
