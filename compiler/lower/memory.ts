// Memory planning for the WebGPU plan: parameter arenas (one buffer per partition, slots
// aligned to 256 bytes so each parameter can be bound as a range) and a liveness-based pool
// for activations and backward temporaries (a value's buffer returns to the pool after its
// last use and is reused, best fit, by later values). Pure: sizes and offsets only.
import type { Param } from '../ir/types.ts';

/** WebGPU's largest minStorageBufferOffsetAlignment: a 256-aligned offset binds on every adapter. */
export const ALIGN = 256;
/** Floats per 256-byte block: the optimizer's weight-decay mask has one entry per block. */
export const BLOCK_FLOATS = ALIGN / 4;

export const alignUp = (n: number, a = ALIGN): number => Math.ceil(n / a) * a;
export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export interface ArenaSlot {
  path: string;
  shape: number[];
  /** Byte offset in the arena (a multiple of 256). */
  offset: number;
  /** Bytes of the tensor (4 · elements); the slot occupies alignUp(bytes). */
  bytes: number;
  /** Weight decay applies (rank ≥ 2, as in runtime/optim.ts). */
  decay: boolean;
}

export interface ArenaLayout {
  slots: ArenaSlot[];
  /** Total bytes (a multiple of 256; at least 256 so an empty arena still binds). */
  bytes: number;
}

/** Lays out parameters in order, each slot at a 256-byte boundary (zero padding between). */
export function layoutArena(params: readonly Param[]): ArenaLayout {
  let offset = 0;
  const slots = params.map((p) => {
    const bytes = 4 * numel(p.shape);
    const slot: ArenaSlot = { path: p.path, shape: [...p.shape], offset, bytes, decay: p.shape.length >= 2 };
    offset += alignUp(bytes);
    return slot;
  });
  return { slots, bytes: Math.max(ALIGN, offset) };
}

/** The optimizer's weight-decay mask: one u32 per 256-byte block of the arena (1 = decay). */
export function decayMask(layout: ArenaLayout): Uint32Array {
  const mask = new Uint32Array(layout.bytes / ALIGN);
  for (const s of layout.slots) {
    if (s.decay) mask.fill(1, s.offset / ALIGN, (s.offset + alignUp(s.bytes)) / ALIGN);
  }
  return mask;
}

/**
 * Buffers for values by liveness. acquire() takes the smallest free buffer that is large enough;
 * when none is, it grows the largest free buffer (cheaper than a new one); only when nothing is
 * free does it create a buffer. With `reuse` off every value gets its own buffer (for comparison).
 */
export class BufferPool {
  /** Final size of each buffer in bytes. */
  readonly sizes: number[] = [];
  private readonly free = new Set<number>();
  private liveBytes = 0;
  /** The largest sum of live value sizes at any point: the lower bound for any allocator. */
  maxLiveBytes = 0;

  constructor(private readonly reuse = true) {}

  acquire(bytes: number): number {
    const need = alignUp(Math.max(bytes, 4), 16);
    this.liveBytes += need;
    this.maxLiveBytes = Math.max(this.maxLiveBytes, this.liveBytes);
    let best = -1;
    let largest = -1;
    if (this.reuse) {
      for (const i of this.free) {
        const size = this.sizes[i]!;
        if (size >= need && (best < 0 || size < this.sizes[best]!)) best = i;
        if (largest < 0 || size > this.sizes[largest]!) largest = i;
      }
    }
    const id = best >= 0 ? best : largest;
    if (id >= 0) {
      this.free.delete(id);
      this.sizes[id] = Math.max(this.sizes[id]!, need);
      return id;
    }
    this.sizes.push(need);
    return this.sizes.length - 1;
  }

  release(id: number, bytes: number): void {
    this.liveBytes -= alignUp(Math.max(bytes, 4), 16);
    if (this.reuse) this.free.add(id);
  }

  get totalBytes(): number {
    return this.sizes.reduce((a, b) => a + b, 0);
  }
}
