// Node-only: finds a WebGPU adapter through dawn.node (the `webgpu` package) without the user
// setting environment variables, and hands it to the isomorphic openGpu().
//
// Discovery for 'auto', fastest first: a hardware GPU through Dawn's default backend (Vulkan on
// Linux), else Mesa llvmpipe through OpenGL ES (compatibility WebGPU; about twice SwiftShader's
// speed on the demo, docs/webgpu-runtime.md), else SwiftShader (Vulkan, core WebGPU, the ICD
// shipped in Chromium's package).
//
// Each kind of Dawn instance is created once per process and cached (see `Instance` below). The
// loader variables an instance needs are set in process.env (Node passes them on to getenv) for
// its first requestAdapter. Several Dawn instances coexist in one process (measured: Vulkan and
// OpenGL ES, in both orders), so one process can open both software adapters and a GPU.

import { existsSync } from 'node:fs';
import { create, globals } from 'webgpu';
import { type GpuChoice, openGpu } from './device.ts';
import { GpuError } from './errors.ts';
import type { Gpu } from './gpu.ts';
import { waitLimitMs } from './queue-watch.ts';
import { withStderrSilenced } from './quiet-stderr.ts';
import { vulkanDriversPresent } from './vulkan-drivers.ts';

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

/** The software adapters Node can open (CPU implementations of WebGPU). */
export type SoftwareGpu = 'swiftshader' | 'llvmpipe';

/** The software adapters in the order 'auto' tries them: the faster first. */
export const SOFTWARE_ORDER: readonly SoftwareGpu[] = ['llvmpipe', 'swiftshader'];

export interface NodeGpuOptions {
  /** Which adapter to open (`--gpu`; default 'auto'). */
  gpu?: GpuChoice;
  /** Order in which 'auto' tries the software adapters when no hardware GPU is found (default SOFTWARE_ORDER). */
  softwareOrder?: readonly SoftwareGpu[];
  /**
   * Let the drivers speak: create the hardware (Vulkan) instance even where no Vulkan driver is
   * installed, so that Dawn prints why on stderr. Default: the PEFTC_VERBOSE variable is 1
   * (`peftc --verbose` sets it).
   */
  verbose?: boolean;
  /** Path to vk_swiftshader_icd.json, when it is not where Chromium's packages put it (read once per process). */
  swiftshaderIcd?: string;
  /**
   * How long a wait may go without the GPU finishing any work, in ms (0: no limit). Default: the
   * PEFTC_GPU_TIMEOUT variable in seconds (`--gpu-timeout` sets it), else a limit that grows with
   * the work (queue-watch.ts).
   */
  timeoutMs?: number;
}

/** The wait limit PEFTC_GPU_TIMEOUT asks for (seconds), in ms; undefined when it is not set. */
function timeoutFromEnv(): number | undefined {
  const text = process.env.PEFTC_GPU_TIMEOUT;
  if (text === undefined || text === '') return undefined;
  try {
    return waitLimitMs(text);
  } catch (e) {
    throw new GpuError('limit', `PEFTC_GPU_TIMEOUT ${(e as Error).message}`);
  }
}

/**
 * The Dawn instances this process may create, one each, cached:
 *   hardware     the system's drivers as they are (Vulkan on Linux; Metal, D3D12 elsewhere);
 *   swiftshader  Vulkan that sees only SwiftShader's ICD;
 *   opengles     OpenGL ES through EGL, headless, Mesa forced (llvmpipe).
 * SwiftShader gets its own instance because one instance that sees a GPU and SwiftShader answers
 * every requestAdapter after the first with the first adapter: forceFallbackAdapter is then
 * ignored (measured on an H200 machine).
 */
type Instance = 'hardware' | 'swiftshader' | 'opengles';
const instances = new Map<Instance, Promise<GPU>>();
let globalsInstalled = false;
/** Instances are created one at a time: their environment is process-wide while they start. */
let creating: Promise<unknown> = Promise.resolve();

/** The ICD file for SwiftShader, or undefined when none of the known places has it. */
export function findSwiftShaderIcd(explicit?: string): string | undefined {
  return (explicit ? [explicit] : SWIFTSHADER_ICDS).find((p) => existsSync(p));
}

/** Sets (or, for undefined, removes) environment variables; returns what to restore. */
function setEnv(vars: Record<string, string | undefined>): Record<string, string | undefined> {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(vars)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  return saved;
}

