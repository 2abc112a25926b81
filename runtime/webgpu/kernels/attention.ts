// Scaled dot-product attention (causal + prefix mask, grouped kv heads) and its gradients.
//
//   q [B,S,H·hd], k and v [B,Sk,KV·hd] with Sk = prefix + S; query head h reads kv head
//   ⌊h·KV/H⌋ = ⌊h/G⌋ (G = H/KV); key j is visible to query i iff j < prefix, or not causal,
//   or j − prefix ≤ i: the visible keys of query i are 0 … n(i) − 1. With the optional lengths
//   i32 [B] (non-causal only; in3 of attention, in4 of the gradients), n = prefix + lengths[b]:
//   the padding keys of row b are masked.
//
// Written for CPU adapters first: no workgroup memory, no barriers, no atomics (one exception:
// the hardware variant of grad_k / grad_v, keyGradWorkgroup below).
//   attention, attention_grad_q: one invocation per (batch, head, query row). The softmax is
//     computed online (running max m, running sum l, rescaled when m grows), in one pass over
//     the visible keys. grad_q makes a second pass: dq = Σ_j p_j (dP_j − Σ_l p_l dP_l) k_j / √hd
//     with dP_j = dy·v_j, where the first pass also accumulated Σ_l p_l dP_l online.
//   attention_grad_k, attention_grad_v: on software adapters one invocation per (batch, kv head,
//     block of J keys; one block when B·KV ≥ 32); it owns those rows of dk / dv. For every head of
//     its group and every chunk of up to 128 queries that see a key of the block, it computes the
//     chunk's softmax statistics (m, 1/l, Σ p·dP) once into a private array, then walks the block
//     R keys at a time with their gradients in registers (each q / dy row loaded serves R keys).
//     On hardware GPUs that leaves each invocation a long serial loop, so there a workgroup of
//     64 invocations shares the statistics of 64 queries at a time through workgroup memory.
// Vectors along hd are vec4 when hd % 4 = 0, unrolled into named registers (see below).
import { type Binding, LOOP_BUDGET, boolAttr, ceilDiv, checkOutput, declare, f32, fail, failLimit, fmt, grid, intAttr, operand, optOperand, u32, widthFor } from './common.ts';
import type { AdapterCaps, BindingName, OpKernel, OpKernelGen, OpKernelRequest } from './types.ts';

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
  /** The binding of the lengths operand when it masks keys (non-causal attention given one). */
  lengths?: BindingName;
}

function geometry(req: OpKernelRequest, withDy: boolean): Geometry {
  const q = operand(req, 0, 'q', 'f32').shape;
  const k = operand(req, 1, 'k', 'f32').shape;
  const v = operand(req, 2, 'v', 'f32').shape;
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
  for (const [name, t] of [['k', k], ['v', v]] as const) {
    if (t.length !== 3 || t.some((d, i) => d !== want[i])) fail(req.op, `${name} must be ${fmt(want)} (Sk = prefix + S = ${prefix} + ${S}), got ${fmt(t)}`);
  }
  if (withDy) {
    const dy = operand(req, 3, 'dy', 'f32').shape;
    if (dy.length !== 3 || dy.some((d, i) => d !== q[i])) fail(req.op, `dy ${fmt(dy)} must match q ${fmt(q)}`);
  }
  const li = withDy ? 4 : 3;
  const len = optOperand(req, li, 'lengths', 'i32');
  if (len && (len.shape.length !== 1 || len.shape[0] !== B)) fail(req.op, `lengths must be [${B}], got ${fmt(len.shape)}`);
  const g: Geometry = { B, S, Sk, H, KV, hd, causal, prefix, qShape: q, kShape: want };
  if (len && !causal) g.lengths = `in${li}`;
  return g;
}

