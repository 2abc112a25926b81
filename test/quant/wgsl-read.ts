// The WGSL reader of quantized weights (codegen/wgsl/quant.ts) on one adapter: a kernel writes
// qw(i) for every element, which must equal the CPU's dequantized values bit for bit (nf4dq:
// its nested block scales too, two f32 roundings that a fused multiply-add must not merge).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packQuantSlot, quantReadWgsl, type QuantReadSpec } from '../../codegen/wgsl/quant.ts';
import { dequantizeWeight, quantizeWeight } from '../../compiler/quant/weight.ts';
import type { Gpu } from '../../runtime/webgpu/gpu.ts';
import { openNodeGpu, type SoftwareGpu } from '../../runtime/webgpu/node-gpu.ts';
import { runKernel } from '../webgpu/op-harness.ts';

const CASES: QuantReadSpec[] = [
  { dtype: 'nf4', layout: 'out_in', rows: 6, cols: 50 }, // 300 values: 5 blocks, the last partial
  { dtype: 'nf4', layout: 'in_out', rows: 70, cols: 3 }, // Conv1D: blocks along the transpose
  { dtype: 'nf4', layout: 'table', rows: 5, cols: 13 }, // odd count: a padding nibble
  { dtype: 'nf4dq', layout: 'out_in', rows: 130, cols: 130 }, // 265 blocks: two second-level blocks
  { dtype: 'nf4dq', layout: 'in_out', rows: 70, cols: 3 },
  { dtype: 'nf4dq', layout: 'table', rows: 5, cols: 13 },
  { dtype: 'int8', layout: 'out_in', rows: 7, cols: 9 },
  { dtype: 'int8', layout: 'in_out', rows: 9, cols: 7 },
];

export function quantReadSuite(software: SoftwareGpu): void {
  describe(`WGSL quantized reads on ${software}`, () => {
    let gpu: Gpu;
    beforeAll(async () => {
      gpu = await openNodeGpu({ gpu: software });
    });
    afterAll(() => gpu?.destroy());

    for (const q of CASES) {
      it(`${q.dtype} ${q.layout} [${q.rows}, ${q.cols}]: every element equals the CPU's`, async () => {
        const n = q.rows * q.cols;
        let s = 11;
        const w = Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 3);
        const qw = quantizeWeight(w, [q.rows, q.cols], q.layout, q.dtype);
        const slot = packQuantSlot(q, qw.codes, qw.scales, qw.nested);
        const wgsl = [
          '@group(0) @binding(0) var<storage, read> v: array<u32>;',
          '@group(0) @binding(1) var<storage, read_write> out: array<f32>;',
          quantReadWgsl(q, 'qw', 'v'),
          `@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) { if (id.x < ${n}u) { out[id.x] = qw(id.x); } }`,
        ].join('\n');
        const kernel = { label: `qread_${q.dtype}_${q.layout}`, wgsl, bindings: ['in0', 'out'], workgroups: [Math.ceil(n / 64), 1, 1] as [number, number, number] };
        const got = await runKernel(gpu, kernel, [{ shape: [slot.length], data: new Int32Array(slot.buffer) } as never], { shape: [n], dtype: 'f32' });
        expect(Array.from(got.out!)).toEqual(Array.from(dequantizeWeight(qw)));
      });
    }
  });
}
