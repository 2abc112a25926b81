// Node only: whether the Vulkan loader would find a driver (an ICD manifest) on this machine.
// Where it finds none, creating Dawn's Vulkan instance prints "Warning: vkCreateInstance: Found
// no drivers! … at CheckVkSuccessImpl (…)" on stderr from native code, which no option of the
// `webgpu` package silences (dawn.node installs no logging callback, and Node cannot redirect
// fd 2 around a call). So the hardware instance is not created at all when no driver is
// installed; `--verbose` creates it anyway, messages and all.
//
// The places are the loader's own (docs: LoaderDriverInterface.md, "Driver Discovery on Linux"):
// VK_DRIVER_FILES / VK_ICD_FILENAMES replace the search; otherwise the icd.d folders under
// $XDG_CONFIG_HOME, $XDG_CONFIG_DIRS, /etc (and /usr/local/etc for a loader built from source),
// $XDG_DATA_HOME and $XDG_DATA_DIRS; VK_ADD_DRIVER_FILES adds to either.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const paths = (v: string | undefined): string[] => (v ? v.split(':').filter(Boolean) : []);

/** A manifest file, or a folder holding at least one. */
function hasManifest(path: string): boolean {
  try {
    if (!statSync(path).isDirectory()) return path.endsWith('.json');
    return readdirSync(path).some((f) => f.endsWith('.json'));
  } catch {
    return false;
  }
}

/** The folders and files the Vulkan loader reads driver manifests from, under `env`. */
export function vulkanDriverPlaces(env: NodeJS.ProcessEnv = process.env): string[] {
  const extra = paths(env.VK_ADD_DRIVER_FILES);
  const explicit = paths(env.VK_DRIVER_FILES ?? env.VK_ICD_FILENAMES);
  if (explicit.length) return [...explicit, ...extra];
  const home = env.HOME ?? homedir();
  const configDirs = [env.XDG_CONFIG_HOME ?? join(home, '.config'), ...paths(env.XDG_CONFIG_DIRS ?? '/etc/xdg'), '/etc', '/usr/local/etc'];
  const dataDirs = [env.XDG_DATA_HOME ?? join(home, '.local/share'), ...paths(env.XDG_DATA_DIRS ?? '/usr/local/share:/usr/share')];
  return [...[...configDirs, ...dataDirs].map((d) => join(d, 'vulkan/icd.d')), ...extra];
}

/**
 * False only where the loader would certainly find no driver: on Linux, with no manifest in any
 * of its places. Elsewhere (Metal, D3D12, or Vulkan found some other way) true.
 */
export function vulkanDriversPresent(env: NodeJS.ProcessEnv = process.env, platform: string = process.platform): boolean {
  if (platform !== 'linux') return true;
  return vulkanDriverPlaces(env).some((p) => existsSync(p) && hasManifest(p));
}
