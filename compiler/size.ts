// Whether a model's parameters fit where a runtime keeps them, and if not, why: the
// one-line error a runtime gives before allocating, instead of "Invalid typed array
// length" from inside the allocation. It says how much was asked for and which parameter
// and config constants made it so (`--set n_positions=1e9`).
import type { Param } from './ir/types.ts';
import { count, formatCount } from './params.ts';

/** The most values one typed array holds (V8 on 64-bit systems: Node and Chromium). */
export const MAX_ARRAY_VALUES = 2 ** 32;

export class ModelSizeError extends Error {
  override name = 'ModelSizeError';
}

/**
 * Throws ModelSizeError when `params` need more values than one array holds. `what` names
 * the store (`the frozen parameters`); `config` (the graph's) names the constants behind
 * the largest parameter's shape.
 */
export function checkParamsFit(params: readonly Param[], bytesPerValue: number, what: string, config?: Readonly<Record<string, unknown>>): void {
  let total = 0;
  let largest: Param | undefined;
  for (const p of params) {
    const n = count(p.shape);
    total += n;
    if (!largest || n > count(largest.shape)) largest = p;
  }
  if (total <= MAX_ARRAY_VALUES) return;
  const gib = (total * bytesPerValue) / 2 ** 30;
  const because = largest ? `; the largest is ${largest.path} [${largest.shape.map(formatCount).join(', ')}]${constantsOf(largest.shape, config)}` : '';
  throw new ModelSizeError(
    `${what} need ${formatCount(total)} values (${formatCount(Math.round(gib))} GiB at ${bytesPerValue} bytes each), more than one array holds (${formatCount(MAX_ARRAY_VALUES)})${because}`,
  );
}

/** ` (from n_positions = 1,000,000,000, n_embd = 768)`: the config constants equal to the shape's sizes. */
function constantsOf(shape: readonly number[], config?: Readonly<Record<string, unknown>>): string {
  if (!config) return '';
  const names = shape.flatMap((d) => {
    const hit = Object.keys(config).find((k) => config[k] === d && d > 1);
    return hit ? [`${hit} = ${formatCount(d)}`] : [];
  });
  return names.length ? ` (from ${[...new Set(names)].join(', ')})` : '';
}
