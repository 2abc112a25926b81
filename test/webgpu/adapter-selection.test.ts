// Which adapter `--gpu auto` takes (the fastest: a GPU, else llvmpipe, else SwiftShader), what
// `--gpu hardware` says without a GPU, the one-line hint that the wasm backend may be faster,
// `--gpu` as the flag everywhere, and Dawn's native notices kept off stderr unless --verbose.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GpuError } from '../../runtime/webgpu/errors.ts';
import { openNodeGpu, SOFTWARE_ORDER } from '../../runtime/webgpu/node-gpu.ts';
import { vulkanDriverPlaces, vulkanDriversPresent } from '../../runtime/webgpu/vulkan-drivers.ts';
import { peftc } from '../cli/peftc.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'peftc-adapters-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** This machine has no GPU (as the CI machines): the no-GPU messages are checked exactly. */
const noGpu = await openNodeGpu({ gpu: 'hardware' }).then((g) => (g.destroy(), false), () => true);
/** Dawn's notice of a Vulkan instance without drivers: never shown unless asked for. */
const VULKAN_NOISE = /vkCreateInstance|CheckVkSuccessImpl/;

/**
 * A command run as a shell runs it, its stderr through a real pipe (`2>&1 >FILE | cat`). Node's
 * own spawn pipes are sockets, which cannot be reopened, so there Dawn's llvmpipe notice passes
 * (docs/webgpu-runtime.md); a terminal or a shell pipe is what users have.
 */
function throughPipe(command: string): { code: number; stdout: string; stderr: string } {
  const out = join(work, `stdout-${Math.random().toString(36).slice(2)}.txt`);
  const r = spawnSync('bash', ['-c', `set -o pipefail; { ${command}; } 2>&1 >${out} | cat`], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: readFileSync(out, 'utf8'), stderr: r.stdout };
}

describe('adapter choice', () => {
  it("'auto' takes a hardware GPU, else llvmpipe (twice SwiftShader's speed), else SwiftShader", async () => {
    expect(SOFTWARE_ORDER).toEqual(['llvmpipe', 'swiftshader']);
    const gpu = await openNodeGpu({ gpu: 'auto' });
    expect(gpu.info.gpuClass).toBe(noGpu ? 'llvmpipe' : 'hardware');
    gpu.destroy();
  });

  it('each software adapter can still be named', async () => {
    for (const software of ['swiftshader', 'llvmpipe'] as const) {
      const gpu = await openNodeGpu({ gpu: software });
      expect(gpu.info.gpuClass).toBe(software);
      gpu.destroy();
    }
  });

  it("'hardware' without a GPU names the software adapters instead", async () => {
    const r = await openNodeGpu({ gpu: 'hardware' }).then((g) => (g.destroy(), null), (e: unknown) => e);
    if (!noGpu) return expect(r).toBeNull();
    expect(r).toBeInstanceOf(GpuError);
    expect((r as GpuError).message).toMatch(/no hardware GPU adapter was found .*--gpu llvmpipe \(the faster\) or --gpu swiftshader/);
  });
});

describe('Vulkan driver discovery (where the loader looks)', () => {
  const env = (extra: Record<string, string>) => ({ HOME: join(work, 'home'), XDG_CONFIG_DIRS: join(work, 'none'), XDG_DATA_DIRS: join(work, 'none'), ...extra });

  it('finds a manifest in an icd.d folder, or in the files VK_DRIVER_FILES names', () => {
    const data = join(work, 'data');
    expect(vulkanDriversPresent(env({ XDG_DATA_HOME: data }), 'linux')).toBe(false);
    mkdirSync(join(data, 'vulkan/icd.d'), { recursive: true });
    expect(vulkanDriversPresent(env({ XDG_DATA_HOME: data }), 'linux')).toBe(false); // an empty folder
    writeFileSync(join(data, 'vulkan/icd.d/nvidia_icd.json'), '{}');
    expect(vulkanDriversPresent(env({ XDG_DATA_HOME: data }), 'linux')).toBe(true);
    // VK_DRIVER_FILES replaces the search: a missing file means no driver.
    expect(vulkanDriversPresent(env({ XDG_DATA_HOME: data, VK_DRIVER_FILES: join(work, 'missing.json') }), 'linux')).toBe(false);
    expect(vulkanDriverPlaces(env({ VK_ICD_FILENAMES: 'a.json:b.json', VK_ADD_DRIVER_FILES: 'c.json' }))).toEqual(['a.json', 'b.json', 'c.json']);
    expect(vulkanDriverPlaces(env({}))).toContain('/etc/vulkan/icd.d');
    expect(vulkanDriversPresent({}, 'darwin')).toBe(true); // Metal: nothing to look for
  });
});

