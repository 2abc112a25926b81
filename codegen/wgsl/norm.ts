// layernorm and rmsnorm over the last axis, and their gradients.
//
// Row kernels (layernorm, rmsnorm, *_grad_x), x [R, D] → out [R, D], in two variants:
//   software adapters: one invocation per row, sequential loops over the row (vec4 when D % 4 = 0),
//     no workgroup memory;
//   hardware GPUs: one workgroup per row, each invocation strides over the row and partial sums
//     meet in a workgroup tree reduction (barriers).
// Both come from one template: the row body is written with LOOP (the invocation's part of the
// row) and REDUCE (the row total of a per-invocation partial sum).
//
// Statistics are two-pass like the CPU reference (mean, then the biased variance of x − mean).
//
// *_grad_x with attribute `residual` (the plan's norm_residual fusion) takes one more operand of
// x's shape, last, and adds it to every output: dL/dx of the norm plus the residual stream's
// gradient, one kernel instead of the gradient and an add.
//
// *_grad_gamma, x [R, D], dy [R, D] → out [D] = Σ_rows dy · x̂: on software adapters one
// invocation per block of F features walks every row, recomputing that row's statistics (so
// they are computed ⌈D/F⌉ times in all: the price of one deterministic kernel without atomics or
// a scratch buffer); on hardware one workgroup per feature unit splits the rows among its
// invocations and reduces.
import { SIZES_UNIFORM } from '../../compiler/lower/kernels.ts';
import { LOOP_BUDGET, type Binding, type Grid, ceilDiv, checkOutput, declare, f32, fail, fmt, grid, hsum, operand, optOperand, rowGroups, rowsOf, sameShape, u32, widthFor, workgroupReductions } from './common.ts';
import type { GpuCaps, OpKernel, OpKernelGenOf, OpKernelRequest, OpKernelTable } from './types.ts';

type NormOp = 'layernorm' | 'layernorm_grad_x' | 'rmsnorm' | 'rmsnorm_grad_x';

interface RowShape {
  R: number;
  D: number;
  w: 1 | 4;
}

function rowShape(req: OpKernelRequest): RowShape & { shape: number[] } {
  const shape = operand(req, 0, 'x', 'f32').shape;
  const [R, D] = rowsOf(req, shape);
  return { R, D, w: widthFor(D), shape };
}

function checkFeature(req: OpKernelRequest, index: number, name: string, D: number, required: boolean): boolean {
  const t = required ? operand(req, index, name, 'f32') : optOperand(req, index, name, 'f32');
  if (!t) return false;
  if (!(t.shape.length === 1 && t.shape[0] === D)) fail(req.op, `${name} ${fmt(t.shape)} does not match ${D} features`);
  return true;
}

/**
 * The row body of each op, in terms of:
 *   LOOP     a for-header over j, this invocation's units of the row (T = f32 or vec4<f32>);
 *   REDUCE(e) the row total of partial sums e;   off = row · D/w.
 */
