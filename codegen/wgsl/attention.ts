// Scaled dot-product attention (causal + prefix mask, grouped kv heads), the log-sum-exp of its
// softmax rows, and its gradients.
//
//   q [B,S,H·hd], k and v [B,Sk,KV·hd] with Sk = prefix + S; query head h reads kv head
//   ⌊h·KV/H⌋ = ⌊h/G⌋ (G = H/KV); key j is visible to query i iff j < prefix, or not causal,
//   or j − prefix ≤ i: the visible keys of query i are 0 … n(i) − 1. With the optional lengths
//   i32 [B] (non-causal only), n = prefix + lengths[b]: the padding keys of row b are masked.
//   lse [B,H,S]: log Σ_j e^(s_ij) over the visible keys, s_ij = q_i·k_j/√hd.
//
// The backward reads the forward's output o and lse (operands 4 and 5 of the gradients), so it
// needs no softmax statistics pass: p_ij = e^(s_ij − lse_i), and the softmax backward's
// Σ_j p_ij·dP_ij (dP_ij = dy_i·v_j) is dy_i·o_i. With them,
//   dq_i = Σ_j p_ij (dP_ij − dy_i·o_i) k_j / √hd,  dk_j = Σ_i p_ij (dP_ij − dy_i·o_i) q_i / √hd,
//   dv_j = Σ_i p_ij dy_i   (sums over the heads of the kv head's group for dk, dv).
// The plan computes lse in the forward attention's kernel (attentionWithLse) and dk with dv in
// one kernel (attentionGradKV), which shares p_ij between them.
//
// Written for CPU adapters first: no workgroup memory, no barriers, no atomics (one exception:
// the hardware variant of grad_k / grad_v, keyGradWorkgroup below).
//   attention, attention_lse, attention_grad_q: one invocation per (batch, head, query row), or
//     on software adapters per block of query rows. The forward's softmax is online (running max
//     m, running sum l, rescaled when m grows); lse = m + log l.
//   attention_grad_k / _v: on software adapters one invocation per (batch, kv head, block of J
//     keys; one block when B·KV ≥ 32), which owns those rows of dk / dv and walks them R keys at a
//     time with their gradients in registers over every query that sees them (each q / dy row
//     loaded serves R keys). On hardware GPUs that leaves each invocation a long serial loop, so
//     there a workgroup of 64 invocations, one key each, shares 64 queries' lse and dy·o at a time.
// Vectors along hd are vec4 when hd % 4 = 0, unrolled into named registers (see below).
import { type Binding, LOOP_BUDGET, boolAttr, ceilDiv, checkOutput, declare, f32, fail, failLimit, fmt, grid, intAttr, operand, optOperand, u32, widthFor } from './common.ts';
import type { AdapterCaps, BindingName, OpKernel, OpKernelGen, OpKernelRequest } from './types.ts';

/** What a kernel computes: attention, its lse, or a gradient (which reads dy, o and lse). */
type Kind = 'forward' | 'lse' | 'grad';

interface Geometry {
  B: number;
  S: number;
  Sk: number;
  H: number;
  KV: number;
  hd: number;
  causal: boolean;
  prefix: number;
  qShape: number[];
  kShape: number[];
  lseShape: number[];
  /** The binding of the lengths operand when it masks keys (non-causal attention given one). */
  lengths?: BindingName;
}

/** Operand index of lengths: attention (q, k, v, lengths?), attention_lse (q, k, lengths?), gradients (q, k, v, dy, o, lse, lengths?). */
const LENGTHS_AT: Record<Kind, number> = { forward: 3, lse: 2, grad: 6 };

function geometry(req: OpKernelRequest, kind: Kind): Geometry {
  const q = operand(req, 0, 'q', 'f32').shape;
  const k = operand(req, 1, 'k', 'f32').shape;
  const H = intAttr(req, 'heads');
  const KV = intAttr(req, 'kv_heads');
  const causal = boolAttr(req, 'causal');
  const prefix = intAttr(req, 'prefix');
  if (q.length !== 3) fail(req.op, `q must be [B, S, heads·hd], got ${fmt(q)}`);
  const [B, S, qd] = q as [number, number, number];
  if (H <= 0 || qd % H !== 0) fail(req.op, `q features ${qd} are not divisible by heads ${H}`);
  if (KV <= 0 || H % KV !== 0) fail(req.op, `heads ${H} must be a multiple of kv_heads ${KV}`);
  if (prefix < 0) fail(req.op, `prefix must be ≥ 0, got ${prefix}`);
  const hd = qd / H;
  const Sk = prefix + S;
  const want = [B, Sk, KV * hd];
  const kv: [string, number[]][] = [['k', k]];
  if (kind !== 'lse') kv.push(['v', operand(req, 2, 'v', 'f32').shape]);
  for (const [name, t] of kv) {
    if (t.length !== 3 || t.some((d, i) => d !== want[i])) fail(req.op, `${name} must be ${fmt(want)} (Sk = prefix + S = ${prefix} + ${S}), got ${fmt(t)}`);
  }
  const lseShape = [B, H, S];
  if (kind === 'grad') {
    for (const [i, name] of [[3, 'dy'], [4, 'o']] as const) {
      const t = operand(req, i, name, 'f32').shape;
      if (t.length !== 3 || t.some((d, c) => d !== q[c])) fail(req.op, `${name} ${fmt(t)} must match q ${fmt(q)}`);
    }
    const lse = operand(req, 5, 'lse', 'f32').shape;
    if (lse.length !== 3 || lse.some((d, c) => d !== lseShape[c])) fail(req.op, `lse must be ${fmt(lseShape)}, got ${fmt(lse)}`);
  }
  const li = LENGTHS_AT[kind];
  const len = optOperand(req, li, 'lengths', 'i32');
  if (len && (len.shape.length !== 1 || len.shape[0] !== B)) fail(req.op, `lengths must be [${B}], got ${fmt(len.shape)}`);
  const g: Geometry = { B, S, Sk, H, KV, hd, causal, prefix, qShape: q, kShape: want, lseShape };
  if (len && !causal) g.lengths = `in${li}`;
  return g;
}

