// The partition view of the edited program, as `peftc viz` draws it (viz/page-html.ts with the
// page script bundled at `peftc playground` time), for an iframe's srcdoc: redrawn after each
// compile that builds a graph, left as it was while the file has errors.
import { compile } from '../compiler/build.ts';
import type { SourceHost } from '../compiler/load.ts';
import { summarize } from '../compiler/params.ts';
import type { Analysis } from '../cli/lsp/analysis.ts';
import { stepFlops } from '../viz/flops.ts';
import { partitionsPage, type VizAssets } from '../viz/page-html.ts';
import { buildVizTree } from '../viz/tree.ts';

/** The page, or undefined when the program did not compile to a graph. */
export function partitionsHtml(a: Analysis, host: SourceHost, assets: VizAssets): string | undefined {
  const g = a.result.graph;
  if (!g || !a.result.root) return undefined;
  // The comparison: the same base with every parameter training and no PEFT, as `peftc viz`.
  const full = compile(a.entry, host, { full: true, basePeftOff: true }).graph;
  const name = a.entry.slice(a.entry.lastIndexOf('/') + 1);
  return partitionsPage(buildVizTree(g, a.result.root, a.result.plan), summarize(g), {
    file: name,
    ...(full ? { fullSummary: summarize(full), flops: { peft: stepFlops(g), full: stepFlops(full) } } : {}),
  }, assets);
}