describe('Dawn stays quiet on stderr', () => {
  it('native writes to fd 2 inside withStderrSilenced are dropped; the rest of stderr is intact', () => {
    const script = `
      import { writeSync } from 'node:fs';
      import { withStderrSilenced } from ${JSON.stringify(join(ROOT, 'runtime/webgpu/quiet-stderr.ts'))};
      writeSync(2, 'before\\n');
      const v = withStderrSilenced(() => { writeSync(2, 'NOISE\\n'); return 42; });
      process.stderr.write('after ' + v + '\\n');
      console.error('console.error works');`;
    writeFileSync(join(work, 'quiet.mts'), script);
    expect(throughPipe(`node --import tsx ${join(work, 'quiet.mts')}`).stderr).toBe('before\nafter 42\nconsole.error works\n');
    // Into a terminal too (script(1) gives the command a pseudo-terminal).
    const tty = spawnSync('script', ['-qec', `node --import tsx ${join(work, 'quiet.mts')}`, '/dev/null'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(tty.stdout.replace(/\r/g, '')).toBe('before\nafter 42\nconsole.error works\n');
  });

  it('`peftc doctor`: no driver notices, llvmpipe, and the line that the wasm backend may be faster; --verbose lets them through', () => {
    const r = throughPipe('node bin/peftc.js doctor');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    if (noGpu) {
      expect(r.stdout).toContain('WebGPU adapter: llvmpipe');
      expect(r.stdout).toContain('no hardware GPU: WebGPU runs on llvmpipe, a software adapter on the CPU; the wasm backend may be faster (--backend wasm)');
    } else {
      expect(r.stdout).toMatch(/WebGPU adapter: /);
      expect(r.stdout).not.toContain('no hardware GPU');
    }
    // Through Node's socket pipes: the driverless Vulkan instance is still never created.
    const sockets = peftc('doctor', '--gpu', 'hardware');
    expect(sockets.stderr).not.toMatch(VULKAN_NOISE);
    const loud = throughPipe('node bin/peftc.js --verbose compile examples/gpt2-lora.peft --emit plan --batch 1 --seq 8 --gpu llvmpipe');
    expect(loud.code, loud.stderr).toBe(0);
    expect(loud.stderr).toMatch(/artificially reduced/); // llvmpipe's limit notice, from Dawn
    if (!vulkanDriversPresent()) expect(throughPipe('node bin/peftc.js doctor --gpu hardware --verbose').stderr).toContain('vkCreateInstance');
  });

  it('`--gpu` everywhere: doctor takes it (not --adapter), and a bad choice names --gpu', () => {
    const old = peftc('doctor', '--adapter', 'llvmpipe');
    expect(old.code).toBe(1);
    expect(old.stderr).toContain("unknown option '--adapter'");
    const hw = peftc('doctor', '--gpu', 'hardware', '--json');
    if (noGpu) {
      expect(hw.code).toBe(1);
      expect(hw.stdout).toContain('--gpu llvmpipe');
    } else {
      expect(hw.code, hw.stderr).toBe(0);
    }
    const bad = peftc('compile', 'examples/gpt2-lora.peft', '--emit', 'plan', '--gpu', 'swiftshdr');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^peftc: --gpu must be one of auto, hardware, swiftshader, llvmpipe, got `swiftshdr`/);
  });

  // On a machine with a GPU the same commands train on it, and auto does not fall back.
  it('train: --gpu hardware without a GPU suggests llvmpipe or the CPU backend; --backend auto falls back to the wasm backend, saying why', () => {
    const text = join(work, 'text.txt');
    writeFileSync(text, 'the quick brown fox jumps over the lazy dog\n'.repeat(40));
    const common = ['examples/gpt2-lora.peft', '--set', 'vocab_size=256,n_positions=32,n_embd=16,n_layer=1,n_head=2', '--data', text, '--steps', '1', '--batch', '2', '--seq', '8', '--eval-rows', '1', '--no-baseline'];
    const hw = peftc('train', ...common, '--backend', 'webgpu', '--gpu', 'hardware', '--out', join(work, 'run-hw'));
    const auto = peftc('train', ...common, '--backend', 'auto', '--out', join(work, 'run-auto'));
    expect(auto.code, auto.stderr).toBe(0);
    expect(auto.stderr).not.toMatch(VULKAN_NOISE);
    if (!noGpu) {
      expect(hw.code, hw.stderr).toBe(0);
      expect(auto.stderr).not.toContain('no hardware GPU');
      return;
    }
    expect(hw.code).toBe(1);
    expect(hw.stderr).toMatch(/^peftc: .*no hardware GPU adapter was found .*--gpu llvmpipe .*or train on the CPU: --backend wasm\n$/);
    expect(auto.stderr).toContain('peftc: no hardware GPU; --backend auto uses the wasm backend (f32 on the CPU)');
  });
});