function installGlobals(): void {
  if (globalsInstalled) return;
  // dawn.node's GPU* classes; browsers have them already. Only missing names are added.
  for (const [k, v] of Object.entries(globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  globalsInstalled = true;
}

/**
 * The process's Dawn instance `which`, created on first use. Its first requestAdapter (which
 * makes the native loader read its variables) runs with `env` set. Vulkan reads them then, once,
 * so they are restored afterwards; EGL reads them at every requestAdapter, so for OpenGL ES
 * they stay set.
 */
function dawn(
  which: Instance,
  dawnOptions: string[],
  env: Record<string, string | undefined>,
  first: GPURequestAdapterOptions & { featureLevel?: string },
  restore: boolean,
  verbose: boolean,
): Promise<GPU> {
  let gpu = instances.get(which);
  if (!gpu) {
    gpu = creating.then(async () => {
      installGlobals();
      const saved = setEnv(env);
      try {
        const instance = native(verbose, () => create(dawnOptions));
        await native(verbose, () => instance.requestAdapter(first)).catch(() => null);
        return instance;
      } finally {
        if (restore) setEnv(saved);
      }
    });
    creating = gpu.catch(() => undefined);
    instances.set(which, gpu);
  }
  return gpu.then((instance) => (verbose ? instance : quiet(instance)));
}

/** A call into Dawn's discovery, its stderr notices dropped unless verbose. */
function native<T>(verbose: boolean, call: () => T): T {
  return verbose ? call() : withStderrSilenced(call);
}

/** `gpu` whose requestAdapter (where Dawn enumerates the drivers and prints notices) is quiet. */
function quiet(gpu: GPU): GPU {
  return { requestAdapter: (o?: GPURequestAdapterOptions) => withStderrSilenced(() => gpu.requestAdapter(o)) } as GPU;
}

const verboseOf = (opts: NodeGpuOptions): boolean => opts.verbose ?? process.env.PEFTC_VERBOSE === '1';

/** Environment under which the SwiftShader instance starts: its ICD and nothing else. */
function swiftshaderEnv(icd: string): Record<string, string | undefined> {
  return { VK_ICD_FILENAMES: icd, VK_DRIVER_FILES: icd, VK_ADD_DRIVER_FILES: undefined };
}

/** Environment for the OpenGL ES instance: headless EGL and Mesa's software rasteriser. */
function glesEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  if (!process.env.EGL_PLATFORM) env.EGL_PLATFORM = 'surfaceless';
  // Where a GPU vendor's EGL is installed too, libglvnd would pick it; llvmpipe is Mesa's.
  if (!process.env.LIBGL_ALWAYS_SOFTWARE) env.LIBGL_ALWAYS_SOFTWARE = '1';
  if (!process.env.__EGL_VENDOR_LIBRARY_FILENAMES && existsSync(MESA_EGL_VENDOR)) {
    env.__EGL_VENDOR_LIBRARY_FILENAMES = MESA_EGL_VENDOR;
  }
  return env;
}

async function openHardware(opts: NodeGpuOptions): Promise<Gpu | null> {
  // Without a driver the instance finds nothing and says so on stderr, before every command.
  const verbose = verboseOf(opts);
  if (!verbose && !vulkanDriversPresent()) return null;
  const request = { powerPreference: 'high-performance' as const };
  const gpu = await dawn('hardware', [], {}, request, true, verbose);
  return openGpu(gpu, { ...request, backend: defaultBackendName(), timeoutMs: opts.timeoutMs, accept: (c) => c === 'hardware' });
}

async function openSwiftShader(opts: NodeGpuOptions): Promise<Gpu | null> {
  const icd = findSwiftShaderIcd(opts.swiftshaderIcd);
  if (!icd) return null;
  const request = { forceFallbackAdapter: true };
  const gpu = await dawn('swiftshader', ['backend=vulkan'], swiftshaderEnv(icd), request, true, verboseOf(opts));
  return openGpu(gpu, { ...request, backend: 'vulkan', timeoutMs: opts.timeoutMs, accept: (c) => c === 'swiftshader' });
}

async function openLlvmpipe(opts: NodeGpuOptions): Promise<Gpu | null> {
  const request = { featureLevel: 'compatibility' as const };
  const gpu = await dawn('opengles', ['backend=opengles'], glesEnv(), request, false, verboseOf(opts));
  return openGpu(gpu, { ...request, backend: 'opengles', timeoutMs: opts.timeoutMs, accept: (c) => c === 'llvmpipe' });
}

function defaultBackendName(): string {
  if (process.platform === 'darwin') return 'metal';
  if (process.platform === 'win32') return 'd3d12';
  return 'vulkan';
}

function missing(choice: GpuChoice, opts: NodeGpuOptions): GpuError {
  const why: Record<GpuChoice, string> = {
    hardware: `no hardware GPU adapter was found (${process.platform === 'linux' && !vulkanDriversPresent() ? 'no Vulkan driver is installed' : 'Dawn found no non-CPU adapter'}); use a software adapter on the CPU instead: --gpu llvmpipe (the faster) or --gpu swiftshader`,
    swiftshader: findSwiftShaderIcd(opts.swiftshaderIcd)
      ? `SwiftShader's ICD ${findSwiftShaderIcd(opts.swiftshaderIcd)} is present, but Dawn opened no SwiftShader adapter (is libvulkan1 installed?).`
      : `SwiftShader was not found (no vk_swiftshader_icd.json at ${opts.swiftshaderIcd ?? SWIFTSHADER_ICDS.join(', ')}).`,
    llvmpipe: 'Mesa llvmpipe was not found through OpenGL ES (EGL surfaceless).',
    auto: 'no WebGPU adapter was found: no hardware GPU, no SwiftShader, no llvmpipe.',
  };
  // A missing GPU is not fixed by installing the software adapters: no setup hint for it.
  return new GpuError('no-adapter', choice === 'hardware' ? why.hardware : `${why[choice]} ${SETUP_HINT}`);
}

/**
 * Opens a WebGPU device in Node: the requested adapter, or for 'auto' the fastest one present
 * (a hardware GPU, else llvmpipe, else SwiftShader).
 * Throws GpuError('no-adapter') with what to install when none is found.
 */
export async function openNodeGpu(options: NodeGpuOptions = {}): Promise<Gpu> {
  const timeoutMs = options.timeoutMs ?? timeoutFromEnv();
  const opts = timeoutMs === undefined ? options : { ...options, timeoutMs };
  const choice = opts.gpu ?? 'auto';
  const open = { hardware: openHardware, swiftshader: openSwiftShader, llvmpipe: openLlvmpipe };
  if (choice !== 'auto') {
    const gpu = await open[choice](opts);
    if (!gpu) throw missing(choice, opts);
    return gpu;
  }
  const order = ['hardware', ...(opts.softwareOrder ?? SOFTWARE_ORDER)] as const;
  for (const which of order) {
    const gpu = await open[which](opts);
    if (gpu) return gpu;
  }
  throw missing('auto', opts);
}
