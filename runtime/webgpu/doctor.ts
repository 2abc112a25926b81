// `peftc doctor`: which adapter the runtime gets, its limits and features, and a self-test of
// real kernels (a matmul with bias and gelu, and a two-pass reduction) checked against the CPU.
// Isomorphic: the caller says how to open the GPU (node-gpu.ts in Node, navigator.gpu in a browser).

import type { GpuInfo } from './device.ts';
import { GpuError } from './errors.ts';
import type { Gpu } from './gpu.ts';
import type { MatmulSpec } from '../../compiler/lower/matmul-spec.ts';
import { type MatmulVariant, matmulVariantFor } from '../../codegen/wgsl/matmul/index.ts';
import { prepareMatmul } from './matmul.ts';

export interface DoctorCheck {
  name: string;
  ok: boolean;
  /** What was compared, or what went wrong. */
  detail: string;
  ms: number;
}

export interface DoctorReport {
  ok: boolean;
  /** Absent when no adapter could be opened; `error` then says why and what to install. */
  gpu?: GpuInfo;
  matmulVariant?: MatmulVariant;
  checks: DoctorCheck[];
  error?: string;
  /** True when no adapter of the requested kind exists (as opposed to one that failed). */
  missing?: boolean;
}

export interface DoctorOptions {
  /** Opens the GPU to examine (its device is destroyed at the end). */
  open: () => Promise<Gpu>;
}

/** Tolerance on |gpu − cpu| / (Σ|terms| + 1) for the checks (fp32 accumulation of ≤ 300 terms). */
export const DOCTOR_TOLERANCE = 1e-5;

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

async function timed(name: string, fn: () => Promise<string>): Promise<DoctorCheck> {
  const t0 = performance.now();
  try {
    const detail = await fn();
    return { name, ok: true, detail, ms: performance.now() - t0 };
  } catch (e) {
    return { name, ok: false, detail: (e as Error).message, ms: performance.now() - t0 };
  }
}

function compare(got: Float32Array, want: Float64Array, scale: Float64Array): string {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i]! - want[i]!) / (scale[i]! + 1);
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
  }
  const text = `max scaled error ${worst.toExponential(2)} (tolerance ${DOCTOR_TOLERANCE})`;
  if (!(worst <= DOCTOR_TOLERANCE)) throw new Error(`wrong result: ${text}`);
  return text;
}

/** C = gelu(A·Bᵀ + bias), odd sizes so every bounds check runs. */
async function matmulCheck(gpu: Gpu, variant: MatmulVariant): Promise<string> {
  const spec: MatmulSpec = { M: 37, N: 53, K: 29, transB: true, bias: true, activation: 'gelu' };
  const { M, N, K } = spec;
  const a = values(M * K, 1);
  const b = values(N * K, 2);
  const bias = values(N, 3);
  const mm = await prepareMatmul(gpu, spec, { variant });
  const c = gpu.buffer(M * N * 4, { label: 'doctor C' });
  const batch = gpu.commands('doctor matmul');
  mm.encode(batch, { a: gpu.buffer(a), b: gpu.buffer(b), bias: gpu.buffer(bias), c });
  await batch.submit();
  const got = await gpu.read(c);
  const want = new Float64Array(M * N);
  const scale = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = bias[n]!;
      let mag = Math.abs(bias[n]!);
      for (let k = 0; k < K; k++) {
        s += a[m * K + k]! * b[n * K + k]!;
        mag += Math.abs(a[m * K + k]! * b[n * K + k]!);
      }
      want[m * N + n] = gelu(s);
      scale[m * N + n] = mag;
    }
  }
  return `${M}×${K}·(${N}×${K})ᵀ + bias, gelu (${variant}): ${compare(got, want, scale)}`;
}

const REDUCE_PARTIALS = 64;
const REDUCE_WGSL = `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> partial: array<f32>;
@compute @workgroup_size(${REDUCE_PARTIALS})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  var s = 0.0;
  for (var i = gid.x; i < arrayLength(&x); i += ${REDUCE_PARTIALS}u) { s += x[i]; }
  partial[gid.x] = s;
}`;
const REDUCE_FINAL_WGSL = `
@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> total: array<f32>;
@compute @workgroup_size(1)
fn main() {
  var s = 0.0;
  for (var i = 0u; i < arrayLength(&partial); i++) { s += partial[i]; }
  total[0] = s;
}`;

