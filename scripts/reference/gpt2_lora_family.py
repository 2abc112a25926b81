"""PyTorch reference numbers for the LoRA family on the tiny GPT-2 of gpt2_lora.py (same config,
base weights and tokens), written from Hugging Face PEFT's formulas (peft/tuners/lora/layer.py):

  all-linear   LoRA (r 4, alpha 8) on every Conv1D of every block (c_attn, attn.c_proj, c_fc,
               mlp.c_proj), PEFT's target_modules="all-linear" for GPT2LMHeadModel (the tied
               lm_head is left out). fan_in_fan_out: y = x·W + b + (alpha/r)·(x·Aᵀ)·Bᵀ.
  dora         DoRA (r 4, alpha 8) on c_attn and c_fc, PEFT's DoraLinearLayer: k = m / ‖W + s·B·A‖
               (rows of W as [out, in], the norm detached), y' = y + (k − 1)·(x·W) + k·s·(x·Aᵀ)·Bᵀ,
               m = <module>.lora_magnitude_vector [out].
  embedding    LoRA (r 4, alpha 8) on wte, PEFT's lora.Embedding: wte[ids] + (alpha/r)·Aᵀ[ids]·Bᵀ
               with A = wte.lora_embedding_A [r, V], B = wte.lora_embedding_B [d, r]; the tied head
               keeps the base table (logits = ln_f(x)·wteᵀ).
  dora-embedding  DoRA (r 4, alpha 8) on wte, PEFT's DoraEmbeddingLayer: k = m / ‖wteᵀ + s·B·A‖
               (rows of [d, V], one per embedding dimension, the norm detached),
               y' = k·(wte[ids] + s·Aᵀ[ids]·Bᵀ), m = wte.lora_magnitude_vector [d].

Every trainable tensor is random and non-zero, so every gradient is non-trivial.

Run with Debian's Python and PyTorch:  /usr/bin/python3 scripts/reference/gpt2_lora_family.py
It writes test/fixtures/gpt2-lora-{all-linear,embedding}-tiny/ and gpt2-dora{,-embedding}-tiny/ (weights.safetensors, tokens.json,
config.json, expected.safetensors: loss [1], logits, grad.<name>), computed in float64 from the
float32 weights, after a finite-difference check of the gradients and a self-check (zero B is the
base model).
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from gpt2_lora import CFG, FIXTURES, SEED, STD, B, T, f32, gelu_new, init_base, layer_norm, lm_loss, finite_difference_check, save_case  # noqa: E402

R, ALPHA = 4, 8
SCALE = ALPHA / R
# DoRA's norms: the gradient treats them as constants, so the finite-difference check holds them
# at their values at the checked point (SEEN_NORMS records them, FROZEN_NORMS replays them).
FROZEN_NORMS: dict = {}
SEEN_NORMS: dict = {}
LINEARS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
WRITER = "scripts/reference/gpt2_lora_family.py"


def conv1d(p, lora, name, x):
    """GPT-2's Conv1D (W [in, out]) with PEFT's LoRA branch when `lora` has this module, and
    DoRA's (dora.py, DoraLinearLayer.forward) when it also has a magnitude vector."""
    y = x @ p[name + ".weight"] + p[name + ".bias"]
    if name + ".lora_A.weight" not in lora:
        return y
    A, B = lora[name + ".lora_A.weight"], lora[name + ".lora_B.weight"]
    branch = (x @ A.T) @ B.T
    if name + ".lora_magnitude_vector" not in lora:
        return y + SCALE * branch
    weight = p[name + ".weight"].T  # transpose(weight, fan_in_fan_out): [out, in]
    weight_norm = FROZEN_NORMS.get(name)
    if weight_norm is None:
        weight_norm = torch.linalg.norm(weight + SCALE * (B @ A).detach(), dim=1).detach()
        SEEN_NORMS[name] = weight_norm
    mag_norm_scale = (lora[name + ".lora_magnitude_vector"] / weight_norm).view(1, -1)
    base_result = y - p[name + ".bias"]
    return y + (mag_norm_scale - 1) * base_result + mag_norm_scale * branch * SCALE


