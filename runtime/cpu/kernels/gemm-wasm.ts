// The CPU backend's gemm tiles in WebAssembly SIMD (gemm.wat): linear.ts packs its panels of A
// and B straight into this module's memory (views from `panels`) and asks for a row of 4×4
// tiles at a time. Sums are f64 in the scalar tile's order, so results are bit-identical to the
// JavaScript path, which still runs where the engine has no WebAssembly SIMD.
//
// One instance serves every product (its memory grows to the largest panels asked for and
// stays: linear.ts bounds them, see PANEL_BYTES there), rather than one per product: each
// WebAssembly memory reserves gigabytes of address space, and thousands of short-lived ones
// before a garbage collection can exhaust it.
import { GEMM_WASM_BASE64 } from './gemm-wasm-bytes.ts';

const PAGE = 65536;

interface Exports {
  memory: WebAssembly.Memory;
  tiles(q: number, p: number, K: number, panels: number, out: number): void;
}

/** Views of the packed panels in WebAssembly memory, valid until the next `panels` call. */
export interface PanelViews {
  /** A's panel: Q[k·4 + i] = A(m0 + i, k). */
  Q: Float64Array;
  /** B's panels: P[j·4K + k·4 + c] = B(k, n0 + 4j + c). */
  P: Float64Array;
  /** The tiles' sums: out[j·16 + i·4 + c]. */
  out: Float64Array;
  /** Computes `panels` tiles of the packed Q and P into out. */
  tiles(panels: number): void;
}

let instance: Exports | null | undefined;

function exportsOnce(): Exports | null {
  if (instance !== undefined) return instance;
  try {
    const bytes = Uint8Array.from(atob(GEMM_WASM_BASE64), (c) => c.charCodeAt(0));
    instance = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as Exports;
  } catch {
    instance = null; // no WebAssembly SIMD in this engine
  }
  return instance;
}

/**
 * Room for A's panel (K·4 f64), `panelsMax` panels of B (K·4 f64 each) and their tiles (16 f64
 * each) in WebAssembly memory, or null where the engine has no WebAssembly SIMD.
 */
export function wasmPanels(K: number, panelsMax: number): PanelViews | null {
  const wasm = exportsOnce();
  if (!wasm) return null;
  const qBytes = K * 32;
  const pBytes = panelsMax * K * 32;
  const need = qBytes + pBytes + panelsMax * 128;
  const have = wasm.memory.buffer.byteLength;
  if (need > have) wasm.memory.grow(Math.ceil((need - have) / PAGE));
  const buffer = wasm.memory.buffer;
  const q = 0;
  const p = qBytes;
  const out = qBytes + pBytes;
  return {
    Q: new Float64Array(buffer, q, K * 4),
    P: new Float64Array(buffer, p, panelsMax * K * 4),
    out: new Float64Array(buffer, out, panelsMax * 16),
    tiles: (panels) => wasm.tiles(q, p, K, panels, out),
  };
}
