// Dense float64 matrices as one row-major Float64Array, and the products the LoRA
// initialisations need, on the CPU backend's packed gemm (runtime/cpu/kernels/linear.ts).
import { gemm } from '../cpu/kernels/linear.ts';

export interface Dense {
  rows: number;
  cols: number;
  /** rows × cols, row-major. */
  data: Float64Array;
}

export function dense(rows: number, cols: number, data: Float64Array = new Float64Array(rows * cols)): Dense {
  return { rows, cols, data };
}

export function transpose(a: Dense): Dense {
  const out = dense(a.cols, a.rows);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) out.data[j * a.rows + i] = a.data[i * a.cols + j]!;
  return out;
}

/** a · b (the CPU backend's gemm: f64 sums in order over k). */
export function matmul(a: Dense, b: Dense): Dense {
  if (a.cols !== b.rows) throw new RangeError(`matmul: [${a.rows}, ${a.cols}] · [${b.rows}, ${b.cols}]`);
  const out = dense(a.rows, b.cols);
  gemm(a.rows, b.cols, a.cols, a.data, a.cols, 1, b.data, b.cols, 1, out.data);
  return out;
}

/** aᵀ · b (the same gemm over a's transposed strides). */
export function matmulTA(a: Dense, b: Dense): Dense {
  if (a.rows !== b.rows) throw new RangeError(`matmulTA: [${a.rows}, ${a.cols}]ᵀ · [${b.rows}, ${b.cols}]`);
  const out = dense(a.cols, b.cols);
  gemm(a.cols, b.cols, a.rows, a.data, 1, a.cols, b.data, b.cols, 1, out.data);
  return out;
}

/** The Gram matrix of a's rows (a·aᵀ, `rows` × `rows`) or of its columns (aᵀ·a, `cols` × `cols`). */
export function gram(a: Dense, of: 'rows' | 'cols'): Dense {
  return of === 'rows' ? rowGram(a) : rowGram(transpose(a));
}

/**
 * a·aᵀ as dot products of rows, four rows against each later row at a time: the four stay in
 * cache while the others stream past, a quarter of the memory traffic of one at a time.
 */
function rowGram(a: Dense): Dense {
  const { rows: m, cols: n, data } = a;
  const g = dense(m, m);
  const set = (i: number, j: number, v: number) => {
    g.data[i * m + j] = v;
    g.data[j * m + i] = v;
  };
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    const [r0, r1, r2, r3] = [i * n, (i + 1) * n, (i + 2) * n, (i + 3) * n];
    for (let j = i; j < m; j++) {
      const rj = j * n;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let k = 0; k < n; k++) {
        const x = data[rj + k]!;
        s0 += data[r0 + k]! * x;
        s1 += data[r1 + k]! * x;
        s2 += data[r2 + k]! * x;
        s3 += data[r3 + k]! * x;
      }
      // Pairs (i + t, j) with j < i + t are the mirror of ones already set.
      set(i, j, s0);
      if (j >= i + 1) set(i + 1, j, s1);
      if (j >= i + 2) set(i + 2, j, s2);
      if (j >= i + 3) set(i + 3, j, s3);
    }
  }
  for (; i < m; i++) {
    for (let j = i; j < m; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += data[i * n + k]! * data[j * n + k]!;
      set(i, j, s);
    }
  }
  return g;
}
