// `--backend auto` on a machine without a hardware GPU: the wasm backend, the fastest on the CPU,
// unless the model does not fit its one 4 GiB WebAssembly memory (TinyLlama's 4.1 GiB of f32
// weights do not). Then the CPU reference, which holds whatever host memory does, saying so once
// per process: a default should not refuse a model that another CPU backend runs.
import type { TrainingGraph } from '../compiler/autodiff/backward.ts';
import type { ParamStore } from '../runtime/arena.ts';
import { CpuBackend } from '../runtime/backend.ts';
import { openWasmBackend } from '../runtime/wasm/backend.ts';
import { WasmMemoryError } from '../runtime/wasm/errors.ts';

let said = false;

export function openWasmOrReference(
  t: TrainingGraph, store: ParamStore, threads: number | undefined,
  note: (message: string) => void = (m) => process.stderr.write(`peftc: ${m}\n`),
): CpuBackend {
  try {
    return openWasmBackend(t, store, { threads });
  } catch (e) {
    if (!(e instanceof WasmMemoryError)) throw e;
    if (!said) note(`the wasm backend's 4 GiB WebAssembly memory cannot hold ${e.what}; --backend auto runs the CPU reference (--backend cpu) instead`);
    said = true;
    return new CpuBackend(t, store);
  }
}
