// A matmul compiled for one device (doctor's self-test, benchmarks, tests): the generated kernel
// (codegen/wgsl/matmul/) as a pipeline, and encode() to add its dispatch to a batch.
import type { MatmulSpec } from '../../compiler/lower/matmul-spec.ts';
import { type MatmulKernel, type MatmulOptions, matmulKernel, matmulVariantFor } from '../../codegen/wgsl/matmul/index.ts';
import { CodegenError } from '../../codegen/codegen-error.ts';
import { GpuError } from './errors.ts';
import type { CommandBatch, Gpu, Kernel } from './gpu.ts';

export interface MatmulBuffers {
  a: GPUBuffer;
  b: GPUBuffer;
  /** The second product's operands (MatmulSpec.second). */
  a2?: GPUBuffer;
  b2?: GPUBuffer;
  bias?: GPUBuffer;
  /** The epilogues' operands (activationGrad, residual, dropout's step) and second output (activationOut). */
  pre?: GPUBuffer;
  res?: GPUBuffer;
  globals?: GPUBuffer;
  c: GPUBuffer;
  activated?: GPUBuffer;
}

/** A matmul compiled for one device: encode() adds its dispatch to a batch. */
export interface PreparedMatmul {
  spec: MatmulSpec;
  kernel: MatmulKernel;
  compiled: Kernel;
  encode(batch: CommandBatch, buffers: MatmulBuffers): void;
}

/** Generates and compiles a matmul for `gpu`, by default in the variant its adapter suits. */
export async function prepareMatmul(
  gpu: Gpu,
  spec: MatmulSpec,
  opts: Partial<Omit<MatmulOptions, 'limits'>> = {},
): Promise<PreparedMatmul> {
  const variant = opts.variant ?? matmulVariantFor(gpu.info);
  const kernel = asGpuError(() => matmulKernel(spec, { ...opts, variant, limits: gpu.info.limits }));
  const compiled = await gpu.pipeline(kernel.wgsl, { label: kernel.label });
  return {
    spec,
    kernel,
    compiled,
    encode(batch, buffers) {
      if (spec.bias && !buffers.bias) throw new GpuError('validation', 'matmul with bias needs a bias buffer', kernel.label);
      if (spec.second && !(buffers.a2 && buffers.b2)) throw new GpuError('validation', 'matmul with a second product needs buffers a2 and b2', kernel.label);
      const missing = kernel.bindings.filter((name) => !buffers[name]);
      if (missing.length) throw new GpuError('validation', `matmul needs the buffers ${missing.join(', ')}`, kernel.label);
      const list = kernel.bindings.map((name) => buffers[name]!);
      batch.dispatch(compiled, list, kernel.workgroups);
    },
  };
}

/** A generator's refusal as the runtime's error (every failure of the runtime is a GpuError). */
function asGpuError<T>(generate: () => T): T {
  try {
    return generate();
  } catch (e) {
    if (e instanceof CodegenError) throw new GpuError(e.kind, e.detail, e.label);
    throw e;
  }
}
