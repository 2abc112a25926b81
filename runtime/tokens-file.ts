// Reading a batch of token ids from JSON: an array of equal-length arrays of integer
// ids, each within the vocabulary. Every problem is a clear error naming the row.
import type { Tensor } from './cpu/tensor.ts';

export class TokensError extends Error {
  override name = 'TokensError';
}

export function parseTokens(text: string, vocab: number, where = 'tokens'): Tensor {
  let rows: unknown;
  try {
    rows = JSON.parse(text);
  } catch (e) {
    throw new TokensError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(rows) || rows.length === 0 || !rows.every(Array.isArray)) {
    throw new TokensError(`${where}: expected a JSON array of arrays of token ids, like [[1, 2, 3], [4, 5, 6]]`);
  }
  const T = (rows[0] as unknown[]).length;
  if (T === 0) throw new TokensError(`${where}: row 0 is empty`);
  const data = new Int32Array(rows.length * T);
  rows.forEach((row: unknown[], b) => {
    if (row.length !== T) throw new TokensError(`${where}: row ${b} has ${row.length} tokens, row 0 has ${T}; rows must have equal length`);
    row.forEach((id, t) => {
      if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= vocab) {
        throw new TokensError(`${where}: row ${b}, position ${t}: ${JSON.stringify(id)} is not a token id in [0, ${vocab})`);
      }
      data[b * T + t] = id as number;
    });
  });
  return { shape: [rows.length, T], data };
}
