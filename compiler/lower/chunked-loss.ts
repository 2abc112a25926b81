// The loss over chunks of rows: in a training plan, the head's logits [R, V] and their gradient
// are the largest values of a step (GPT-2 small at 8 × 512 tokens: 785 MiB each, live together
// while the loss kernel runs). With PlanOptions.lossChunkBytes the planner never makes them whole:
// for each chunk of rows it computes the head's product into a temporary [rows, V], the fused
// cross-entropy (per-row losses and dlogits into a second temporary), then the chunk's share of
// the head's input gradient (its rows of dh) and weight gradient (accumulated over the chunks).
// Each chunk's rows of dlogits are exactly the rows the unchunked kernels would compute, so the
// loss and every gradient are the same sums in the same order per element, bar dW's sum over rows,
// which is now chunk after chunk.
//
// Applies where the logits are one linear layer's product (no bias, fusion or folded scale) read
// only by the loss, and their gradient is read only by that layer's input gradient and weight
// gradient (plain products). Otherwise the loss is lowered whole (loss.ts).
import type { Node } from '../ir/types.ts';
import type { Group } from './fuse.ts';
import { type Lowering, last, within } from './lowering.ts';
import type { MatmulSpec } from './matmul-spec.ts';
import { numel } from './memory.ts';
import { productPieces } from './matmul.ts';
import { ROW_QUANTUM, chunks, rowWindow } from './split.ts';
import type { Phase, Region } from './types.ts';

/**
 * The budget of one chunk's logits and dlogits a training plan on the WebGPU backend uses: GPT-2
 * small's 50257-word head gets chunks of 128 rows (32 chunks at 8 × 512 tokens), small enough
 * that the head is no longer the largest live set, large enough that each product has rows.
 */
export const DEFAULT_LOSS_CHUNK_BYTES = 64 * 2 ** 20;

/** The groups of the head the chunked loss computes together, found in the plan's groups. */
export interface ChunkedHead {
  /** The logits' group (a lone linear) and the fused cross_entropy group reading it. */
  logits: Group;
  loss: Group;
  /** Readers of dlogits: the head's input gradient (linear) and weight gradient (linear_grad_weight). */
  grads: Group[];
  /** Rows per chunk, and the rows R and vocabulary V of the logits. */
  rows: number;
  R: number;
  V: number;
}

const plain = (gr: Group): boolean =>
  gr.nodes.length === 1 && gr.fusion === undefined && gr.into === undefined && gr.fold === undefined && !gr.products && !gr.epilogue && gr.addend === undefined && gr.extraOutput === undefined;

/**
 * The head to chunk, or null where the pattern does not hold. `budget`: bytes of one chunk's
 * logits and dlogits together; rows are a multiple of ROW_QUANTUM (so every window's offset is
 * 256-aligned), at least ROW_QUANTUM, and one chunk's logits fit one binding.
 */
export function findChunkedHead(lw: Lowering, groups: Group[], logitsId: number, budget: number): ChunkedHead | null {
  const logits = groups.find((gr) => gr.output === logitsId);
  const node = lw.nodes[logitsId]!;
  if (!logits || !plain(logits) || node.op !== 'linear' || node.inputs.length !== 2) return null;
  const [h, w] = node.inputs as [number, number];
  if (lw.folded.has(h) || lw.folded.has(w) || lw.alias.has(logitsId)) return null;
  const loss = groups.find((gr) => gr.fusion === 'cross_entropy' && lw.nodes[gr.nodes[0]!]!.inputs[0] === logitsId);
  if (!loss || loss.extraOutput === undefined) return null;
  const dlogits = loss.extraOutput;
  const computed = groups.flatMap((gr) => gr.nodes);
  const readersOf = (id: number) => computed.filter((n) => lw.nodes[n]!.inputs.some((i) => lw.root(i) === id));
  if (readersOf(logitsId).some((n) => !loss.nodes.includes(n))) return null;
  const grads: Group[] = [];
  for (const n of readersOf(dlogits)) {
    const gr = groups.find((x) => x.nodes.includes(n))!;
    const m = lw.nodes[n]!;
    const inputGrad = m.op === 'linear' && m.inputs.length === 2 && m.inputs[0] === dlogits && lw.root(m.inputs[1]!) === lw.root(w);
    const weightGrad = m.op === 'linear_grad_weight' && m.inputs[0] === h && m.inputs[1] === dlogits;
    if (!plain(gr) || !(inputGrad || weightGrad) || lw.folded.has(m.inputs[1]!)) return null;
    grads.push(gr);
  }
  const V = last(lw.shapes[logitsId]!);
  const R = numel(lw.shapes[logitsId]!) / V;
  const byBudget = Math.floor(budget / (8 * V) / ROW_QUANTUM) * ROW_QUANTUM;
  const byBinding = Math.floor(lw.limit / (4 * V) / ROW_QUANTUM) * ROW_QUANTUM;
  const rows = Math.min(R, Math.max(ROW_QUANTUM, Math.min(byBudget, byBinding)));
  return { logits, loss, grads, rows, R, V };
}