/** Constants and helpers shared by the kernels. */
function preamble(g: Geometry, w: 1 | 4, op: string): string {
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  return `// ${op}: q [${g.B},${g.S},${g.H}·${g.hd}], k v [${g.B},${g.Sk},${g.KV}·${g.hd}], ${g.causal ? 'causal' : 'bidirectional'}, prefix ${g.prefix}
alias T = ${T};
const S = ${u32(g.S)};
const SK = ${u32(g.Sk)};
const H = ${u32(g.H)};
const KV = ${u32(g.KV)};
const G = ${u32(g.H / g.KV)}; // query heads per kv head
const HDW = ${u32(g.hd / w)}; // head size in units of T
const QS = ${u32((g.H * g.hd) / w)}; // q / dy / o row stride
const KS = ${u32((g.KV * g.hd) / w)}; // k / v row stride
const PREFIX = ${u32(g.prefix)};
const SCALE = ${f32(1 / Math.sqrt(g.hd))};
fn dot4(a: T, b: T) -> f32 { return ${w === 4 ? 'dot(a, b)' : 'a * b'}; }
// Number of keys visible to query i of row b (keys 0 … n − 1).
fn visible(b: u32, i: u32) -> u32 { return ${g.causal ? 'PREFIX + i + 1u' : g.lengths ? 'PREFIX + u32(lengths[b])' : 'SK'}; }
// Where lse of (row b, head h, query i) is.
fn lseAt(b: u32, h: u32, i: u32) -> u32 { return (b * H + h) * S + i; }`;
}

/** Which operands and results a kernel binds. */
interface Uses {
  v?: boolean;
  dy?: boolean;
  o?: boolean;
  /** lse: read (`in`, a gradient), written (`out1`, beside attention's output; `out`, attention_lse). */
  lse?: 'in' | 'out1' | 'out';
  /** out1 holds dv beside dk in `out` (attentionGradKV). */
  dv?: boolean;
}

/** What the per-query kernels bind: attention (and its lse, `withLse`), attention_lse, or grad_q. */
function queryUses(kind: Kind, withLse: boolean): Uses {
  if (kind === 'grad') return { v: true, dy: true, o: true, lse: 'in' };
  if (kind === 'lse') return { lse: 'out' };
  return withLse ? { v: true, lse: 'out1' } : { v: true };
}

function bindings(T: string, use: Uses, lengths?: BindingName): { wgsl: string; bindings: BindingName[] } {
  const list: Binding[] = [
    { name: 'in0', variable: 'q', type: T },
    { name: 'in1', variable: 'k', type: T },
  ];
  if (use.v) list.push({ name: 'in2', variable: 'v', type: T });
  if (use.dy) list.push({ name: 'in3', variable: 'dy', type: T });
  if (use.o) list.push({ name: 'in4', variable: 'o', type: T });
  if (use.lse === 'in') list.push({ name: 'in5', variable: 'lse', type: 'f32' });
  if (lengths) list.push({ name: lengths, variable: 'lengths', type: 'i32' });
  list.push({ name: 'out', variable: use.lse === 'out' ? 'lse' : 'out', type: use.lse === 'out' ? 'f32' : T });
  if (use.lse === 'out1') list.push({ name: 'out1', variable: 'lse', type: 'f32' });
  if (use.dv) list.push({ name: 'out1', variable: 'dv', type: T });
  return declare(list);
}

// ------------------------------------------------------------------ unrolled vector code
// Head vectors (hd/w values of T) are unrolled into named variables (q0 … q15 for hd = 64) so
// that they live in registers: on SwiftShader, private arrays indexed in loops ran 3–4× slower.