/** Sum of 10 007 values in two dispatches of one batch (the second reads what the first wrote). */
async function reductionCheck(gpu: Gpu): Promise<string> {
  const n = 10_007;
  const x = values(n, 4);
  const [first, final] = await Promise.all([
    gpu.pipeline(REDUCE_WGSL, { label: 'doctor reduce' }),
    gpu.pipeline(REDUCE_FINAL_WGSL, { label: 'doctor reduce final' }),
  ]);
  const partial = gpu.buffer(REDUCE_PARTIALS * 4);
  const total = gpu.buffer(4);
  await gpu.commands('doctor reduction').dispatch(first, [gpu.buffer(x), partial], [1]).dispatch(final, [partial, total], [1]).submit();
  const [got] = await gpu.read(total);
  let want = 0;
  let mag = 0;
  for (const v of x) {
    want += v;
    mag += Math.abs(v);
  }
  return `sum of ${n} values: ${compare(new Float32Array([got!]), new Float64Array([want]), new Float64Array([mag]))}`;
}

/** A rough speed figure: one 256³ matmul in the adapter's variant, best of 3. */
async function speedCheck(gpu: Gpu, variant: MatmulVariant): Promise<string> {
  const spec: MatmulSpec = { M: 256, N: 256, K: 256 };
  const mm = await prepareMatmul(gpu, spec, { variant });
  const buffers = { a: gpu.buffer(values(256 * 256, 5)), b: gpu.buffer(values(256 * 256, 6)), c: gpu.buffer(256 * 256 * 4) };
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const batch = gpu.commands('doctor speed');
    mm.encode(batch, buffers);
    await batch.submit();
    await gpu.sync();
    best = Math.min(best, performance.now() - t0);
  }
  return `matmul 256³ (${variant}): ${(mm.kernel.flops / (best * 1e6)).toFixed(2)} GFLOP/s`;
}

/** Opens the GPU, reports the adapter, and runs the self-test. Never throws: failures are data. */
export async function runDoctor(opts: DoctorOptions): Promise<DoctorReport> {
  let gpu: Gpu;
  try {
    gpu = await opts.open();
  } catch (e) {
    const missing = e instanceof GpuError && e.kind === 'no-adapter';
    return { ok: false, checks: [], error: (e as Error).message, missing };
  }
  try {
    const variant = matmulVariantFor(gpu.info);
    const checks = [
      await timed('matmul', () => matmulCheck(gpu, variant)),
      await timed('reduction', () => reductionCheck(gpu)),
      await timed('speed', () => speedCheck(gpu, variant)),
    ];
    return { ok: checks.every((c) => c.ok), gpu: gpu.info, matmulVariant: variant, checks };
  } finally {
    gpu.destroy();
  }
}

const mib = (bytes: number): string => `${Math.round(bytes / 2 ** 20)} MiB`;

/** The report as terminal text. */
export function formatDoctorReport(report: DoctorReport): string {
  const lines: string[] = [];
  const a = report.gpu;
  if (!a) {
    lines.push('WebGPU adapter: none');
    if (report.error) lines.push(`  ${report.error}`);
    lines.push('FAIL');
    return lines.join('\n');
  }
  const name = [a.vendor, a.architecture, a.device].filter(Boolean).join(' / ');
  lines.push(`WebGPU adapter: ${a.gpuClass}${a.isSoftware ? ' (software, CPU)' : ''}`);
  lines.push(`  ${name}`);
  lines.push(`  ${a.description}`);
  lines.push(`  backend ${a.backend}, feature level ${a.featureLevel}`);
  lines.push(`  features: ${a.features.length ? a.features.join(', ') : '(none of shader-f16, subgroups)'}`);
  if (a.subgroupMinSize) lines.push(`  subgroup size ${a.subgroupMinSize}…${a.subgroupMaxSize ?? a.subgroupMinSize}`);
  const l = a.limits;
  lines.push(
    `  limits: ${l.maxComputeInvocationsPerWorkgroup} invocations/workgroup ` +
      `(${l.maxComputeWorkgroupSizeX}×${l.maxComputeWorkgroupSizeY}×${l.maxComputeWorkgroupSizeZ}), ` +
      `${l.maxComputeWorkgroupStorageSize} B workgroup memory, ` +
      `storage binding ${mib(l.maxStorageBufferBindingSize)}, buffer ${mib(l.maxBufferSize)}, ` +
      `${l.maxStorageBuffersPerShaderStage} storage buffers/stage`,
  );
  lines.push(`  matmul kernel: ${report.matmulVariant}`);
  lines.push('self-test:');
  for (const c of report.checks) {
    lines.push(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(9)} ${c.detail} [${c.ms.toFixed(0)} ms]`);
  }
  lines.push(report.ok ? 'OK' : 'FAIL');
  return lines.join('\n');
}