/** A linear or linear_grad_weight node's product over `rows` rows of its row operands. */
function productSpec(lw: Lowering, n: Node, rows: number): { spec: MatmulSpec; a: number; b: number } {
  const [x, y] = n.inputs as [number, number];
  const xs = lw.shapes[x]!;
  if (n.op === 'linear') {
    const ws = lw.shapes[y]!;
    const spec: MatmulSpec = n.attrs.layout === 'in_out' ? { M: rows, K: last(xs), N: ws[1]! } : { M: rows, K: last(xs), N: ws[0]!, transB: true };
    if (lw.half.has(lw.root(y))) spec.halfB = true;
    const q = lw.quant.get(lw.root(y));
    if (q) spec.quantB = q;
    return { spec, a: x, b: y };
  }
  // linear_grad_weight(x, dy): in_out → xᵀ·dy [in, out]; out_in → dyᵀ·x [out, in]; K = rows.
  const ds = lw.shapes[y]!;
  return n.attrs.layout === 'in_out'
    ? { spec: { M: last(xs), N: last(ds), K: rows, transA: true }, a: x, b: y }
    : { spec: { M: last(ds), N: last(xs), K: rows, transA: true }, a: y, b: x };
}

/** One product as its dispatches (pieces where an operand is larger than one binding, split-K where the backend asks). */
function emitProduct(lw: Lowering, gr: Group, phase: Phase, spec: MatmulSpec, a: Region, b: Region, c: Region, label: string): void {
  const pieces = productPieces(lw, gr, spec) ?? [{ spec, a: { offset: 0, bytes: a.bytes }, b: { offset: 0, bytes: b.bytes }, c: { offset: 0, bytes: c.bytes } }];
  pieces.forEach((p, i) => {
    const k = lw.backend.matmul(p.spec);
    lw.push(gr, phase, k, { a: within(a, p.a), b: within(b, p.b), c: within(c, p.c) }, `${label}${pieces.length > 1 ? ` [piece ${i + 1}/${pieces.length}]` : ''}`);
  });
}

/**
 * The chunk loop. The loss, dh and dW regions are open (the caller opened them as the outputs
 * of their groups); the two [rows, V] temporaries and the per-row losses are the pool's,
 * opened and closed at this group's time.
 */
export function lowerChunkedHead(lw: Lowering, head: ChunkedHead, phase: Phase): void {
  const { R, V, rows } = head;
  const node = lw.nodes[head.logits.output]!;
  const [h, w] = node.inputs as [number, number];
  const ce = lw.nodes[head.loss.nodes[0]!]!;
  const targets = ce.inputs[1]!;
  const temp = (bytes: number): { slot: number; region: Region } => {
    const slot = lw.pool.open(bytes, lw.time);
    return { slot, region: { buffer: -1 - slot, offset: 0, bytes } };
  };
  lw.checkBinding(`the per-row losses of %${head.loss.output} [${R}]`, 4 * R);
  const logits = temp(4 * rows * V);
  const dlogits = temp(4 * rows * V);
  const losses = temp(4 * R);
  const parts = chunks(R, rows);
  const rowBytes = (id: number) => 4 * last(lw.shapes[id]!);
  parts.forEach((c, i) => {
    const tag = ` [rows ${c.start}…${c.start + c.count - 1}, chunk ${i + 1}/${parts.length}]`;
    const lg = within(logits.region, { offset: 0, bytes: 4 * c.count * V });
    const dl = within(dlogits.region, { offset: 0, bytes: 4 * c.count * V });
    const hc = within(lw.region(h), rowWindow(c.start, c.count, rowBytes(h)));
    const fwd = productSpec(lw, node, c.count);
    emitProduct(lw, head.logits, phase, fwd.spec, hc, lw.region(w), lg, tag);
    const spec = { shape: [c.count, V], dtype: 'f32' as const };
    const req = { op: 'cross_entropy_grad', attrs: { ...ce.attrs, row0: c.start }, inputs: [spec, lw.spec(targets)], output: spec };
    lw.push(head.loss, phase, lw.backend.loss(req, true), { in0: lg, in1: lw.region(targets), loss: within(losses.region, rowWindow(c.start, c.count, 4)), out: dl }, tag);
    for (const gr of head.grads) {
      const m = lw.nodes[gr.output]!;
      const p = productSpec(lw, m, c.count);
      if (m.op === 'linear') {
        emitProduct(lw, gr, phase, p.spec, dl, lw.region(w), within(lw.region(gr.output), rowWindow(c.start, c.count, rowBytes(gr.output))), tag);
      } else {
        // dW = Σ over chunks: the first chunk writes, the others add.
        if (c.start > 0) p.spec.accumulate = true;
        const hcRows = within(lw.region(h), rowWindow(c.start, c.count, rowBytes(h)));
        const [a, b] = p.a === h ? [hcRows, dl] : [dl, hcRows];
        emitProduct(lw, gr, phase, p.spec, a, b, lw.region(gr.output), tag);
      }
    }
  });
  const sum = lw.backend.op({ op: 'sum_to', attrs: {}, inputs: [{ shape: [R], dtype: 'f32' }, { shape: [], dtype: 'f32' }], output: { shape: [], dtype: 'f32' } });
  lw.push(head.loss, phase, sum, { in0: losses.region, out: lw.region(head.loss.output) });
  for (const t of [logits, dlogits, losses]) lw.pool.close(t.slot, lw.time);
}
