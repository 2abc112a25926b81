// What the wasm backend reports as the user's to fix (a model too large for one WebAssembly
// memory, a thread count it cannot start): printed by the CLI as one line (cli/errors.ts).
export class WasmError extends Error {
  override name = 'WasmError';
}
