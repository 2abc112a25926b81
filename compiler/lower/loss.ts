// Lowering the loss: per-row losses of the logits (in row pieces when the logits exceed one
// binding) summed into the loss, with cross_entropy and its gradient in one kernel when fused.
import type { Node } from '../ir/types.ts';
import type { Group } from './fuse.ts';
import type { BindingName, OpKernelRequest } from './kernels.ts';
import { type Lowering, last, within } from './lowering.ts';
import { numel } from './memory.ts';
import { chunks, rowWindow, rowsPerWindow } from './split.ts';
import type { Phase, Region } from './types.ts';

/**
 * The loss of logits [R, V], in row pieces when the logits exceed one binding: each piece
 * writes its rows' losses (and, when `grad` is given, dlogits) into a temporary [R], which
 * sum_to adds into `loss`. Targets are bound whole: every row counts the counted rows of all.
 */
export function lossPieces(lw: Lowering, gr: Group, phase: Phase, req: OpKernelRequest, bind: Partial<Record<BindingName, Region>>, loss: Region, grad: Region | null): void {
  const logits = req.inputs[0]!.shape;
  const V = last(logits);
  const R = numel(logits) / V;
  const per = bind.in0!.bytes > lw.limit || (grad?.bytes ?? 0) > lw.limit ? lw.pieces(gr, () => rowsPerWindow(R, 4 * V, lw.limit, `logits [${R}, ${V}]`)) : R;
  const parts = chunks(R, per);
  lw.checkBinding(`the per-row losses of %${gr.output} [${R}]`, 4 * R);
  const slot = lw.pool.open(4 * R, lw.time);
  const rows: Region = { buffer: -1 - slot, offset: 0, bytes: 4 * R };
  parts.forEach((c, i) => {
    const w = rowWindow(c.start, c.count, 4 * V);
    const rowsOfPiece = { ...req.inputs[0]!, shape: [c.count, V] };
    const pieceReq: OpKernelRequest = {
      ...req,
      attrs: { ...req.attrs, row0: c.start },
      inputs: [rowsOfPiece, req.inputs[1]!],
      output: grad ? rowsOfPiece : req.output,
    };
    const k = lw.backend.loss(pieceReq, grad !== null);
    const b: Partial<Record<BindingName, Region>> = { in0: within(bind.in0!, w), in1: bind.in1!, loss: within(rows, rowWindow(c.start, c.count, 4)) };
    if (grad) b.out = within(grad, w);
    lw.push(gr, phase, k, b, parts.length > 1 ? ` [piece ${i + 1}/${parts.length}]` : '');
  });
  const sum = lw.backend.op({ op: 'sum_to', attrs: {}, inputs: [{ shape: [R], dtype: 'f32' }, { shape: [], dtype: 'f32' }], output: { shape: [], dtype: 'f32' } });
  lw.push(gr, phase, sum, { in0: rows, out: loss });
  lw.pool.close(slot, lw.time);
}

/**
 * cross_entropy + cross_entropy_grad: one kernel writes dlogits and per-row losses (already
 * divided by the count), then sum_to [] adds them into the loss (lossPieces). The per-row
 * losses are a temporary of the pool, released at once.
 */
export function lowerCrossEntropy(lw: Lowering, gr: Group, phase: Phase, head: Node, out: Region): void {
  const grad = gr.extraOutput!;
  const req = { op: 'cross_entropy_grad', attrs: head.attrs, inputs: head.inputs.map((i) => lw.spec(i)), output: lw.spec(grad) };
  const bind: Partial<Record<BindingName, Region>> = {};
  head.inputs.forEach((x, i) => (bind[`in${i}`] = lw.region(x)));
  lossPieces(lw, gr, phase, req, bind, out, lw.region(grad));
}
