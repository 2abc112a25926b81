// Token cross-entropy: logits [R, V] (rows = all leading dims), targets i32 [R].
// A row counts when its target is not ignore_index; `count` is the number of counted rows.
//
// cross_entropy → [] = mean over counted rows of lse − (l_t − max), 0 when none counts.
//   One workgroup: each invocation takes rows lid, lid + WG, …, then one barrier and invocation 0
//   adds the partial sums in a fixed order (deterministic).
// cross_entropy_grad → dlogits [R, V] = (softmax − onehot(t)) / count, 0 on uncounted rows.
// crossEntropyFused (not a catalog op; for the training plan) → in one kernel, without
//   materialising probabilities: `out` = dlogits as cross_entropy_grad, and a second output
//   `loss` f32 [R] with loss[r] = (lse_r − (l_rt − max_r)) / count (0 on uncounted rows), so
//   that the mean loss is Σ_r loss[r] (sum_to to [] gives it).
// The row kernels come in two variants: one invocation per row (software adapters: three
// sequential passes over V, max, Σexp, write) and one workgroup per row (hardware GPUs: strided
// passes with tree reductions). Every row kernel counts the counted rows itself (R comparisons).
//
// Logits larger than one storage binding are processed in row pieces (compiler/lower/split.ts):
// attr `row0` says the logits (and dlogits, loss) bound are rows row0 … of the whole; targets
// stay bound whole, because every piece counts the counted rows of all of them. A forward-only
// plan gets the per-row losses from crossEntropyRows, a piece at a time, and adds them.
//
// Targets outside [0, V) other than ignore_index are treated as ignored (the CPU reference
// rejects them; a kernel cannot throw). The gradient assumes an upstream gradient of 1.
import { CodegenError } from '../codegen-error.ts';
import { type Grid, LOOP_BUDGET, checkOutput, declare, fail, fmt, grid, i32, operand, rowGroups, rowsOf, u32, workgroupLimit, workgroupReductions } from './common.ts';
import type { GpuCaps, BindingName, OpKernel, OpKernelGenOf, OpKernelTable, OpRequest } from './types.ts';

interface Operands {
  /** Rows of the logits bound (a piece's rows when split). */
  R: number;
  /** Rows of all the targets (R unless split), and the first row of this piece. */
  RT: number;
  row0: number;
  V: number;
  ignore: number;
  logits: number[];
}

/** A request of the loss or of its gradient (one attribute schema). */
type LossRequest = OpRequest<'cross_entropy' | 'cross_entropy_grad'>;

function operands(req: LossRequest): Operands {
  const logits = operand(req, 0, 'logits', 'f32').shape;
  const targets = operand(req, 1, 'targets', 'i32').shape;
  const ignore = req.attrs.ignore_index;
  const [R, V] = rowsOf(req, logits);
  const piece = req.attrs.row0 !== undefined;
  const row0 = req.attrs.row0 ?? 0;
  const RT = targets.reduce((a, b) => a * b, 1);
  if (piece ? row0 < 0 || row0 + R > RT : targets.length !== logits.length - 1 || targets.some((d, i) => d !== logits[i])) {
    fail(req.op, piece ? `logits rows [${row0}, ${row0 + R}) are not among the ${RT} targets` : `targets ${fmt(targets)} must be logits ${fmt(logits)} without the last axis`);
  }
  if (V === 0) fail(req.op, 'no classes (V = 0)');
  return { R, RT, row0, V, ignore, logits };
}

function constants(o: Operands): string {
  return `const R = ${u32(o.RT)}; // all targets' rows (counted by every row)
const ROW0 = ${u32(o.row0)}; // the first target row of the logits bound
const V = ${u32(o.V)};
const IGNORE = ${i32(o.ignore)};
fn counts(t: i32) -> bool { return t != IGNORE && t >= 0 && t < i32(V); }`;
}

/** WGSL: the number of counted rows (every invocation scans all targets). */
const COUNT_ALL = `fn countAll() -> u32 {
  var c = 0u;
  for (var r = 0u; r < R; r++) { if (counts(targets[r])) { c++; } }
  return c;
}`;

/** WGSL: max and Σ exp(l − max) of the row at `off`, sequentially. */
const ROW_STATS = `fn rowStats(off: u32) -> vec2<f32> {
  var mx = logits[off];
  for (var j = 1u; j < V; j++) { mx = max(mx, logits[off + j]); }
  var se = 0.0;
  for (var j = 0u; j < V; j++) { se += exp(logits[off + j] - mx); }
  return vec2<f32>(mx, se);
}`;