function rowBody(op: NormOp, hasGamma: boolean, hasBeta: boolean, w: 1 | 4, residual: boolean): string {
  const g = hasGamma ? ' * gamma[j]' : '';
  const r = residual ? ' + res[off + j]' : '';
  const sum = (e: string): string => hsum(w, e);
  const stats = [
    '  var s = 0.0;',
    `  LOOP { s += ${sum('x[off + j]')}; }`,
    '  let mean = REDUCE(s) / D;',
    '  var v = 0.0;',
    `  LOOP { let c = x[off + j] - T(mean); v += ${sum('c * c')}; }`,
    '  let rstd = 1.0 / sqrt(REDUCE(v) / D + EPS);',
  ];
  const rms = ['  var s = 0.0;', `  LOOP { let v = x[off + j]; s += ${sum('v * v')}; }`, '  let rr = 1.0 / sqrt(REDUCE(s) / D + EPS);'];
  switch (op) {
    case 'layernorm':
      return [...stats, `  LOOP { out[off + j] = (x[off + j] - T(mean)) * rstd${g}${hasBeta ? ' + beta[j]' : ''}; }`].join('\n');
    case 'layernorm_grad_x':
      return [
        ...stats,
        '  var sg = 0.0;',
        '  var sgx = 0.0;',
        `  LOOP { let gj = dy[off + j]${g}; let xh = (x[off + j] - T(mean)) * rstd; sg += ${sum('gj')}; sgx += ${sum('gj * xh')}; }`,
        '  let mg = REDUCE(sg) / D;',
        '  let mgx = REDUCE(sgx) / D;',
        `  LOOP { let gj = dy[off + j]${g}; let xh = (x[off + j] - T(mean)) * rstd; out[off + j] = rstd * (gj - T(mg) - xh * mgx)${r}; }`,
      ].join('\n');
    case 'rmsnorm':
      return [...rms, `  LOOP { out[off + j] = x[off + j] * rr${g}; }`].join('\n');
    case 'rmsnorm_grad_x':
      return [
        ...rms,
        '  var sgx = 0.0;',
        `  LOOP { sgx += ${sum(`dy[off + j]${g} * x[off + j]`)}; }`,
        '  let c = rr * rr * REDUCE(sgx) / D;',
        `  LOOP { out[off + j] = rr * (dy[off + j]${g} - x[off + j] * c)${r}; }`,
      ].join('\n');
  }
}

/** The operands of a row op: [hasDy, hasGamma (required?), hasBeta]. */
const ROW_OPERANDS: Record<NormOp, { dy: boolean; gamma: 'required' | 'optional'; beta: boolean }> = {
  layernorm: { dy: false, gamma: 'optional', beta: true },
  layernorm_grad_x: { dy: true, gamma: 'optional', beta: false },
  rmsnorm: { dy: false, gamma: 'required', beta: false },
  rmsnorm_grad_x: { dy: true, gamma: 'required', beta: false },
};

/** Which variant a row kernel uses on an adapter. */
export function normVariantFor(caps: Pick<GpuCaps, 'isSoftware'>): 'row' | 'workgroup' {
  return caps.isSoftware ? 'row' : 'workgroup';
}