const names = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, c) => `${prefix}${c}`);

/** A balanced sum of terms (shorter dependency chains than a left fold). */
function treeSum(terms: string[]): string {
  if (terms.length === 1) return terms[0]!;
  const mid = Math.ceil(terms.length / 2);
  return `(${treeSum(terms.slice(0, mid))} + ${treeSum(terms.slice(mid))})`;
}

const at = (buf: string, base: string, c: number): string => `${buf}[${base}${c ? ` + ${c}u` : ''}]`;

/** `let p0 = buf[base]; …` (or `var`). */
const loadVec = (kw: 'let' | 'var', prefix: string, buf: string, base: string, n: number): string =>
  names(prefix, n).map((x, c) => `${kw} ${x} = ${at(buf, base, c)};`).join(' ');

/** The dot product of the register vector `prefix` with buf[base …]. */
const dotVec = (prefix: string, buf: string, base: string, n: number): string =>
  treeSum(names(prefix, n).map((x, c) => `dot4(${x}, ${at(buf, base, c)})`));

/** The dot product of buf1[base …] and buf2[base …] (dy·o of a query row). */
const dotBufs = (buf1: string, buf2: string, base: string, n: number): string =>
  treeSum(Array.from({ length: n }, (_, c) => `dot4(${at(buf1, base, c)}, ${at(buf2, base, c)})`));

/** One statement per component, `f(c)` giving it. */
const each = (n: number, f: (c: number) => string): string => Array.from({ length: n }, (_, c) => f(c)).join(' ');

/** attention, attention_lse and attention_grad_q on hardware GPUs: one invocation per (b, h, query i). */
function perQuery(req: OpKernelRequest, caps: AdapterCaps, kind: Kind, withLse = false): OpKernel {
  const g = geometry(req, kind);
  checkOutput(req, kind === 'lse' ? g.lseShape : g.qShape);
  const w = widthFor(g.hd);
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const n = g.hd / w;
  const gr = grid(req.op, g.B * g.H * g.S, caps, { heavy: true });
  const grad = kind === 'grad';
  const d = bindings(T, queryUses(kind, withLse), g.lengths);
  const score = `let s = ${dotVec('q', 'k', 'ko', n)} * SCALE;`;
  const head = `  let qi = i % S;
  let h = (i / S) % H;
  let b = i / (S * H);
  let qo = (b * S + qi) * QS + h * HDW;
  let kb = b * SK * KS + (h / G) * HDW; // key j of this head at kb + j·KS
  let n = visible(b, qi);
  ${loadVec('let', 'q', 'q', 'qo', n)}`;
  const forward = `${head}
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
  const lse = `${head}
  ${softmaxStats('j', 'n', `let ko = kb + j * KS;
    ${score}`)}
  lse[lseAt(b, h, qi)] = m + log(l);`;
  const backward = `${head}
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
  const wgsl = `${preamble(g, w, req.op)}
${d.wgsl}
${gr.entry}
${gr.prologue}
${grad ? backward : kind === 'lse' ? lse : forward}
}
`;
  return { label: `${req.op}${withLse ? '+lse' : ''}_${g.B}x${g.S}x${g.H}x${g.hd}`, wgsl, bindings: d.bindings, workgroups: gr.workgroups };
}

/**
 * Software kernels handle several query rows at a time, so that each k / v vector loaded serves
 * all of them. On CPU adapters a load whose address differs across SIMD lanes is a per-lane
 * gather (llvmpipe loops over the lanes), and it, not the arithmetic, sets the speed: one query
 * per invocation loads 2·hd floats per (query, key) for 2·hd multiply-adds. A row keeps its
 * vectors in registers (q and the output for attention; q, dy and dq for grad_q), so the rows per
 * block shrink as the head grows; measured on the benchmark model (hd = 32): attention 8 rows;
 * grad_q 8 (0.75× the time of 4 on SwiftShader, 0.98× on llvmpipe; 6 and 12 were slower on both).
 */
const ROW_REG_VECTORS = { attention: 64, grad_q: 64 } as const;
/** Keys per block of the online softmax: one max and one rescale per block, not per key (2 and 8 were no better). */
const KEY_BLOCK = 4;
/** A score below every real one: masked keys (the softmax starts from it; WGSL floats are finite). */
const NEG = '-3.0e38';

/** Query rows per block in the software kernels, for a head of hd. */
export function queryBlock(hd: number, use: keyof typeof ROW_REG_VECTORS): number {
  const n = hd / widthFor(hd);
  return Math.max(1, Math.min(8, Math.floor(ROW_REG_VECTORS[use] / n)));
}

/**
 * WGSL pieces for a block of QB query rows against blocks of KB keys. The caller defines, per
 * row r: n{r} (its visible keys), q{r}_0 … (its q vector), g{r}_0 … (its dy vector, when dP is
 * needed), and kb (key 0 of the kv head) and nmax (the most keys any row sees). Keys a row does
 * not see get weight 0, so the rows share every load.
 */
