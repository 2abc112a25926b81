// The WGSL op kernels (codegen/wgsl/) against the CPU reference (runtime/cpu/kernels),
// registered once per software adapter by ops-swiftshader.test.ts and ops-llvmpipe.test.ts.
// A missing adapter fails the tests: it is never a skip.
//
// Each case of op-cases.ts is generated for the adapter, run on it with the output buffer filled
// with NaN first (so an element the kernel forgets to write fails), and compared with the CPU
// reference in float64 on the same float32 inputs. The cases run three times:
//   with the adapter's own capabilities (the software variants);
//   as if the adapter were a hardware GPU (the workgroup variants: norms, cross-entropy rows,
//     tiled matmul, other attention key blocks and embedding-gradient chunks);
//   with tiny limits (4 invocations per workgroup, 8 workgroups per dimension), so that
//     dispatches are split over x and y.
// Heavy cases (op-cases.ts: a 1024-key sequence, 128-wide heads) run in the first pass only, and
// a case about one adapter's limit only on that adapter: they cost minutes on SwiftShader and
// add no code path the lighter cases of the same op do not cover in the variant passes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KERNELS } from '../../runtime/cpu/kernels/index.ts';
import { Random } from '../../runtime/cpu/random.ts';
import type { Tensor } from '../../runtime/cpu/tensor.ts';
import { CodegenError } from '../../codegen/codegen-error.ts';
import type { Gpu } from '../../runtime/webgpu/gpu.ts';
import { attentionGradKV, attentionWithLse, crossEntropyFused, opKernel } from '../../codegen/wgsl/index.ts';
import type { GpuCaps } from '../../codegen/wgsl/types.ts';
import { openNodeGpu, type SoftwareGpu } from '../../runtime/webgpu/node-gpu.ts';
import { CROSS_ENTROPY_CASES, OP_CASES, TOL, caseSeed, type OpCase } from './op-cases.ts';
import { type Comparison, checkCase, compare, maxMagnitude, requestOf, runKernel } from './op-harness.ts';

function describeFailure(c: OpCase, r: Comparison, label: string): string {
  return `${c.op} ${c.name} (${label}): worst error ${r.worst.toPrecision(3)}× the tolerance at element ${r.at}: ` +
    `gpu ${r.got}, cpu ${r.want}${r.maskMismatches ? `, ${r.maskMismatches} dropout mask mismatches` : ''}`;
}

/** Raw errors per op, printed when PEFTC_OP_ERRORS is set (to choose and report tolerances). */
const rawErrors = new Map<string, number>();
function record(key: string, raw: number): void {
  rawErrors.set(key, Math.max(rawErrors.get(key) ?? 0, raw));
}

const ops = [...new Set(OP_CASES.map((c) => c.op))];
const HARDWARE_FAMILIES = ['norm', 'cross_entropy', 'attention', 'embedding', 'linear'];