const rowKernel: OpKernelGenOf<NormOp> = (whole, caps) => {
  const op = whole.op as NormOp;
  const spec = ROW_OPERANDS[op];
  if (!spec) fail(whole.op, 'not a norm row op');
  // The residual operand (norm_residual) is the last; the op's own operands come before it.
  const residual = whole.attrs.residual === true;
  if (residual && !spec.dy) fail(whole.op, 'only the gradients take a residual operand');
  const req = residual ? { ...whole, inputs: whole.inputs.slice(0, -1) } : whole;
  const { R, D, w, shape } = rowShape(req);
  const eps = req.attrs.eps;
  let next = 1;
  if (spec.dy) {
    const dyShape = operand(req, next++, 'dy', 'f32').shape;
    if (!sameShape(shape, dyShape)) fail(req.op, `x ${fmt(shape)} and dy ${fmt(dyShape)} differ`);
  }
  const gammaAt = next++;
  const hasGamma = checkFeature(req, gammaAt, 'gamma', D, spec.gamma === 'required');
  const betaAt = next++;
  const hasBeta = spec.beta && checkFeature(req, betaAt, 'beta', D, false);
  if (residual) {
    const resShape = operand(whole, req.inputs.length, 'residual', 'f32').shape;
    if (!sameShape(shape, resShape)) fail(req.op, `x ${fmt(shape)} and the residual ${fmt(resShape)} differ`);
  }
  checkOutput(req, shape);

  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const list: Binding[] = [{ name: 'in0', variable: 'x', type: T }];
  if (spec.dy) list.push({ name: 'in1', variable: 'dy', type: T });
  if (hasGamma) list.push({ name: `in${gammaAt}`, variable: 'gamma', type: T });
  if (hasBeta) list.push({ name: `in${betaAt}`, variable: 'beta', type: T });
  if (residual) list.push({ name: `in${req.inputs.length}`, variable: 'res', type: T });
  list.push({ name: 'out', variable: 'out', type: T });
  const d = declare(list);

  const workgroup = normVariantFor(caps) === 'workgroup';
  let g: Grid;
  let body = rowBody(op, hasGamma, hasBeta, w, residual);
  let extra = '';
  if (workgroup) {
    g = rowGroups(req.op, R, caps, (body.match(/REDUCE\(/g) ?? []).length);
    let slot = 0;
    body = body.replaceAll('LOOP', `for (var j = lid; j < DW; j += ${u32(g.wg)})`).replace(/REDUCE\((\w+)\)/g, (_, e: string) => `wgSum(${e}, lid, ${u32(slot++)})`);
    extra = workgroupReductions(g.wg, slot);
  } else {
    // The rows are open (the sizes uniform): one pipeline serves every batch and length.
    g = grid(req.op, R, caps, { heavy: true, count: 'sizes.x' });
    body = body.replaceAll('LOOP', 'for (var j = 0u; j < DW; j++)').replace(/REDUCE\((\w+)\)/g, '$1');
    extra = SIZES_UNIFORM(d.bindings.length);
  }
  const wgsl = `// ${req.op}: x [${workgroup ? R : 'R'}, ${D}] → out${residual ? ' + res' : ''}, rows of D = ${D}; ${workgroup ? 'one workgroup' : 'one invocation'} per row
alias T = ${T};
const D = ${f32(D)};
const DW = ${u32(D / w)}; // row length in units of T
const EPS = ${f32(eps)};
${d.wgsl}
${extra}
${g.entry}
${g.prologue}
${workgroup ? '' : '  let row = i;\n'}  let off = row * DW;
${body}
}
`;
  const rows = workgroup ? { label: `${R}` } : { label: 'R', sizes: [R] };
  return { label: `${req.op}_${workgroup ? 'wg' : 'row'}_${rows.label}x${D}${residual ? '_res' : ''}`, wgsl, bindings: d.bindings, workgroups: g.workgroups, ...(rows.sizes ? { sizes: rows.sizes } : {}) };
};

/** layernorm_grad_gamma, rmsnorm_grad_gamma: x [R, D], dy [R, D] → out [D]. */
const gradGamma: OpKernelGenOf<'layernorm_grad_gamma' | 'rmsnorm_grad_gamma'> = (req, caps): OpKernel => {
  const layer = req.op === 'layernorm_grad_gamma';
  if (!layer && req.op !== 'rmsnorm_grad_gamma') fail(req.op, 'not a norm gamma-gradient op');
  const { R, D, w, shape } = rowShape(req);
  const dyShape = operand(req, 1, 'dy', 'f32').shape;
  if (!sameShape(shape, dyShape)) fail(req.op, `x ${fmt(shape)} and dy ${fmt(dyShape)} differ`);
  const eps = req.attrs.eps;
  checkOutput(req, [D]);
  const DW = D / w;
  // Features per invocation (in units of T): about 16 invocations, at least 2 units each.
  const F = Math.max(2, ceilDiv(DW, 16));
  const blocks = ceilDiv(DW, F);
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const g = grid(req.op, blocks, caps, { heavy: true });
  const d = declare([
    { name: 'in0', variable: 'x', type: T },
    { name: 'in1', variable: 'dy', type: T },
    { name: 'out', variable: 'out', type: T },
  ]);
  // Row statistics, recomputed for every row each invocation walks. Up to 32 units the passes
  // over the row are written out: no loop, so llvmpipe's LOOP_BUDGET counts only the rows.
  const unroll = DW <= 32;
  const pass = (body: (j: string) => string): string =>
    unroll ? Array.from({ length: DW }, (_, j) => `    { ${body(`${j}u`)} }`).join('\n') : `    for (var j = 0u; j < DW; j++) { ${body('j')} }`;
  const stats = layer
    ? [
        '    var s = 0.0;',
        pass((j) => `s += ${hsum(w, `x[off + ${j}]`)};`),
        '    let mean = s / D;',
        '    var v = 0.0;',
        pass((j) => `let c = x[off + ${j}] - T(mean); v += ${hsum(w, 'c * c')};`),
        '    let rstd = 1.0 / sqrt(v / D + EPS);',
      ]
    : [
        '    let mean = 0.0;',
        '    var s = 0.0;',
        pass((j) => `let v = x[off + ${j}]; s += ${hsum(w, 'v * v')};`),
        '    let rstd = 1.0 / sqrt(s / D + EPS);',
      ];
  const what = `// ${req.op}: x ${fmt(shape)}, dy ${fmt(shape)} → out [${D}] = Σ_rows dy · ${layer ? '(x − mean)' : 'x'} · rstd`;
  // The per-invocation variant walks every row, with one (RMSNorm) or two (LayerNorm) passes over
  // its features for the statistics: past LOOP_BUDGET iterations llvmpipe would cut it short.
  const loops = R * ((unroll ? 0 : (layer ? 2 : 1) * DW) + F + 1);
  if (normVariantFor(caps) === 'workgroup' || loops > LOOP_BUDGET) {
    // One workgroup per feature unit j; its invocations split the rows (each computes the
    // statistics of its own rows), then one tree reduction per component.
    const gw = rowGroups(req.op, DW, caps, w);
    const comps = w === 4 ? ['x', 'y', 'z', 'w'] : [''];
    const sums = comps.map((c, k) => `wgSum(acc${c ? `.${c}` : ''}, lid, ${u32(k)})`);
    const wgsl = `${what}
// one workgroup per feature unit (T) j; invocations take rows lid, lid + WG, …
alias T = ${T};
const R = ${u32(R)};
const D = ${f32(D)};
const DW = ${u32(DW)};
const EPS = ${f32(eps)};
${d.wgsl}
${workgroupReductions(gw.wg, w)}
${gw.entry}
${gw.prologue}
  let jf = row;
  var acc = T();
  for (var r = lid; r < R; r += ${u32(gw.wg)}) {
    let off = r * DW;
${stats.join('\n')}
    acc += dy[off + jf] * (x[off + jf] - T(mean)) * rstd;
  }
  let total = ${w === 4 ? `vec4<f32>(${sums.join(', ')})` : sums[0]};
  if (lid == 0u) { out[jf] = total; }
}
`;
    return { label: `${req.op}_wg_${R}x${D}`, wgsl, bindings: d.bindings, workgroups: gw.workgroups };
  }
  const wgsl = `${what}
// invocation i owns features i·F … i·F + F − 1 (in units of T) and walks all ${R} rows
alias T = ${T};
const R = ${u32(R)};
const D = ${f32(D)};
const DW = ${u32(DW)};
const F = ${u32(F)};
const EPS = ${f32(eps)};
${d.wgsl}
${g.entry}
${g.prologue}
  let j0 = i * F;
  let j1 = min(j0 + F, DW);
  var acc: array<T, ${F}>;
  for (var r = 0u; r < R; r++) {
    let off = r * DW;
${stats.join('\n')}
    for (var j = j0; j < j1; j++) { acc[j - j0] += dy[off + j] * (x[off + j] - T(mean)) * rstd; }
  }
  for (var j = j0; j < j1; j++) { out[j] = acc[j - j0]; }
}
`;
  return { label: `${req.op}_${R}x${D}`, wgsl, bindings: d.bindings, workgroups: g.workgroups };
};

export const NORM_KERNELS = {
  layernorm: rowKernel,
  layernorm_grad_x: rowKernel,
  rmsnorm: rowKernel,
  rmsnorm_grad_x: rowKernel,
  layernorm_grad_gamma: gradGamma,
  rmsnorm_grad_gamma: gradGamma,
} satisfies OpKernelTable;
