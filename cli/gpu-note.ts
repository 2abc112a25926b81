// What the CLI says when WebGPU lands on a software adapter: the machine has no GPU, and on the
// demo the CPU backend (567 tok/s) beats both llvmpipe (449) and SwiftShader (215).

/** One line: WebGPU runs on `gpuClass`, a CPU implementation, and `--backend cpu` may be faster. */
export function softwareGpuNote(gpuClass: string): string {
  return `no hardware GPU: WebGPU runs on ${gpuClass}, a software adapter on the CPU; the CPU backend may be faster (--backend cpu)`;
}
