// Parameter counts and the summary line Hugging Face users know:
//   trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364
import type { Graph, Param } from './ir/types.ts';

export interface ParamRow {
  path: string;
  shape: number[];
  count: number;
  partition: Param['partition'];
  origin: Param['origin'];
  method?: string;
  transient?: boolean;
}

export interface ParamSummary {
  total: number;
  trainable: number;
  frozen: number;
  trainable_percent: number;
  /** Counts once transient parameters (the prefix MLP) are replaced by what they produce. */
  kept: { total: number; trainable: number; trainable_percent: number };
  params: ParamRow[];
}

export function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function summarize(g: Graph): ParamSummary {
  const params: ParamRow[] = g.params.map((p) => {
    const row: ParamRow = { path: p.path, shape: p.shape, count: count(p.shape), partition: p.partition, origin: p.origin };
    if (p.method) row.method = p.method.name;
    if (p.transient) row.transient = true;
    return row;
  });
  const sum = (f: (r: ParamRow) => boolean) => params.filter(f).reduce((a, r) => a + r.count, 0);
  const total = sum(() => true);
  const trainable = sum((r) => r.partition === 'trainable');
  const transient = sum((r) => !!r.transient);
  const derived = transient > 0 ? derivedPrefixCount(g) : 0;
  const keptTrainable = trainable - transient + derived;
  const keptTotal = total - transient + derived;
  return {
    total,
    trainable,
    frozen: total - trainable,
    trainable_percent: percent(trainable, total),
    kept: { total: keptTotal, trainable: keptTrainable, trainable_percent: percent(keptTrainable, keptTotal) },
    params,
  };
}

/** The size of the prefix table the reparameterisation MLP produces ([P, 2·L·kvd]). */
function derivedPrefixCount(g: Graph): number {
  const table = g.prefixTable === undefined ? undefined : g.nodes[g.prefixTable];
  return table ? (table.shape as number[]).reduce((a, b) => a * b, 1) : 0;
}

function percent(a: number, b: number): number {
  return b === 0 ? 0 : (100 * a) / b;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

export function summaryLine(trainable: number, total: number): string {
  return `trainable params: ${formatCount(trainable)} || all params: ${formatCount(total)} || trainable%: ${percent(trainable, total).toFixed(4)}`;
}
