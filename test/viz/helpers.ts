// Compiling an example into what the partition views draw.
import { resolve } from 'node:path';
import { compile, type CompileResult } from '../../compiler/build.ts';
import { nodeHost } from '../../cli/node-host.ts';
import { summarize, type ParamSummary } from '../../compiler/params.ts';
import { renderPartitionsHtml } from '../../viz/html.ts';
import { buildVizTree, type VizNode } from '../../viz/tree.ts';
import { stepFlops } from '../../viz/flops.ts';
import { compileExample, EXAMPLES } from '../helpers.ts';

export interface Viz {
  res: CompileResult;
  tree: VizNode;
  summary: ParamSummary;
  full: ParamSummary;
  fullRes: CompileResult;
}

export function vizOf(name: string, set: string[] = []): Viz {
  const res = compileExample(name, set);
  // The full fine-tune of the same model: its base without PEFT, every parameter trainable.
  const full = compile(resolve(EXAMPLES, name), nodeHost, { set, full: true, basePeftOff: true });
  if (!res.graph || !full.graph) throw new Error(`${name} did not compile`);
  return { res, tree: buildVizTree(res.graph, res.root!, res.plan), summary: summarize(res.graph), full: summarize(full.graph), fullRes: full };
}

export function htmlOf(name: string, set: string[] = []): string {
  const v = vizOf(name, set);
  return renderPartitionsHtml(v.tree, v.summary, { file: name, fullSummary: v.full, flops: { peft: stepFlops(v.res.graph!), full: stepFlops(v.fullRes.graph!) } });
}
