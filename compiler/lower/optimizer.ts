// Lowering the optimizer: global-norm clipping (Σg² per chunk of the gradient arena, then one
// finishing kernel) and the update (per chunk), over whole arenas. A chunk is the whole arena
// unless it exceeds maxStorageBufferBindingSize; chunk sizes are multiples of 64 KiB so the decay
// mask's matching range (one u32 per 256 bytes) stays 256-aligned. The loss is copied beside
// the norm, so a step reads back 16 bytes (optimizer-layout.ts).
import type { BindingName } from './kernels.ts';
import type { Lowering } from './lowering.ts';
import { type ArenaLayout, alignUp } from './memory.ts';
import { CLIP, HYPER } from './optimizer-layout.ts';
import { PlanError } from './plan-error.ts';
import type { Plan, Region } from './types.ts';

type Chunk = { offset: number; bytes: number };

/** Adds the optimizer's buffers (to `ids`) and steps; returns the bytes of its scratch and state buffers. */
export function lowerOptimizer(lw: Lowering, ids: Plan['ids'], trainable: ArenaLayout, loss: Region): { scratch: number; state: number } {
  const cfg = lw.t.optimizer;
  const total = trainable.bytes;
  const chunkMax = Math.floor(lw.limit / 65536) * 65536;
  if (chunkMax === 0) throw new PlanError(`maxStorageBufferBindingSize ${lw.limit} is below 64 KiB; the optimizer cannot bind its arenas`);
  const chunks: Chunk[] = [];
  for (let o = 0; o < total; o += chunkMax) chunks.push({ offset: o, bytes: Math.min(chunkMax, total - o) });
  const withM = cfg.kind === 'adamw' || cfg.momentum !== 0;
  if (withM) ids.m = lw.buffer('optim.m', 'optim-state', total);
  if (cfg.kind === 'adamw') ids.v = lw.buffer('optim.v', 'optim-state', total);
  ids.decay = lw.buffer('optim.decay', 'optim-scratch', alignUp(total / 64, 4));
  ids.hyper = lw.buffer('optim.hyper', 'optim-scratch', 4 * HYPER.floats);
  const sums = chunks.map((c) => lw.backend.sumSquares(c.bytes));
  ids.partials = lw.buffer('optim.partials', 'optim-scratch', sums.reduce((a, s) => a + s.partialBytes, 0));
  ids.clip = lw.buffer('optim.clip', 'optim-scratch', 4 * CLIP.floats);
  const arena = (buffer: number, c: Chunk): Region => ({ buffer, offset: c.offset, bytes: c.bytes });
  const mask = (c: Chunk): Region => ({ buffer: ids.decay!, offset: c.offset / 64, bytes: Math.max(4, c.bytes / 64) });
  const clip: Region = { buffer: ids.clip, offset: 0, bytes: 4 * CLIP.floats };

  let po = 0;
  chunks.forEach((c, i) => {
    const { kernel, partialBytes } = sums[i]!;
    const partials: Region = { buffer: ids.partials!, offset: po, bytes: partialBytes };
    lw.dispatch(`clip: Σg² of gradients [${c.offset}, ${c.offset + c.bytes})`, kernel, [arena(ids.grads, c), partials], 'optimizer', []);
    po += partialBytes;
  });
  lw.dispatch(`clip: global norm and factor (clip_norm ${cfg.clipNorm})`, lw.backend.clipFactor(cfg.clipNorm), [{ buffer: ids.partials, offset: 0, bytes: po }, clip], 'optimizer', []);
  lw.steps.push({ kind: 'copy', label: 'loss beside the norm (one readback per step)', src: loss, dst: { buffer: ids.clip, offset: 4 * CLIP.loss, bytes: 4 }, phase: 'optimizer', nodes: [] });
  for (const c of chunks) {
    const bind: Partial<Record<BindingName, Region>> = {
      p: arena(ids.trainable, c),
      g: arena(ids.grads, c),
      decay: mask(c),
      hyper: { buffer: ids.hyper, offset: 0, bytes: 4 * HYPER.floats },
      clip,
    };
    if (ids.m !== undefined) bind.m = arena(ids.m, c);
    if (ids.v !== undefined) bind.v = arena(ids.v, c);
    const k = lw.backend.update(cfg, c.bytes);
    lw.dispatch(`${cfg.kind} update of trainable [${c.offset}, ${c.offset + c.bytes})`, k, k.bindings.map((b) => bind[b]!), 'optimizer', []);
  }
  const scratch = [ids.decay, ids.hyper, ids.partials, ids.clip].reduce((s, id) => s + lw.buffers[id]!.bytes, 0);
  return { scratch, state: (withM ? total : 0) + (cfg.kind === 'adamw' ? total : 0) };
}