/** Constants and helpers shared by the four kernels. */
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
const QS = ${u32((g.H * g.hd) / w)}; // q / dy row stride
const KS = ${u32((g.KV * g.hd) / w)}; // k / v row stride
const PREFIX = ${u32(g.prefix)};
const SCALE = ${f32(1 / Math.sqrt(g.hd))};
fn dot4(a: T, b: T) -> f32 { return ${w === 4 ? 'dot(a, b)' : 'a * b'}; }
// Number of keys visible to query i of row b (keys 0 … n − 1).
fn visible(b: u32, i: u32) -> u32 { return ${g.causal ? 'PREFIX + i + 1u' : g.lengths ? 'PREFIX + u32(lengths[b])' : 'SK'}; }`;
}

function bindings(withDy: boolean, T: string, withV = true, lengths?: BindingName): { wgsl: string; bindings: BindingName[] } {
  const list: Binding[] = [
    { name: 'in0', variable: 'q', type: T },
    { name: 'in1', variable: 'k', type: T },
  ];
  if (withV) list.push({ name: 'in2', variable: 'v', type: T });
  if (withDy) list.push({ name: 'in3', variable: 'dy', type: T });
  if (lengths) list.push({ name: lengths, variable: 'lengths', type: 'i32' });
  list.push({ name: 'out', variable: 'out', type: T });
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

/** One statement per component, `f(c)` giving it. */
const each = (n: number, f: (c: number) => string): string => Array.from({ length: n }, (_, c) => f(c)).join(' ');

/** attention and attention_grad_q: one invocation per (b, h, query i). */
function perQuery(req: OpKernelRequest, caps: AdapterCaps, grad: boolean): OpKernel {
  const g = geometry(req, grad);
  checkOutput(req, g.qShape);
  const w = widthFor(g.hd);
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const n = g.hd / w;
  const gr = grid(req.op, g.B * g.H * g.S, caps, { heavy: true });
  const d = bindings(grad, T, true, g.lengths);
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
  ${each(n, (c) => `${at('out', 'qo', c)} = a${c} * inv;`)}`;
  const backward = `${head}
  ${loadVec('let', 'g', 'dy', 'qo', n)}
  // pass 1: running max m, l = Σ e^(s−m), u = Σ e^(s−m)·dP with dP_j = dy·v_j
  ${softmaxStats('j', 'n', `let ko = kb + j * KS;
    ${score}
    let dp = ${dotVec('g', 'v', 'ko', n)};`)}
  let inv = 1.0 / l;
  let pdp = u * inv; // Σ_j p_j dP_j
  // pass 2: dq = Σ_j p_j (dP_j − pdp) · k_j / √hd
  ${each(n, (c) => `var a${c} = ${T}();`)}
  for (var j = 0u; j < n; j++) {
    let ko = kb + j * KS;
    ${score}
    let dp = ${dotVec('g', 'v', 'ko', n)};
    let ds = exp(s - m) * inv * (dp - pdp) * SCALE;
    ${each(n, (c) => `a${c} += ds * ${at('k', 'ko', c)};`)}
  }
  ${each(n, (c) => `${at('out', 'qo', c)} = a${c};`)}`;
  const wgsl = `${preamble(g, w, req.op)}
${d.wgsl}
${gr.entry}
${gr.prologue}
${grad ? backward : forward}
}
`;
  return { label: `${req.op}_${g.B}x${g.S}x${g.H}x${g.hd}`, wgsl, bindings: d.bindings, workgroups: gr.workgroups };
}

/**
 * Software kernels handle several query rows at a time, so that each k / v vector loaded serves
 * all of them. On CPU adapters a load whose address differs across SIMD lanes is a per-lane
 * gather (llvmpipe loops over the lanes), and it, not the arithmetic, sets the speed: one query
 * per invocation loads 2·hd floats per (query, key) for 2·hd multiply-adds. A row keeps its
 * vectors in registers (q and the output for attention; q, dy and two sums for grad_q), so the
 * rows per block shrink as the head grows; measured on the benchmark model (hd = 32): attention 8
 * rows, grad_q 4 (8 rows made the two-pass grad_q 1.3× slower on both software adapters: spills),
 * the statistics phase of grad_k / grad_v 8 (q and dy only; against 4: grad_k 0.85× on SwiftShader,
 * 0.92× on llvmpipe). Twice the keys per register block in grad_k / grad_v (R = 8) was 0.8–0.9× on
 * llvmpipe but 1.0–1.07× on SwiftShader, so R stays at 4.
 */
const ROW_REG_VECTORS = { attention: 64, grad_q: 32, stats: 64 } as const;
/** Keys per block of the online softmax: one max and one rescale per block, not per key (2 and 8 were no better). */
const KEY_BLOCK = 4;
/** A score below every real one: masked keys (the softmax starts from it; WGSL floats are finite). */
const NEG = '-3.0e38';