class RowBlock {
  readonly rows: number[];
  readonly keys: number[];
  constructor(
    readonly QB: number,
    readonly n: number,
    readonly KB = KEY_BLOCK,
  ) {
    this.rows = Array.from({ length: QB }, (_, r) => r);
    this.keys = Array.from({ length: KB }, (_, t) => t);
  }
  perRow(f: (r: number) => string, sep = ' '): string {
    return this.rows.map(f).join(sep);
  }
  perKey(f: (t: number) => string, sep = '\n    '): string {
    return this.keys.map(f).join(sep);
  }
  /** Row r's dot product of its register vector `x` with buf[base …]. */
  rowDot(x: string, r: number, buf: string, base: string): string {
    return treeSum(names(`${x}${r}_`, this.n).map((v, c) => `dot4(${v}, ${at(buf, base, c)})`));
  }
  /** Key jb + t of the block: its row offset (clamped past SK: masked, never read out of range). */
  keyOffsets(): string {
    return this.perKey((t) => `let ko${t} = kb + min(jb + ${u32(t)}, SK - 1u) * KS;`);
  }
  /** Scores s{r}_{t} of every (row, key) of the block, NEG where the row does not see the key; with dp{r}_{t} = dy·v. */
  scores(withDp: boolean): string {
    const s = this.perKey((t) =>
      this.perRow((r) => `let s${r}_${t} = select(${NEG}, ${this.rowDot('q', r, 'k', `ko${t}`)} * SCALE, jb + ${u32(t)} < n${r});`, '\n    '),
    );
    if (!withDp) return s;
    return `${s}
    ${this.perKey((t) => this.perRow((r) => `let dp${r}_${t} = ${this.rowDot('g', r, 'v', `ko${t}`)};`, '\n    '))}`;
  }
  /** Per row: the new running max, rr{r} the rescale of what came before, the block's weights p{r}_{t}. */
  rescale(): string {
    return this.perRow(
      (r) => `let mn${r} = max(m${r}, ${maxOf(this.keys.map((t) => `s${r}_${t}`))});
    let rr${r} = exp(m${r} - mn${r});
    m${r} = mn${r};
    ${this.perKey((t) => `let p${r}_${t} = select(0.0, exp(s${r}_${t} - mn${r}), jb + ${u32(t)} < n${r});`, ' ')}`,
      '\n    ',
    );
  }
  /** The online softmax statistics of each row over its keys: declares m{r} and l{r} = Σ e^(s−m). */
  stats(): string {
    return `${this.perRow((r) => `var m${r} = ${NEG}; var l${r} = 0.0;`)}
  for (var jb = 0u; jb < nmax; jb += ${u32(this.KB)}) {
    ${this.keyOffsets()}
    ${this.scores(false)}
    ${this.rescale()}
    ${this.perRow((r) => `l${r} = l${r} * rr${r} + ${treeSum(this.keys.map((t) => `p${r}_${t}`))};`, '\n    ')}
  }`;
  }
}

const maxOf = (xs: string[]): string => (xs.length === 1 ? xs[0]! : `max(${maxOf(xs.slice(0, Math.ceil(xs.length / 2)))}, ${maxOf(xs.slice(Math.ceil(xs.length / 2)))})`);

/**
 * attention, attention_lse and attention_grad_q on software adapters: one invocation per (b, h,
 * block of QB query rows), walking the keys visible to its last row KB at a time; a causal block
 * wastes at most its own diagonal. grad_q, with p = e^(s − lse) and D = dy·o known, is one pass
 * accumulating dq = Σ_j p_j (dP_j − D) k_j / √hd: no running max, no rescaling.
 */
