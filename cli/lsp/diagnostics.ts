// The compiler's diagnostics as the protocol's, for one open document: its own, and those found
// in the files it imports, shown on the `import` that brings them in (with their own place as
// related information), so a broken dependency is visible where it is used.
import { basename } from 'node:path';
import { DiagnosticSeverity, type Diagnostic as LspDiagnostic } from 'vscode-languageserver';
import type { Diagnostic, SourceRange } from '../../grammar/diagnostics.ts';
import type { Analysis } from './analysis.ts';
import { toLocation, toRange } from './positions.ts';

/** More than anyone reads; the compiler keeps at most 500. */
const MAX_PUBLISHED = 200;

export function documentDiagnostics(a: Analysis): LspDiagnostic[] {
  const out: LspDiagnostic[] = [];
  for (const d of a.result.diagnostics) {
    if (out.length >= MAX_PUBLISHED) break;
    if (d.range.synthetic) out.push(convert(d, startOf(a.entry), `${d.range.file}: `));
    else if (d.range.file === a.entry) out.push(convert(d, d.range));
    else {
      const via = importOf(a, d.range.file);
      const where = `${basename(d.range.file)}:${d.range.start.line}:${d.range.start.col}: `;
      if (via) out.push({ ...convert(d, via, where), relatedInformation: [{ location: toLocation(d.range), message: d.message }, ...related(d)] });
    }
  }
  return out;
}

function convert(d: Diagnostic, range: SourceRange, prefix = ''): LspDiagnostic {
  const out: LspDiagnostic = {
    range: toRange(range),
    severity: d.severity === 'error' ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning,
    code: d.code,
    source: 'peftc',
    message: prefix + d.message,
  };
  const rel = related(d);
  if (rel.length) out.relatedInformation = rel;
  return out;
}

function related(d: Diagnostic) {
  return (d.related ?? []).filter((r) => !r.range.synthetic).map((r) => ({ location: toLocation(r.range), message: r.message }));
}

function startOf(file: string): SourceRange {
  const p = { line: 1, col: 1, offset: 0 };
  return { file, start: p, end: p };
}

/** The `import` string in the entry file through which `file` was loaded (directly or not). */
function importOf(a: Analysis, file: string): SourceRange | undefined {
  const entryImports = a.index.occurrences.filter((o) => o.symbol.kind === 'import' && o.range.file === a.entry);
  const direct = entryImports.find((o) => o.symbol.target === file);
  if (direct) return direct.range;
  // Imported through another file: blame the first import of the entry whose closure has it.
  const imports = new Map<string, string[]>();
  for (const o of a.index.occurrences) {
    if (o.symbol.kind === 'import') imports.set(o.range.file, [...(imports.get(o.range.file) ?? []), o.symbol.target!]);
  }
  for (const o of entryImports) {
    const seen = new Set<string>();
    const stack = [o.symbol.target!];
    while (stack.length) {
      const f = stack.pop()!;
      if (f === file) return o.range;
      if (seen.has(f)) continue;
      seen.add(f);
      stack.push(...(imports.get(f) ?? []));
    }
  }
  return undefined;
}

