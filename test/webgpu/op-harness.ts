// The pieces of the op-kernel tests that need no test framework: the request of a case, running
// a generated kernel on a GPU, and the comparison with the CPU reference (see op-suite.ts).
import { opSpec } from '../../compiler/ir/ops.ts';
import { KERNELS } from '../../runtime/cpu/kernels/index.ts';
import { Random } from '../../runtime/cpu/random.ts';
import { numel, type Tensor } from '../../runtime/cpu/tensor.ts';
import type { Gpu } from '../../runtime/webgpu/gpu.ts';
import { sizesBuffer } from '../../runtime/webgpu/step-sizes.ts';
import { opKernel } from '../../codegen/wgsl/index.ts';
import type { GpuCaps, OpKernel, OpKernelRequest, TensorSpec } from '../../codegen/wgsl/types.ts';
import { type OpCase, type Tolerance, caseSeed } from './op-cases.ts';

export const specOf = (t: Tensor): TensorSpec => ({ shape: [...t.shape], dtype: t.data instanceof Int32Array ? 'i32' : 'f32' });

const KEEPS_DTYPE = ['slice', 'pad', 'concat', 'expand_batch'];

/** The request of a case: its output shape and dtype from the op catalog. */
export function requestOf(c: OpCase, inputs: Tensor[]): OpKernelRequest {
  const spec = opSpec(c.op);
  const shape = spec.shape(inputs.map((t) => t.shape), c.attrs);
  if (typeof shape === 'string') throw new Error(`${c.op} ${c.name}: ${shape}`);
  // Data movement keeps the input's dtype (the catalog gives no dtype for these ops).
  const dtype = spec.dtype ?? (KEEPS_DTYPE.includes(c.op) ? specOf(inputs[0]!).dtype : 'f32');
  return { op: c.op, attrs: c.attrs, inputs: inputs.map(specOf), output: { shape: shape as number[], dtype } };
}

export interface RunOptions {
  step?: number;
  /** Extra outputs beyond `out` (name → element count), filled with NaN; read back too. */
  extraOutputs?: Record<string, number>;
}

/** Runs one generated kernel; returns `out` (and any extra outputs) as read back. */
export async function runKernel(
  gpu: Gpu,
  kernel: Pick<OpKernel, 'label' | 'wgsl' | 'workgroups' | 'sizes'> & { bindings: string[] },
  inputs: Tensor[],
  output: TensorSpec,
  opts: RunOptions = {},
): Promise<Record<string, Float32Array | Int32Array>> {
  const buffers = new Map<string, GPUBuffer>();
  inputs.forEach((t, i) => buffers.set(`in${i}`, gpu.buffer(t.data as Float32Array | Int32Array, { label: `in${i}` })));
  const n = numel(output.shape);
  const poison = output.dtype === 'i32' ? new Int32Array(n).fill(0x7fffffff) : new Float32Array(n).fill(NaN);
  buffers.set('out', gpu.buffer(poison, { label: 'out' }));
  for (const [name, count] of Object.entries(opts.extraOutputs ?? {})) buffers.set(name, gpu.buffer(new Float32Array(count).fill(NaN), { label: name }));
  buffers.set('globals', gpu.buffer(new Uint32Array([opts.step ?? 0, 0, 0, 0]), { label: 'globals' }));
  const pipeline = await gpu.pipeline(kernel.wgsl, { label: kernel.label });
  const bound = kernel.bindings.map((name) => {
    const b = buffers.get(name);
    if (!b) throw new Error(`${kernel.label} binds ${name}, which the test does not have`);
    return b;
  });
  // Open sizes (rows, lengths the source leaves to a uniform) bind after the storage buffers.
  if (kernel.sizes) {
    buffers.set('sizes', sizesBuffer(gpu, kernel.sizes));
    bound.push(buffers.get('sizes')!);
  }
  await gpu.commands(kernel.label).dispatch(pipeline, bound, kernel.workgroups).submit();
  const result: Record<string, Float32Array | Int32Array> = {};
  result.out = output.dtype === 'i32' ? await gpu.read(buffers.get('out')!, Int32Array, n * 4) : await gpu.read(buffers.get('out')!, Float32Array, n * 4);
  for (const [name, count] of Object.entries(opts.extraOutputs ?? {})) result[name] = await gpu.read(buffers.get(name)!, Float32Array, count * 4);
  for (const b of buffers.values()) b.destroy();
  return result;
}

/** The 'max' magnitude: max(1, max |want|). */
export function maxMagnitude(want: ArrayLike<number>): number {
  let m = 1;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(want[i]!));
  return m;
}

/** |x| elementwise (for the 'terms' magnitude). */
const absOf = (t: Tensor): Tensor => ({ shape: t.shape, data: t.data instanceof Int32Array ? t.data : t.data.map(Math.abs) });

/** Per-element magnitudes m of a tolerance. */
function magnitudes(c: OpCase, inputs: Tensor[], want: ArrayLike<number>): (i: number) => number {
  if (c.tol.magnitude === 'one') return () => 1;
  if (c.tol.magnitude === 'max') {
    const m = maxMagnitude(want);
    return () => m;
  }
  const terms = KERNELS[c.op]!(inputs.map(absOf), c.attrs, { precision: 'f64', step: 0, training: true }).data;
  return (i) => terms[i]! + 1;
}

export interface Comparison {
  /** max over elements of |gpu − cpu| / (abs·m + rel·|cpu|); ≤ 1 passes (NaN counts as ∞). */
  worst: number;
  /** max |gpu − cpu| / m: the raw error in the units of the tolerance's `abs`. */
  rawAbs: number;
  at: number;
  got: number;
  want: number;
  maskMismatches: number;
}

export function compare(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance, mag: (i: number) => number): Comparison {
  const r: Comparison = { worst: 0, rawAbs: 0, at: -1, got: 0, want: 0, maskMismatches: 0 };
  if (got.length !== want.length) return { ...r, worst: Infinity };
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const m = mag(i);
    const e = Math.abs(g - w);
    const bound = tol.abs * m + tol.rel * Math.abs(w);
    const ratio = e === 0 ? 0 : bound === 0 ? Infinity : e / bound;
    if (tol.mask && (g === 0) !== (w === 0)) r.maskMismatches++;
    r.rawAbs = Math.max(r.rawAbs, Number.isNaN(e) ? Infinity : e / m);
    if (!(ratio <= r.worst)) {
      r.worst = Number.isNaN(ratio) ? Infinity : ratio;
      r.at = i;
      r.got = g;
      r.want = w;
    }
  }
  return r;
}

/** Runs one case on the GPU with `caps`, and compares it with the CPU reference. */
export async function checkCase(gpu: Gpu, c: OpCase, caps: GpuCaps): Promise<Comparison & { kernel: OpKernel }> {
  const inputs = c.inputs(new Random(caseSeed(c)));
  const req = requestOf(c, inputs);
  const kernel = opKernel(req, caps);
  const { out } = await runKernel(gpu, kernel, inputs, req.output, c.step !== undefined ? { step: c.step } : {});
  const want = KERNELS[c.op]!(inputs, c.attrs, { precision: 'f64', step: c.step ?? 0, training: true });
  if (want.shape.join() !== req.output.shape.join()) throw new Error(`${c.op} ${c.name}: the CPU gives ${want.shape}, the catalog ${req.output.shape}`);
  return { ...compare(out!, want.data, c.tol, magnitudes(c, inputs, want.data)), kernel };
}

