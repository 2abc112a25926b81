// `--frozen-dtype`: how frozen weight matrices are stored.
import type { QuantDtype } from './weight.ts';

export type FrozenDtype = 'f32' | 'f16' | QuantDtype;
export const FROZEN_DTYPES: readonly FrozenDtype[] = ['f32', 'f16', 'int8', 'nf4', 'nf4dq'];

/** Whether a stored dtype is a quantized one (codes and scales): int8, nf4, nf4dq. */
export const isQuantDtype = (d: string): d is QuantDtype => d === 'int8' || d === 'nf4' || d === 'nf4dq';

/** The dtype a flag value names, or undefined when it names none. */
export function frozenDtypeOf(value: string | undefined): FrozenDtype | undefined {
  const v = value ?? 'f32';
  return (FROZEN_DTYPES as readonly string[]).includes(v) ? (v as FrozenDtype) : undefined;
}
