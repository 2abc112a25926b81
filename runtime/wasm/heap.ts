// The wasm backend's memory: one shared WebAssembly.Memory that every thread's instance of the
// gemm module (gemm.wat) reads and writes. What lives for the whole run (the frozen weights, each
// thread's packing scratch, the threads' control words) is reserved once at the bottom; above it,
// each product stages the operands that are not already here, reusing the same bytes every call.
//
// A shared memory never moves or shrinks, so typed-array views made before a growth stay valid:
// the frozen arena can be a plain Float32Array view that the rest of the runtime reads as it reads
// any other arena.
import { WasmMemoryError } from './errors.ts';

const PAGE = 65536;
/** wasm32 addresses 4 GiB; pages past this cannot be had. */
const MAX_PAGES = 65536;

export class WasmHeap {
  readonly memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
  /** End of the reserved bytes: staging starts here. */
  private top = 0;
  /** Every buffer object the memory has handed out (one per growth): views on them are ours. */
  private readonly buffers = new WeakSet<ArrayBufferLike>([this.memory.buffer]);
  private f32View = new Float32Array(this.memory.buffer);

  /**
   * Reserves `bytes` for the rest of the run (64-byte aligned), zeroed (earlier products may have
   * staged operands there); `what` names it in the error when 4 GiB run out.
   */
  reserve(bytes: number, what: string): number {
    const at = align(this.top);
    this.ensure(at + bytes, what);
    this.top = at + bytes;
    new Uint8Array(this.memory.buffer, at, bytes).fill(0);
    return at;
  }

  /** Freed blocks by size class (log2 of their floats), for alloc to hand out again. */
  private readonly freeBlocks = new Map<number, number[]>();
  /** Size class of each block alloc handed out, by byte address. */
  private readonly blockClass = new Map<number, number>();

  /**
   * `n` floats that live until free() (zeroed): arrays that come and go, such as a decoder's
   * key/value cache. Blocks are powers of two, reused once freed; the memory never shrinks, so
   * what a run frees is what its next allocations take.
   */
  alloc(n: number, what: string): Float32Array {
    const cls = Math.max(4, Math.ceil(Math.log2(Math.max(1, n))));
    const reused = this.freeBlocks.get(cls)?.pop();
    const at = reused ?? this.reserve(4 * 2 ** cls, what); // reserve zeroes a new block
    this.blockClass.set(at, cls);
    const view = new Float32Array(this.memory.buffer, at, n);
    if (reused !== undefined) view.fill(0);
    return view;
  }

  /** Gives back a block alloc handed out (a view of anything else is ignored). */
  free(x: Float32Array): void {
    const cls = this.owns(x) ? this.blockClass.get(x.byteOffset) : undefined;
    if (cls === undefined) return;
    this.blockClass.delete(x.byteOffset);
    let list = this.freeBlocks.get(cls);
    if (!list) this.freeBlocks.set(cls, (list = []));
    list.push(x.byteOffset);
  }

  /** The first byte above the reserved ones, where a product stages its operands. */
  get stagingBase(): number {
    return align(this.top);
  }

  /** Grows the memory to hold `end` bytes. */
  ensure(end: number, what = 'the operands of a product'): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / PAGE);
    if (end > MAX_PAGES * PAGE || have / PAGE + pages > MAX_PAGES) {
      throw new WasmMemoryError(`the wasm backend keeps its data in one WebAssembly memory of at most 4 GiB; ${what} would need ${(end / 2 ** 30).toFixed(2)} GiB: use --backend cpu or webgpu (WebGPU keeps a quantized base as its codes: --frozen-dtype nf4)`, what);
    }
    this.memory.grow(pages);
    this.buffers.add(this.memory.buffer);
    this.f32View = new Float32Array(this.memory.buffer);
  }

  /** Whether `x` is a view on this memory (so the gemm can read it where it is). */
  owns(x: ArrayBufferView): boolean {
    return this.buffers.has(x.buffer);
  }

  /** All of the memory as floats (re-read after anything that may grow it). */
  get f32(): Float32Array {
    return this.f32View;
  }

  /** Control words for the threads: a view of `ints` Int32s at `at`. */
  ints(at: number, ints: number): Int32Array {
    return new Int32Array(this.memory.buffer, at, ints);
  }
}

/** n rounded up to a multiple of 64 (a cache line); addresses reach 4 GiB, past 32-bit integer arithmetic. */
function align(n: number): number {
  return Math.ceil(n / 64) * 64;
}

let shared: WasmHeap | undefined;

/** The process's heap (one memory for every wasm backend in the process). */
export function wasmHeap(): WasmHeap {
  return (shared ??= new WasmHeap());
}
