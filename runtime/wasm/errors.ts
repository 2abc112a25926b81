// What the wasm backend reports as the user's to fix (a model too large for one WebAssembly
// memory, a thread count it cannot start): printed by the CLI as one line (cli/errors.ts).
export class WasmError extends Error {
  override name = 'WasmError';
}

/** The data did not fit the backend's one WebAssembly memory (4 GiB): another backend may hold it. */
export class WasmMemoryError extends WasmError {
  /** `what`: what needed the memory ("the frozen weights (4.10 GiB in f32)"). */
  constructor(
    message: string,
    readonly what: string,
  ) {
    super(message);
  }
}
