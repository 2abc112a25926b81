// The errors `peftc` reports as the user's mistake: one line, exit 1. Anything else that
// reaches cli/main.ts is a bug in peftc and is printed as an internal error (exit 2).

/** An error in what the user asked for (a flag, a path, a combination): printed as one line, exit 1. */
export class UserError extends Error {
  override name = 'UserError';
}

/**
 * The `Error.name`s of the errors that describe bad input rather than a bug. Matched by name, not
 * class, so the CLI need not load every layer (the WebGPU runtime among them) to recognise them.
 */
export const EXPECTED_ERRORS: readonly string[] = [
  'UserError', // cli/errors.ts: flags, paths, combinations of options
  'WeightsError', // runtime/weights.ts: weights that do not fit the model
  'SafetensorsError', // runtime/io/safetensors.ts: a malformed safetensors file
  'TokensError', // runtime/tokens-file.ts: a malformed --tokens file
  'GpuError', // runtime/webgpu/errors.ts: no adapter, a device lost, a GPU wait timed out
  'CodegenError', // codegen/codegen-error.ts: a kernel the adapter's limits cannot hold
  'DataError', // runtime/data/source.ts: a malformed or oversized data set
  'CheckpointError', // runtime/checkpoint.ts: a missing or inconsistent checkpoint
  'InteropError', // runtime/interop/errors.ts: Hugging Face files that do not match
  'RankError', // runtime/rank-controller.ts: rank-selection settings the run cannot honour
  'ModelSizeError', // compiler/size.ts: a model too large to address
  'WasmError', // runtime/wasm/errors.ts: a model too large for the wasm backend's memory, a bad thread count
];

/** Whether `e` is one of the errors printed as the user's mistake (exit 1) rather than a bug. */
export function isExpected(e: unknown): e is Error {
  return e instanceof Error && EXPECTED_ERRORS.includes(e.name);
}
