// The decoding graphs (compiler/decode/graph.ts) pass the IR verifier: every node's operands,
// attributes (against the catalog's schemas, the decoding ops' included) and shapes. The decode
// kernels (runtime/decode/kernels.ts) read their attributes typed on the strength of this.
import { describe, expect, it } from 'vitest';
import { decodeGraphs } from '../../compiler/decode/graph.ts';
import { verifyGraph } from '../../compiler/ir/verify.ts';
import { METHODS, methodGraph } from './helpers.ts';

/** A decoding graph returns logits only: its loss output names the logits, not a scalar. */
const NO_LOSS = 'the loss is not a scalar node';

describe('decoding graphs', () => {
  for (const name of Object.keys(METHODS)) {
    it(`verify for ${name}: prefill and step`, () => {
      const { prefill, step } = decodeGraphs(methodGraph(name));
      for (const [which, g] of [['prefill', prefill], ['step', step]] as const) {
        expect(g.nodes.some((n) => n.op === 'kv_attention'), which).toBe(true);
        expect(verifyGraph(g).filter((p) => p !== NO_LOSS), which).toEqual([]);
      }
    });
  }

  it('would report a decoding op with a wrong attribute', () => {
    const { step } = decodeGraphs(methodGraph('lora'));
    const kv = step.nodes.find((n) => n.op === 'kv_attention')!;
    kv.attrs = { ...kv.attrs, layer: 'first' };
    expect(verifyGraph(step).join('\n')).toMatch(/kv_attention.*layer/);
  });
});
