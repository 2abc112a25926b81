// The exact GELU (`gelu` in the language, the IR op gelu_erf) against PyTorch's F.gelu and its
// autograd in float64 (values printed by /usr/bin/python3 with torch, see the list below), and
// the language's names: `gelu` is exact, `gelu_tanh` the tanh form GPT-2 uses (the IR op gelu).
import { describe, expect, it } from 'vitest';
import { tensor } from '../../runtime/cpu/tensor.ts';
import { graphOfText } from '../helpers.ts';
import { run } from './helpers.ts';

const XS = [-6, -3.1, -1, -0.3, 0, 0.2, 1.5, 4];
// torch.nn.functional.gelu(x) and its gradient, x float64.
const TORCH_GELU = [-5.919525869479969e-9, -0.00299956996097695, -0.15865525393145702, -0.1146265733433142, 0, 0.11585194188782061, 1.399789198096713, 3.9998733150326675];
const TORCH_GRAD = [-3.546870945402639e-8, -0.009159535861001376, -0.08331547058768635, 0.26767223317289013, 0.5, 0.6574682482341941, 1.1274691922299795, 1.0005036496612265];

const relErr = (got: ArrayLike<number>, want: number[]) => Math.max(...want.map((w, i) => Math.abs(got[i]! - w) / Math.max(Math.abs(w), 1e-300)));

describe('gelu_erf (exact GELU)', () => {
  it("matches torch's F.gelu and its gradient to a few ulps, tail included", () => {
    expect(relErr(run('gelu_erf', [tensor([8], XS)]).data, TORCH_GELU)).toBeLessThan(1e-14);
    const ones = tensor([8], XS.map(() => 1));
    expect(relErr(run('gelu_erf_grad', [tensor([8], XS), ones]).data, TORCH_GRAD)).toBeLessThan(1e-13);
  });

  it('`gelu` in a forward is the exact op, `gelu_tanh` the tanh form', () => {
    const text = (f: string) => `config { d = 4 }\nmodel M {\n  e = Embedding(8, d)\n  h = Linear(d, 8)\n  forward(tokens) {\n    return h(${f}(e(tokens)))\n  }\n}`;
    const ops = (f: string) => graphOfText(text(f)).nodes.map((n) => n.op);
    expect(ops('gelu')).toContain('gelu_erf');
    expect(ops('gelu')).not.toContain('gelu');
    expect(ops('gelu_tanh')).toContain('gelu');
    expect(ops('gelu_tanh')).not.toContain('gelu_erf');
  });

  it('GPT-2 keeps the tanh form (its MLP calls gelu_tanh)', () => {
    const g = graphOfText('import "gpt2.peft"', ['vocab_size=64,n_positions=16,n_embd=32,n_layer=2,n_head=4']);
    expect(g.nodes.filter((n) => n.op === 'gelu')).toHaveLength(2);
    expect(g.nodes.filter((n) => n.op === 'gelu_erf')).toHaveLength(0);
  });
});
