// The shape of one entry of the op catalog (ops.ts). Its own file so that the catalog's parts
// (gather-ops.ts) can be typed without importing the catalog that includes them.
import type { Attrs, DType, Shape } from './types.ts';

export interface OpSpec {
  /** Operand names; a trailing `?` marks an optional operand. */
  inputs: string[];
  /** Attribute names this op reads (all required unless noted in `doc`). */
  attrs: string[];
  doc: string;
  /** Output shape, or an error message that names the mismatch. */
  shape(inputs: Shape[], attrs: Attrs): Shape | string;
  dtype?: DType;
}
