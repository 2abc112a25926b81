"""An AdaLoRA adapter folder as Hugging Face PEFT saves one, and its PyTorch reference numbers, on
the tiny GPT-2 of gpt2_lora.py (same config, base weights and tokens). Written from PEFT's code
(peft/tuners/adalora/{config,layer,model}.py; PEFT itself is not installable here):

  SVDLinear      y = x·W + b + (x·(A ⊙ E)ᵀ·Bᵀ) · lora_alpha / (ranknum + 1e-5),
                 A [r, in], E [r, 1], B [out, r]; ranknum = init_r (kept when a module shrinks)
  save           resize_state_dict_by_rank_pattern: each module keeps the triplets its
                 rank_pattern marks true (rows of A and E, columns of B); keys
                 base_model.model.<name>.lora_A / .lora_E / .lora_B (parameters: no `.weight`);
                 ranknum is not saved
  config         peft_type ADALORA, init_r 4, target_r 2, lora_alpha 8, c_attn and c_fc
                 (fan_in_fan_out), rank_pattern {"<name>.lora_E": [bool × init_r]}

Run with Debian's Python and PyTorch:  /usr/bin/python3 scripts/reference/gpt2_adalora.py
It writes test/fixtures/gpt2-adalora-tiny/: base.safetensors (the base, our parameter paths),
tokens.json, adapter/ (adapter_config.json, adapter_model.safetensors) and expected.safetensors
(loss [1], logits), computed in float64 from the float32 tensors.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import gpt2_lora_family as fam  # noqa: E402
import st_io  # noqa: E402
from gpt2_lora import CFG, FIXTURES, ROOT, SEED, STD, B, T, f32, init_base, lm_loss  # noqa: E402

INIT_R, TARGET_R, ALPHA = 4, 2, 8
RANKNUM = INIT_R  # PEFT keeps the initial rank's ranknum when it shrinks a module
KEPT = {
    "h.0.attn.c_attn": [True, False, True, True],
    "h.0.mlp.c_fc": [False, False, True, False],
    "h.1.attn.c_attn": [True, True, True, True],
    "h.1.mlp.c_fc": [False, True, False, True],
}
WRITER = "scripts/reference/gpt2_adalora.py"


def conv1d(p, ada, name, x):
    """GPT-2's Conv1D with PEFT's SVDLinear branch when `ada` has this module (kept triplets only)."""
    y = x @ p[name + ".weight"] + p[name + ".bias"]
    if name not in ada:
        return y
    A, E, B_ = ada[name]
    return y + (x @ (A * E).T @ B_.T) * ALPHA / (RANKNUM + 1e-5)


def adapter(gen):
    d = CFG["n_embd"]
    sizes = {"attn.c_attn": (d, 3 * d), "mlp.c_fc": (d, 4 * d)}
    out = {}
    for key, keep in KEPT.items():
        fin, fout = sizes[key.split(".", 2)[2]]
        k = sum(keep)
        A = f32(torch.randn(k, fin, generator=gen, dtype=torch.float64) * 0.3)
        E = f32(torch.randn(k, 1, generator=gen, dtype=torch.float64) * 0.5)
        B_ = f32(torch.randn(fout, k, generator=gen, dtype=torch.float64) * 0.3)
        out[key] = (A, E, B_)
    return out


def config():
    # The fields PEFT's AdaLoraConfig.to_dict writes that matter here, plus some it writes that do not.
    return {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": None, "beta1": 0.85, "beta2": 0.85,
        "bias": "none", "corda_config": None, "deltaT": 1, "eva_config": None, "exclude_modules": None,
        "fan_in_fan_out": True, "inference_mode": True, "init_lora_weights": True, "init_r": INIT_R,
        "layer_replication": None, "layers_pattern": None, "layers_to_transform": None, "loftq_config": {},
        "lora_alpha": ALPHA, "lora_bias": False, "lora_dropout": 0.0, "megatron_config": None,
        "megatron_core": "megatron.core", "modules_to_save": None, "orth_reg_weight": 0.5, "peft_type": "ADALORA",
        "r": 8, "rank_pattern": {f"transformer.{k}.lora_E": v for k, v in KEPT.items()}, "revision": None,
        "target_modules": ["c_attn", "c_fc"], "target_r": TARGET_R, "task_type": "CAUSAL_LM", "tfinal": 0,
        "tinit": 0, "total_step": 100, "use_dora": False, "use_rslora": False,
    }


def main() -> None:
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(SEED)
    base = init_base(gen)
    tokens = torch.randint(0, CFG["vocab_size"], (B, T), generator=gen)
    ada = adapter(torch.Generator().manual_seed(SEED + 30))
    folder = os.path.join(FIXTURES, "gpt2-adalora-tiny")
    os.makedirs(os.path.join(folder, "adapter"), exist_ok=True)
    st_io.save(os.path.join(folder, "base.safetensors"), {k: v.to(torch.float32) for k, v in base.items()}, {"format": "pt", "writer": WRITER})
    with open(os.path.join(folder, "tokens.json"), "w") as f:
        f.write(json.dumps(tokens.tolist()) + "\n")
    with open(os.path.join(folder, "adapter", "adapter_config.json"), "w") as f:
        f.write(json.dumps(config(), indent=2, sort_keys=True))
    tensors = {}
    for key, (A, E, B_) in ada.items():
        for part, t in (("lora_A", A), ("lora_E", E), ("lora_B", B_)):
            tensors[f"base_model.model.transformer.{key}.{part}"] = t.to(torch.float32).contiguous()
    st_io.save(os.path.join(folder, "adapter", "adapter_model.safetensors"), tensors, {"format": "pt"})
    b64 = {k: v.to(torch.float64) for k, v in base.items()}
    a64 = {k: tuple(t.to(torch.float64) for t in v) for k, v in ada.items()}
    logits = fam.forward(b64, a64, tokens, conv=conv1d)  # the family's GPT-2, with AdaLoRA's layers
    loss = lm_loss(logits, tokens[:, 1:], 0)
    st_io.save(os.path.join(folder, "expected.safetensors"), {"loss": loss.reshape(1).to(torch.float32), "logits": logits.to(torch.float32)},
               {"writer": WRITER, "computed_in": "float64 from the float32 tensors", "torch": torch.__version__})
    print(f"{os.path.relpath(folder, ROOT)}: loss {float(loss):.9f}")


if __name__ == "__main__":
    main()
