// The wasm backend: the CPU executor with the f32 WebAssembly kernels of kernels.ts, for
// training at speed where no GPU is at hand. The reference (`cpu`) stays the oracle.
import type { TrainingGraph } from '../../compiler/autodiff/backward.ts';
import type { ParamStore } from '../arena.ts';
import { CpuBackend } from '../backend.ts';
import { WASM_KERNELS } from './kernels.ts';

export interface WasmBackendOptions {
  /** Threads for the products (default: the machine's cores). */
  threads?: number;
}

export class WasmBackend extends CpuBackend {
  override readonly name = 'wasm';
}

/** A wasm backend over the host's store. */
export function openWasmBackend(t: TrainingGraph, store: ParamStore, _opts: WasmBackendOptions = {}): WasmBackend {
  return new WasmBackend(t, store, WASM_KERNELS);
}