def embed(p, lora, tokens):
    """wte[tokens], plus PEFT's lora.Embedding branch when `lora` has wte's, and DoRA's
    (dora.py, DoraEmbeddingLayer with fan_in_fan_out=True; variants.py, DoraEmbeddingVariant.forward)
    when it also has a magnitude vector."""
    e = p["wte.weight"][tokens]
    if "wte.lora_embedding_A" not in lora:
        return e
    A, B = lora["wte.lora_embedding_A"], lora["wte.lora_embedding_B"]
    after_a = torch.nn.functional.embedding(tokens, A.T)
    branch = (after_a @ B.T) * SCALE
    if "wte.lora_magnitude_vector" not in lora:
        return e + branch
    # get_lora_weight: (lora_A @ lora_B).T with lora_A = A.T, lora_B = B.T, i.e. B·A [d, V];
    # get_weight_norm: transpose(weight, True) + scaling·lora_weight, its rows' norms [d].
    weight_norm = FROZEN_NORMS.get("wte")
    if weight_norm is None:
        weight_norm = torch.linalg.norm(p["wte.weight"].T + SCALE * (B @ A).detach(), dim=1).detach()
        SEEN_NORMS["wte"] = weight_norm
    mag_norm_scale = lora["wte.lora_magnitude_vector"] / weight_norm
    return mag_norm_scale * e + mag_norm_scale * branch


