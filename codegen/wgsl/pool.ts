// Sequence pooling for classification heads, and its backward. One invocation per output
// element (4 features when D % 4 = 0); `mean` sums the S positions sequentially.
import { type Binding, checkOutput, declare, fail, fmt, grid, operand, optOperand, u32, widthFor, f32 } from './common.ts';
import type { BindingName, OpKernelGenOf, OpKernelRequest, OpKernelTable, OpRequest } from './types.ts';

const MODES = ['first', 'last', 'mean'] as const;

function poolShape(req: OpKernelRequest, index: number, name: string): [number, number, number] {
  const x = operand(req, index, name).shape;
  if (x.length !== 3) fail(req.op, `pool needs [B, S, D], got ${fmt(x)}`);
  if (x[1] === 0) fail(req.op, 'pool over an empty sequence');
  return x as [number, number, number];
}

/**
 * The optional lengths operand i32 [B] at `index` (real positions per row): its binding, and the
 * WGSL expression of row b's length n (S without it).
 */
function lengthsOf(req: OpRequest<'pool' | 'pool_grad'>, index: number, B: number): { bind: Binding[]; n: string } {
  const len = optOperand(req, index, 'lengths', 'i32');
  if (len && (len.shape.length !== 1 || len.shape[0] !== B)) fail(req.op, `lengths must be [${B}], got ${fmt(len.shape)}`);
  // `first` never reads it (an unread binding is not in the pipeline's layout)
  if (!len || req.attrs.mode === 'first') return { bind: [], n: 'S' };
  return { bind: [{ name: `in${index}` as BindingName, variable: 'lengths', type: 'i32' }], n: 'u32(lengths[b])' };
}

/** pool: x [B, S, D] → out [B, D]: position 0, position n − 1, or the mean over positions < n (n = lengths[b], else S). */
export const pool: OpKernelGenOf<'pool'> = (req, caps) => {
  const [B, S, D] = poolShape(req, 0, 'x');
  operand(req, 0, 'x', 'f32');
  const mode = req.attrs.mode;
  checkOutput(req, [B, D]);
  const w = widthFor(D);
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const g = grid(req.op, (B * D) / w, caps);
  const len = lengthsOf(req, 1, B);
  const d = declare([
    { name: 'in0', variable: 'x', type: T },
    ...len.bind,
    { name: 'out', variable: 'out', type: T },
  ]);
  const body =
    mode === 'mean'
      ? `  var s = ${T}();
  let n = ${len.n};
  for (var t = 0u; t < n; t++) { s += x[(b * S + t) * DW + j]; }
  out[i] = s / ${len.bind.length ? 'f32(n)' : f32(S)};`
      : `  out[i] = x[(b * S + ${mode === 'first' ? '0u' : `${len.n} - 1u`}) * DW + j];`;
  const wgsl = `// pool (${mode}): x [${B}, ${S}, ${D}] → out [${B}, ${D}]
const S = ${u32(S)};
const DW = ${u32(D / w)}; // features in units of T
${d.wgsl}
${g.entry}
${g.prologue}
  let b = i / DW;
  let j = i % DW;
${body}
}
`;
  return { label: `pool_${mode}_${B}x${S}x${D}${len.bind.length ? '_len' : ''}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
};

/** pool_grad: dy [B, D], x [B, S, D] (shape only, not bound), optional lengths i32 [B] → out [B, S, D]. */
export const poolGrad: OpKernelGenOf<'pool_grad'> = (req, caps) => {
  const dy = operand(req, 0, 'dy', 'f32').shape;
  const [B, S, D] = poolShape(req, 1, 'x');
  const mode = req.attrs.mode;
  if (dy.length !== 2 || dy[0] !== B || dy[1] !== D) fail(req.op, `dy must be [${B}, ${D}], got ${fmt(dy)}`);
  checkOutput(req, [B, S, D]);
  const w = widthFor(D);
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const g = grid(req.op, (B * S * D) / w, caps);
  const len = lengthsOf(req, 2, B);
  const d = declare([
    { name: 'in0', variable: 'dy', type: T },
    ...len.bind,
    { name: 'out', variable: 'out', type: T },
  ]);
  const value =
    mode === 'mean'
      ? len.bind.length
        ? `select(${T}(), dy[b * DW + j] / f32(${len.n}), t < ${len.n})`
        : `dy[b * DW + j] / ${f32(S)}`
      : `select(${T}(), dy[b * DW + j], t == ${mode === 'first' ? '0u' : `${len.n} - 1u`})`;
  const wgsl = `// pool_grad (${mode}): dy [${B}, ${D}] → out [${B}, ${S}, ${D}]
const S = ${u32(S)};
const DW = ${u32(D / w)}; // features in units of T
${d.wgsl}
${g.entry}
${g.prologue}
  let j = i % DW;
  let t = (i / DW) % S;
  let b = i / (DW * S);
  out[i] = ${value};
}
`;
  return { label: `pool_grad_${mode}_${B}x${S}x${D}${len.bind.length ? '_len' : ''}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
};

export const POOL_KERNELS = { pool, pool_grad: poolGrad } satisfies OpKernelTable;
