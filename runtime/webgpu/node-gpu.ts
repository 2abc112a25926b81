// Node-only: finds a WebGPU adapter through dawn.node (the `webgpu` package) without the user
// setting environment variables, and hands it to the isomorphic openGpu().
//
// Discovery for 'auto': a hardware GPU through Dawn's default backend (Vulkan on Linux),
// else SwiftShader (Vulkan, core WebGPU, the ICD shipped in Chromium's package),
// else Mesa llvmpipe through OpenGL ES (compatibility WebGPU).
//
// Dawn is created once per backend per process and cached. The loader variables it needs are set
// in process.env (Node passes them to getenv) before the instance's first requestAdapter and kept:
// Vulkan reads them once, EGL at every requestAdapter. A Vulkan instance and an OpenGL ES instance can live in one process
// (measured: both orders work), so one process can open both software adapters.

import { existsSync } from 'node:fs';
import { create, globals } from 'webgpu';
import { type AdapterChoice, openGpu } from './device.ts';
import { GpuError } from './errors.ts';
import type { Gpu } from './gpu.ts';

/** Where Chromium packages put SwiftShader's Vulkan ICD (Debian first). */
const SWIFTSHADER_ICDS = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
  '/snap/chromium/current/usr/lib/chromium-browser/vk_swiftshader_icd.json',
  '/opt/google/chrome/vk_swiftshader_icd.json',
];
/** Mesa's EGL vendor file for libglvnd: forces Mesa (llvmpipe) when a GPU vendor's EGL is present. */
const MESA_EGL_VENDOR = '/usr/share/glvnd/egl_vendor.d/50_mesa.json';

export const SETUP_HINT =
  'Install the software adapters with `bash scripts/setup-gpu.sh` (Debian/Ubuntu packages: ' +
  'libvulkan1 chromium for SwiftShader; libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri for llvmpipe).';

export interface NodeGpuOptions {
  adapter?: AdapterChoice;
  /** Order in which 'auto' tries the software adapters when no hardware GPU is found. */
  softwareOrder?: readonly ('swiftshader' | 'llvmpipe')[];
  /** Path to vk_swiftshader_icd.json, when it is not where Chromium's packages put it. */
  swiftshaderIcd?: string;
  timeoutMs?: number;
}

type Instance = 'vulkan' | 'opengles';
const instances = new Map<Instance, GPU>();
let globalsInstalled = false;

/** The ICD file for SwiftShader, or undefined when none of the known places has it. */
export function findSwiftShaderIcd(explicit?: string): string | undefined {
  return (explicit ? [explicit] : SWIFTSHADER_ICDS).find((p) => existsSync(p));
}

/** Sets environment variables for the native loaders (kept: Dawn's GL backend reads them again). */
function setEnv(vars: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(vars)) if (v !== undefined) process.env[k] = v;
}

