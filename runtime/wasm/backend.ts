// The wasm backend: the CPU executor with the f32 WebAssembly kernels of kernels.ts, for
// training at speed where no GPU is at hand. The reference (`cpu`) stays the oracle.
//
// The frozen weights are copied once into the backend's WebAssembly memory (heap.ts), where every
// thread's products read them in place; the trainable arena stays the host's, so the optimizer,
// checkpoints and exports see the same arrays as on the CPU backend, and sync() has nothing to do.
import type { TrainingGraph } from '../../compiler/autodiff/backward.ts';
import { Arena, type ParamStore } from '../arena.ts';
import { CpuBackend } from '../backend.ts';
import { setGemmThreads } from './gemm.ts';
import { wasmHeap } from './heap.ts';
import { WASM_KERNELS } from './kernels.ts';
import { WASM_DECODING } from './decoding.ts';

export interface WasmBackendOptions {
  /** Threads for the products, the main thread included (default: the machine's cores). */
  threads?: number;
}

export class WasmBackend extends CpuBackend {
  override readonly name = 'wasm';
  override readonly decoding = WASM_DECODING;
}

/** A wasm backend over the host's store (its frozen values are copied; later host edits to them are not seen). */
export function openWasmBackend(t: TrainingGraph, store: ParamStore, opts: WasmBackendOptions = {}): WasmBackend {
  if (opts.threads !== undefined) setGemmThreads(opts.threads);
  return new WasmBackend(t, store, WASM_KERNELS, { frozen: frozenInHeap(store.frozen), trainable: store.trainable });
}

/** The frozen arena laid over WebAssembly memory, as f32 (copied once per arena and kept for the process). */
function frozenInHeap(frozen: Arena): Arena {
  const known = copies.get(frozen);
  if (known) return known;
  const heap = wasmHeap();
  const n = frozen.data.length;
  const at = heap.reserve(n * 4, `the frozen weights (${(n * 4 / 2 ** 30).toFixed(2)} GiB in f32)`);
  const data = new Float32Array(heap.memory.buffer, at, n);
  data.set(frozen.data);
  const arena = new Arena(frozen.slots.map((s) => s.param), 'f32', 'the frozen parameters', undefined, data);
  copies.set(frozen, arena);
  return arena;
}

/** Each host arena's copy: evaluating and training over one store share it. */
const copies = new WeakMap<Arena, Arena>();