export function opSuite(software: SoftwareGpu): void {
  let gpu: Gpu;
  /** The cases of this adapter; `light`: without the heavy ones (the variant passes). */
  const mine = OP_CASES.filter((c) => !c.only || c.only === software);
  const light = mine.filter((c) => !c.heavy);

  beforeAll(async () => {
    gpu = await openNodeGpu({ gpu: software });
  });
  afterAll(() => {
    if (process.env.PEFTC_OP_ERRORS) {
      const lines = [...rawErrors].map(([k, v]) => `${k.padEnd(40)} ${v.toExponential(2)}`);
      console.log(`raw errors on ${software} (|gpu − cpu| / m):\n${lines.join('\n')}`);
    }
    if (gpu && !gpu.isLost) gpu.destroy();
  });

  describe(`${software}: op kernels against the CPU reference`, () => {
    it('opens the adapter', () => {
      expect(gpu.info.gpuClass).toBe(software);
      expect(gpu.info.isSoftware).toBe(true);
    });

    for (const op of ops) {
      const list = mine.filter((c) => c.op === op);
      it(`${op} (${list.length} cases)`, async () => {
        for (const c of list) {
          const r = await checkCase(gpu, c, gpu.info);
          record(op, r.rawAbs);
          expect(r.worst, describeFailure(c, r, r.kernel.label)).toBeLessThanOrEqual(1);
          expect(r.maskMismatches).toBe(0);
        }
      });
    }

    it('dropout masks differ between steps and match the CPU at every step', async () => {
      const c = OP_CASES.find((k) => k.op === 'dropout' && k.attrs.p === 0.5)!;
      const masks: string[] = [];
      for (const step of [0, 1, 2, 1000000]) {
        const r = await checkCase(gpu, { ...c, step }, gpu.info);
        expect(r.maskMismatches, `step ${step}`).toBe(0);
        expect(r.worst).toBeLessThanOrEqual(1);
        const inputs = c.inputs(new Random(caseSeed(c)));
        const { out } = await runKernel(gpu, r.kernel, inputs, { shape: inputs[0]!.shape, dtype: 'f32' }, { step });
        masks.push(Array.from(out!, (v) => (v === 0 ? '0' : '1')).join(''));
      }
      expect(new Set(masks).size).toBe(masks.length);
    });
  });

  describe(`${software}: fused cross-entropy (loss and dlogits in one kernel)`, () => {
    for (const hardware of [false, true]) {
      it(`matches cross_entropy and cross_entropy_grad (${hardware ? 'workgroup' : 'row'} variant)`, async () => {
        for (const c of CROSS_ENTROPY_CASES) {
          const ce = OP_CASES.find((k) => k.op === 'cross_entropy_grad' && k.name === c.name)!;
          const inputs = ce.inputs(new Random(caseSeed(ce)));
          const req = requestOf(ce, inputs);
          const kernel = crossEntropyFused({ ...req, op: 'cross_entropy_fused' }, { ...gpu.info, isSoftware: !hardware });
          expect(kernel.bindings).toEqual(['in0', 'in1', 'out', 'loss']);
          const R = kernel.lossShape[0];
          const got = await runKernel(gpu, kernel, inputs, req.output, { extraOutputs: { loss: R } });
          const ctx = { precision: 'f64' as const, step: 0, training: true };
          const dl = KERNELS.cross_entropy_grad!(inputs, ce.attrs, ctx).data;
          const loss = KERNELS.cross_entropy!(inputs, ce.attrs, ctx).data[0]!;
          const r1 = compare(got.out!, dl, TOL.crossEntropy, () => 1);
          expect(r1.worst, `${c.name} dlogits`).toBeLessThanOrEqual(1);
          // Per-row losses (f64, from the definition), and their sum = the mean loss.
          const l = inputs[0]!.data, t = inputs[1]!.data, V = c.V;
          const counted = Array.from(t).filter((x) => x !== -100).length;
          const rows = new Float64Array(R);
          for (let r = 0; r < R; r++) {
            if (t[r] === -100) continue;
            let mx = -Infinity;
            for (let j = 0; j < V; j++) mx = Math.max(mx, l[r * V + j]!);
            let se = 0;
            for (let j = 0; j < V; j++) se += Math.exp(l[r * V + j]! - mx);
            rows[r] = (Math.log(se) - (l[r * V + t[r]!]! - mx)) / counted;
          }
          expect(compare(got.loss!, rows, TOL.crossEntropy, () => 1).worst, `${c.name} per-row loss`).toBeLessThanOrEqual(1);
          const sum = Array.from(got.loss!).reduce((a, b) => a + b, 0);
          expect(Math.abs(sum - loss), `${c.name} Σ loss`).toBeLessThanOrEqual(TOL.crossEntropy.abs * Math.max(1, Math.abs(loss)));
        }
      });
    }
  });

  describe(`${software}: fused attention kernels (two results each)`, () => {
    const f64 = { precision: 'f64' as const, step: 0, training: true };
    const cpu = (op: string, inputs: Tensor[], attrs: OpCase['attrs']) => KERNELS[op]!(inputs, attrs, f64).data;
    const check = (got: ArrayLike<number>, want: ArrayLike<number>) => {
      const m = maxMagnitude(want);
      return compare(got, want, TOL.attention, () => m).worst;
    };
    for (const hardware of [false, true]) {
      const variant = hardware ? 'hardware' : 'software';
      it(`attention with its lse (${variant} variant) matches attention and attention_lse`, async () => {
        for (const c of light.filter((k) => k.op === 'attention')) {
          const inputs = c.inputs(new Random(caseSeed(c)));
          const req = requestOf(c, inputs);
          const kernel = attentionWithLse(req, { ...gpu.info, isSoftware: !hardware });
          const [B, S] = req.output.shape as [number, number];
          const lseCount = B * (c.attrs.heads as number) * S;
          const got = await runKernel(gpu, kernel, inputs, req.output, { extraOutputs: { out1: lseCount } });
          const lseInputs = inputs.length > 3 ? [inputs[0]!, inputs[1]!, inputs[3]!] : [inputs[0]!, inputs[1]!];
          const want = cpu('attention', inputs, c.attrs);
          const wantLse = cpu('attention_lse', lseInputs, c.attrs);
          expect(check(got.out!, want), `${c.name} output`).toBeLessThanOrEqual(1);
          expect(check(got.out1!, wantLse), `${c.name} lse`).toBeLessThanOrEqual(1);
        }
      });
      it(`attention_grad_k and _v in one kernel (${variant} variant) match each`, async () => {
        for (const c of light.filter((k) => k.op === 'attention_grad_k')) {
          const inputs = c.inputs(new Random(caseSeed(c)));
          const req = requestOf(c, inputs);
          const kernel = attentionGradKV(req, { ...gpu.info, isSoftware: !hardware });
          const dvCount = inputs[2]!.data.length;
          const got = await runKernel(gpu, kernel, inputs, req.output, { extraOutputs: { out1: dvCount } });
          const dk = cpu('attention_grad_k', inputs, c.attrs);
          const dv = cpu('attention_grad_v', inputs, c.attrs);
          expect(check(got.out!, dk), `${c.name} dk`).toBeLessThanOrEqual(1);
          expect(check(got.out1!, dv), `${c.name} dv`).toBeLessThanOrEqual(1);
        }
      });
    }
  });

  // norm_residual (compiler/lower/fuse.ts): the norm's input gradient plus the residual stream's
  // gradient, one kernel. The CPU's gradient plus the residual; the norms' tolerance.
  describe(`${software}: norm gradients that add a residual`, () => {
    for (const hardware of [false, true]) {
      it(`layernorm_grad_x and rmsnorm_grad_x + residual (${hardware ? 'workgroup' : 'row'} variant)`, async () => {
        const cases = OP_CASES.filter((k) => k.op === 'layernorm_grad_x' || k.op === 'rmsnorm_grad_x');
        expect(cases.length).toBeGreaterThanOrEqual(8);
        for (const c of cases) {
          const rng = new Random(caseSeed(c));
          const inputs = c.inputs(rng);
          const x = inputs[0]!;
          const res = { shape: x.shape, data: Float32Array.from(x.data, () => rng.uniform(-2, 2)) };
          const req = requestOf(c, inputs);
          const kernel = opKernel({ ...req, attrs: { ...req.attrs, residual: true }, inputs: [...req.inputs, req.inputs[0]!] }, { ...gpu.info, isSoftware: !hardware });
          expect(kernel.bindings.at(-2)).toBe(`in${inputs.length}`);
          const got = await runKernel(gpu, kernel, [...inputs, res], req.output);
          const grad = KERNELS[c.op]!(inputs, c.attrs, { precision: 'f64', step: 0, training: true }).data;
          const want = Float64Array.from(grad, (g, i) => g + res.data[i]!);
          const m = maxMagnitude(want);
          const r = compare(got.out!, want, c.tol, () => m);
          expect(r.worst, describeFailure(c, r, kernel.label)).toBeLessThanOrEqual(1);
        }
      });
    }
  });

  describe(`${software}: hardware variants, run on the software adapter`, () => {
    for (const family of HARDWARE_FAMILIES) {
      it(`${family} kernels as generated for a hardware GPU`, async () => {
        const caps: GpuCaps = { ...gpu.info, isSoftware: false };
        for (const c of light.filter((k) => k.family === family)) {
          const r = await checkCase(gpu, c, caps);
          record(`${c.op} (hardware variant)`, r.rawAbs);
          expect(r.worst, describeFailure(c, r, r.kernel.label)).toBeLessThanOrEqual(1);
        }
      });
    }
  });

  describe(`${software}: dispatches split over x and y under tiny limits`, () => {
    it('every case that fits 8×8 workgroups of ≤ 4 invocations is still correct', async () => {
      const limits = {
        ...gpu.info.limits,
        maxComputeWorkgroupsPerDimension: 8,
        maxComputeInvocationsPerWorkgroup: 4,
        maxComputeWorkgroupSizeX: 4,
        maxComputeWorkgroupSizeY: 4,
      };
      let split = 0;
      let tooBig = 0;
      for (const hardware of [false, true]) {
        const caps: GpuCaps = { ...gpu.info, isSoftware: !hardware, limits };
        for (const c of light) {
          let r: Awaited<ReturnType<typeof checkCase>>;
          try {
            r = await checkCase(gpu, c, caps);
          } catch (e) {
            if (e instanceof CodegenError && e.kind === 'limit') {
              tooBig++;
              continue;
            }
            throw e;
          }
          expect(r.worst, describeFailure(c, r, r.kernel.label)).toBeLessThanOrEqual(1);
          expect(r.kernel.workgroups[0]).toBeLessThanOrEqual(8);
          expect(r.kernel.workgroups[1]).toBeLessThanOrEqual(8);
          if (r.kernel.workgroups[1] > 1 && !r.kernel.label.includes('matmul')) split++;
        }
      }
      expect(split).toBeGreaterThanOrEqual(20);
      expect(tooBig).toBeLessThan(light.length);
    });
  });
}