function perQueryBlock(req: OpKernelRequest, caps: AdapterCaps, kind: Kind, withLse = false): OpKernel {
  const g = geometry(req, kind);
  checkOutput(req, kind === 'lse' ? g.lseShape : g.qShape);
  const w = widthFor(g.hd);
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const n = g.hd / w;
  const grad = kind === 'grad';
  const QB = queryBlock(g.hd, grad ? 'grad_q' : 'attention');
  const rb = new RowBlock(QB, n);
  const NQB = ceilDiv(g.S, QB);
  const gr = grid(req.op, g.B * g.H * NQB, caps, { heavy: true });
  const d = bindings(T, queryUses(kind, withLse), g.lengths);
  const perRow = rb.perRow.bind(rb);
  const head = `  let qb = i % NQB;
  let h = (i / NQB) % H;
  let b = i / (NQB * H);
  let kb = b * SK * KS + (h / G) * HDW; // key j of this head at kb + j·KS
  // rows past S repeat row S − 1: computed, never stored
  ${perRow((r) => `let qi${r} = min(qb * QB + ${u32(r)}, S - 1u);`)}
  ${perRow((r) => `let qo${r} = (b * S + qi${r}) * QS + h * HDW;`)}
  ${perRow((r) => `let n${r} = visible(b, qi${r});`)}
  let nmax = ${maxOf(rb.rows.map((r) => `n${r}`))};
  ${perRow((r) => loadVec('let', `q${r}_`, 'q', `qo${r}`, n), '\n  ')}`;
  const inRange = (r: number) => `qb * QB + ${u32(r)} < S`;
  const store = (value: (r: number, c: number) => string, extra: (r: number) => string = () => ''): string =>
    perRow((r) => `if (${inRange(r)}) { ${each(n, (c) => `${at('out', `qo${r}`, c)} = ${value(r, c)};`)} ${extra(r)} }`, '\n  ');
  const lseOf = (r: number) => `lse[lseAt(b, h, qi${r})] = m${r} + log(l${r});`;
  const forward = `${head}
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
  const lse = `${head}
  ${rb.stats()}
  ${perRow((r) => `if (${inRange(r)}) { ${lseOf(r)} }`, '\n  ')}`;
  const backward = `${head}
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
  const wgsl = `${preamble(g, w, req.op)}
const QB = ${u32(QB)}; // query rows per invocation
const KB = ${u32(rb.KB)}; // keys per block
const NQB = ${u32(NQB)}; // query blocks per (batch, head)
${d.wgsl}
${gr.entry}
${gr.prologue}
${grad ? backward : kind === 'lse' ? lse : forward}
}
`;
  return { label: `${req.op}${withLse ? '+lse' : ''}_${g.B}x${g.S}x${g.H}x${g.hd}_QB${QB}`, wgsl, bindings: d.bindings, workgroups: gr.workgroups };
}

/** Which variant attention, attention_lse and attention_grad_q use on an adapter. */
export function queryVariantFor(caps: Pick<AdapterCaps, 'isSoftware'>): 'block' | 'row' {
  return caps.isSoftware ? 'block' : 'row';
}

const perQueryKernel = (req: OpKernelRequest, caps: AdapterCaps, kind: Kind, withLse = false): OpKernel =>
  (queryVariantFor(caps) === 'block' ? perQueryBlock : perQuery)(req, caps, kind, withLse);

/**
 * attention and attention_lse of the same operands in one kernel (the plan's attention_lse
 * fusion): the request is attention's; `out` is its output, `out1` the lse [B,H,S], which the
 * online softmax has for free (m + log l).
 */
export function attentionWithLse(req: OpKernelRequest, caps: AdapterCaps): OpKernel {
  return perQueryKernel(req, caps, 'forward', true);
}

/** The key gradients a kernel computes: dk, dv, or both (attentionGradKV: dk in `out`, dv in `out1`). */
type KeyGrads = 'k' | 'v' | 'kv';

/**
 * Software grad_k / grad_v: about this many invocations. Each walks every query that sees its keys
 * once per R keys, loading the query's q and dy rows. On the benchmark model (B·KV = 32, one key
 * block each) 32 had beaten 64 by 1.8× when each invocation also recomputed the softmax
 * statistics; reading lse, 64 are no faster (0.98× SwiftShader, 1.04× llvmpipe).
 */
const KEY_GRAD_INVOCATIONS = 32;
/** Queries whose lse and dy·o an invocation keeps at a time (private arrays). */
const QUERY_CHUNK = 128;
/**
 * Keys updated together in registers, so that each loaded q / dy vector serves all of them: R keys
 * hold R·hd/w vectors each of k, v and the gradients, so R shrinks as the head grows (4 for hd = 32).
 */
const KEY_REG_VECTORS = 32;

/** Keys per invocation of grad_k / grad_v. */
export function keyBlock(g: Pick<Geometry, 'B' | 'KV' | 'Sk'>, caps: Pick<AdapterCaps, 'isSoftware'>): number {
  const target = caps.isSoftware ? KEY_GRAD_INVOCATIONS : 4096;
  return Math.min(g.Sk, Math.max(1, ceilDiv(g.B * g.KV * g.Sk, target)));
}

/**
 * Register vectors per key when dk and dv are computed together (k, v and both gradients): on
 * SwiftShader 24 (R = 3 for hd = 32: 0.67× the time of R = 4, which spills); on llvmpipe 32
 * (R = 4: R = 3 was 1.14× slower). Measured with bench/op-kernels.ts' kernels at the benchmark model.
 */
const keyRegVectors = (which: KeyGrads, caps: Pick<AdapterCaps, 'adapterClass'>): number => (which === 'kv' && caps.adapterClass === 'swiftshader' ? 24 : KEY_REG_VECTORS);

