// What the CLI says when WebGPU lands on a software adapter: the machine has no GPU, and on the
// demo even the CPU reference (567 tok/s) beats both llvmpipe (449) and SwiftShader (215); the
// wasm backend, the fast path on the CPU, is faster still (docs/wasm-backend.md).

/** One line: WebGPU runs on `gpuClass`, a CPU implementation, and `--backend wasm` may be faster. */
export function softwareGpuNote(gpuClass: string): string {
  return `no hardware GPU: WebGPU runs on ${gpuClass}, a software adapter on the CPU; the wasm backend may be faster (--backend wasm)`;
}
