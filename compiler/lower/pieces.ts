// An op with a tensor larger than one binding, as several dispatches over windows of it
// (compiler/lower/split.ts): a large embedding table or its gradient by table rows, elementwise
// ops by flat ranges, sums over copies (bias gradients) by copies. Matmuls and the loss split
// themselves (matmul.ts, loss.ts); other ops get a PlanError naming the tensor.
import { isQuantDtype } from '../quant/dtype.ts';
import type { Group } from './fuse.ts';
import type { BindingName, OpKernelRequest } from './kernels.ts';
import { type Lowering, within } from './lowering.ts';
import { numel } from './memory.ts';
import { FLAT_OPS, chunks, rowWindow, rowsPerWindow } from './split.ts';
import type { Phase, Region } from './types.ts';

type Bind = Partial<Record<BindingName, Region>>;
type Piece = { start: number; count: number };

export function lowerPieces(lw: Lowering, gr: Group, phase: Phase, req: OpKernelRequest, bind: Bind): void {
  const [first, second] = req.inputs;
  const emit = (parts: Piece[], make: (c: Piece) => { req: OpKernelRequest; bind: Bind }) =>
    parts.forEach((c, i) => {
      const p = make(c);
      lw.push(gr, phase, lw.backend.op(p.req), p.bind, ` [piece ${i + 1}/${parts.length}]`);
    });
  if (req.op === 'embedding' && bind.in0!.bytes > lw.limit) {
    const [N, D] = first!.shape as [number, number];
    // Codes and scales are one slot: a quantized table is looked up whole.
    if (isQuantDtype(first!.dtype)) throw lw.tooLarge(gr, 'in0', bind.in0!.bytes);
    const rowBytes = (first!.dtype === 'f16' ? 2 : 4) * D;
    const parts = chunks(N, lw.pieces(gr, () => rowsPerWindow(N, rowBytes, lw.limit, `embedding table [${N}, ${D}]`)));
    return emit(parts, (c) => ({
      req: { ...req, attrs: { ...req.attrs, row0: c.start, table_rows: N }, inputs: [{ ...first!, shape: [c.count, D] }, second!] },
      bind: { ...bind, in0: within(bind.in0!, rowWindow(c.start, c.count, rowBytes)) },
    }));
  }
  if (req.op === 'embedding_grad') {
    const [N, D] = req.output.shape as [number, number];
    const parts = chunks(N, lw.pieces(gr, () => rowsPerWindow(N, 4 * D, lw.limit, `embedding gradient [${N}, ${D}]`)));
    return emit(parts, (c) => ({
      req: { ...req, attrs: { ...req.attrs, rows: c.count, row0: c.start }, output: { ...req.output, shape: [c.count, D] } },
      bind: { ...bind, out: within(bind.out!, rowWindow(c.start, c.count, 4 * D)) },
    }));
  }
  const n = numel(req.output.shape);
  if (FLAT_OPS.has(req.op) && req.inputs.every((t) => numel(t.shape) === n)) {
    const parts = chunks(n, lw.pieces(gr, () => rowsPerWindow(n, 4, lw.limit, `${req.op} over ${n} elements`)));
    return emit(parts, (c) => {
      const w = rowWindow(c.start, c.count, 4);
      const windows = Object.fromEntries(Object.entries(bind).map(([k, r]) => [k, k === 'globals' ? r : within(r!, w)]));
      return { req: { ...req, inputs: req.inputs.map((t) => ({ ...t, shape: [c.count] })), output: { ...req.output, shape: [c.count] } }, bind: windows };
    });
  }
  if (req.op === 'sum_to' && bind.in0!.bytes > lw.limit && bind.out!.bytes <= lw.limit) {
    // A sum over copies (a bias gradient over rows): each piece adds its rows' copies into out.
    const like = req.inputs[1]!.shape;
    const rowBytes = 4 * numel(like);
    const copies = n === 0 ? 0 : numel(req.inputs[0]!.shape) / n;
    const parts = chunks(copies, lw.pieces(gr, () => rowsPerWindow(copies, rowBytes, lw.limit, `sum_to over ${copies} copies of ${n}`)));
    return emit(parts, (c) => ({
      req: { ...req, attrs: { ...req.attrs, accumulate: c.start > 0 ? 1 : 0 }, inputs: [{ ...req.inputs[0]!, shape: [c.count, ...like] }, req.inputs[1]!] },
      bind: { ...bind, in0: within(bind.in0!, rowWindow(c.start, c.count, rowBytes)) },
    }));
  }
  const big = (Object.entries(bind) as [string, Region][]).find(([, r]) => r.bytes > lw.limit)!;
  throw lw.tooLarge(gr, big[0], big[1].bytes);
}
