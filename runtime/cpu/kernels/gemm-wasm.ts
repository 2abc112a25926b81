// The CPU backend's gemm block (gemm-block.ts) in WebAssembly SIMD (gemm.wat): linear.ts packs
// its panels of A and B straight into this module's memory (the views below) and asks for a
// chunk's tiles, then for the block's rounded rows. Sums are f64 in the scalar tile's order, so
// results are bit-identical to the JavaScript block, which still runs where the engine has no
// WebAssembly SIMD.
//
// One instance serves every product (its memory is sized once for the largest block, MC × NC
// over KC values of k, with A's panels for up to QK values of k), rather than one per product: each WebAssembly memory reserves gigabytes
// of address space, and thousands of short-lived ones before a garbage collection can exhaust it.
import { KC, MC, NC, QK, type GemmBlock } from './gemm-block.ts';
import { GEMM_WASM_BASE64 } from './gemm-wasm-bytes.ts';

const PAGE = 65536;

interface Exports {
  memory: WebAssembly.Memory;
  tiles(q: number, p: number, kc: number, mPanels: number, nPanels: number, out: number, carry: number): void;
  finish32(out: number, mPanels: number, nPanels: number, bias: number, dst: number): void;
  finish64(out: number, mPanels: number, nPanels: number, bias: number, dst: number): void;
}

let block: GemmBlock | null | undefined;

function instantiate(): Exports | null {
  try {
    const bytes = Uint8Array.from(atob(GEMM_WASM_BASE64), (c) => c.charCodeAt(0));
    return new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as Exports;
  } catch {
    return null; // no WebAssembly SIMD in this engine
  }
}

/** The block in WebAssembly memory, or null where the engine has no WebAssembly SIMD. */
export function wasmBlock(): GemmBlock | null {
  if (block !== undefined) return block;
  const wasm = instantiate();
  if (!wasm) return (block = null);
  // Byte offsets: Q, P, the bias, the tiles' sums, the rounded rows (f64-sized, either kind).
  const q = 0;
  const p = q + MC * QK * 8;
  const bias = p + NC * KC * 8;
  const out = bias + NC * 8;
  const dst = out + MC * NC * 8;
  const end = dst + MC * NC * 8;
  const have = wasm.memory.buffer.byteLength;
  if (end > have) wasm.memory.grow(Math.ceil((end - have) / PAGE));
  const buffer = wasm.memory.buffer;
  const rows32 = new Float32Array(buffer, dst, MC * NC);
  const rows64 = new Float64Array(buffer, dst, MC * NC);
  return (block = {
    Q: new Float64Array(buffer, q, MC * QK),
    P: new Float64Array(buffer, p, NC * KC),
    bias: new Float64Array(buffer, bias, NC),
    tiles: (kc, mPanels, nPanels, carry, q0) => wasm.tiles(q + q0 * 8, p, kc, mPanels, nPanels, out, carry ? 1 : 0),
    finish32(mPanels, nPanels) {
      wasm.finish32(out, mPanels, nPanels, bias, dst);
      return rows32;
    },
    finish64(mPanels, nPanels) {
      wasm.finish64(out, mPanels, nPanels, bias, dst);
      return rows64;
    },
  });
}
