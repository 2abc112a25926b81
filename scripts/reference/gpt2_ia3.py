"""PyTorch reference numbers for IA³ on the tiny GPT-2 of gpt2_lora.py (same config, base weights
and tokens), written from Hugging Face PEFT's formulas (peft/tuners/ia3/layer.py, Linear.forward):

  PEFT's default IA³ targets for GPT-2: target_modules ["c_attn", "mlp.c_proj"],
  feedforward_modules ["mlp.c_proj"], fan_in_fan_out = true.
    c_attn (not feed-forward):  y = (x·W + b) * l        l = ia3_l [3d, 1] flattened: the output,
                                                          bias included, is scaled
    mlp.c_proj (feed-forward):  y = (x * l)·W + b        l = ia3_l [1, 4d] flattened: the input
  The vectors are 1 + N(0, 0.3²) (PEFT starts them at one; random here so every gradient is
  non-trivial). They are saved one-dimensional, as the project keeps them (h.{i}.attn.c_attn.ia3_l
  [3d], h.{i}.mlp.c_proj.ia3_l [4d]); PEFT's files hold the same numbers as [3d, 1] and [1, 4d].

Run with Debian's Python and PyTorch:  /usr/bin/python3 scripts/reference/gpt2_ia3.py
It writes test/fixtures/gpt2-ia3-tiny/ (weights.safetensors, tokens.json, config.json,
expected.safetensors: loss [1], logits, grad.<name>), computed in float64 from the float32
weights, after a self-check (l = 1 is the base model) and a finite-difference check of the
gradients.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import gpt2_lora_family as fam  # noqa: E402
from gpt2_lora import CFG, FIXTURES, SEED, B, T, f32, init_base, lm_loss, save_case  # noqa: E402

WRITER = "scripts/reference/gpt2_ia3.py"
TARGETS = {"attn.c_attn": False, "mlp.c_proj": True}  # module → feed-forward


def conv1d(p, ia3, name, x):
    """GPT-2's Conv1D (W [in, out]) wrapped by PEFT's IA³ Linear when `ia3` has this module."""
    key = name + ".ia3_l"
    if key in ia3 and TARGETS[name.split(".", 2)[2]]:
        return (x * ia3[key]) @ p[name + ".weight"] + p[name + ".bias"]
    y = x @ p[name + ".weight"] + p[name + ".bias"]
    return y * ia3[key] if key in ia3 else y


def forward(p, ia3, tokens):
    """The family's GPT-2 (gpt2_lora_family.py) with IA³'s Conv1D."""
    return fam.forward(p, ia3, tokens, conv=conv1d)


def run(base, train, tokens, hf=False):
    logits = forward(base, train, tokens)
    return logits, lm_loss(logits, tokens[:, 1:], 0)


def vectors(gen):
    d, L = CFG["n_embd"], CFG["n_layer"]
    size = {"attn.c_attn": 3 * d, "mlp.c_proj": 4 * d}
    return {f"h.{i}.{m}.ia3_l": f32(1 + torch.randn(size[m], generator=gen, dtype=torch.float64) * 0.3) for i in range(L) for m in TARGETS}


def main() -> None:
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(SEED)
    base = init_base(gen)
    tokens = torch.randint(0, CFG["vocab_size"], (B, T), generator=gen)
    train = vectors(torch.Generator().manual_seed(SEED + 30))
    ones = {k: torch.ones_like(v) for k, v in train.items()}
    assert torch.equal(forward(base, ones, tokens), forward(base, {}, tokens)), "IA³ with l = 1 must be the base model"
    peft = {"peft_type": "IA3", "target_modules": ["c_attn", "mlp.c_proj"], "feedforward_modules": ["mlp.c_proj"], "fan_in_fan_out": True}
    save_case(os.path.join(FIXTURES, "gpt2-ia3-tiny"), WRITER, run, base, train, tokens, peft)


if __name__ == "__main__":
    main()
