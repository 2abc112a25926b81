// Targets for the loss from a batch of token rows.
// Language modelling: position t predicts token t+1; the last position is ignored
// (-100), as are padding positions. With P soft prompt tokens the convention is Hugging
// Face PEFT's: labels are padded with P ignored entries and then shifted, so the virtual
// positions 0…P-2 are ignored and the last virtual position P-1 predicts the first token.
import type { Tensor } from './cpu/tensor.ts';

export const IGNORE = -100;

/**
 * targets [B, P+T]: -100 for virtual positions 0…P-2, tokens[0] at P-1 (when P > 0), then
 * tokens shifted left by one, -100 at the end and wherever `pad` (if given) is the next token.
 */
export function lmTargets(tokens: Tensor, promptLength = 0, pad?: number): Tensor {
  const [B, T] = tokens.shape as [number, number];
  const S = promptLength + T;
  const out = new Int32Array(B * S).fill(IGNORE);
  for (let b = 0; b < B; b++) {
    if (promptLength > 0 && tokens.data[b * T] !== pad) out[b * S + promptLength - 1] = tokens.data[b * T]!;
    for (let t = 0; t + 1 < T; t++) {
      const next = tokens.data[b * T + t + 1]!;
      if (next !== pad) out[b * S + promptLength + t] = next;
    }
  }
  return { shape: [B, S], data: out };
}
