// The shape of one entry of the op catalog (ops.ts): its role, operands, typed attributes,
// output shape rule and meaning. Its own file so that the catalog's parts (gather-ops.ts,
// decode/ops.ts) can be typed without importing the catalog that includes them.
//
// `defineOp` keeps each entry's attribute schema and role as literal types, so that the tables
// keyed by op name (gradient rules, CPU kernels, WGSL generators) are typed by the catalog: a
// forward op without a gradient entry, or an op without a kernel, is a type error.
import type { AttrSchema, AttrsOf } from './attrs.ts';
import type { Attrs, DType, Shape } from './types.ts';

export { opt, type AttrSchema, type AttrsOf } from './attrs.ts';

/**
 * What an op is for. `leaf`: a value the runtime supplies (`input`, `param`). `forward`: an op of
 * the model; the gradient rules (compiler/autodiff/rules.ts) have an entry for each, a rule or an
 * explicit "no gradient". `backward`: an op only gradient rules emit. `decode`: an op only the
 * decoding transform writes (compiler/decode/graph.ts), never traced and never differentiated;
 * its kernels are bound to a key/value cache (runtime/decode/kernels.ts, compiler/lower/kv-cache.ts).
 */
export type OpRole = 'leaf' | 'forward' | 'backward' | 'decode';

export interface OpDef<S extends AttrSchema = AttrSchema, R extends OpRole = OpRole> {
  role: R;
  /** Operand names; a trailing `?` marks an optional operand. */
  inputs: readonly string[];
  /** The attributes this op reads, each with its kind (all required unless `opt`). */
  attrs: S;
  doc: string;
  /** Output shape, or an error message that names the mismatch; `attrs` are checked against the schema first. */
  shape(inputs: Shape[], attrs: AttrsOf<S>): Shape | string;
  dtype?: DType;
}

/** An op of the catalog, its attribute schema and role kept as literal types. */
export function defineOp<const S extends AttrSchema, const R extends OpRole>(def: OpDef<S, R>): OpDef<S, R> {
  return def;
}

/**
 * An entry read by a name known only at run time (ops.ts's `opSpec`): its shape rule takes any
 * attributes and checks them against the schema before the entry's own rule reads them.
 */
export interface OpSpec {
  role: OpRole;
  inputs: readonly string[];
  attrs: AttrSchema;
  doc: string;
  shape(inputs: Shape[], attrs: Attrs): Shape | string;
  dtype?: DType;
}