/** cross_entropy: logits [..., V], targets i32 [...] → out [] (mean loss). */
export const crossEntropy: OpKernelGenOf<'cross_entropy'> = (req, caps) => {
  const o = operands(req);
  if (o.R !== o.RT) fail(req.op, 'the mean loss kernel takes all rows at once; pieces use crossEntropyRows');
  checkOutput(req, []);
  const WG = workgroupLimit(caps, caps.isSoftware ? 64 : 1024);
  const d = declare([
    { name: 'in0', variable: 'logits', type: 'f32' },
    { name: 'in1', variable: 'targets', type: 'i32' },
    { name: 'out', variable: 'out', type: 'f32' },
  ]);
  const wgsl = `// cross_entropy: logits ${fmt(o.logits)}, targets → out [] = mean over counted rows of −log softmax[target]
// one workgroup of ${WG}; invocation lid takes rows lid, lid + ${WG}, …
${constants(o)}
const WG = ${u32(WG)};
${d.wgsl}
${ROW_STATS}
var<workgroup> part: array<f32, ${WG}>;
var<workgroup> cnt: array<u32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  var c = 0u;
  for (var r = lid; r < R; r += WG) {
    let t = targets[r];
    if (counts(t)) {
      let off = r * V;
      let st = rowStats(off);
      s += log(st.y) - (logits[off + u32(t)] - st.x);
      c++;
    }
  }
  part[lid] = s;
  cnt[lid] = c;
  workgroupBarrier();
  if (lid == 0u) {
    var total = 0.0;
    var count = 0u;
    for (var k = 0u; k < WG; k++) {
      total += part[k];
      count += cnt[k];
    }
    out[0] = select(total / f32(count), 0.0, count == 0u);
  }
}
`;
  return { label: `cross_entropy_${o.R}x${o.V}`, wgsl, bindings: d.bindings, workgroups: [1, 1, 1] };
};

/**
 * Which variant the row kernels use: one invocation per row on software adapters, unless its
 * sequential passes (three over V, one over the targets) would pass LOOP_BUDGET iterations.
 */
export function crossEntropyVariantFor(caps: Pick<GpuCaps, 'isSoftware'>, shape?: { R: number; V: number }): 'row' | 'workgroup' {
  if (!caps.isSoftware) return 'workgroup';
  return shape && 3 * shape.V + shape.R > LOOP_BUDGET ? 'workgroup' : 'row';
}

/** What a row kernel writes: dlogits, dlogits and the per-row losses, or only the losses. */
type RowMode = 'grad' | 'fused' | 'loss';

