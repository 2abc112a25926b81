// inv_row_norm: 1/‖x_i‖ for each row of x [M, N] (DoRA's weight norm, reciprocal; no gradient).
// One invocation per row: M is a layer's output features and N its input features, so a row
// is a few thousand values, summed in UNROLL-wide steps (llvmpipe ends loops after 65,535
// iterations).
import { checkOutput, declare, fail, fmt, grid, operand, u32 } from './common.ts';
import type { OpKernelGen, OpKernelTable } from './types.ts';

/** Squares summed per loop iteration. */
const UNROLL = 8;

export const invRowNorm: OpKernelGen = (req, caps) => {
  const x = operand(req, 0, 'x');
  if (x.shape.length !== 2) fail(req.op, `takes a 2-D tensor, got ${fmt(x.shape)}`);
  const [m, n] = x.shape as [number, number];
  checkOutput(req, [m], 'f32');
  const g = grid(req.op, m, caps, { heavy: true });
  const d = declare([
    { name: 'in0', variable: 'x', type: 'f32' },
    { name: 'out', variable: 'out', type: 'f32' },
  ]);
  const terms = Array.from({ length: UNROLL }, (_, j) => `x[r + k + ${j}u] * x[r + k + ${j}u]`).join(' + ');
  const wgsl = `// inv_row_norm: x ${fmt(x.shape)} → out [${m}], 1/sqrt(Σ_j x[i][j]²)
const N = ${u32(n)};
${d.wgsl}
${g.entry}
${g.prologue}
  let r = i * N;
  var s = 0.0;
  for (var k = 0u; k + ${UNROLL - 1}u < N; k += ${UNROLL}u) { s += ${terms}; }
  for (var k = N - N % ${UNROLL}u; k < N; k++) { s += x[r + k] * x[r + k]; }
  out[i] = 1.0 / sqrt(s);
}
`;
  return { label: `inv_row_norm_${m}x${n}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
};

export const ROW_NORM_KERNELS = { inv_row_norm: invRowNorm } satisfies OpKernelTable;
