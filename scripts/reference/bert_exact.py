"""PyTorch reference numbers for an exact tiny BERT: Hugging Face's BertForSequenceClassification
written out from transformers' modeling_bert.py (transformers is not installable here), with
token type embeddings and the exact erf GELU, on a sentence-pair batch with padding.

  embeddings  LayerNorm(word[ids] + token_type[types] + position[0..T-1]), eps 1e-12
  layer       a = LayerNorm(x + attention.output.dense(attn(q, k, v)));  q, k, v = query/key/value(x)
              attn: heads H, scores q·kᵀ/√hd, keys j ≥ length[b] masked (the attention mask), softmax
              x' = LayerNorm(a + output.dense(gelu(intermediate.dense(a))))
              gelu(x) = 0.5·x·(1 + erf(x/√2)) (transformers' "gelu", F.gelu)
  pooler      tanh(pooler.dense(x[:, 0]))
  logits      classifier(pooled) [B, labels];  loss: mean cross-entropy against the labels
  Dropout off (evaluation), as `peftc grad` runs.

Config: vocab 64, hidden 32, 2 layers, 4 heads, intermediate 64, max positions 16, 2 token
types, 3 labels; B = 2, T = 8: row 0 a full pair (types 0 0 0 0 1 1 1 1), row 1 a pair of
6 tokens then 2 padding positions (types 0 0 0 1 1 1 0 0, length 6).

Run with Debian's Python and PyTorch:  /usr/bin/python3 scripts/reference/bert_exact.py
It writes test/fixtures/bert-exact-tiny/: weights.safetensors (Hugging Face's names, `bert.`
prefix and `classifier`), batch.json (tokens, token_types, lengths, labels), config.json and
expected.safetensors (loss [1], logits [B, labels], grad.<our path> for every parameter: a full
fine-tune), computed in float64 from the float32 weights after a finite-difference check and a
self-check (token types all 0 equal the model with type 0's row added at every position).
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import st_io  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FOLDER = os.path.join(ROOT, "test", "fixtures", "bert-exact-tiny")
WRITER = "scripts/reference/bert_exact.py"
CFG = {"vocab_size": 64, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
       "max_position_embeddings": 16, "type_vocab_size": 2, "num_labels": 3, "layer_norm_eps": 1e-12}
B, T = 2, 8
SEED = 20261206
TYPES = [[0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 0, 0]]
LENGTHS = [8, 6]
LABELS = [2, 0]


def f32(t):
    return t.to(torch.float32).to(torch.float64)


def init(gen):
    d, V, L, I = CFG["hidden_size"], CFG["vocab_size"], CFG["num_hidden_layers"], CFG["intermediate_size"]
    n = lambda *shape, std=0.2: f32(torch.randn(*shape, generator=gen, dtype=torch.float64) * std)  # noqa: E731
    ln = lambda: (f32(1 + torch.randn(d, generator=gen, dtype=torch.float64) * 0.1), n(d, std=0.05))  # noqa: E731
    p = {"embeddings.word_embeddings.weight": n(V, d), "embeddings.position_embeddings.weight": n(CFG["max_position_embeddings"], d, std=0.1),
         "embeddings.token_type_embeddings.weight": n(CFG["type_vocab_size"], d, std=0.3)}
    p["embeddings.LayerNorm.weight"], p["embeddings.LayerNorm.bias"] = ln()
    for i in range(L):
        h = f"encoder.layer.{i}."
        for m in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            p[h + m + ".weight"], p[h + m + ".bias"] = n(d, d, std=0.25), n(d, std=0.05)
        p[h + "attention.output.LayerNorm.weight"], p[h + "attention.output.LayerNorm.bias"] = ln()
        p[h + "intermediate.dense.weight"], p[h + "intermediate.dense.bias"] = n(I, d, std=0.25), n(I, std=0.3)
        p[h + "output.dense.weight"], p[h + "output.dense.bias"] = n(d, I, std=0.2), n(d, std=0.05)
        p[h + "output.LayerNorm.weight"], p[h + "output.LayerNorm.bias"] = ln()
    p["pooler.dense.weight"], p["pooler.dense.bias"] = n(d, d, std=0.3), n(d, std=0.05)
    p["classifier.weight"], p["classifier.bias"] = n(CFG["num_labels"], d, std=0.5), n(CFG["num_labels"], std=0.1)
    return p


def layer_norm(x, w, b):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + CFG["layer_norm_eps"]) * w + b


def gelu(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def lin(p, name, x):
    return x @ p[name + ".weight"].T + p[name + ".bias"]


def forward(p, ids, types, lengths, type_rows=True):
    d, H, L = CFG["hidden_size"], CFG["num_attention_heads"], CFG["num_hidden_layers"]
    hd = d // H
    nb, S = ids.shape
    x = p["embeddings.word_embeddings.weight"][ids] + p["embeddings.position_embeddings.weight"][torch.arange(S)]
    if type_rows:
        x = x + p["embeddings.token_type_embeddings.weight"][types]
    x = layer_norm(x, p["embeddings.LayerNorm.weight"], p["embeddings.LayerNorm.bias"])
    visible = torch.arange(S)[None, :] < lengths[:, None]  # [B, S] keys
    heads = lambda t: t.view(nb, S, H, hd).transpose(1, 2)  # noqa: E731
    for i in range(L):
        h = f"encoder.layer.{i}."
        q, k, v = (heads(lin(p, h + "attention.self." + m, x)) for m in ("query", "key", "value"))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        scores = scores.masked_fill(~visible[:, None, None, :], float("-inf"))
        ctx = (scores.softmax(-1) @ v).transpose(1, 2).reshape(nb, S, d)
        a = layer_norm(lin(p, h + "attention.output.dense", ctx) + x, p[h + "attention.output.LayerNorm.weight"], p[h + "attention.output.LayerNorm.bias"])
        m = gelu(lin(p, h + "intermediate.dense", a))
        x = layer_norm(lin(p, h + "output.dense", m) + a, p[h + "output.LayerNorm.weight"], p[h + "output.LayerNorm.bias"])
    pooled = torch.tanh(lin(p, "pooler.dense", x[:, 0]))
    return lin(p, "classifier", pooled)


def run(p, batch):
    logits = forward(p, batch["tokens"], batch["token_types"], batch["lengths"])
    return logits, torch.nn.functional.cross_entropy(logits, batch["labels"])


def evaluate(p, batch, dtype):
    t = {k: v.detach().to(dtype).requires_grad_(True) for k, v in p.items()}
    logits, loss = run(t, batch)
    loss.backward()
    return {"loss": loss.detach().reshape(1), "logits": logits.detach(), **{"grad." + k: v.grad.detach() for k, v in t.items()}}


def finite_differences(p, batch, ref):
    gen = torch.Generator().manual_seed(3)
    for name in ("embeddings.token_type_embeddings.weight", "encoder.layer.0.intermediate.dense.weight", "encoder.layer.1.output.dense.bias", "classifier.weight"):
        flat = p[name].reshape(-1)
        for idx in torch.randint(0, flat.numel(), (3,), generator=gen).tolist():
            eps = 1e-6
            plus, minus = dict(p), dict(p)
            fp, fm = flat.clone(), flat.clone()
            fp[idx] += eps
            fm[idx] -= eps
            plus[name], minus[name] = fp.view_as(p[name]), fm.view_as(p[name])
            num = (run(plus, batch)[1] - run(minus, batch)[1]) / (2 * eps)
            ana = ref["grad." + name].reshape(-1)[idx]
            assert abs(float(num - ana)) < 1e-7 * max(1.0, abs(float(ana))), (name, idx, float(num), float(ana))


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(SEED)
    p = init(gen)
    ids = torch.randint(0, CFG["vocab_size"], (B, T), generator=gen)
    batch = {"tokens": ids, "token_types": torch.tensor(TYPES), "lengths": torch.tensor(LENGTHS), "labels": torch.tensor(LABELS)}
    # Type 0 everywhere is the model with row 0 of the type table folded into the positions.
    folded = dict(p)
    folded["embeddings.position_embeddings.weight"] = p["embeddings.position_embeddings.weight"] + p["embeddings.token_type_embeddings.weight"][0]
    zeros = torch.zeros(B, T, dtype=torch.long)
    assert torch.allclose(forward(p, ids, zeros, batch["lengths"]), forward(folded, ids, zeros, batch["lengths"], type_rows=False), atol=1e-12, rtol=0)
    ref = evaluate(p, batch, torch.float64)
    finite_differences(p, batch, ref)
    low = evaluate(p, batch, torch.float32)
    diffs = {k: float((ref[k] - low[k].double()).abs().max()) for k in ref}
    os.makedirs(FOLDER, exist_ok=True)
    hf = {("" if k.startswith("classifier") else "bert.") + k: v.to(torch.float32) for k, v in p.items()}
    st_io.save(os.path.join(FOLDER, "weights.safetensors"), hf, {"format": "pt", "writer": WRITER})
    with open(os.path.join(FOLDER, "batch.json"), "w") as f:
        f.write(json.dumps({"tokens": ids.tolist(), "token_types": TYPES, "lengths": LENGTHS, "labels": LABELS}) + "\n")
    with open(os.path.join(FOLDER, "config.json"), "w") as f:
        f.write(json.dumps({**CFG, "batch": B, "seq_len": T, "seed": SEED, "hidden_act": "gelu", "architectures": ["BertForSequenceClassification"]}, indent=2) + "\n")
    meta = {"format": "pt", "writer": WRITER, "computed_in": "float64 from the float32 weights, saved as float32",
            "f32_vs_f64": json.dumps(diffs, sort_keys=True), "torch": torch.__version__}
    st_io.save(os.path.join(FOLDER, "expected.safetensors"), {k: v.to(torch.float32) for k, v in ref.items()}, meta)
    worst = max(diffs.items(), key=lambda kv: kv[1])
    print(f"{os.path.relpath(FOLDER, ROOT)}: loss {float(ref['loss']):.9f}; float32 run differs by ≤ {worst[1]:.2e} ({worst[0]})")


if __name__ == "__main__":
    main()
