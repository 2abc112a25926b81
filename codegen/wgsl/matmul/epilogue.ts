// The matmul epilogue: what happens to a 4×4 block of the product before it is stored. In order,
// after alpha, the second product and the bias: · act'(pre) (activationGrad), act (activation),
// the second output act(v) (activationOut), dropout, + res (residual); then C = v, or C += v.

import type { MatmulSpec } from '../../../compiler/lower/matmul-spec.ts';
import { vec4Of } from '../unroll.ts';
import { f32 } from './spec.ts';

/** Whether the epilogue transforms the whole sum (so an accumulating piece reads C first). */
const transformsSum = (spec: MatmulSpec): boolean =>
  !!(spec.activation || spec.activationGrad || spec.activationOut || spec.dropout || spec.residual);

export interface EpilogueAt {
  /** The accumulator: array<vec4<f32>, 4> or a mat4x4, row r of the block in acc[r]. */
  acc: string;
  /** The block's first row (a WGSL expression); its first column is n0. */
  rowBase: string;
  /** The first block of the invocation: declares what all its blocks share (the bias, dropout's key). */
  first: boolean;
  /** The second product's accumulator, laid out as acc ('' when none). */
  acc2: string;
}

/**
 * The epilogue, inside `fn main` after the products, for the 4×4 block at (rowBase, n0). Writes
 * rows below M and columns below N. c4 / bias4: C-shaped bindings and the bias are vec4 arrays.
 */
export function epilogue(spec: MatmulSpec, c4: boolean, bias4: boolean, at: Partial<EpilogueAt> = {}): string {
  const { acc = 'acc', rowBase = 'm0', first = true, acc2 = '' } = at;
  const { N } = spec;
  const lines: string[] = [];
  const alpha = spec.alpha ?? 1;
  let biasExpr = '';
  if (spec.bias) {
    if (first) lines.push(bias4 ? '  let bv = bias[n0 / 4u];' : `  let bv = ${vec4Of((j) => `bias[min(n0${j ? ` + ${j}u` : ''}, ${N - 1}u)]`)};`);
    biasExpr = ' + bv';
  }
  if (spec.dropout && first) lines.push('  let key = pcg(DROP_SEED + pcg(globals[0]));');
  lines.push('  for (var r = 0u; r < 4u; r++) {');
  lines.push(`    let m = ${rowBase} + r;`);
  lines.push('    if (m >= M) { break; }');
  // ci: where (m, n0) is in C's binding, and in the bindings laid out like C (pre, res, activated).
  lines.push(c4 ? '    let ci = (m * LDC + CC + n0) / 4u;' : '    let ci = m * LDC + CC + n0;');
  // Four columns of a C-shaped binding; scalar reads clamp columns past N (they are never stored).
  const load = (arr: string): string => (c4 ? `${arr}[ci]` : vec4Of((j) => (j === 0 ? `${arr}[ci]` : `${arr}[m * LDC + CC + min(n0 + ${j}u, N - 1u)]`)));
  const store = (arr: string, value: string, op = '='): void => {
    if (c4) {
      lines.push(`    ${arr}[ci] ${op} ${value};`);
      return;
    }
    lines.push('    for (var j = 0u; j < 4u; j++) {');
    lines.push(`      if (n0 + j < N) { ${arr}[ci + j] ${op} ${value}[j]; }`);
    lines.push('    }');
  };
  let v = alpha === 1 ? `${acc}[r]` : `${f32(alpha)} * ${acc}[r]`;
  if (spec.second && acc2) {
    const alpha2 = spec.second.alpha ?? 1;
    v = `${v} + ${alpha2 === 1 ? '' : `${f32(alpha2)} * `}${acc2}[r]`;
  }
  lines.push(`    var v = ${v}${biasExpr};`);
  const whole = transformsSum(spec);
  if (spec.accumulate && whole) lines.push(`    v += ${load('c')};`);
  if (spec.activationGrad) lines.push(`    v = dact(${load('pre')}, v);`);
  if (spec.activation) lines.push('    v = act(v);');
  if (spec.activationOut) store('activated', 'act(v)');
  if (spec.dropout) {
    lines.push('    let e = vec4<u32>(DROP0 + m * LDC + CC + n0) + vec4<u32>(0u, 1u, 2u, 3u); // the dropout tensor\'s element indices');
    lines.push('    v = select(vec4<f32>(0.0), v * DROP_SCALE, pcg4(e + key) >= vec4<u32>(DROP_THRESHOLD));');
  }
  if (spec.residual) lines.push(`    v += ${load('res')};`);
  store('c', 'v', spec.accumulate && !whole ? '+=' : '=');
  lines.push('  }');
  return lines.join('\n');
}