/** One row kernel: see the file's comment for the three modes. */
function rowKernel(req: LossRequest, caps: GpuCaps, mode: RowMode): Omit<OpKernel, 'bindings'> & { bindings: (BindingName | 'loss')[] } {
  const o = operands(req);
  if (mode !== 'loss') checkOutput(req, o.logits);
  const grad = mode !== 'loss';
  const lossOut = mode !== 'grad';
  const list: { name: BindingName | 'loss'; variable: string; type: string; write?: boolean }[] = [
    { name: 'in0', variable: 'logits', type: 'f32' },
    { name: 'in1', variable: 'targets', type: 'i32' },
  ];
  if (grad) list.push({ name: 'out', variable: 'out', type: 'f32' });
  if (lossOut) list.push({ name: 'loss', variable: 'loss', type: 'f32', write: true });
  const d = declare(list);
  const workgroup = crossEntropyVariantFor(caps, { R: o.RT, V: o.V }) === 'workgroup';
  const name = { grad: 'cross_entropy_grad', fused: 'cross_entropy_fused', loss: 'cross_entropy_rows' }[mode];
  const lossLine = (indent: string, value: string) => (lossOut ? `\n${indent}loss[row] = ${value};` : '');
  let g: Grid;
  let body: string;
  let helpers: string;
  if (!workgroup) {
    g = grid(req.op, o.R, caps, { heavy: true });
    helpers = grad ? COUNT_ALL : `${COUNT_ALL}\n${ROW_STATS}`;
    const head = `  let row = i;
  let off = row * V;
  let t = targets[ROW0 + row];
  if (!counts(t)) {${grad ? '\n    for (var j = 0u; j < V; j++) { out[off + j] = 0.0; }' : ''}${lossLine('    ', '0.0')}
    return;
  }
  let inv = 1.0 / f32(countAll());`;
    body = grad
      ? `${head}
  var mx = logits[off];
  for (var j = 1u; j < V; j++) { mx = max(mx, logits[off + j]); }
  // out holds exp(l − max) until the sum is known (one exp per logit)
  var se = 0.0;
  for (var j = 0u; j < V; j++) {
    let e = exp(logits[off + j] - mx);
    out[off + j] = e;
    se += e;
  }
  let is = 1.0 / se;
  for (var j = 0u; j < V; j++) { out[off + j] = out[off + j] * is * inv; }
  out[off + u32(t)] -= inv;${lossLine('  ', '(log(se) - (logits[off + u32(t)] - mx)) * inv')}`
      : `${head}
  let st = rowStats(off);${lossLine('  ', '(log(st.y) - (logits[off + u32(t)] - st.x)) * inv')}`;
  } else {
    g = rowGroups(req.op, o.R, caps, 3);
    const WG = u32(g.wg);
    helpers = workgroupReductions(g.wg, 3);
    // No early return: every invocation reaches every barrier; uncounted rows write zeros.
    body = `  let off = row * V;
  let t = targets[ROW0 + row];
  let keep = counts(t);
  let tc = u32(clamp(t, 0i, i32(V) - 1i));
  var c = 0.0;
  for (var r = lid; r < R; r += ${WG}) { if (counts(targets[r])) { c += 1.0; } }
  let inv = 1.0 / max(wgSum(c, lid, 0u), 1.0);
  var m = logits[off];
  for (var j = lid; j < V; j += ${WG}) { m = max(m, logits[off + j]); }
  let mx = wgMax(m, lid, 1u);
  var s = 0.0;
  for (var j = lid; j < V; j += ${WG}) {
    let e = exp(logits[off + j] - mx);${grad ? '\n    out[off + j] = e; // this invocation\'s own elements: exp(l − max) until the sum is known' : ''}
    s += e;
  }
  let se = wgSum(s, lid, 2u);${
    grad
      ? `
  let is = 1.0 / se;
  for (var j = lid; j < V; j += ${WG}) {
    out[off + j] = select(0.0, (out[off + j] * is - select(0.0, 1.0, j == tc)) * inv, keep);
  }`
      : ''
  }${lossOut ? '\n  if (lid == 0u) { loss[row] = select(0.0, (log(se) - (logits[off + tc] - mx)) * inv, keep); }' : ''}`;
  }
  const piece = o.R < o.RT ? ` (rows ${o.row0} … ${o.row0 + o.R - 1} of ${o.RT})` : '';
  const outputs = [grad ? `dlogits ${fmt(o.logits)}` : '', lossOut ? `loss [${o.R}] (per-row loss / count)` : ''].filter(Boolean).join(', ');
  const wgsl = `// ${name}: logits ${fmt(o.logits)}${piece}, targets → ${outputs}
// ${workgroup ? 'one workgroup' : 'one invocation'} per row
${constants(o)}
${d.wgsl}
${helpers}
${g.entry}
${g.prologue}
${body}
}
`;
  const label = `${name}_${workgroup ? 'wg' : 'row'}_${o.R}x${o.V}${o.R < o.RT ? `_rows${o.row0}` : ''}`;
  return { label, wgsl, bindings: d.bindings, workgroups: g.workgroups };
}

/** cross_entropy_grad: logits [..., V], targets i32 [...] → dlogits [..., V]. */
export const crossEntropyGrad: OpKernelGenOf<'cross_entropy_grad'> = (req, caps) => {
  const k = rowKernel(req, caps, 'grad');
  if (k.bindings.includes('loss')) throw new CodegenError('internal', 'cross_entropy_grad binds no loss');
  return k as OpKernel;
};

/** A kernel with the bindings `in0` (logits), `in1` (targets), `out` (dlogits), `loss` (f32 [R]). */
export interface CrossEntropyFusedKernel extends Omit<OpKernel, 'bindings'> {
  bindings: (BindingName | 'loss')[];
  /** Shape of the `loss` output: [R], R = the number of rows. */
  lossShape: [number];
}

/**
 * The fused loss and gradient: request as for cross_entropy_grad (inputs logits, targets;
 * attrs ignore_index; output = dlogits, the logits' shape); the kernel also writes `loss`.
 */
export function crossEntropyFused(req: LossRequest, caps: GpuCaps): CrossEntropyFusedKernel {
  const k = rowKernel(req, caps, 'fused');
  const R = rowsOf(req, req.inputs[0]!.shape)[0];
  return { ...k, lossShape: [R] };
}

/**
 * The per-row losses only (bindings `in0` logits, `in1` targets, `loss` f32 [R]): for the loss of
 * logits too large for one binding, a piece at a time (request as for cross_entropy, with attr `row0`).
 */
export function crossEntropyRows(req: LossRequest, caps: GpuCaps): CrossEntropyFusedKernel {
  const k = rowKernel(req, caps, 'loss');
  const R = rowsOf(req, req.inputs[0]!.shape)[0];
  return { ...k, lossShape: [R] };
}

export const CROSS_ENTROPY_KERNELS = {
  cross_entropy: crossEntropy,
  cross_entropy_grad: crossEntropyGrad,
} satisfies OpKernelTable;