/** Query rows per block in the software kernels, for a head of hd. */
export function queryBlock(hd: number, use: keyof typeof ROW_REG_VECTORS): number {
  const n = hd / widthFor(hd);
  return Math.max(1, Math.min(use === 'grad_q' ? 4 : 8, Math.floor(ROW_REG_VECTORS[use] / n)));
}

/**
 * WGSL pieces for a block of QB query rows against blocks of KB keys, flash attention's online
 * softmax per key block. The caller defines, per row r: n{r} (its visible keys), q{r}_0 … (its q
 * vector), g{r}_0 … (its dy vector, when dP is needed), and kb (key 0 of the kv head) and nmax
 * (the most keys any row sees). Keys a row does not see get weight 0, so the rows share every load.
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
  /** l{r} = Σ e^(s−m) (and u{r} = Σ e^(s−m)·dP) for each row over its keys; declares m, l, u. */
  stats(withDp: boolean): string {
    const sum = (f: (t: number) => string) => treeSum(this.keys.map(f));
    return `${this.perRow((r) => `var m${r} = ${NEG}; var l${r} = 0.0;${withDp ? ` var u${r} = 0.0;` : ''}`)}
  for (var jb = 0u; jb < nmax; jb += ${u32(this.KB)}) {
    ${this.keyOffsets()}
    ${this.scores(withDp)}
    ${this.rescale()}
    ${this.perRow(
      (r) => `l${r} = l${r} * rr${r} + ${sum((t) => `p${r}_${t}`)};${withDp ? ` u${r} = u${r} * rr${r} + ${sum((t) => `p${r}_${t} * dp${r}_${t}`)};` : ''}`,
      '\n    ',
    )}
  }`;
  }
}

const maxOf = (xs: string[]): string => (xs.length === 1 ? xs[0]! : `max(${maxOf(xs.slice(0, Math.ceil(xs.length / 2)))}, ${maxOf(xs.slice(Math.ceil(xs.length / 2)))})`);

/**
 * attention and attention_grad_q on software adapters: one invocation per (b, h, block of QB query
 * rows), walking the keys visible to its last row KB at a time; a causal block wastes at most its
 * own diagonal. grad_q in one pass: with e_j = e^(s_j − m), dP_j = dy·v_j, each row accumulates
 * l = Σ e, u = Σ e·dP, A = Σ e·dP·k and E = Σ e·k (all rescaled when m grows), and
 * dq = Σ_j p_j (dP_j − u/l) k_j / √hd = (A − (u/l)·E) / (l·√hd). Against two passes (statistics,
 * then dq) it loads each k, v once instead of twice and takes one exp per (row, key) instead of
 * two: 0.83× the time on SwiftShader, 0.71× on llvmpipe (benchmark model). With one query per
 * invocation the same one pass had been slower on SwiftShader (two vectors rescaled per key, not
 * per block of keys).
 */
