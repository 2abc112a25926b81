// linear and linear_grad_weight on the matmul generator (matmul/), rows flattened:
//
//   linear in_out:  x [R, in] · w [in, out] (+ b)       → A = x, B = w
//   linear out_in:  x [R, in] · w [out, in]ᵀ (+ b)      → A = x, B = w (transB)
//   grad in_out:    xᵀ·dy [in, out]  (K = R rows)       → A = x (transA), B = dy
//   grad out_in:    dyᵀ·x [out, in]  (K = R rows)       → A = dy (transA), B = x
//
// The matmul variant follows the adapter (register-blocked without workgroup memory on
// software adapters, workgroup-tiled on hardware). Note the binding order of out_in's weight
// gradient: A is dy, so its `bindings` are [in1, in0, out].
import { CodegenError } from '../codegen-error.ts';
import type { MatmulSpec } from '../../compiler/lower/matmul-spec.ts';
import { type MatmulKernel, matmulKernel, matmulVariantFor } from './matmul/index.ts';
import { checkOutput, fail, fmt, operand, optOperand, rowsOf } from './common.ts';
import type { GpuCaps, BindingName, OpKernel, OpKernelGenOf, OpKernelRequest, OpKernelTable } from './types.ts';

const LAYOUTS = ['in_out', 'out_in'] as const;

function generate(req: OpKernelRequest, caps: GpuCaps, spec: MatmulSpec, names: Partial<Record<MatmulKernel['bindings'][number], BindingName>>): OpKernel {
  let k: MatmulKernel;
  try {
    k = matmulKernel(spec, { variant: matmulVariantFor(caps), limits: caps.limits });
  } catch (e) {
    if (e instanceof CodegenError) throw new CodegenError(e.kind, e.detail, `${req.op} kernel`);
    throw e;
  }
  return {
    label: `${req.op}_${k.label}`,
    wgsl: `// ${req.op} (layout ${req.attrs.layout}) as ${k.label}\n${k.wgsl}`,
    bindings: k.bindings.map((b) => names[b]!),
    workgroups: k.workgroups,
  };
}

/** linear: x [..., in], w [in, out] or [out, in], b? [out] → out [..., out]. */
export const linear: OpKernelGenOf<'linear'> = (req, caps) => {
  const x = operand(req, 0, 'x', 'f32').shape;
  const w = operand(req, 1, 'w', 'f32').shape;
  const b = optOperand(req, 2, 'b', 'f32');
  const layout = req.attrs.layout;
  if (w.length !== 2) fail(req.op, `weight must be 2-D, got ${fmt(w)}`);
  const [R, nIn] = rowsOf(req, x);
  const [wi, wo] = layout === 'in_out' ? [w[0]!, w[1]!] : [w[1]!, w[0]!];
  if (wi !== nIn) fail(req.op, `input features ${nIn} do not match weight ${fmt(w)} (layout ${layout})`);
  if (b && !(b.shape.length === 1 && b.shape[0] === wo)) fail(req.op, `bias ${fmt(b.shape)} does not match ${wo} output features`);
  checkOutput(req, [...x.slice(0, -1), wo]);
  const spec: MatmulSpec = { M: R, N: wo, K: nIn, transB: layout === 'out_in', bias: !!b };
  return generate(req, caps, spec, { a: 'in0', b: 'in1', bias: 'in2', c: 'out' });
};

/** linear_grad_weight: x [..., in], dy [..., out] → in_out: xᵀ·dy [in, out]; out_in: dyᵀ·x [out, in]. */
export const linearGradWeight: OpKernelGenOf<'linear_grad_weight'> = (req, caps) => {
  const x = operand(req, 0, 'x', 'f32').shape;
  const dy = operand(req, 1, 'dy', 'f32').shape;
  const layout = req.attrs.layout;
  const [R, nIn] = rowsOf(req, x);
  const [Rdy, nOut] = rowsOf(req, dy);
  if (R !== Rdy || x.length !== dy.length || !x.slice(0, -1).every((d, i) => d === dy[i])) {
    fail(req.op, `x ${fmt(x)} and dy ${fmt(dy)} have different rows`);
  }
  if (layout === 'in_out') {
    checkOutput(req, [nIn, nOut]);
    return generate(req, caps, { M: nIn, N: nOut, K: R, transA: true }, { a: 'in0', b: 'in1', bias: 'in2', c: 'out' });
  }
  checkOutput(req, [nOut, nIn]);
  return generate(req, caps, { M: nOut, N: nIn, K: R, transA: true }, { a: 'in1', b: 'in0', bias: 'in2', c: 'out' });
};

export const LINEAR_KERNELS = {
  linear,
  linear_grad_weight: linearGradWeight,
} satisfies OpKernelTable;