def forward(p, lora, tokens, conv=None):
    """GPT-2 over `p`, each Conv1D through `conv` (default: this file's LoRA/DoRA layer; the IA³ and
    AdaLoRA references pass their own), the token embedding through LoRA's when `lora` has it."""
    conv1d_ = conv or conv1d
    d, H, L = CFG["n_embd"], CFG["n_head"], CFG["n_layer"]
    hd = d // H
    nb, S = tokens.shape
    x = embed(p, lora, tokens) + p["wpe.weight"][torch.arange(S)]
    causal = torch.ones(S, S, dtype=torch.bool).tril()
    heads = lambda t: t.view(nb, S, H, hd).transpose(1, 2)  # noqa: E731
    for i in range(L):
        h = f"h.{i}."
        a = layer_norm(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"])
        q, k, v = (heads(t) for t in conv1d_(p, lora, h + "attn.c_attn", a).split(d, dim=-1))
        scores = ((q @ k.transpose(-1, -2)) / math.sqrt(hd)).masked_fill(~causal, float("-inf"))
        y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(nb, S, d)
        x = x + conv1d_(p, lora, h + "attn.c_proj", y)
        m = layer_norm(x, p[h + "ln_2.weight"], p[h + "ln_2.bias"])
        x = x + conv1d_(p, lora, h + "mlp.c_proj", gelu_new(conv1d_(p, lora, h + "mlp.c_fc", m)))
    x = layer_norm(x, p["ln_f.weight"], p["ln_f.bias"])
    return x @ p["wte.weight"].T  # the tied head reads the base table


def run(base, train, tokens, hf=False):
    logits = forward(base, train, tokens)
    return logits, lm_loss(logits, tokens[:, 1:], 0)


def linear_lora(gen):
    d, L = CFG["n_embd"], CFG["n_layer"]
    sizes = {"attn.c_attn": (d, 3 * d), "attn.c_proj": (d, d), "mlp.c_fc": (d, 4 * d), "mlp.c_proj": (4 * d, d)}
    out = {}
    for i in range(L):
        for name in LINEARS:
            fin, fout = sizes[name]
            key = f"h.{i}.{name}"
            out[key + ".lora_A.weight"] = f32((torch.rand(R, fin, generator=gen, dtype=torch.float64) * 2 - 1) / math.sqrt(fin))
            out[key + ".lora_B.weight"] = f32(torch.randn(fout, R, generator=gen, dtype=torch.float64) * STD["lora_B"])
    return out


def embedding_lora(gen):
    V, d = CFG["vocab_size"], CFG["n_embd"]
    return {
        "wte.lora_embedding_A": f32(torch.randn(R, V, generator=gen, dtype=torch.float64) * 0.1),
        "wte.lora_embedding_B": f32(torch.randn(d, R, generator=gen, dtype=torch.float64) * 0.5),
    }


def dora(gen, base):
    """DoRA on c_attn and c_fc: LoRA factors and magnitudes near ‖W + s·B·A‖, none equal to it."""
    d, L = CFG["n_embd"], CFG["n_layer"]
    sizes = {"attn.c_attn": (d, 3 * d), "mlp.c_fc": (d, 4 * d)}
    out = {}
    for i in range(L):
        for name, (fin, fout) in sizes.items():
            key = f"h.{i}.{name}"
            A = f32((torch.rand(R, fin, generator=gen, dtype=torch.float64) * 2 - 1) / math.sqrt(fin))
            B_ = f32(torch.randn(fout, R, generator=gen, dtype=torch.float64) * STD["lora_B"])
            norm = torch.linalg.norm(base[key + ".weight"].T + SCALE * B_ @ A, dim=1)
            out[key + ".lora_A.weight"], out[key + ".lora_B.weight"] = A, B_
            out[key + ".lora_magnitude_vector"] = f32(norm * (1 + 0.2 * torch.randn(fout, generator=gen, dtype=torch.float64)))
    return out


def dora_embedding(gen, base):
    """DoRA on wte: embedding factors as embedding_lora's and magnitudes near the column norms of
    wte + s·(B·A)ᵀ, none equal to them."""
    V, d = CFG["vocab_size"], CFG["n_embd"]
    A = f32(torch.randn(R, V, generator=gen, dtype=torch.float64) * 0.1)
    B_ = f32(torch.randn(d, R, generator=gen, dtype=torch.float64) * 0.5)
    norm = torch.linalg.norm(base["wte.weight"].T + SCALE * B_ @ A, dim=1)
    mag = f32(norm * (1 + 0.2 * torch.randn(d, generator=gen, dtype=torch.float64)))
    return {"wte.lora_embedding_A": A, "wte.lora_embedding_B": B_, "wte.lora_magnitude_vector": mag}


def write_fixture(name, base, train, tokens, peft_config):
    folder = os.path.join(FIXTURES, name)
    os.makedirs(folder, exist_ok=True)
    zero = {k: torch.zeros_like(v) if ("lora_B" in k or "lora_embedding_B" in k) else v for k, v in train.items()}
    for k in [k for k in zero if k.endswith(".lora_magnitude_vector")]:  # DoRA starts at m = ‖W‖
        zero[k] = torch.linalg.norm(base[k.replace("lora_magnitude_vector", "weight")].T, dim=1)
    assert torch.allclose(forward(base, zero, tokens), forward(base, {}, tokens), atol=1e-12, rtol=0), "LoRA at its init must be the base model"
    save_case(folder, WRITER, run, base, train, tokens, {"r": R, "lora_alpha": ALPHA, **peft_config}, check=frozen_norm_check(base, train, tokens))


def frozen_norm_check(base, train, tokens):
    """The finite-difference check with DoRA's norms held at their values (PEFT detaches them)."""
    def check(ref):
        FROZEN_NORMS.update(SEEN_NORMS)
        finite_difference_check(run, base, train, tokens, ref)
        FROZEN_NORMS.clear()
    return check


def main() -> None:
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(SEED)
    base = init_base(gen)
    tokens = torch.randint(0, CFG["vocab_size"], (B, T), generator=gen)
    own = torch.Generator().manual_seed(SEED + 20)
    write_fixture("gpt2-lora-all-linear-tiny", base, linear_lora(own), tokens, {"target_modules": "all-linear", "fan_in_fan_out": True})
    write_fixture("gpt2-lora-embedding-tiny", base, embedding_lora(own), tokens, {"target_modules": ["wte"]})
    write_fixture("gpt2-dora-tiny", base, dora(own, base), tokens, {"target_modules": ["c_attn", "c_fc"], "fan_in_fan_out": True, "use_dora": True})
    write_fixture("gpt2-dora-embedding-tiny", base, dora_embedding(own, base), tokens, {"target_modules": ["wte"], "use_dora": True})


if __name__ == "__main__":
    main()