function perQueryBlock(req: OpKernelRequest, caps: AdapterCaps, grad: boolean): OpKernel {
  const g = geometry(req, grad);
  checkOutput(req, g.qShape);
  const w = widthFor(g.hd);
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const n = g.hd / w;
  const QB = queryBlock(g.hd, grad ? 'grad_q' : 'attention');
  const rb = new RowBlock(QB, n);
  const NQB = ceilDiv(g.S, QB);
  const gr = grid(req.op, g.B * g.H * NQB, caps, { heavy: true });
  const d = bindings(grad, T, true, g.lengths);
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
  const store = (value: (r: number, c: number) => string): string =>
    perRow((r) => `if (qb * QB + ${u32(r)} < S) { ${each(n, (c) => `${at('out', `qo${r}`, c)} = ${value(r, c)};`)} }`, '\n  ');
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
  ${store((r, c) => `a${r}_${c} * inv${r}`)}`;
  const backward = `${head}
  ${perRow((r) => loadVec('let', `g${r}_`, 'dy', `qo${r}`, n), '\n  ')}
  // one pass: l = Σ e, u = Σ e·dP, A = Σ e·dP·k, E = Σ e·k (e = e^(s−m), rescaled with m)
  ${perRow((r) => `var m${r} = ${NEG}; var l${r} = 0.0; var u${r} = 0.0;`)}
  ${perRow((r) => each(n, (c) => `var A${r}_${c} = ${T}(); var E${r}_${c} = ${T}();`), '\n  ')}
  for (var jb = 0u; jb < nmax; jb += KB) {
    ${rb.keyOffsets()}
    ${rb.scores(true)}
    ${rb.rescale()}
    ${perRow((r) => `l${r} = l${r} * rr${r} + ${treeSum(rb.keys.map((t) => `p${r}_${t}`))};
    ${rb.perKey((t) => `let pd${r}_${t} = p${r}_${t} * dp${r}_${t};`, ' ')}
    u${r} = u${r} * rr${r} + ${treeSum(rb.keys.map((t) => `pd${r}_${t}`))};
    ${each(n, (c) => `A${r}_${c} *= rr${r}; E${r}_${c} *= rr${r};`)}`, '\n    ')}
    ${rb.perKey((t) => `{ ${loadVec('let', 'k', 'k', `ko${t}`, n)}
      ${perRow((r) => each(n, (c) => `A${r}_${c} += pd${r}_${t} * k${c}; E${r}_${c} += p${r}_${t} * k${c};`), '\n      ')} }`)}
  }
  ${perRow((r) => `let inv${r} = 1.0 / l${r}; let pdp${r} = u${r} * inv${r}; let sc${r} = inv${r} * SCALE;`, '\n  ')}
  ${store((r, c) => `(A${r}_${c} - pdp${r} * E${r}_${c}) * sc${r}`)}`;
  const wgsl = `${preamble(g, w, req.op)}
const QB = ${u32(QB)}; // query rows per invocation
const KB = ${u32(rb.KB)}; // keys per softmax block
const NQB = ${u32(NQB)}; // query blocks per (batch, head)
${d.wgsl}
${gr.entry}
${gr.prologue}
${grad ? backward : forward}
}
`;
  return { label: `${req.op}_${g.B}x${g.S}x${g.H}x${g.hd}_QB${QB}`, wgsl, bindings: d.bindings, workgroups: gr.workgroups };
}

/** Which variant attention and attention_grad_q use on an adapter. */
export function queryVariantFor(caps: Pick<AdapterCaps, 'isSoftware'>): 'block' | 'row' {
  return caps.isSoftware ? 'block' : 'row';
}

/**
 * Software grad_k / grad_v: about this many invocations. Each recomputes the softmax statistics of
 * every query its keys see, so fewer, longer invocations do less work: on the benchmark model
 * (B·KV = 32, one key block each) 32 beat 64 by 1.8× on llvmpipe and SwiftShader alike.
 */
const KEY_GRAD_INVOCATIONS = 32;
/** Queries whose statistics an invocation keeps at a time (a private array). */
const QUERY_CHUNK = 128;
/**
 * Keys updated together in registers, so that each loaded q / dy vector serves all of them: R keys
 * hold R·hd/w vectors each of k, v and the gradient, so R shrinks as the head grows (4 for hd = 32).
 */
const KEY_REG_VECTORS = 32;

/** Keys per invocation of grad_k / grad_v. */
export function keyBlock(g: Pick<Geometry, 'B' | 'KV' | 'Sk'>, caps: Pick<AdapterCaps, 'isSoftware'>): number {
  const target = caps.isSoftware ? KEY_GRAD_INVOCATIONS : 4096;
  return Math.min(g.Sk, Math.max(1, ceilDiv(g.B * g.KV * g.Sk, target)));
}

/**
 * attention_grad_k and attention_grad_v on software adapters: one invocation per (kv head, b,
 * block of J keys). For each head of the group and each chunk of C queries that see a key of the
 * block: phase 1 computes the chunk's softmax statistics (m, 1/l, Σ p·dP) once into a private
 * array; phase 2 walks the block R keys at a time, their gradients in registers, over the chunk's
 * queries, so each q / dy vector loaded serves R keys and `out` is read and written once per
 * (chunk, key) instead of once per (query, key).
 */
function perKeyBlock(req: OpKernelRequest, caps: AdapterCaps, which: 'k' | 'v'): OpKernel {
  const g = geometry(req, true);
  checkOutput(req, g.kShape);
  const w = widthFor(g.hd);
  const T = w === 4 ? 'vec4<f32>' : 'f32';
  const n = g.hd / w;
  const { J, NB, C, R, QB } = perKeyBlockShape(g, caps);
  const rb = new RowBlock(QB, n);
  const gr = grid(req.op, g.B * g.KV * NB, caps, { heavy: true });
  const d = bindings(true, T, which === 'k', g.lengths); // grad_v never reads v
  const rs = Array.from({ length: R }, (_, r) => r);
  const keyLoads = rs
    .map(
      (r) => `let ko${r} = kb + min(j + ${u32(r)}, j1 - 1u) * KS;
      ${loadVec('let', `k${r}_`, 'k', `ko${r}`, n)}
      ${which === 'k' ? loadVec('let', `v${r}_`, 'v', `ko${r}`, n) : ''}
      ${loadVec('var', `a${r}_`, 'out', `ko${r}`, n)}`,
    )
    .join('\n      ');
  // Key j + r is visible to query qi iff j + r < visible(b, qi); the block's last key may lie past SK.
  const perKey = rs
    .map((r) => {
      const sr = `${treeSum(names(`k${r}_`, n).map((x, c) => `dot4(${x}, x${c})`))} * SCALE`;
      const p = `select(0.0, exp(${sr} - sm) * sinv, j + ${u32(r)} < nv)`;
      if (which === 'v') return `{ let p = ${p}; ${each(n, (c) => `a${r}_${c} += p * y${c};`)} }`;
      return `{ let p = ${p};
          let dp = ${treeSum(names(`v${r}_`, n).map((x, c) => `dot4(${x}, y${c})`))};
          let ds = p * (dp - spdp) * SCALE;
          ${each(n, (c) => `a${r}_${c} += ds * x${c};`)} }`;
    })
    .join('\n        ');
  const stores = rs.map((r) => `if (j + ${u32(r)} < jEnd) { ${each(n, (c) => `${at('out', `ko${r}`, c)} = a${r}_${c};`)} }`).join('\n      ');
  const wgsl = `${preamble(g, w, req.op)}
