// The open sizes of a plan's dispatches (DispatchStep.sizes: rows, positions that the kernel's
// source leaves to a uniform, so that plans for other lengths share its pipeline): one uniform
// buffer per prepared plan, each distinct vector once at a 256-byte offset (WebGPU's
// minUniformBufferOffsetAlignment), bound after the step's storage bindings.
import type { DispatchStep, Plan } from '../../compiler/lower/types.ts';
import { type BufferRange, type Gpu, Usage } from './gpu.ts';
import { GpuError } from './errors.ts';

/** WebGPU's default minUniformBufferOffsetAlignment (every adapter accepts it). */
const ALIGN = 256;

export class StepSizes {
  private constructor(
    private readonly buffer: GPUBuffer | null,
    /** The offset of each step's sizes in the buffer, by step index (undefined: none). */
    private readonly offsets: (number | undefined)[],
  ) {}

  /** The uniform buffer of `plan`'s open sizes (none when no step has any). */
  static of(gpu: Gpu, plan: Plan): StepSizes {
    const slots = new Map<string, number>();
    const offsets = plan.steps.map((s) => {
      if (s.kind !== 'dispatch' || !s.sizes) return undefined;
      const key = check(s).join(',');
      if (!slots.has(key)) slots.set(key, slots.size * ALIGN);
      return slots.get(key)!;
    });
    if (slots.size === 0) return new StepSizes(null, offsets);
    const words = new Uint32Array((slots.size * ALIGN) / 4);
    for (const [key, offset] of slots) words.set(key.split(',').map(Number), offset / 4);
    return new StepSizes(gpu.buffer(words, { label: 'sizes', usage: Usage.UNIFORM | Usage.COPY_DST }), offsets);
  }

  /** The uniform range step `index` binds after its storage bindings, if it has open sizes. */
  binding(index: number): BufferRange[] {
    const offset = this.offsets[index];
    return offset === undefined || !this.buffer ? [] : [{ buffer: this.buffer, offset, size: 16 }];
  }

  destroy(): void {
    this.buffer?.destroy();
  }
}

/** A uniform buffer of one kernel's open sizes (Kernel.sizes), to bind after its storage bindings (a kernel run alone). */
export function sizesBuffer(gpu: Gpu, sizes: readonly number[]): GPUBuffer {
  const words = new Uint32Array(4);
  words.set(sizes);
  return gpu.buffer(words, { label: 'sizes', usage: Usage.UNIFORM | Usage.COPY_DST });
}

/** A step's sizes: at most four u32 values (a vec4<u32> uniform). */
function check(s: DispatchStep): number[] {
  const v = s.sizes!;
  if (v.length > 4 || v.some((x) => !Number.isInteger(x) || x < 0 || x > 0xffffffff)) {
    throw new GpuError('validation', `the plan's step "${s.label}" has bad sizes [${v.join(', ')}]: at most 4 u32 values`);
  }
  return v;
}
