// --backend and --threads: where a verb computes, and on how many threads the wasm backend runs
// its products. Every verb that trains or evaluates checks the name here, so they all accept the
// same backends and refuse a wrong one with the same line (docs/wasm-backend.md).
import { availableParallelism } from 'node:os';
import { MAX_THREADS } from '../runtime/wasm/threads.ts';
import { UserError } from './errors.ts';

/**
 * cpu: the f64-sum reference; wasm: f32 WebAssembly SIMD kernels on every core; webgpu: the
 * WebGPU runtime; auto: WebGPU where a hardware GPU opens, else the wasm backend.
 */
export const BACKENDS = ['cpu', 'wasm', 'webgpu', 'auto'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** The help text of --backend. */
export const BACKEND_HELP = 'cpu (the f64 reference) | wasm (f32 WebAssembly SIMD on --threads cores) | webgpu | auto (WebGPU on a hardware GPU, else wasm)';

/** The most threads the wasm backend starts (its control block's room). */
export { MAX_THREADS };

/** The help text of --threads. */
export const THREADS_HELP = `threads of the wasm backend's products, 1 to ${MAX_THREADS} (default: this machine's cores)`;

/** --backend: one of `allowed` (every backend unless the verb takes fewer). */
export function backendName(value: string | undefined, allowed: readonly BackendName[] = BACKENDS): BackendName {
  const v = value ?? 'cpu';
  if (!(allowed as readonly string[]).includes(v)) throw new UserError(`--backend must be ${listed(allowed)}, not \`${v}\``);
  return v as BackendName;
}

/** --threads: an integer from 1 to MAX_THREADS; absent, the cores Node may use. */
export function threadCount(value: string | undefined): number {
  if (value === undefined) return Math.min(MAX_THREADS, availableParallelism());
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= MAX_THREADS)) throw new UserError(`--threads must be an integer from 1 to ${MAX_THREADS}, not \`${value}\``);
  return n;
}

/** `a, b or c`. */
function listed(names: readonly string[]): string {
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}

/** Refuses a bad --backend or --threads before any slow work (loading weights, data). */
export function checkBackendFlags(flags: { backend?: string; threads?: string }): void {
  backendName(flags.backend);
  threadCount(flags.threads);
}
