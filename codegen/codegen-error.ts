// CodegenError: a code generator's refusal of a request, the same for every code generator.
// Generators are pure (no device), so this is not a device error: the runtime that compiles the
// code reports its own failures (runtime/webgpu/errors.ts, GpuError).

export type CodegenErrorKind =
  | 'validation' // a request the generator cannot serve: bad shapes, attributes or dtypes
  | 'limit' // a request over an adapter limit (binding size, workgroups, loop budget)
  | 'internal'; // a generator contradicting itself

export class CodegenError extends Error {
  override readonly name = 'CodegenError';
  constructor(
    readonly kind: CodegenErrorKind,
    /** The reason, without the kind and label the message adds. */
    readonly detail: string,
    /** What was being generated (`layernorm kernel`, say), for the reader of a log. */
    readonly label?: string,
  ) {
    super(label ? `${kind} error in ${label}: ${detail}` : `${kind} error: ${detail}`);
  }
}
