// A process whose first Vulkan request names a SwiftShader ICD that does not exist (and where
// no hardware Vulkan driver is present) gets a GpuError that says what to install, not a hang.
// Its own file: the Vulkan instance, once created, keeps the drivers it found.

import { describe, expect, it } from 'vitest';
import { GpuError } from '../../runtime/webgpu/errors.ts';
import { openNodeGpu } from '../../runtime/webgpu/node-gpu.ts';

describe('no adapter', () => {
  it("'swiftshader' without its ICD fails with the setup hint", async () => {
    const err = await openNodeGpu({ gpu: 'swiftshader', swiftshaderIcd: '/nonexistent/vk_swiftshader_icd.json' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GpuError);
    expect((err as GpuError).kind).toBe('no-adapter');
    expect((err as GpuError).message).toContain('/nonexistent/vk_swiftshader_icd.json');
    expect((err as GpuError).message).toContain('bash scripts/setup-gpu.sh');
    expect((err as GpuError).message).toContain('libvulkan1 chromium');
  });
});
