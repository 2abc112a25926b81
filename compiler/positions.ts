// Whether sequences of T tokens fit a model's learned position table. A position embedding
// (`wpe(positions(x))`) has a row per position; a sequence plus the soft prompt prepended to
// it (and the prefix's positions before those) must not need more. Past the table the CPU
// kernels stop with an index error and WebGPU reads zeros, so every backend checks here
// first: the CPU executor per batch, the WebGPU executor per plan.
import type { Graph } from './ir/types.ts';
import { evalDim } from './ir/dims.ts';
import { formatCount } from './params.ts';
import { ModelSizeError } from './size.ts';

export interface PositionTable {
  /** The table parameter's path (`wpe.weight`) and its rows. */
  path: string;
  rows: number;
  /** Positions before the sequence (prefix tuning's). */
  offset: number;
  /** The sequence axis of what is embedded, over T (`T+8` with an 8-token soft prompt). */
  length: string | number;
}

/** Every learned position table the graph looks positions up in. */
export function positionTables(g: Graph): PositionTable[] {
  const out: PositionTable[] = [];
  for (const n of g.nodes) {
    if (n.op !== 'embedding') continue;
    const [table, ids] = [g.nodes[n.inputs[0]!]!, g.nodes[n.inputs[1]!]!];
    if (ids.op !== 'positions' || table.op !== 'param' || typeof table.shape[0] !== 'number') continue;
    const x = g.nodes[ids.inputs[0]!]!;
    out.push({ path: String(table.attrs.path), rows: table.shape[0], offset: Number(ids.attrs.offset ?? 0), length: x.shape[1]! });
  }
  return out;
}

/** The rows of the smallest learned position table (the longest context), Infinity without one (rotary positions). */
export function maxContext(g: Graph): number {
  return Math.min(Infinity, ...positionTables(g).map((t) => t.rows));
}

/** Why sequences of `T` tokens do not fit the model's positions, or undefined when they do. */
export function sequenceProblem(g: Graph, T: number): string | undefined {
  for (const t of positionTables(g)) {
    const sequence = evalDim(t.length, { B: 1, T });
    const needed = t.offset + sequence;
    if (needed <= t.rows) continue;
    const prompt = sequence - T;
    const parts = [`a sequence of ${formatCount(T)} token${T === 1 ? '' : 's'}`];
    if (prompt > 0) parts.push(`${formatCount(prompt)} soft prompt token${prompt === 1 ? '' : 's'}`);
    if (t.offset > 0) parts.push(`${formatCount(t.offset)} prefix position${t.offset === 1 ? '' : 's'}`);
    return `${parts.join(' plus ')} needs ${formatCount(needed)} positions; the model has ${formatCount(t.rows)} (${tableName(g, t)})`;
  }
  return undefined;
}

/** Throws ModelSizeError when sequences of `T` tokens need more positions than the model has. */
export function checkSequenceFits(g: Graph, T: number): void {
  const problem = sequenceProblem(g, T);
  if (problem) throw new ModelSizeError(problem);
}

/** The config constant that sized the table (`n_positions`), else the table's path. */
function tableName(g: Graph, t: PositionTable): string {
  const names = Object.keys(g.config).filter((k) => g.config[k] === t.rows);
  return names.find((k) => /pos|ctx|seq|len/i.test(k)) ?? names[0] ?? t.path;
}

/** The most tokens a sequence may have: each table's rows less the soft prompt and prefix positions (Infinity without a table). */
export function sequenceRoom(g: Graph): number {
  let room = Infinity;
  for (const t of positionTables(g)) room = Math.min(room, t.rows - t.offset - evalDim(t.length, { B: 1, T: 0 }));
  return room;
}