const J = ${u32(J)}; // keys per invocation
const NB = ${u32(NB)}; // key blocks per (batch, kv head)
const C = ${u32(C)}; // queries per chunk of statistics
const R = ${u32(R)}; // keys per register block
const QB = ${u32(rb.QB)}; // query rows per block of the statistics phase
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
    ${each(n, (c) => `${at('out', 'ko', c)} = ${T}();`)}
  }
  var stM: array<f32, ${C}>;
  var stInv: array<f32, ${C}>;
  var stPdp: array<f32, ${C}>;
  // The first query that sees a key of this block: causal key j ≥ prefix is seen from i = j − prefix.
  let i0 = ${g.causal ? 'select(0u, j0 - PREFIX, j0 > PREFIX)' : '0u'};
  for (var hh = 0u; hh < G; hh++) {
    let h = kvh * G + hh;
    for (var c0 = i0; c0 < S; c0 += C) {
      let cEnd = min(c0 + C, S);
      // phase 1: the chunk's softmax statistics, QB rows at a time (each k / v load serves QB rows)
      for (var qr = c0; qr < cEnd; qr += QB) {
        ${rb.perRow((r) => `let qi${r} = min(qr + ${u32(r)}, cEnd - 1u);`)}
        ${rb.perRow((r) => `let qo${r} = (b * S + qi${r}) * QS + h * HDW;`)}
        ${rb.perRow((r) => `let n${r} = visible(b, qi${r});`)}
        let nmax = ${maxOf(rb.rows.map((r) => `n${r}`))};
        ${rb.perRow((r) => loadVec('let', `q${r}_`, 'q', `qo${r}`, n), '\n        ')}
        ${which === 'k' ? rb.perRow((r) => loadVec('let', `g${r}_`, 'dy', `qo${r}`, n), '\n        ') : ''}
        ${rb.stats(which === 'k')}
        ${rb.perRow((r) => `if (qr + ${u32(r)} < cEnd) { stM[qr + ${u32(r)} - c0] = m${r}; stInv[qr + ${u32(r)} - c0] = 1.0 / l${r}; ${which === 'k' ? `stPdp[qr + ${u32(r)} - c0] = u${r} / l${r};` : ''} }`, '\n        ')}
      }
      // phase 2: R keys at a time, over the chunk's queries that see the first of them
      let jEnd = min(j1, visible(b, cEnd - 1u));
      for (var j = j0; j < jEnd; j += R) {
      ${keyLoads}
      let qs = ${g.causal ? 'max(c0, select(0u, j - PREFIX, j > PREFIX))' : 'c0'};
      for (var qi = qs; qi < cEnd; qi++) {
        let qo = (b * S + qi) * QS + h * HDW;
        let nv = visible(b, qi);
        let sm = stM[qi - c0];
        let sinv = stInv[qi - c0];
        ${which === 'k' ? 'let spdp = stPdp[qi - c0];' : ''}
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
  return { label: `${req.op}_${g.B}x${g.Sk}x${g.KV}x${g.hd}_J${J}_C${C}_R${R}_QB${rb.QB}`, wgsl, bindings: d.bindings, workgroups: gr.workgroups };
}

/** Keys per workgroup (= queries per chunk) of the workgroup variant of grad_k / grad_v. */
const KEY_GRAD_WG = 64;

/** perKeyBlock's blocking: keys per invocation J (NB blocks), queries per chunk C, keys per register block R, statistics rows QB. */
function perKeyBlockShape(g: Geometry, caps: Pick<AdapterCaps, 'isSoftware'>): { J: number; NB: number; C: number; R: number; QB: number } {
  const n = g.hd / widthFor(g.hd);
  const J = keyBlock(g, caps);
  return { J, NB: ceilDiv(g.Sk, J), C: Math.max(1, Math.min(QUERY_CHUNK, g.S)), R: Math.max(1, Math.min(Math.floor(KEY_REG_VECTORS / n), J)), QB: queryBlock(g.hd, 'stats') };
}

/**
 * Loop iterations of one invocation (upper bounds, counting every loop): perKeyBlock zeroes J keys,
 * then per head of the group and chunk of C queries computes their statistics (QB rows and KEY_BLOCK
 * keys at a time over up to SK keys) and walks its keys R at a time over the chunk; the workgroup
 * variant computes one query's statistics over up to SK keys and walks WG queries, per chunk.
 */
function keyGradLoops(g: Geometry, caps: Pick<AdapterCaps, 'isSoftware'>, variant: 'invocation' | 'workgroup'): number {
  const G = g.H / g.KV;
  if (variant === 'workgroup') return G * ceilDiv(g.S, KEY_GRAD_WG) * (g.Sk + KEY_GRAD_WG);
  const { J, C, R, QB } = perKeyBlockShape(g, caps);
  return J + G * ceilDiv(g.S, C) * (ceilDiv(C, QB) * ceilDiv(g.Sk, KEY_BLOCK) + ceilDiv(J, R) * C);
}

/**
 * Which variant attention_grad_k / attention_grad_v use: the per-invocation key blocks on software
 * adapters while an invocation stays within LOOP_BUDGET (llvmpipe stops longer loops silently),
 * else the workgroup variant, which spreads the statistics over the workgroup.
 */
export function keyGradVariantFor(caps: Pick<AdapterCaps, 'isSoftware'>, g?: Geometry): 'invocation' | 'workgroup' {
  if (!caps.isSoftware) return 'workgroup';
  return g && keyGradLoops(g, caps, 'invocation') > LOOP_BUDGET ? 'workgroup' : 'invocation';
}

/** attention_grad_k / attention_grad_v in the variant the adapter and the sizes call for. */
function keyGrad(req: OpKernelRequest, caps: AdapterCaps, which: 'k' | 'v'): OpKernel {
  const g = geometry(req, true);
  const variant = keyGradVariantFor(caps, g);
  if (caps.isSoftware && variant === 'workgroup' && keyGradLoops(g, caps, 'workgroup') > LOOP_BUDGET) {
    failLimit(
      req.op,
      `${g.S} queries × ${g.Sk} keys need more than ${LOOP_BUDGET} loop iterations in one invocation, which software adapters (llvmpipe) cut short; use a shorter sequence on this adapter`,
    );
  }
  return (variant === 'workgroup' ? keyGradWorkgroup : perKeyBlock)(req, caps, which);
}

/**
 * attention_grad_k and attention_grad_v for hardware GPUs: one workgroup per (b, kv head, block
 * of WG keys); invocation t owns key j0 + t, keeps k_j, v_j and its gradient in registers. For each
 * head of the group and each chunk of WG queries: phase 1, invocation t computes the softmax
 * statistics (m, 1/l, Σ p·dP) of query c0 + t into workgroup memory; barrier; phase 2, every
 * invocation adds the chunk's contributions to its key; barrier.
 */
function keyGradWorkgroup(req: OpKernelRequest, caps: AdapterCaps, which: 'k' | 'v'): OpKernel {
  const g = geometry(req, true);
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
  const d = bindings(true, T, which === 'k', g.lengths); // grad_v never reads v
  const score = (qv: string): string => `let s = ${dotVec(qv, 'k', 'qko', n)} * SCALE;`;
  const wgsl = `${preamble(g, w, req.op)}
const WG = ${u32(WG)}; // keys per workgroup = queries per chunk
const NB = ${u32(NB)}; // key blocks per (batch, kv head)
${d.wgsl}
var<workgroup> stM: array<f32, ${WG}>;
var<workgroup> stInv: array<f32, ${WG}>;
var<workgroup> stPdp: array<f32, ${WG}>;
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
  ${which === 'k' ? loadVec('let', 'vr', 'v', 'mine', n) : ''}
  ${each(n, (c) => `var a${c} = ${T}();`)}
  // The first query that sees a key of this block: causal key j ≥ prefix is seen from i = j − prefix.
  let i0 = ${g.causal ? 'select(0u, j0 - PREFIX, j0 > PREFIX)' : '0u'};
  for (var hh = 0u; hh < G; hh++) {
    let h = kvh * G + hh;
    for (var c0 = i0; c0 < S; c0 += WG) {
      // phase 1: statistics of query c0 + t over all its visible keys
      let si = c0 + t;
      if (si < S) {
        let qo = (b * S + si) * QS + h * HDW;
        ${loadVec('let', 'q', 'q', 'qo', n)}
        ${loadVec('let', 'g', 'dy', 'qo', n)}
        let nv = visible(b, si);
        ${softmaxStats('jj', 'nv', `let qko = kb + jj * KS;
          ${score('q')}
          ${which === 'k' ? `let dp = ${dotVec('g', 'v', 'qko', n)};` : 'let dp = 0.0;'}`)}
        stM[t] = m;
        stInv[t] = 1.0 / l;
        stPdp[t] = u / l;
      }
      workgroupBarrier();
      // phase 2: this key's share of every query of the chunk that sees it
      let cEnd = min(c0 + WG, S);
      for (var qi = c0; qi < cEnd; qi++) {
        if (j < SK && j < visible(b, qi)) {
          let qo = (b * S + qi) * QS + h * HDW;
          let s = ${treeSum(names('kr', n).map((x, c) => `dot4(${x}, ${at('q', 'qo', c)})`))} * SCALE;
          let p = exp(s - stM[qi - c0]) * stInv[qi - c0];
          ${
            which === 'v'
              ? each(n, (c) => `a${c} += p * ${at('dy', 'qo', c)};`)
              : `let dp = ${treeSum(names('vr', n).map((x, c) => `dot4(${x}, ${at('dy', 'qo', c)})`))};
          let ds = p * (dp - stPdp[qi - c0]) * SCALE;
          ${each(n, (c) => `a${c} += ds * ${at('q', 'qo', c)};`)}`
          }
        }
      }
      workgroupBarrier();
    }
  }
  if (j < SK) {
    ${each(n, (c) => `${at('out', 'mine', c)} = a${c};`)}
  }
}
`;
  return { label: `${req.op}_wg_${g.B}x${g.Sk}x${g.KV}x${g.hd}`, wgsl, bindings: d.bindings, workgroups: [gx, gy, 1] };
}

export const ATTENTION_KERNELS: Record<string, OpKernelGen> = {
  attention: (req, caps) => (queryVariantFor(caps) === 'block' ? perQueryBlock : perQuery)(req, caps, false),
  attention_grad_q: (req, caps) => (queryVariantFor(caps) === 'block' ? perQueryBlock : perQuery)(req, caps, true),
  attention_grad_k: (req, caps) => keyGrad(req, caps, 'k'),
  attention_grad_v: (req, caps) => keyGrad(req, caps, 'v'),
};

/**
 * WGSL: the online softmax statistics of one query over its keys j < n — the running max m,
 * l = Σ e^(s−m) and u = Σ e^(s−m)·dp. `body` defines the key's score `s` and `dp` (dy·v_j,
 * or 0.0 where not needed) for key `j`.
 */
function softmaxStats(j: string, n: string, body: string): string {
  return `var m = 0.0;
  var l = 1.0;
  var u = 0.0;
  for (var ${j} = 0u; ${j} < ${n}; ${j}++) {
    ${body}
    if (${j} == 0u) { m = s; u = dp; continue; }
    if (s > m) {
      let r = exp(m - s);
      l *= r;
      u *= r;
      m = s;
    }
    let e = exp(s - m);
    l += e;
    u += e * dp;
  }`;
}
