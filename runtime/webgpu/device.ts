// Opening a WebGPU device from any `GPU` object (navigator.gpu in a browser, dawn.node in Node),
// requesting the limits and features the runtime needs, and describing the adapter.
// Isomorphic: nothing here touches Node. Node's adapter discovery lives in node-gpu.ts.

import { GpuError } from './errors.ts';
import { Gpu } from './gpu.ts';

/** Which adapter to use. 'auto': a hardware GPU if present, else a software one. */
export type GpuChoice = 'auto' | 'hardware' | 'swiftshader' | 'llvmpipe';
export const GPU_CHOICES: readonly GpuChoice[] = ['auto', 'hardware', 'swiftshader', 'llvmpipe'];

/** What the adapter turned out to be. 'software' is a CPU adapter other than the two we know. */
export type GpuClass = 'hardware' | 'swiftshader' | 'llvmpipe' | 'software';

/** The limits the runtime relies on; each is requested at the adapter's maximum. */
export const RUNTIME_LIMITS = [
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
  'maxBindingsPerBindGroup',
] as const;
export type RuntimeLimitName = (typeof RUNTIME_LIMITS)[number];
export type RuntimeLimits = Record<RuntimeLimitName, number>;

/** Optional features the runtime uses when the adapter has them. */
export const RUNTIME_FEATURES = ['shader-f16', 'subgroups'] as const;

export interface GpuInfo {
  gpuClass: GpuClass;
  /** A CPU implementation (SwiftShader, llvmpipe, lavapipe, …): kernels avoid workgroup barriers. */
  isSoftware: boolean;
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** The native API under WebGPU ('vulkan', 'opengles', …), or 'unknown' (e.g. in a browser). */
  backend: string;
  featureLevel: 'core' | 'compatibility';
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
  /** Limits of the opened device (each requested at the adapter's maximum). */
  limits: RuntimeLimits;
  /** Optional features enabled on the device (of RUNTIME_FEATURES). */
  features: string[];
}

export interface OpenOptions {
  featureLevel?: 'core' | 'compatibility';
  powerPreference?: GPUPowerPreference;
  forceFallbackAdapter?: boolean;
  /** Backend name to report when the platform cannot tell (Dawn in Node knows which it created). */
  backend?: string;
  /** Timeout for readbacks and queue waits, in milliseconds. */
  timeoutMs?: number | undefined;
  /** Opens a device only on an adapter of an accepted class; otherwise openGpu returns null. */
  accept?: (gpuClass: GpuClass) => boolean;
}

/** Recognises the software adapters from what GPUAdapterInfo says about them. */
export function classifyGpu(info: GPUAdapterInfo, isFallback = false): GpuClass {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  if (text.includes('swiftshader')) return 'swiftshader';
  if (text.includes('llvmpipe')) return 'llvmpipe';
  if (/lavapipe|softpipe|warp|microsoft basic render/.test(text) || isFallback) return 'software';
  return 'hardware';
}

function gpuClassOf(adapter: GPUAdapter): GpuClass {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  return classifyGpu(info, info.isFallbackAdapter === true);
}

/** The backend named by the adapter's description when nobody told us (GL descriptions say so). */
function guessBackend(info: GPUAdapterInfo): string {
  const d = info.description.toLowerCase();
  if (d.startsWith('opengl es')) return 'opengles';
  if (d.includes('opengl es')) return 'opengles';
  if (d.startsWith('opengl')) return 'opengl';
  return 'unknown';
}

/**
 * Requests an adapter from `gpu` and opens a device with the runtime's limits and features.
 * Returns null when the GPU object has no adapter for these options (the caller knows what to
 * suggest installing); throws GpuError when an adapter exists but no device can be opened.
 */
export async function openGpu(gpu: GPU, opts: OpenOptions = {}): Promise<Gpu | null> {
  const featureLevel = opts.featureLevel ?? 'core';
  const request: GPURequestAdapterOptions & { featureLevel?: string } = { featureLevel };
  if (opts.powerPreference) request.powerPreference = opts.powerPreference;
  if (opts.forceFallbackAdapter) request.forceFallbackAdapter = true;
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter(request);
  } catch {
    return null; // Dawn rejects ("no suitable backends found") where other platforms return null
  }
  if (!adapter) return null;
  if (opts.accept && !opts.accept(gpuClassOf(adapter))) return null;
  return openDevice(adapter, featureLevel, opts);
}

export async function openDevice(
  adapter: GPUAdapter,
  featureLevel: 'core' | 'compatibility',
  opts: OpenOptions = {},
): Promise<Gpu> {
  const requiredLimits: Record<string, number> = {};
  for (const name of RUNTIME_LIMITS) {
    const value = adapter.limits[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  const requiredFeatures = RUNTIME_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'peftc' });
  } catch (e) {
    throw new GpuError('no-adapter', `the adapter refused a device: ${(e as Error).message}`);
  }
  const raw = adapter.info;
  const gpuClass = gpuClassOf(adapter);
  const limits = {} as RuntimeLimits;
  for (const name of RUNTIME_LIMITS) limits[name] = Number(device.limits[name] ?? 0);
  const sub = raw as { subgroupMinSize?: number; subgroupMaxSize?: number };
  const info: GpuInfo = {
    gpuClass,
    isSoftware: gpuClass !== 'hardware',
    vendor: raw.vendor,
    architecture: raw.architecture,
    device: raw.device,
    description: raw.description,
    backend: opts.backend ?? guessBackend(raw),
    featureLevel,
    ...(sub.subgroupMinSize ? { subgroupMinSize: sub.subgroupMinSize } : {}),
    ...(sub.subgroupMaxSize ? { subgroupMaxSize: sub.subgroupMaxSize } : {}),
    limits,
    features: RUNTIME_FEATURES.filter((f) => device.features.has(f)),
  };
  return new Gpu(device, info, { timeoutMs: opts.timeoutMs });
}

/** Opens navigator.gpu in a browser (or wherever a global navigator.gpu exists). */
export async function openBrowserGpu(opts: OpenOptions = {}): Promise<Gpu> {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) throw new GpuError('no-adapter', 'this browser has no WebGPU (navigator.gpu is undefined)');
  const opened = await openGpu(gpu, opts);
  if (!opened) throw new GpuError('no-adapter', 'navigator.gpu.requestAdapter() returned no adapter');
  return opened;
}
