// The project's numbers against PyTorch's for the same weights and tokens: a tiny GPT-2
// with LoRA, prompt tuning and prefix tuning (fixtures made by scripts/reference/gpt2_lora.py,
// see test/fixtures/README.md). Prompt and prefix follow Hugging Face PEFT's conventions
// (expected-hf.safetensors).
// Tolerances: float64 run vs the float64 reference saved as float32: 2e-6 relative on
// loss, 1e-5 absolute on logits and gradients; float32 run: 1e-5 on loss, 5e-5 on logits,
// 1e-5 on gradients.
import { describeFixtures } from './gpt2-fixture.ts';

describeFixtures('PyTorch reference: GPT-2 tiny +', [
  { name: 'lora', dir: 'gpt2-lora-tiny', peft: 'lora(rank = 4, alpha = 8) on "c_attn"' },
  { name: 'prompt', dir: 'gpt2-prompt-tiny', peft: 'prompt(length = 3) on "wte"', expected: 'expected-hf.safetensors' },
  { name: 'prefix', dir: 'gpt2-prefix-tiny', peft: 'prefix(length = 3) on "h.*.attn"', expected: 'expected-hf.safetensors', rename: (n) => (n === 'prefix' ? 'prefix_embeddings' : n) },
]);