/** The process's Dawn instance for `backend`, created on first use. */
function dawn(backend: Instance): GPU {
  if (!globalsInstalled) {
    // dawn.node's GPU* classes; browsers have them already. Only missing names are added.
    for (const [k, v] of Object.entries(globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    globalsInstalled = true;
  }
  let gpu = instances.get(backend);
  if (!gpu) {
    gpu = create(backend === 'opengles' ? ['backend=opengles'] : []);
    instances.set(backend, gpu);
  }
  return gpu;
}

/** Environment for the Vulkan instance: add SwiftShader beside whatever drivers the system has. */
function vulkanEnv(opts: NodeGpuOptions): Record<string, string | undefined> {
  const icd = findSwiftShaderIcd(opts.swiftshaderIcd);
  if (!icd) return {};
  const replaced = process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES;
  if (replaced !== undefined) {
    // The user chose the drivers; add SwiftShader to their list so a fallback still exists.
    const list = replaced.split(':').filter(Boolean);
    if (!list.includes(icd)) list.push(icd);
    const joined = list.join(':');
    return { VK_ICD_FILENAMES: joined, VK_DRIVER_FILES: joined };
  }
  const added = (process.env.VK_ADD_DRIVER_FILES ?? '').split(':').filter(Boolean);
  if (!added.includes(icd)) added.push(icd);
  // VK_ADD_DRIVER_FILES (loader ≥ 1.3.234) keeps the system's drivers; VK_ICD_FILENAMES would hide them.
  return { VK_ADD_DRIVER_FILES: added.join(':') };
}

/** Environment for the OpenGL ES instance: headless EGL; for llvmpipe, Mesa's software driver. */
function glesEnv(forceMesa: boolean): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  if (!process.env.EGL_PLATFORM) env.EGL_PLATFORM = 'surfaceless';
  if (forceMesa) {
    if (!process.env.LIBGL_ALWAYS_SOFTWARE) env.LIBGL_ALWAYS_SOFTWARE = '1';
    if (!process.env.__EGL_VENDOR_LIBRARY_FILENAMES && existsSync(MESA_EGL_VENDOR)) {
      env.__EGL_VENDOR_LIBRARY_FILENAMES = MESA_EGL_VENDOR;
    }
  }
  return env;
}

/**
 * The cached Dawn instance for `backend`, with the environment its native loader needs set first.
 * The Vulkan loader reads its variables once, at the instance's first requestAdapter; the GL
 * backend re-reads EGL's at every requestAdapter, so they stay set.
 */
function prepare(backend: Instance, env: Record<string, string | undefined>): GPU {
  if (!instances.has(backend)) setEnv(env);
  return dawn(backend);
}

async function openHardware(opts: NodeGpuOptions): Promise<Gpu | null> {
  const gpu = prepare('vulkan', vulkanEnv(opts));
  return openGpu(gpu, {
    powerPreference: 'high-performance',
    backend: defaultBackendName(),
    timeoutMs: opts.timeoutMs,
    accept: (c) => c === 'hardware',
  });
}

async function openSwiftShader(opts: NodeGpuOptions): Promise<Gpu | null> {
  const gpu = prepare('vulkan', vulkanEnv(opts));
  return openGpu(gpu, {
    forceFallbackAdapter: true,
    backend: 'vulkan',
    timeoutMs: opts.timeoutMs,
    accept: (c) => c === 'swiftshader',
  });
}

async function openLlvmpipe(opts: NodeGpuOptions): Promise<Gpu | null> {
  const gpu = prepare('opengles', glesEnv(true));
  return openGpu(gpu, {
    featureLevel: 'compatibility',
    backend: 'opengles',
    timeoutMs: opts.timeoutMs,
    accept: (c) => c === 'llvmpipe',
  });
}

function defaultBackendName(): string {
  if (process.platform === 'darwin') return 'metal';
  if (process.platform === 'win32') return 'd3d12';
  return 'vulkan';
}

function missing(choice: AdapterChoice, opts: NodeGpuOptions): GpuError {
  const why: Record<AdapterChoice, string> = {
    hardware: 'no hardware GPU adapter was found (Dawn found no non-CPU adapter; is a Vulkan driver installed?).',
    swiftshader: findSwiftShaderIcd(opts.swiftshaderIcd)
      ? `SwiftShader's ICD ${findSwiftShaderIcd(opts.swiftshaderIcd)} is present, but Dawn opened no SwiftShader adapter (is libvulkan1 installed?).`
      : `SwiftShader was not found (no vk_swiftshader_icd.json at ${opts.swiftshaderIcd ?? SWIFTSHADER_ICDS.join(', ')}).`,
    llvmpipe: 'Mesa llvmpipe was not found through OpenGL ES (EGL surfaceless).',
    auto: 'no WebGPU adapter was found: no hardware GPU, no SwiftShader, no llvmpipe.',
  };
  return new GpuError('no-adapter', `${why[choice]} ${SETUP_HINT}`);
}

/**
 * Opens a WebGPU device in Node: the requested adapter, or for 'auto' the best one present.
 * Throws GpuError('no-adapter') with what to install when none is found.
 */
export async function openNodeGpu(opts: NodeGpuOptions = {}): Promise<Gpu> {
  const choice = opts.adapter ?? 'auto';
  const open = { hardware: openHardware, swiftshader: openSwiftShader, llvmpipe: openLlvmpipe };
  if (choice !== 'auto') {
    const gpu = await open[choice](opts);
    if (!gpu) throw missing(choice, opts);
    return gpu;
  }
  const order = ['hardware', ...(opts.softwareOrder ?? ['swiftshader', 'llvmpipe'])] as const;
  for (const which of order) {
    const gpu = await open[which](opts);
    if (gpu) return gpu;
  }
  throw missing('auto', opts);
}
