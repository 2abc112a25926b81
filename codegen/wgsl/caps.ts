// What WGSL kernels are generated for: the adapter's limits and features and, where known, its
// class (per-adapter tuning). The runtime's GpuInfo (runtime/webgpu/device.ts) has this shape;
// plans made without a device use WebGPU's defaults (DEFAULT_CAPS).

/** The limits kernels and plans are sized by; each is requested at the adapter's maximum. */
export interface KernelLimits {
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupSizeY: number;
  maxComputeWorkgroupSizeZ: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeWorkgroupsPerDimension: number;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxStorageBuffersPerShaderStage: number;
  maxUniformBufferBindingSize: number;
  maxBindingsPerBindGroup: number;
}

/** Adapter classes the tuning tables know ('software': a CPU adapter other than these two). */
export type GpuClass = 'hardware' | 'swiftshader' | 'llvmpipe' | 'software';

export interface GpuCaps {
  /** A CPU implementation (SwiftShader, llvmpipe, …): kernels avoid workgroup barriers. */
  isSoftware: boolean;
  limits: KernelLimits;
  /** Optional features the device has enabled ('subgroups', 'shader-f16'). */
  features: string[];
  gpuClass?: GpuClass;
}

/** WebGPU's default limits (what every adapter offers), for plans made without a device. */
export const DEFAULT_CAPS: GpuCaps = {
  isSoftware: false,
  features: [],
  limits: {
    maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupSizeX: 256,
    maxComputeWorkgroupSizeY: 256,
    maxComputeWorkgroupSizeZ: 64,
    maxComputeWorkgroupStorageSize: 16384,
    maxComputeWorkgroupsPerDimension: 65535,
    maxStorageBufferBindingSize: 134217728,
    maxBufferSize: 268435456,
    maxStorageBuffersPerShaderStage: 8,
    maxUniformBufferBindingSize: 65536,
    maxBindingsPerBindGroup: 1000,
  },
};
