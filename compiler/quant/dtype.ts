// `--frozen-dtype`: how frozen weight matrices are stored.
import type { QuantDtype } from './weight.ts';

export type FrozenDtype = 'f32' | 'f16' | QuantDtype;
export const FROZEN_DTYPES: readonly FrozenDtype[] = ['f32', 'f16', 'int8', 'nf4'];

export const isQuantDtype = (d: FrozenDtype): d is QuantDtype => d === 'int8' || d === 'nf4';

/** The dtype a flag value names, or undefined when it names none. */
export function frozenDtypeOf(value: string | undefined): FrozenDtype | undefined {
  const v = value ?? 'f32';
  return (FROZEN_DTYPES as readonly string[]).includes(v) ? (v as FrozenDtype) : undefined;
}
