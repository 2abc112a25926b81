"""PyTorch reference numbers for a tiny GPT-2 with LoRA, prompt tuning and prefix tuning: the
outside oracle the compiler's forward and backward passes are compared with.

Run with Debian's Python and PyTorch (no network, no transformers, no safetensors package):
    apt-get install -y python3-torch
    /usr/bin/python3 scripts/reference/gpt2_lora.py
It rewrites test/fixtures/gpt2-{lora,prompt,prefix}-tiny/ and prints the losses and the float32
vs float64 differences quoted in test/fixtures/README.md. Deterministic: same seed, same torch
version → same bytes. Before writing it checks itself (see self_checks and
finite_difference_check).

The model (written out here because `transformers` is not installable; it follows Hugging Face's
GPT2LMHeadModel exactly, with dropout off):
  x  = wte[tokens] + wpe[positions]
  per layer i (pre-LN):  x += c_proj(attn(ln_1(x)));  x += mlp.c_proj(gelu_new(mlp.c_fc(ln_2(x))))
  logits = ln_f(x) · wteᵀ                       (LM head tied to wte, no bias)
  Conv1D layers: y = x·W + b with W stored [in, out]; c_attn's output splits into q, k, v (d each);
  heads = n_head, head_dim = d / n_head; scores = q·kᵀ / sqrt(head_dim), causal mask, softmax;
  gelu_new(x) = 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³))); LayerNorm eps = 1e-5 (biased variance).

Config: vocab 64, n_positions 16, n_embd d = 32, n_layer L = 2, n_head 4, batch B = 2, T = 8.

Parameter names (Hugging Face's, without the `transformer.` prefix), float32:
  wte.weight [V, d], wpe.weight [n_positions, d], ln_f.weight [d], ln_f.bias [d],
  h.{i}.ln_1.weight/bias [d], h.{i}.attn.c_attn.weight [d, 3d], .bias [3d],
  h.{i}.attn.c_proj.weight [d, d], .bias [d], h.{i}.ln_2.weight/bias [d],
  h.{i}.mlp.c_fc.weight [d, 4d], .bias [4d], h.{i}.mlp.c_proj.weight [4d, d], .bias [d].

LoRA (Hugging Face PEFT on `c_attn`, fan_in_fan_out = true, r = 4, lora_alpha = 8, dropout 0):
  c_attn(x) = x·W + b + (alpha/r)·(x·Aᵀ)·Bᵀ,  A = h.{i}.attn.c_attn.lora_A.weight [r, d],
  B = h.{i}.attn.c_attn.lora_B.weight [3d, r]. Both random and non-zero, so every gradient is
  non-trivial. PEFT's own key for A is base_model.model.transformer.h.{i}.attn.c_attn.lora_A.weight.

Prompt tuning (P = 3): `prompt_embeddings` [P, d] is prepended to wte[tokens]; the sequence is
  P + T long, positions 0..P+T-1 over the whole of it, causal over the whole of it.
  logits are saved for all P + T positions.

Prefix tuning (P = 3): `prefix` [P, 2·L·d] (PEFT saves it as `prompt_embeddings`) viewed as
  [P, 2L, n_head, head_dim]; layer l's prefix keys are slot 2l, its values slot 2l+1. They are
  prepended to that layer's keys/values; every query sees all P prefix positions, and the
  sequence part is causal. logits [B, T, V].

Loss (all fixtures): mean cross-entropy over the B·(T-1) predictions of tokens 1..T-1 from the
  positions before them: positions 0..T-2 for LoRA and prefix, sequence positions P..P+T-2 for
  prompt tuning (the virtual positions predict nothing).

Where Hugging Face PEFT itself computes something else, the fixture also has
`expected-hf.safetensors` with PEFT's numbers (same tensor names):
  prefix tuning: PEFT passes the prefixes as past_key_values, so GPT-2 numbers the tokens'
    positions P..P+T-1 (not 0..T-1);
  prompt tuning: PEFT pads the labels with -100 for the virtual tokens and GPT-2 shifts them by
    one, so the last virtual position (P-1) does predict tokens[0]: B·T predictions, tokens
    0..T-1 from sequence positions P-1..P+T-2.

Everything is computed in float64 from the float32 weights (upcast), then saved as float32.
The same run in float32 is compared; the largest differences go in each expected file's
`__metadata__` ("f32_vs_f64") and are printed.

Output per fixture folder:
  weights.safetensors   base + the method's trainable tensor(s)
  tokens.json           [[int]*T]*B
  expected.safetensors  loss [1], logits, grad.<name> for each trainable tensor
  config.json           the configuration above
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import st_io  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "test", "fixtures")

CFG = {"vocab_size": 64, "n_positions": 16, "n_embd": 32, "n_layer": 2, "n_head": 4, "layer_norm_epsilon": 1e-5}
LORA = {"r": 4, "lora_alpha": 8}
P = 3
B, T = 2, 8
SEED = 20240611

# Init scales. Far above GPT-2's 0.02 on purpose: with 0.02 every attention row would be nearly
# uniform and the logits nearly flat, so a wrong mask, scale or transpose would move the numbers
# by less than float32 noise. These make attention and the softmax clearly non-uniform.
STD = {"wte": 0.2, "wpe": 0.1, "c_attn": 0.15, "c_proj": 0.1, "c_fc": 0.1, "mlp_proj": 0.1, "bias": 0.05,
       "ln_w": 0.1, "ln_b": 0.05, "lora_B": 0.1, "prompt": 0.2, "prefix": 0.5}


def f32(t: torch.Tensor) -> torch.Tensor:
    """Round to float32 and come back to float64, so the oracle runs on exactly the saved weights."""
    return t.to(torch.float32).to(torch.float64)


def init_base(gen: torch.Generator) -> dict:
    d, V, L = CFG["n_embd"], CFG["vocab_size"], CFG["n_layer"]
    n = lambda *shape, std: f32(torch.randn(*shape, generator=gen, dtype=torch.float64) * std)  # noqa: E731
    p = {"wte.weight": n(V, d, std=STD["wte"]), "wpe.weight": n(CFG["n_positions"], d, std=STD["wpe"])}
    for i in range(L):
        h = f"h.{i}."
        for ln in ("ln_1", "ln_2"):
            p[h + ln + ".weight"] = f32(1 + torch.randn(d, generator=gen, dtype=torch.float64) * STD["ln_w"])
            p[h + ln + ".bias"] = n(d, std=STD["ln_b"])
        p[h + "attn.c_attn.weight"] = n(d, 3 * d, std=STD["c_attn"])
        p[h + "attn.c_attn.bias"] = n(3 * d, std=STD["bias"])
        p[h + "attn.c_proj.weight"] = n(d, d, std=STD["c_proj"])
        p[h + "attn.c_proj.bias"] = n(d, std=STD["bias"])
        p[h + "mlp.c_fc.weight"] = n(d, 4 * d, std=STD["c_fc"])
        p[h + "mlp.c_fc.bias"] = n(4 * d, std=STD["bias"])
        p[h + "mlp.c_proj.weight"] = n(4 * d, d, std=STD["mlp_proj"])
        p[h + "mlp.c_proj.bias"] = n(d, std=STD["bias"])
    p["ln_f.weight"] = f32(1 + torch.randn(d, generator=gen, dtype=torch.float64) * STD["ln_w"])
    p["ln_f.bias"] = n(d, std=STD["ln_b"])
    return p


def layer_norm(x, w, b):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + CFG["layer_norm_epsilon"]) * w + b


def gelu_new(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def forward(p, embeds, positions, *, lora=None, prefix=None, kv_out=None):
    """embeds [B, S, d] (token or soft-token embeddings), positions [S] → logits [B, S, V].
    prefix: [P, 2·L·d] or None. kv_out: a list that receives each layer's (k, v) [B, H, S, hd]."""
    d, H, L = CFG["n_embd"], CFG["n_head"], CFG["n_layer"]
    hd = d // H
    nb, S, _ = embeds.shape
    x = embeds + p["wpe.weight"][positions]
    np_ = 0 if prefix is None else prefix.shape[0]
    pre = None if prefix is None else prefix.view(np_, 2 * L, H, hd)
    # Key j is visible to query i iff j is a prefix slot or (j - np_) <= i.
    j = torch.arange(np_ + S)
    visible = (j[None, :] < np_) | ((j[None, :] - np_) <= torch.arange(S)[:, None])
    heads = lambda t: t.view(nb, S, H, hd).transpose(1, 2)  # noqa: E731  [B, H, S, hd]
    for i in range(L):
        h = f"h.{i}."
        a = layer_norm(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"])
        qkv = a @ p[h + "attn.c_attn.weight"] + p[h + "attn.c_attn.bias"]
        if lora is not None:
            s = LORA["lora_alpha"] / LORA["r"]
            qkv = qkv + s * (a @ lora[h + "attn.c_attn.lora_A.weight"].T) @ lora[h + "attn.c_attn.lora_B.weight"].T
        q, k, v = (heads(t) for t in qkv.split(d, dim=-1))
        if kv_out is not None:
            kv_out.append((k, v))
        if pre is not None:
            pk = pre[:, 2 * i].transpose(0, 1).unsqueeze(0).expand(nb, H, np_, hd)
            pv = pre[:, 2 * i + 1].transpose(0, 1).unsqueeze(0).expand(nb, H, np_, hd)
            k, v = torch.cat([pk, k], dim=2), torch.cat([pv, v], dim=2)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        scores = scores.masked_fill(~visible, float("-inf"))
        y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(nb, S, d)
        x = x + y @ p[h + "attn.c_proj.weight"] + p[h + "attn.c_proj.bias"]
        m = layer_norm(x, p[h + "ln_2.weight"], p[h + "ln_2.bias"])
        m = gelu_new(m @ p[h + "mlp.c_fc.weight"] + p[h + "mlp.c_fc.bias"])
        x = x + m @ p[h + "mlp.c_proj.weight"] + p[h + "mlp.c_proj.bias"]
    x = layer_norm(x, p["ln_f.weight"], p["ln_f.bias"])
    return x @ p["wte.weight"].T


def lm_loss(logits, targets, first):
    """Mean cross-entropy of targets [B, n] predicted at positions first..first+n-1."""
    n = targets.shape[1]
    lp = logits[:, first : first + n].log_softmax(-1)
    return -lp.gather(-1, targets.unsqueeze(-1)).mean()


# ---------------------------------------------------------------------------------------------
# The three methods: each returns (logits, loss) given the base, its trainable tensors and tokens.


def run_lora(base, train, tokens, hf=False):
    logits = forward(base, base["wte.weight"][tokens], torch.arange(T), lora=train)
    return logits, lm_loss(logits, tokens[:, 1:], 0)


def run_prompt(base, train, tokens, hf=False):
    prompt = train["prompt_embeddings"]
    embeds = torch.cat([prompt.unsqueeze(0).expand(B, -1, -1), base["wte.weight"][tokens]], dim=1)
    logits = forward(base, embeds, torch.arange(P + T))
    if hf:  # PEFT: labels [-100]*P + tokens, shifted by one → position P-1 predicts tokens[0]
        return logits, lm_loss(logits, tokens, P - 1)
    return logits, lm_loss(logits, tokens[:, 1:], P)


def run_prefix(base, train, tokens, hf=False):
    positions = torch.arange(P, P + T) if hf else torch.arange(T)  # PEFT: past length shifts positions
    logits = forward(base, base["wte.weight"][tokens], positions, prefix=train["prefix"])
    return logits, lm_loss(logits, tokens[:, 1:], 0)


def evaluate(run, base, train, tokens, dtype, hf=False):
    b = {k: v.to(dtype) for k, v in base.items()}
    t = {k: v.detach().to(dtype).requires_grad_(True) for k, v in train.items()}
    logits, loss = run(b, t, tokens, hf)
    loss.backward()
    out = {"loss": loss.detach().reshape(1), "logits": logits.detach()}
    for k, v in t.items():
        out["grad." + k] = v.grad.detach()
    return out


def max_diffs(a: dict, b: dict) -> dict:
    return {k: float((a[k].double() - b[k].double()).abs().max()) for k in a}


# ---------------------------------------------------------------------------------------------
# Self-checks of the reference against other formulations of the same thing.


def self_checks(base, tokens, gen):
    d, L = CFG["n_embd"], CFG["n_layer"]
    plain = forward(base, base["wte.weight"][tokens], torch.arange(T))
    # LoRA with B = 0 is the base model.
    zero = {f"h.{i}.attn.c_attn.{ab}.weight": torch.zeros(*(LORA["r"], d) if ab == "lora_A" else (3 * d, LORA["r"]), dtype=torch.float64)
            for i in range(L) for ab in ("lora_A", "lora_B")}
    assert torch.equal(forward(base, base["wte.weight"][tokens], torch.arange(T), lora=zero), plain)
    # Soft tokens equal to real tokens' embeddings: the base model on the longer sequence.
    u = torch.randint(0, CFG["vocab_size"], (P,), generator=gen)
    longer = torch.cat([u.unsqueeze(0).expand(B, -1), tokens], dim=1)
    full = forward(base, base["wte.weight"][longer], torch.arange(P + T))
    prompt = {"prompt_embeddings": base["wte.weight"][u]}
    assert torch.allclose(run_prompt(base, prompt, tokens)[0], full, atol=1e-12, rtol=0)
    # Prefixes equal to the keys/values of P real tokens (a KV cache), with PEFT's positions
    # P..P+T-1: the base model on the longer sequence, last T positions.
    kv = []
    forward(base, base["wte.weight"][u].unsqueeze(0), torch.arange(P), kv_out=kv)
    slots = []
    for k, v in kv:  # [1, H, P, hd] → [P, H, hd], keys then values per layer
        slots += [k[0].transpose(0, 1), v[0].transpose(0, 1)]
    prefix = torch.stack(slots, dim=1).reshape(P, 2 * L * d)
    got = run_prefix(base, {"prefix": prefix}, tokens, hf=True)[0]
    assert torch.allclose(got, full[:, P:], atol=1e-12, rtol=0)
    print("self-checks passed: LoRA(B=0) = base, prompt = longer sequence, prefix = KV cache")


def finite_difference_check(run, base, train, tokens, grads, hf=False):
    """The saved gradients are those of the saved loss: central differences on a few entries."""
    gen = torch.Generator().manual_seed(7)
    for name, value in train.items():
        flat = value.reshape(-1)
        for idx in torch.randint(0, flat.numel(), (3,), generator=gen).tolist():
            eps = 1e-6
            plus, minus = dict(train), dict(train)
            fp, fm = flat.clone(), flat.clone()
            fp[idx] += eps
            fm[idx] -= eps
            plus[name], minus[name] = fp.view_as(value), fm.view_as(value)
            num = (run(base, plus, tokens, hf)[1] - run(base, minus, tokens, hf)[1]) / (2 * eps)
            ana = grads["grad." + name].reshape(-1)[idx]
            assert abs(float(num - ana)) < 1e-7 * max(1.0, abs(float(ana))), (name, idx, float(num), float(ana))


# ---------------------------------------------------------------------------------------------


def save_case(folder, writer, run, base, train, tokens, config, check=None):
    """One fixture of the peftc convention: weights, tokens and config, then the float64 numbers
    (checked by finite differences, or by `check(ref)`) as expected.safetensors, with how far a
    float32 run of the same reference lands (the f32_vs_f64 metadata)."""
    os.makedirs(folder, exist_ok=True)
    st_io.save(os.path.join(folder, "weights.safetensors"), {k: v.to(torch.float32) for k, v in {**base, **train}.items()}, {"format": "pt", "writer": writer})
    with open(os.path.join(folder, "tokens.json"), "w") as f:
        f.write(json.dumps(tokens.tolist()) + "\n")
    with open(os.path.join(folder, "config.json"), "w") as f:
        f.write(json.dumps({**CFG, "batch": B, "seq_len": T, "seed": SEED, **config}, indent=2) + "\n")
    ref = evaluate(run, base, train, tokens, torch.float64)
    (check or (lambda r: finite_difference_check(run, base, train, tokens, r)))(ref)
    diffs = max_diffs(ref, evaluate(run, base, train, tokens, torch.float32))
    meta = {"format": "pt", "writer": writer, "computed_in": "float64 from the float32 weights, saved as float32",
            "f32_vs_f64": json.dumps(diffs, sort_keys=True), "torch": torch.__version__}
    st_io.save(os.path.join(folder, "expected.safetensors"), {k: v.to(torch.float32) for k, v in ref.items()}, meta)
    worst = max(diffs.items(), key=lambda kv: kv[1])
    print(f"{os.path.relpath(folder, ROOT)}: loss {float(ref['loss']):.9f}; float32 run differs by ≤ {worst[1]:.2e} ({worst[0]})")


def write_fixture(folder, run, base, train, tokens, method, hf_differs):
    os.makedirs(folder, exist_ok=True)
    weights = {k: v.to(torch.float32) for k, v in {**base, **train}.items()}
    st_io.save(os.path.join(folder, "weights.safetensors"), weights, {"format": "pt", "writer": "scripts/reference/gpt2_lora.py"})
    with open(os.path.join(folder, "tokens.json"), "w") as f:
        f.write(json.dumps(tokens.tolist()) + "\n")
    config = {**CFG, "batch": B, "seq_len": T, "method": method, "seed": SEED}
    if method == "lora":
        config.update({**LORA, "target_modules": ["c_attn"], "fan_in_fan_out": True, "lora_dropout": 0.0})
    else:
        config["num_virtual_tokens"] = P
    with open(os.path.join(folder, "config.json"), "w") as f:
        f.write(json.dumps(config, indent=2) + "\n")
    report = {}
    for hf in ([False, True] if hf_differs else [False]):
        ref = evaluate(run, base, train, tokens, torch.float64, hf)
        finite_difference_check(run, base, train, tokens, ref, hf)
        low = evaluate(run, base, train, tokens, torch.float32, hf)
        diffs = max_diffs(ref, low)
        meta = {
            "format": "pt",
            "writer": "scripts/reference/gpt2_lora.py",
            "convention": "hugging-face-peft" if hf else "peftc",
            "computed_in": "float64 from the float32 weights, saved as float32",
            "f32_vs_f64": json.dumps(diffs, sort_keys=True),
            "torch": torch.__version__,
        }
        name = "expected-hf.safetensors" if hf else "expected.safetensors"
        st_io.save(os.path.join(folder, name), {k: v.to(torch.float32) for k, v in ref.items()}, meta)
        report[name] = (float(ref["loss"]), diffs)
    for name, (loss, diffs) in report.items():
        worst = max(diffs.items(), key=lambda kv: kv[1])
        print(f"{os.path.relpath(folder, ROOT)}/{name}: loss {loss:.9f}; float32 run differs by ≤ {worst[1]:.2e} ({worst[0]})")
        for k, v in sorted(diffs.items()):
            print(f"    {k}: {v:.3e}")
    for f in sorted(os.listdir(folder)):
        print(f"    {f}: {os.path.getsize(os.path.join(folder, f))} bytes")


def main() -> None:
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(SEED)
    d, L, r = CFG["n_embd"], CFG["n_layer"], LORA["r"]
    base = init_base(gen)
    tokens = torch.randint(0, CFG["vocab_size"], (B, T), generator=gen)
    lora = {}
    for i in range(L):
        bound = 1 / math.sqrt(d)  # PEFT's kaiming-uniform(a=√5) bound for A
        lora[f"h.{i}.attn.c_attn.lora_A.weight"] = f32((torch.rand(r, d, generator=gen, dtype=torch.float64) * 2 - 1) * bound)
        lora[f"h.{i}.attn.c_attn.lora_B.weight"] = f32(torch.randn(3 * d, r, generator=gen, dtype=torch.float64) * STD["lora_B"])
    prompt = {"prompt_embeddings": f32(torch.randn(P, d, generator=gen, dtype=torch.float64) * STD["prompt"])}
    prefix = {"prefix": f32(torch.randn(P, 2 * L * d, generator=gen, dtype=torch.float64) * STD["prefix"])}

    self_checks(base, tokens, torch.Generator().manual_seed(SEED + 1))
    write_fixture(os.path.join(FIXTURES, "gpt2-lora-tiny"), run_lora, base, lora, tokens, "lora", False)
    write_fixture(os.path.join(FIXTURES, "gpt2-prompt-tiny"), run_prompt, base, prompt, tokens, "prompt", True)
    write_fixture(os.path.join(FIXTURES, "gpt2-prefix-tiny"), run_prefix, base, prefix, tokens, "prefix", True)
    attention_stats(base, tokens)


def attention_stats(base, tokens):
    """How far from uniform the model is (the point of the larger init)."""
    logits = forward(base, base["wte.weight"][tokens], torch.arange(T))
    probs = logits.softmax(-1)
    print(f"logits std {float(logits.std()):.3f}; max token probability {float(probs.max()):.3f} (uniform {1 / CFG['vocab_size']:.3f})")


if __name__ == "__main__":
    main()