/** perKeyBlock's blocking: keys per invocation J (NB blocks), queries per chunk C, keys per register block R. */
function perKeyBlockShape(g: Geometry, caps: Pick<AdapterCaps, 'isSoftware' | 'adapterClass'>, which: KeyGrads): { J: number; NB: number; C: number; R: number } {
  const n = g.hd / widthFor(g.hd);
  const J = keyBlock(g, caps);
  return { J, NB: ceilDiv(g.Sk, J), C: Math.max(1, Math.min(QUERY_CHUNK, g.S)), R: Math.max(1, Math.min(Math.floor(keyRegVectors(which, caps) / n), J)) };
}

/** The gradient updates of key r for one query (x = its q row, y = its dy row, in registers). */
function keyUpdate(which: KeyGrads, r: number, n: number, p: string): string {
  const dv = each(n, (c) => `${which === 'kv' ? 'e' : 'a'}${r}_${c} += p * y${c};`);
  if (which === 'v') return `{ let p = ${p}; ${dv} }`;
  return `{ let p = ${p};
          let dp = ${treeSum(names(`v${r}_`, n).map((x, c) => `dot4(${x}, y${c})`))};
          let ds = p * (dp - sd) * SCALE;
          ${each(n, (c) => `a${r}_${c} += ds * x${c};`)}${which === 'kv' ? `\n          ${dv}` : ''} }`;
}

/**
 * attention_grad_k / _v (or both) on software adapters: one invocation per (kv head, b, block of
 * J keys). For each head of the group and each chunk of C queries that see a key of the block, it
 * copies the chunk's lse and computes its dy·o into private arrays, then walks the block R keys at
 * a time, their gradients in registers, over the chunk's queries, so each q / dy vector loaded
 * serves R keys and the gradients are read and written once per (chunk, key), not per (query, key).
 */
function perKeyBlock(req: OpKernelRequest, caps: AdapterCaps, which: KeyGrads): OpKernel {
  const g = geometry(req, 'grad');
  checkOutput(req, g.kShape);
  const w = widthFor(g.hd);
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const n = g.hd / w;
  const { J, NB, C, R } = perKeyBlockShape(g, caps, which);
  const gr = grid(req.op, g.B * g.KV * NB, caps, { heavy: true });
  const needK = which !== 'v';
  const d = bindings(T, { v: needK, dy: true, o: needK, lse: 'in', dv: which === 'kv' }, g.lengths);
  const outs: [string, string][] = which === 'kv' ? [['out', 'a'], ['dv', 'e']] : [['out', 'a']];
  const rs = Array.from({ length: R }, (_, r) => r);
  const keyLoads = rs
    .map(
      (r) => `let ko${r} = kb + min(j + ${u32(r)}, j1 - 1u) * KS;
      ${loadVec('let', `k${r}_`, 'k', `ko${r}`, n)}
      ${needK ? loadVec('let', `v${r}_`, 'v', `ko${r}`, n) : ''}
      ${outs.map(([buf, acc]) => loadVec('var', `${acc}${r}_`, buf, `ko${r}`, n)).join('\n      ')}`,
    )
    .join('\n      ');
  // Key j + r is visible to query qi iff j + r < visible(b, qi); the block's last key may lie past SK.
  const perKey = rs
    .map((r) => {
      const sr = `${treeSum(names(`k${r}_`, n).map((x, c) => `dot4(${x}, x${c})`))} * SCALE`;
      return keyUpdate(which, r, n, `select(0.0, exp(${sr} - sl), j + ${u32(r)} < nv)`);
    })
    .join('\n        ');
  const stores = rs
    .map((r) => `if (j + ${u32(r)} < jEnd) { ${outs.map(([buf, acc]) => each(n, (c) => `${at(buf, `ko${r}`, c)} = ${acc}${r}_${c};`)).join(' ')} }`)
    .join('\n      ');
  const op = which === 'kv' ? 'attention_grad_kv' : req.op;
  const wgsl = `${preamble(g, w, op)}
const J = ${u32(J)}; // keys per invocation
const NB = ${u32(NB)}; // key blocks per (batch, kv head)
const C = ${u32(C)}; // queries per chunk
const R = ${u32(R)}; // keys per register block
${d.wgsl}
${gr.entry}
${gr.prologue}
  // the block is the slowest index, so neighbouring invocations (SIMD lanes) run equal loops
  let kvh = i % KV;
  let b = (i / KV) % ${u32(g.B)};
  let blk = i / (KV * ${u32(g.B)});
  let j0 = blk * J;
  let j1 = min(j0 + J, SK);
  let kb = b * SK * KS + kvh * HDW;
  for (var j = j0; j < j1; j++) {
    let ko = kb + j * KS;
    ${outs.map(([buf]) => each(n, (c) => `${at(buf, 'ko', c)} = ${T}();`)).join(' ')}
  }
  var stL: array<f32, ${C}>;
  ${needK ? `var stD: array<f32, ${C}>;` : ''}
  // The first query that sees a key of this block: causal key j ≥ prefix is seen from i = j − prefix.
  let i0 = ${g.causal ? 'select(0u, j0 - PREFIX, j0 > PREFIX)' : '0u'};
  for (var hh = 0u; hh < G; hh++) {
    let h = kvh * G + hh;
    for (var c0 = i0; c0 < S; c0 += C) {
      let cEnd = min(c0 + C, S);
      for (var qi = c0; qi < cEnd; qi++) {
        stL[qi - c0] = lse[lseAt(b, h, qi)];
        ${needK ? `stD[qi - c0] = ${dotBufs('dy', 'o', '(b * S + qi) * QS + h * HDW', n)};` : ''}
      }
      // R keys at a time, over the chunk's queries that see the first of them
      let jEnd = min(j1, visible(b, cEnd - 1u));
      for (var j = j0; j < jEnd; j += R) {
      ${keyLoads}
      let qs = ${g.causal ? 'max(c0, select(0u, j - PREFIX, j > PREFIX))' : 'c0'};
      for (var qi = qs; qi < cEnd; qi++) {
        let qo = (b * S + qi) * QS + h * HDW;
        let nv = visible(b, qi);
        let sl = stL[qi - c0];
        ${needK ? 'let sd = stD[qi - c0];' : ''}
        ${loadVec('let', 'x', 'q', 'qo', n)}
        ${loadVec('let', 'y', 'dy', 'qo', n)}
        ${perKey}
      }
      ${stores}
      }
    }
  }
}
`;
  return { label: `${op}_${g.B}x${g.Sk}x${g.KV}x${g.hd}_J${J}_C${C}_R${R}`, wgsl, bindings: d.bindings, workgroups: gr.workgroups };
}

