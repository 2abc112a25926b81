// attention_grad_q: with p_ij = e^(s_ij − lse_i) and D_i = dy_i·o_i (= Σ_j p_ij·dP_ij) read from
// the forward, one pass accumulates dq_i = Σ_j p_ij (dP_ij − D_i) k_j / √hd (dP_ij = dy_i·v_j):
// no running max, no rescaling.
import { u32 } from '../common.ts';
import type { GpuCaps, OpKernel } from '../types.ts';
import type { AttentionRequest } from './spec.ts';
import { at, dotBufs, dotVec, each, loadVec } from '../unroll.ts';
import { queryKernel, type BlockBody, type QueryBodies, type RowBody } from './query.ts';

const rowGradQ = ({ n, T, score }: RowBody): string => `
  ${loadVec('let', 'g', 'dy', 'qo', n)}
  let L = lse[lseAt(b, h, qi)];
  let D = ${dotVec('g', 'o', 'qo', n)}; // Σ_j p_j dP_j
  // dq = Σ_j p_j (dP_j − D) · k_j / √hd
  ${each(n, (c) => `var a${c} = ${T}();`)}
  for (var j = 0u; j < n; j++) {
    let ko = kb + j * KS;
    ${score}
    let dp = ${dotVec('g', 'v', 'ko', n)};
    let ds = exp(s - L) * (dp - D);
    ${each(n, (c) => `a${c} += ds * ${at('k', 'ko', c)};`)}
  }
  ${each(n, (c) => `${at('out', 'qo', c)} = a${c} * SCALE;`)}`;

/** A block of query rows: each k vector loaded serves every row's dq. */
const blockGradQ = ({ rb, n, T, store }: BlockBody): string => {
  const perRow = rb.perRow.bind(rb);
  return `
  ${perRow((r) => loadVec('let', `g${r}_`, 'dy', `qo${r}`, n), '\n  ')}
  ${perRow((r) => `let L${r} = lse[lseAt(b, h, qi${r})]; let D${r} = ${dotBufs('dy', 'o', `qo${r}`, n)};`, '\n  ')}
  ${perRow((r) => each(n, (c) => `var a${r}_${c} = ${T}();`), '\n  ')}
  for (var jb = 0u; jb < nmax; jb += KB) {
    ${rb.keyOffsets()}
    ${rb.scores(true)}
    ${rb.perKey((t) => perRow((r) => `let ds${r}_${t} = select(0.0, exp(s${r}_${t} - L${r}) * (dp${r}_${t} - D${r}), jb + ${u32(t)} < n${r});`, ' '))}
    ${rb.perKey((t) => `{ ${loadVec('let', 'k', 'k', `ko${t}`, n)}
      ${perRow((r) => each(n, (c) => `a${r}_${c} += ds${r}_${t} * k${c};`), '\n      ')} }`)}
  }
  ${store((r, c) => `a${r}_${c} * SCALE`)}`;
};

const GRAD_Q: QueryBodies = { row: rowGradQ, block: blockGradQ };

/** attention_grad_q: dq_i = Σ_j dS_ij · k_j / √hd. */
export const attentionGradQKernel = (req: AttentionRequest, caps: GpuCaps): OpKernel => queryKernel(req, caps, 'grad', GRAD_Q);
