// The decoder of a backend, when it has one: the CPU backend (and the rank-masked CPU backend of
// `rank = auto/dynamic` models) decodes with a key/value cache in host memory, the WebGPU backend
// with one in GPU buffers; anything else generates by full re-evaluation, and the reason is said
// (runtime/generate.ts).
import { DecodeUnsupported } from '../../compiler/decode/graph.ts';
import { CpuBackend, type Backend } from '../backend.ts';
import { RankedBackend } from '../rank-controller.ts';
import { WebGpuBackend } from '../webgpu/backend.ts';
import { GpuDecoder } from '../webgpu/decoder.ts';
import { CpuDecoder } from './cpu-decoder.ts';
import type { Decoder } from './decoder.ts';

/** A decoder for `backend`, or the reason there is none. */
export function decoderFor(backend: Backend): Decoder | string {
  try {
    // A CPU backend's decoder runs its kernels over the store it runs on (the wasm backend's
    // frozen weights in WebAssembly memory, read in place by its threads).
    if (backend instanceof CpuBackend) return new CpuDecoder(backend.training.graph, backend.runStore, {}, backend.decoding);
    if (backend instanceof WebGpuBackend) return new GpuDecoder(backend);
    if (backend instanceof RankedBackend && backend.inner instanceof CpuBackend) {
      return new CpuDecoder(backend.training.graph, backend.inner.runStore, backend.ctl.evalInputs(), backend.inner.decoding);
    }
  } catch (e) {
    if (e instanceof DecodeUnsupported) return `this model cannot decode incrementally: ${e.message}`;
    throw e;
  }
  return `the ${backend.name} backend has no key/value cache yet`;
}