/** Keys per workgroup (= queries per chunk) of the workgroup variant of grad_k / grad_v. */
const KEY_GRAD_WG = 64;

/**
 * Loop iterations of one invocation (upper bounds, counting every loop): perKeyBlock zeroes J keys,
 * then per head of the group and chunk of C queries reads their lse (C) and walks its keys R at a
 * time over the chunk; the workgroup variant walks WG queries per chunk.
 */
function keyGradLoops(g: Geometry, caps: Pick<AdapterCaps, 'isSoftware' | 'adapterClass'>, variant: 'invocation' | 'workgroup', which: KeyGrads): number {
  const G = g.H / g.KV;
  if (variant === 'workgroup') return G * ceilDiv(g.S, KEY_GRAD_WG) * KEY_GRAD_WG;
  const { J, C, R } = perKeyBlockShape(g, caps, which);
  return J + G * ceilDiv(g.S, C) * (C + ceilDiv(J, R) * C);
}

/**
 * Which variant the key gradients use: the per-invocation key blocks on software adapters while
 * an invocation stays within LOOP_BUDGET (llvmpipe stops longer loops silently), else the
 * workgroup variant, which spreads the queries of a chunk over the workgroup.
 */
export function keyGradVariantFor(caps: Pick<AdapterCaps, 'isSoftware' | 'adapterClass'>, g?: Geometry, which: KeyGrads = 'k'): 'invocation' | 'workgroup' {
  if (!caps.isSoftware) return 'workgroup';
  return g && keyGradLoops(g, caps, 'invocation', which) > LOOP_BUDGET ? 'workgroup' : 'invocation';
}

/** The key gradients in the variant the adapter and the sizes call for. */
function keyGrad(req: OpKernelRequest, caps: AdapterCaps, which: KeyGrads): OpKernel {
  const g = geometry(req, 'grad');
  const variant = keyGradVariantFor(caps, g, which);
  if (caps.isSoftware && variant === 'workgroup' && keyGradLoops(g, caps, 'workgroup', which) > LOOP_BUDGET) {
    failLimit(
      req.op,
      `${g.S} queries × ${g.Sk} keys need more than ${LOOP_BUDGET} loop iterations in one invocation, which software adapters (llvmpipe) cut short; use a shorter sequence on this adapter`,
    );
  }
  return (variant === 'workgroup' ? keyGradWorkgroup : perKeyBlock)(req, caps, which);
}

/**
 * attention_grad_k and attention_grad_v of the same operands in one kernel (the plan's
 * attention_grad_kv fusion): the request is attention_grad_k's; `out` is dk, `out1` dv (the
 * shape of v). Each p_ij is computed once for both.
 */
export function attentionGradKV(req: OpKernelRequest, caps: AdapterCaps): OpKernel {
  return keyGrad(req, caps, 'kv');
}

/**
 * The key gradients for hardware GPUs: one workgroup per (b, kv head, block of WG keys);
 * invocation t owns key j0 + t, keeps k_j, v_j and its gradients in registers. For each head of the
 * group and each chunk of WG queries: invocation t puts query c0 + t's lse and dy·o into workgroup
 * memory; barrier; every invocation adds the chunk's contributions to its key; barrier.
 */
