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
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import st_io  # noqa: E402
from gpt2_lora import CFG, FIXTURES, ROOT, SEED, B, T, f32, gelu_new, init_base, layer_norm, lm_loss, finite_difference_check, max_diffs  # noqa: E402

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
    d, H, L = CFG["n_embd"], CFG["n_head"], CFG["n_layer"]
    hd = d // H
    nb, S = tokens.shape
    x = p["wte.weight"][tokens] + p["wpe.weight"][torch.arange(S)]
    causal = torch.ones(S, S, dtype=torch.bool).tril()
    heads = lambda t: t.view(nb, S, H, hd).transpose(1, 2)  # noqa: E731
    for i in range(L):
        h = f"h.{i}."
        a = layer_norm(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"])
        q, k, v = (heads(t) for t in conv1d(p, ia3, h + "attn.c_attn", a).split(d, dim=-1))
        scores = ((q @ k.transpose(-1, -2)) / math.sqrt(hd)).masked_fill(~causal, float("-inf"))
        y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(nb, S, d)
        x = x + conv1d(p, ia3, h + "attn.c_proj", y)
        m = layer_norm(x, p[h + "ln_2.weight"], p[h + "ln_2.bias"])
        x = x + conv1d(p, ia3, h + "mlp.c_proj", gelu_new(conv1d(p, ia3, h + "mlp.c_fc", m)))
    x = layer_norm(x, p["ln_f.weight"], p["ln_f.bias"])
    return x @ p["wte.weight"].T


def run(base, train, tokens, hf=False):
    logits = forward(base, train, tokens)
    return logits, lm_loss(logits, tokens[:, 1:], 0)


def evaluate(base, train, tokens, dtype):
    b = {k: v.to(dtype) for k, v in base.items()}
    t = {k: v.detach().to(dtype).requires_grad_(True) for k, v in train.items()}
    logits, loss = run(b, t, tokens)
    loss.backward()
    return {"loss": loss.detach().reshape(1), "logits": logits.detach(), **{"grad." + k: v.grad.detach() for k, v in t.items()}}


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
    folder = os.path.join(FIXTURES, "gpt2-ia3-tiny")
    os.makedirs(folder, exist_ok=True)
    st_io.save(os.path.join(folder, "weights.safetensors"), {k: v.to(torch.float32) for k, v in {**base, **train}.items()}, {"format": "pt", "writer": WRITER})
    with open(os.path.join(folder, "tokens.json"), "w") as f:
        f.write(json.dumps(tokens.tolist()) + "\n")
    peft = {"peft_type": "IA3", "target_modules": ["c_attn", "mlp.c_proj"], "feedforward_modules": ["mlp.c_proj"], "fan_in_fan_out": True}
    with open(os.path.join(folder, "config.json"), "w") as f:
        f.write(json.dumps({**CFG, "batch": B, "seq_len": T, "seed": SEED, **peft}, indent=2) + "\n")
    ref = evaluate(base, train, tokens, torch.float64)
    finite_difference_check(run, base, train, tokens, ref)
    diffs = max_diffs(ref, evaluate(base, train, tokens, torch.float32))
    meta = {"format": "pt", "writer": WRITER, "computed_in": "float64 from the float32 weights, saved as float32",
            "f32_vs_f64": json.dumps(diffs, sort_keys=True), "torch": torch.__version__}
    st_io.save(os.path.join(folder, "expected.safetensors"), {k: v.to(torch.float32) for k, v in ref.items()}, meta)
    worst = max(diffs.items(), key=lambda kv: kv[1])
    print(f"{os.path.relpath(folder, ROOT)}: loss {float(ref['loss']):.9f}; float32 run differs by ≤ {worst[1]:.2e} ({worst[0]})")


if __name__ == "__main__":
    main()
