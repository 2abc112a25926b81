// Memory planning for the WebGPU plan: parameter arenas (one buffer per partition, slots
// aligned to 256 bytes so each parameter can be bound as a range) and a liveness-based pool
// for activations and backward temporaries (a value's buffer returns to the pool after its
// last use and is reused, best fit, by later values). Pure: sizes and offsets only.
import type { Param } from '../ir/types.ts';
import { lrScale } from '../peft/lora-plus.ts';
import { slotBytes } from '../quant/slot.ts';
import type { QuantDtype, WeightLayout } from '../quant/weight.ts';

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
  /**
   * Bytes of the tensor (4 · elements, 2 · elements in f16; quantized, the codes padded to 4 bytes
   * and the scales: compiler/quant/slot.ts); the slot occupies alignUp(bytes).
   */
  bytes: number;
  /**
   * How the arena stores it: f32, IEEE half floats (frozen weights, PlanOptions.frozenF16), or
   * quantized codes followed by their f32 scales (compiler/quant; `layout` says how they run).
   */
  dtype: 'f32' | 'f16' | QuantDtype;
  layout?: WeightLayout;
  /** Weight decay applies (rank ≥ 2, as in runtime/optim.ts). */
  decay: boolean;
  /** The learning-rate multiplier when not 1 (LoRA+'s lr_ratio on B, compiler/peft/lora-plus.ts). */
  lrScale?: number;
}

export interface ArenaLayout {
  slots: ArenaSlot[];
  /** Total bytes (a multiple of 256; at least 256 so an empty arena still binds). */
  bytes: number;
}

/** Quantized frozen weights: the dtype, and each quantized path's layout. */
export interface ArenaQuant {
  dtype: QuantDtype;
  layouts: ReadonlyMap<string, WeightLayout>;
}

/**
 * Lays out parameters in order, each slot at a 256-byte boundary (zero padding between); `half`
 * paths in f16, `quant` paths quantized.
 */
export function layoutArena(params: readonly Param[], half: ReadonlySet<string> = new Set(), quant?: ArenaQuant): ArenaLayout {
  let offset = 0;
  const slots = params.map((p) => {
    const layout = quant?.layouts.get(p.path);
    const dtype = layout ? quant!.dtype : half.has(p.path) ? 'f16' : 'f32';
    const bytes = layout ? slotBytes({ dtype: quant!.dtype, layout, rows: p.shape[0]!, cols: p.shape[1]! }) : (dtype === 'f16' ? 2 : 4) * numel(p.shape);
    const scale = lrScale(p);
    const slot: ArenaSlot = { path: p.path, shape: [...p.shape], offset, bytes, decay: p.shape.length >= 2, dtype, ...(layout ? { layout } : {}), ...(scale !== 1 ? { lrScale: scale } : {}) };
    offset += alignUp(bytes);
    return slot;
  });
  return { slots, bytes: Math.max(ALIGN, offset) };
}

/**
 * Byte ranges [start, start + bytes) of the arena, each a run of whole slots of at most `maxBytes`:
 * the buffers an arena larger than one buffer (maxBufferSize) is stored in. One range if it fits.
 */
export function arenaParts(layout: ArenaLayout, maxBytes: number): { start: number; bytes: number }[] {
  if (layout.bytes <= maxBytes) return [{ start: 0, bytes: layout.bytes }];
  const parts: { start: number; bytes: number }[] = [];
  for (const s of layout.slots) {
    const end = s.offset + alignUp(s.bytes);
    if (alignUp(s.bytes) > maxBytes) throw new RangeError(`parameter ${s.path} needs ${alignUp(s.bytes)} bytes, more than one buffer may hold (${maxBytes})`);
    const cur = parts[parts.length - 1];
    if (cur && end - cur.start <= maxBytes) cur.bytes = end - cur.start;
    else parts.push({ start: s.offset, bytes: end - s.offset });
  }
  return parts;
}

/**
 * The optimizer's per-block mask: one f32 (bound as u32) per 256-byte block of the arena, the
 * block's learning-rate multiplier (1, or LoRA+'s lr_ratio), positive where weight decay applies
 * and negative where it does not; 0 for padding.
 */
export function decayMask(layout: ArenaLayout): Uint32Array {
  const mask = new Float32Array(layout.bytes / ALIGN);
  for (const s of layout.slots) {
    mask.fill((s.decay ? 1 : -1) * (s.lrScale ?? 1), s.offset / ALIGN, (s.offset + alignUp(s.bytes)) / ALIGN);
  }
  return new Uint32Array(mask.buffer);
}

/**
 * Buffers for values by liveness, planned offline once every value's live interval is known
 * ("greedy by size", as TensorFlow Lite's arena planner): values in decreasing size each take the
 * smallest existing buffer none of whose values is live at the same time, else a new buffer of
 * their size. Times are kernel-group indices and intervals are inclusive, so a group's output
 * never shares a buffer with the operands it reads. With `reuse` off every value gets its own
 * buffer (for comparison).
 */
export class BufferPool {
  private readonly values: { bytes: number; start: number; end: number }[] = [];
  /** Buffer of each value, and each buffer's size, once assign() has run. */
  bufferOf: number[] = [];
  sizes: number[] = [];

  constructor(private readonly reuse = true) {}

  /** A value of `bytes` first written at time `t`; returns its id. */
  open(bytes: number, t: number): number {
    this.values.push({ bytes: alignUp(Math.max(bytes, 4), 16), start: t, end: Infinity });
    return this.values.length - 1;
  }

  /** The value's last reader runs at time `t`. */
  close(id: number, t: number): void {
    this.values[id]!.end = t;
  }

  assign(): void {
    const order = this.values.map((_, i) => i).sort((a, b) => this.values[b]!.bytes - this.values[a]!.bytes || this.values[a]!.start - this.values[b]!.start);
    const members: number[][] = [];
    this.bufferOf = new Array(this.values.length);
    this.sizes = [];
    const overlaps = (a: number, b: number) => {
      const x = this.values[a]!, y = this.values[b]!;
      return x.start <= y.end && y.start <= x.end;
    };
    for (const v of order) {
      let best = -1;
      if (this.reuse) {
        for (let b = 0; b < members.length; b++) {
          if (this.sizes[b]! < this.values[v]!.bytes || members[b]!.some((u) => overlaps(u, v))) continue;
          if (best < 0 || this.sizes[b]! < this.sizes[best]!) best = b;
        }
      }
      if (best < 0) {
        best = members.length;
        members.push([]);
        this.sizes.push(this.values[v]!.bytes);
      }
      members[best]!.push(v);
      this.bufferOf[v] = best;
    }
  }

  get totalBytes(): number {
    return this.sizes.reduce((a, b) => a + b, 0);
  }

  /** Bytes of one buffer per value. */
  get noReuseBytes(): number {
    return this.values.reduce((a, v) => a + v.bytes, 0);
  }

  /** The largest sum of simultaneously live values: the lower bound for any allocator. */
  get maxLiveBytes(): number {
    const events: [number, number][] = [];
    for (const v of this.values) {
      events.push([v.start, v.bytes]);
      if (v.end !== Infinity) events.push([v.end + 0.5, -v.bytes]);
    }
    events.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
    let live = 0;
    let max = 0;
    for (const [, d] of events) {
      live += d;
      max = Math.max(max, live);
    }
    return max;
  }
}
