// Targets for the loss from a batch of token rows.
// Language modelling: position t predicts token t+1; the last position is ignored
// (-100), as are padding positions. With P soft prompt tokens the convention is Hugging
// Face PEFT's: labels are padded with P ignored entries and then shifted, so the virtual
// positions 0…P-2 are ignored and the last virtual position P-1 predicts the first token.
// A loss mask (prompt/completion data, padding) says which tokens are to be predicted at all.
import type { Tensor } from './cpu/tensor.ts';

export const IGNORE = -100;

/**
 * targets [B, P+T]: -100 for virtual positions 0…P-2, tokens[0] at P-1 (when P > 0), then
 * tokens shifted left by one, -100 at the end and wherever the next token is not a target:
 * it equals `pad` (if given) or its entry of `mask` (if given, [B·T] row-major, one per token)
 * is 0.
 */
export function lmTargets(tokens: Tensor, promptLength = 0, pad?: number, mask?: ArrayLike<number>): Tensor {
  const [B, T] = tokens.shape as [number, number];
  if (mask && mask.length !== B * T) throw new Error(`lmTargets: mask has ${mask.length} entries, tokens [${B}, ${T}] need ${B * T}`);
  const S = promptLength + T;
  const out = new Int32Array(B * S).fill(IGNORE);
  const isTarget = (i: number): boolean => tokens.data[i] !== pad && (!mask || mask[i] !== 0);
  for (let b = 0; b < B; b++) {
    if (promptLength > 0 && isTarget(b * T)) out[b * S + promptLength - 1] = tokens.data[b * T]!;
    for (let t = 0; t + 1 < T; t++) {
      const i = b * T + t + 1;
      if (isTarget(i)) out[b * S + promptLength + t] = tokens.data[i]!;
    }
  }
  return { shape: [B, S], data: out };
}

/** Positions that count in the loss (target ≠ -100): the denominator of the mean cross-entropy. */
export function countTargets(targets: Tensor): number {
  let n = 0;
  for (const v of targets.data) if (v !== IGNORE) n++;
  return n;
}
