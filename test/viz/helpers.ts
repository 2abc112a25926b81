// Compiling an example into what the partition views draw.
import type { CompileResult } from '../../compiler/build.ts';
import { summarize, type ParamSummary } from '../../compiler/params.ts';
import { renderPartitionsHtml } from '../../viz/html.ts';
import { buildVizTree, type VizNode } from '../../viz/tree.ts';
import { compileExample } from '../helpers.ts';

export interface Viz {
  res: CompileResult;
  tree: VizNode;
  summary: ParamSummary;
  full: ParamSummary;
}

export function vizOf(name: string, set: string[] = []): Viz {
  const res = compileExample(name, set);
  const full = compileExample(name, set, true);
  if (!res.graph || !full.graph) throw new Error(`${name} did not compile`);
  return { res, tree: buildVizTree(res.graph, res.root!, res.plan), summary: summarize(res.graph), full: summarize(full.graph) };
}

export function htmlOf(name: string, set: string[] = []): string {
  const v = vizOf(name, set);
  return renderPartitionsHtml(v.tree, v.summary, { file: name, fullSummary: v.full });
}