function keyGradWorkgroup(req: OpKernelRequest, caps: AdapterCaps, which: KeyGrads): OpKernel {
  const g = geometry(req, 'grad');
  checkOutput(req, g.kShape);
  const w = widthFor(g.hd);
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const n = g.hd / w;
  const WG = Math.min(KEY_GRAD_WG, caps.limits.maxComputeInvocationsPerWorkgroup, caps.limits.maxComputeWorkgroupSizeX);
  const NB = ceilDiv(g.Sk, WG);
  const groups = g.B * g.KV * NB;
  const maxDim = caps.limits.maxComputeWorkgroupsPerDimension;
  const gx = Math.min(groups, maxDim);
  const gy = Math.max(1, ceilDiv(groups, gx));
  if (gy > maxDim) failLimit(req.op, `${groups} workgroups exceed maxComputeWorkgroupsPerDimension² (${maxDim}²)`);
  const needK = which !== 'v';
  const d = bindings(T, { v: needK, dy: true, o: needK, lse: 'in', dv: which === 'kv' }, g.lengths);
  const dvAcc = which === 'kv' ? 'e' : 'a';
  const update = `let p = exp(s - stL[qi - c0]);
          ${
            needK
              ? `let dp = ${treeSum(names('vr', n).map((x, c) => `dot4(${x}, ${at('dy', 'qo', c)})`))};
          let ds = p * (dp - stD[qi - c0]) * SCALE;
          ${each(n, (c) => `a${c} += ds * ${at('q', 'qo', c)};`)}`
              : ''
          }
          ${which !== 'k' ? each(n, (c) => `${dvAcc}${c} += p * ${at('dy', 'qo', c)};`) : ''}`;
  const op = which === 'kv' ? 'attention_grad_kv' : req.op;
  const wgsl = `${preamble(g, w, op)}
const WG = ${u32(WG)}; // keys per workgroup = queries per chunk
const NB = ${u32(NB)}; // key blocks per (batch, kv head)
${d.wgsl}
var<workgroup> stL: array<f32, ${WG}>;
${needK ? `var<workgroup> stD: array<f32, ${WG}>;` : ''}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let wgi = ${gy > 1 ? `wid.x + wid.y * ${u32(gx)}` : 'wid.x'};
  if (wgi >= ${u32(groups)}) { return; } // uniform: the whole workgroup leaves
  let blk = wgi % NB;
  let kvh = (wgi / NB) % KV;
  let b = wgi / (NB * KV);
  let j0 = blk * WG;
  let kb = b * SK * KS + kvh * HDW;
  let j = j0 + t; // this invocation's key (none when j ≥ SK)
  let mine = kb + min(j, SK - 1u) * KS;
  ${loadVec('let', 'kr', 'k', 'mine', n)}
  ${needK ? loadVec('let', 'vr', 'v', 'mine', n) : ''}
  ${each(n, (c) => `var a${c} = ${T}();`)}
  ${which === 'kv' ? each(n, (c) => `var e${c} = ${T}();`) : ''}
  // The first query that sees a key of this block: causal key j ≥ prefix is seen from i = j − prefix.
  let i0 = ${g.causal ? 'select(0u, j0 - PREFIX, j0 > PREFIX)' : '0u'};
  for (var hh = 0u; hh < G; hh++) {
    let h = kvh * G + hh;
    for (var c0 = i0; c0 < S; c0 += WG) {
      let si = c0 + t;
      if (si < S) {
        stL[t] = lse[lseAt(b, h, si)];
        ${needK ? `stD[t] = ${dotBufs('dy', 'o', '(b * S + si) * QS + h * HDW', n)};` : ''}
      }
      workgroupBarrier();
      // this key's share of every query of the chunk that sees it
      let cEnd = min(c0 + WG, S);
      for (var qi = c0; qi < cEnd; qi++) {
        if (j < SK && j < visible(b, qi)) {
          let qo = (b * S + qi) * QS + h * HDW;
          let s = ${treeSum(names('kr', n).map((x, c) => `dot4(${x}, ${at('q', 'qo', c)})`))} * SCALE;
          ${update}
        }
      }
      workgroupBarrier();
    }
  }
  if (j < SK) {
    ${each(n, (c) => `${at('out', 'mine', c)} = a${c};`)}
    ${which === 'kv' ? each(n, (c) => `${at('dv', 'mine', c)} = e${c};`) : ''}
  }
}
`;
  return { label: `${op}_wg_${g.B}x${g.Sk}x${g.KV}x${g.hd}`, wgsl, bindings: d.bindings, workgroups: [gx, gy, 1] };
}

export const ATTENTION_KERNELS: Record<string, OpKernelGen> = {
  attention: (req, caps) => perQueryKernel(req, caps, 'forward'),
  attention_lse: (req, caps) => perQueryKernel(req, caps, 'lse'),
  attention_grad_q: (req, caps) => perQueryKernel(req, caps, 'grad'),
  attention_grad_k: (req, caps) => keyGrad(req, caps, 'k'),
  attention_grad_v: (req, caps) => keyGrad(req, caps, 'v'),
};

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
