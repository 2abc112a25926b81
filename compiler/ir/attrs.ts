// The attributes of the op catalog: the kinds an attribute may have, the TypeScript type of each
// kind, and the one run-time check of a node's attributes against its op's schema (used by the
// graph builder and the verifier, so that everything downstream may read attributes as typed).
import type { AttrValue, Attrs, Dim } from './types.ts';

/**
 * An attribute's kind: `int` and `number` (finite), `bool`, `string`, `dim` (a size: an integer,
 * or a symbolic dimension such as "T" that the plan and the CPU executor resolve per batch), or
 * the list of the strings it may be.
 */
export type AttrKind = 'int' | 'number' | 'bool' | 'string' | 'dim' | readonly string[];

/** An attribute that may be left out (its meaning when absent is in the op's `doc`). */
export interface OptionalAttr<K extends AttrKind = AttrKind> {
  optional: K;
}

export type AttrSpec = AttrKind | OptionalAttr;
export type AttrSchema = Readonly<Record<string, AttrSpec>>;

export const opt = <const K extends AttrKind>(kind: K): OptionalAttr<K> => ({ optional: kind });

/** The TypeScript type of an attribute of kind K. */
export type AttrType<K> = K extends 'int' | 'number' ? number : K extends 'bool' ? boolean : K extends 'string' ? string : K extends 'dim' ? Dim : K extends readonly (infer S)[] ? S : never;

type RequiredNames<S extends AttrSchema> = { [N in keyof S]: S[N] extends OptionalAttr ? never : N }[keyof S];
type OptionalNames<S extends AttrSchema> = { [N in keyof S]: S[N] extends OptionalAttr ? N : never }[keyof S];

/** The attributes of an op with schema S, as a verified graph holds them. */
export type AttrsOf<S extends AttrSchema> = { -readonly [N in RequiredNames<S>]: AttrType<S[N]> } & {
  -readonly [N in OptionalNames<S>]?: S[N] extends OptionalAttr<infer K> ? AttrType<K> : never;
};

/** The attributes as kernels receive them: the plan and the CPU executor resolve `dim` attributes to numbers. */
export type ResolvedAttrsOf<S extends AttrSchema> = AttrsOf<{ readonly [N in keyof S]: S[N] extends 'dim' ? 'int' : S[N] }>;

function describe(kind: AttrKind): string {
  if (typeof kind !== 'string') return `one of ${kind.join(', ')}`;
  return { int: 'an integer', number: 'a finite number', bool: 'a boolean', string: 'a string', dim: 'a size (an integer ≥ 0 or a symbolic dimension)' }[kind];
}

function fits(kind: AttrKind, v: AttrValue): boolean {
  if (typeof kind !== 'string') return typeof v === 'string' && kind.includes(v);
  switch (kind) {
    case 'int':
      return Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'bool':
      return typeof v === 'boolean';
    case 'string':
      return typeof v === 'string';
    case 'dim':
      return (Number.isInteger(v) && (v as number) >= 0) || (typeof v === 'string' && v !== '');
  }
}

/** The first problem of `attrs` against `schema` (a missing, unknown or mistyped attribute), or undefined. */
export function checkAttrs(schema: AttrSchema, attrs: Attrs): string | undefined {
  for (const [name, spec] of Object.entries(schema)) {
    const kind = typeof spec === 'object' && !Array.isArray(spec) ? (spec as OptionalAttr).optional : (spec as AttrKind);
    const v = Object.hasOwn(attrs, name) ? attrs[name] : undefined;
    if (v === undefined) {
      if (kind === spec) return `missing attribute ${name}`;
      continue;
    }
    if (!fits(kind, v)) return `attribute ${name} must be ${describe(kind)}, got ${JSON.stringify(v)}`;
  }
  for (const name of Object.keys(attrs)) if (!Object.hasOwn(schema, name)) return `unknown attribute ${name}`;
  return undefined;
}
