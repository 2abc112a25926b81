// Adapter discovery in one process: both software adapters at once (a Vulkan and an OpenGL ES
// Dawn instance coexist), 'auto', and 'hardware' (opens a GPU or fails with what to install).

import { describe, expect, it } from 'vitest';
import { GpuError } from '../../runtime/webgpu/errors.ts';
import { prepareMatmul } from '../../runtime/webgpu/matmul.ts';
import { openNodeGpu } from '../../runtime/webgpu/node-gpu.ts';
import { doctorCommand } from '../../cli/doctor.ts';

describe('adapter discovery', () => {
  it('opens SwiftShader and llvmpipe in the same process and runs a kernel on each', async () => {
    const gpus = [await openNodeGpu({ gpu: 'swiftshader' }), await openNodeGpu({ gpu: 'llvmpipe' })];
    expect(gpus.map((g) => g.info.gpuClass)).toEqual(['swiftshader', 'llvmpipe']);
    for (const gpu of gpus) {
      const mm = await prepareMatmul(gpu, { M: 2, N: 2, K: 2 });
      const c = gpu.buffer(16);
      const batch = gpu.commands();
      mm.encode(batch, { a: gpu.buffer(new Float32Array([1, 2, 3, 4])), b: gpu.buffer(new Float32Array([5, 6, 7, 8])), c });
      await batch.submit();
      expect(Array.from(await gpu.read(c))).toEqual([19, 22, 43, 50]);
      gpu.destroy();
    }
  });

  it("'auto' opens a hardware GPU where there is one, else llvmpipe", async () => {
    const gpu = await openNodeGpu({ gpu: 'auto' });
    expect(['hardware', 'llvmpipe']).toContain(gpu.info.gpuClass);
    gpu.destroy();
  });

  it("'auto' honours softwareOrder", async () => {
    const gpu = await openNodeGpu({ gpu: 'auto', softwareOrder: ['swiftshader', 'llvmpipe'] });
    expect(['hardware', 'swiftshader']).toContain(gpu.info.gpuClass);
    gpu.destroy();
  });

  it("'hardware' opens a non-software adapter or says what is missing", async () => {
    const result = await openNodeGpu({ gpu: 'hardware' }).catch((e: unknown) => e);
    if (result instanceof GpuError) {
      expect(result.kind).toBe('no-adapter');
      expect(result.message).toContain('--gpu llvmpipe');
    } else {
      const gpu = result as Awaited<ReturnType<typeof openNodeGpu>>;
      expect(gpu.info.isSoftware).toBe(false);
      gpu.destroy();
    }
  });

  it('peftc doctor --gpu all passes on the software adapters', async () => {
    let out = '';
    const code = await doctorCommand({ gpu: 'all', write: (t) => (out += t) });
    expect(out).toContain('[swiftshader]');
    expect(out).toContain('[llvmpipe]');
    expect(code).toBe(0);
  });

  it('peftc doctor --json prints the report as JSON; a bad adapter name exits 2', async () => {
    let out = '';
    expect(await doctorCommand({ gpu: 'swiftshader', json: true, write: (t) => (out += t) })).toBe(0);
    const report = JSON.parse(out) as { ok: boolean; gpu: { gpuClass: string } };
    expect(report.ok).toBe(true);
    expect(report.gpu.gpuClass).toBe('swiftshader');
    expect(await doctorCommand({ gpu: 'cuda' as 'auto', write: () => {} })).toBe(2);
  });
});
