// attention and attention_lse: the softmax over the visible keys is online (running max m,
// running sum l, rescaled when m grows); lse = m + log l, so attention writes its lse for free
// (attentionWithLse, the plan's attention_lse fusion, which the gradients read).
import type { GpuCaps, OpKernel } from '../types.ts';
import type { AttentionRequest } from './spec.ts';
import { at, each, loadVec, treeSum } from '../unroll.ts';
import { queryKernel, type BlockBody, type QueryBodies, type RowBody } from './query.ts';
import { NEG } from './row-block.ts';

/**
 * WGSL: the online softmax statistics of one query over its keys j < n — the running max m and
 * l = Σ e^(s−m). `body` defines the key's score `s` for key `j`.
 */
function softmaxStats(j: string, n: string, body: string): string {
  return `var m = 0.0;
  var l = 1.0;
  for (var ${j} = 0u; ${j} < ${n}; ${j}++) {
    ${body}
    if (${j} == 0u) { m = s; continue; }
    if (s > m) {
      l *= exp(m - s);
      m = s;
    }
    l += exp(s - m);
  }`;
}

/** One query row: the weighted sum a of values, rescaled as the running max grows. */
const rowForward = ({ n, score, withLse }: RowBody): string => `
  // key 0 starts the running max m, the sum l and the weighted sum a of values
  var m = 0.0;
  var l = 1.0;
  ${loadVec('var', 'a', 'v', 'kb', n)}
  {
    let ko = kb;
    ${score}
    m = s;
  }
  for (var j = 1u; j < n; j++) {
    let ko = kb + j * KS;
    ${score}
    if (s > m) {
      let r = exp(m - s);
      l *= r;
      ${each(n, (c) => `a${c} *= r;`)}
      m = s;
    }
    let p = exp(s - m);
    l += p;
    ${each(n, (c) => `a${c} += p * ${at('v', 'ko', c)};`)}
  }
  let inv = 1.0 / l;
  ${each(n, (c) => `${at('out', 'qo', c)} = a${c} * inv;`)}
  ${withLse ? 'lse[lseAt(b, h, qi)] = m + log(l);' : ''}`;

const rowLse = ({ score }: RowBody): string => `
  ${softmaxStats('j', 'n', `let ko = kb + j * KS;
    ${score}`)}
  lse[lseAt(b, h, qi)] = m + log(l);`;

/** A block of query rows: per key block, one rescale per row, then each value vector loaded serves every row. */
const blockForward = ({ rb, n, T, withLse, store, lseOf }: BlockBody): string => {
  const perRow = rb.perRow.bind(rb);
  return `
  ${perRow((r) => `var m${r} = ${NEG}; var l${r} = 0.0;`)}
  ${perRow((r) => each(n, (c) => `var a${r}_${c} = ${T}();`), '\n  ')}
  for (var jb = 0u; jb < nmax; jb += KB) {
    ${rb.keyOffsets()}
    ${rb.scores(false)}
    ${rb.rescale()}
    ${perRow((r) => `l${r} = l${r} * rr${r} + ${treeSum(rb.keys.map((t) => `p${r}_${t}`))}; ${each(n, (c) => `a${r}_${c} *= rr${r};`)}`, '\n    ')}
    ${rb.perKey((t) => `{ ${loadVec('let', 'v', 'v', `ko${t}`, n)}
      ${perRow((r) => each(n, (c) => `a${r}_${c} += p${r}_${t} * v${c};`), '\n      ')} }`)}
  }
  ${perRow((r) => `let inv${r} = 1.0 / l${r};`)}
  ${store((r, c) => `a${r}_${c} * inv${r}`, withLse ? lseOf : undefined)}`;
};

const blockLse = ({ rb, lseOf, inRange }: BlockBody): string => `
  ${rb.stats()}
  ${rb.perRow((r) => `if (${inRange(r)}) { ${lseOf(r)} }`, '\n  ')}`;

const FORWARD: QueryBodies = { row: rowForward, block: blockForward };
const LSE: QueryBodies = { row: rowLse, block: blockLse };

/** attention: out_i = Σ_j softmax_j(q_i·k_j/√hd) v_j over the visible keys. */
export const attentionKernel = (req: AttentionRequest, caps: GpuCaps): OpKernel => queryKernel(req, caps, 'forward', FORWARD);

/** attention_lse: lse[b,h,i] = log Σ_j e^(s_ij) over the visible keys. */
export const attentionLseKernel = (req: AttentionRequest, caps: GpuCaps): OpKernel => queryKernel(req, caps, 'lse', LSE);

/**
 * attention and attention_lse of the same operands in one kernel (the plan's attention_lse
 * fusion): the request is attention's; `out` is its output, `out1` the lse [B,H,S], which the
 * online softmax has for free (m + log l).
 */
export function attentionWithLse(req: AttentionRequest, caps: GpuCaps): OpKernel {
  return queryKernel(req, caps, 'forward', FORWARD, true);
}
