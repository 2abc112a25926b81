// IA³ against PyTorch: the tiny GPT-2 of the reference fixtures with PEFT's default GPT-2 IA³
// (c_attn scaled at its output, mlp.c_proj at its input), loss, logits and every vector's
// gradient (test/fixtures/gpt2-ia3-tiny, made by scripts/reference/gpt2_ia3.py from PEFT's
// IA3 Linear). Tolerances as test/core/reference.test.ts.
import { describeFixtures } from './gpt2-fixture.ts';

describeFixtures('PyTorch reference: GPT-2 tiny +', [
  { name: 'IA³', dir: 'gpt2-ia3-tiny', peft: 'ia3 on "c_attn"\n  ia3(feedforward = true) on "mlp.c_proj"', trainable: 4 },
]);
