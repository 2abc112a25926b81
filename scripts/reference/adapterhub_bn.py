"""PyTorch reference numbers for AdapterHub's bottleneck adapter configs (the `adapters` library,
github.com/adapter-hub/adapters, v1.2.0's source; the library is not installable here), on the
tiny GPT-2 of gpt2_lora.py and the exact tiny BERT of bert_exact.py.

Written from the library's code:
  configuration/adapter_config.py  BnConfig and its presets SeqBnConfig ("seq_bn", Pfeiffer),
                                   DoubleSeqBnConfig ("double_seq_bn", Houlsby), ParBnConfig
                                   ("par_bn"), their defaults (BN_DEFAULTS, PRESETS below)
  methods/modeling.py              Adapter / ParallelAdapter: pre_forward, forward, post_forward
  methods/bottleneck.py            BottleneckLayer.bottleneck_layer_forward (one adapter = Stack(name))
  models/bert/modeling_bert.py     BertSelfOutput / BertOutput: hidden = dropout(dense(h)),
                                   then bottleneck_layer_forward(hidden, input_tensor, self.LayerNorm)
  models/gpt2/modeling_gpt2.py     GPT2BlockWithAdapters: attention_adapters(attn_output, residual, None),
                                   output_adapters(feed_forward_hidden_states, residual, None)
Dropout off (evaluation), as `peftc grad` runs.

For each case it writes, under test/fixtures/adapterhub-bn-tiny/:
  <case>/adapter_config.json   the folder `save_adapter(..., use_safetensors=True)` writes:
                               build_full_config's layout with the config's to_dict() (no
                               "architecture": BnConfig has no such field) and "version"
  <case>/adapter.safetensors   the adapter's weights under the library's keys (random, non-zero)
  <case>/expected.safetensors  loss [1], logits, grad.<peftc path> of every adapter weight,
                               in float64 from the float32 weights (checked by finite differences)
and once per model the base weights (gpt2-base.safetensors: peftc's paths; bert-base.safetensors:
Hugging Face's, `bert.` prefix) and the batch (gpt2-tokens.json, bert-batch.json).

Run with Debian's Python and PyTorch:  /usr/bin/python3 scripts/reference/adapterhub_bn.py
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import bert_exact as BE  # noqa: E402
import gpt2_lora as G  # noqa: E402
import st_io  # noqa: E402

FOLDER = os.path.join(G.ROOT, "test", "fixtures", "adapterhub-bn-tiny")
WRITER = "scripts/reference/adapterhub_bn.py"
NAME = "bn"
VERSION = "adapters.1.2.0"

# BnConfig's fields and defaults, in declaration order (dataclasses.asdict keeps it).
BN_DEFAULTS = {
    "mh_adapter": None, "output_adapter": None, "reduction_factor": None, "non_linearity": None,
    "original_ln_before": False, "original_ln_after": True, "ln_before": False, "ln_after": False,
    "init_weights": "bert", "init_weights_seed": None, "is_parallel": False, "scaling": 1.0, "use_gating": False,
    "residual_before_ln": True, "adapter_residual_before_ln": False, "inv_adapter": None,
    "inv_adapter_reduction_factor": None, "cross_adapter": False, "leave_out": [], "dropout": 0.0,
    "phm_layer": False, "phm_dim": 4, "factorized_phm_W": True, "shared_W_phm": False, "shared_phm_rule": True,
    "factorized_phm_rule": False, "phm_c_init": "normal", "phm_init_range": 0.0001, "learn_phm": True,
    "hypercomplex_nonlinearity": "glorot-uniform", "phm_rank": 1, "phm_bias": True, "stochastic_depth": 0.0,
}
PRESETS = {
    "seq_bn": {"original_ln_before": True, "original_ln_after": True, "residual_before_ln": True, "adapter_residual_before_ln": False,
               "ln_before": False, "ln_after": False, "mh_adapter": False, "output_adapter": True, "non_linearity": "relu", "reduction_factor": 16},
    "double_seq_bn": {"original_ln_before": False, "original_ln_after": True, "residual_before_ln": True, "adapter_residual_before_ln": False,
                      "ln_before": False, "ln_after": False, "mh_adapter": True, "output_adapter": True, "non_linearity": "swish", "reduction_factor": 16},
    "par_bn": {"original_ln_before": False, "original_ln_after": True, "ln_before": False, "ln_after": False, "mh_adapter": False,
               "output_adapter": True, "non_linearity": "relu", "reduction_factor": 2, "init_weights": "mam_adapter", "is_parallel": True, "scaling": 4.0},
}

# (case, model, preset, changes to the preset, the peft rule that should compute the same)
CASES = [
    ("gpt2-seq_bn", "gpt2", "seq_bn", {}, 'adapter(preset = seq_bn) on "h.*.mlp"'),
    ("gpt2-double_seq_bn", "gpt2", "double_seq_bn", {}, 'adapter(preset = double_seq_bn) on "h.*.attn", "h.*.mlp"'),
    ("gpt2-par_bn", "gpt2", "par_bn", {}, 'adapter(preset = par_bn) on "h.*.mlp"'),
    ("gpt2-flags", "gpt2", "double_seq_bn", {"residual_before_ln": False, "original_ln_before": True, "non_linearity": "gelu", "scaling": 0.5, "reduction_factor": 8},
     'adapter(preset = double_seq_bn, residual_before_ln = false, original_ln_before = true, activation = gelu, scale = 0.5, reduction = 8) on "h.*.attn", "h.*.mlp"'),
    ("bert-seq_bn", "bert", "seq_bn", {}, 'adapter(preset = seq_bn) on "encoder.layer.*.output"'),
    ("bert-double_seq_bn", "bert", "double_seq_bn", {}, 'adapter(preset = double_seq_bn) on "encoder.layer.*.attention.output", "encoder.layer.*.output"'),
    ("bert-par_bn", "bert", "par_bn", {}, 'adapter(preset = par_bn) on "encoder.layer.*.output"'),
    ("bert-flags", "bert", "seq_bn", {"residual_before_ln": "post_add", "mh_adapter": True, "non_linearity": "gelu_new", "scaling": 2.0, "reduction_factor": 4},
     'adapter(preset = seq_bn, residual_before_ln = post_add, activation = gelu_tanh, scale = 2, reduction = 4) on "encoder.layer.*.attention.output", "encoder.layer.*.output"'),
]

ACT = {"relu": torch.relu, "swish": torch.nn.functional.silu, "gelu": BE.gelu, "gelu_new": G.gelu_new}


def config_of(preset, changes):
    c = {**BN_DEFAULTS, **PRESETS[preset], **changes}
    c["scaling"] = float(c["scaling"])
    return c


def adapter_module(p, key, x, cfg):
    """Adapter.forward's bottleneck: adapter_up(act(adapter_down(x))) * scaling (dropout off)."""
    down = ACT[cfg["non_linearity"]](x @ p[key + ".adapter_down.0.weight"].T + p[key + ".adapter_down.0.bias"])
    return (down @ p[key + ".adapter_up.weight"].T + p[key + ".adapter_up.bias"]) * cfg["scaling"]


def bottleneck_layer(p, key, cfg, hidden_states, input_tensor, layer_norm):
    """BottleneckLayer.bottleneck_layer_forward with one active adapter (Stack(name)): pre_forward,
    forward and post_forward of modeling.py's Adapter (serial) or ParallelAdapter."""
    input_hidden_states = hidden_states
    if cfg["is_parallel"]:
        # ParallelAdapter.pre_forward returns the residual input as the hidden states and residual.
        hidden_states = adapter_module(p, key, input_tensor, cfg)  # forward: no residual add
        hidden_states = hidden_states + input_hidden_states  # post_forward
    else:
        if cfg["residual_before_ln"] is True:
            residual = hidden_states
        if cfg["original_ln_before"]:
            if layer_norm:
                hidden_states = hidden_states + input_tensor
                if cfg["residual_before_ln"] == "post_add":
                    residual = hidden_states
                hidden_states = layer_norm(hidden_states)
            else:
                hidden_states = hidden_states + input_tensor
        if not cfg["residual_before_ln"]:
            residual = hidden_states
        hidden_states = adapter_module(p, key, hidden_states, cfg) + residual  # Adapter.forward
    if cfg["original_ln_after"]:  # post_forward
        hidden_states = layer_norm(hidden_states + input_tensor) if layer_norm else hidden_states + input_tensor
    return hidden_states


def gpt2_forward(p, tokens, cfg):
    d, H, L = G.CFG["n_embd"], G.CFG["n_head"], G.CFG["n_layer"]
    hd = d // H
    nb, S = tokens.shape
    x = p["wte.weight"][tokens] + p["wpe.weight"][torch.arange(S)]
    causal = torch.ones(S, S, dtype=torch.bool).tril()
    heads = lambda t: t.view(nb, S, H, hd).transpose(1, 2)  # noqa: E731
    for i in range(L):
        h = f"h.{i}."
        residual = x
        a = G.layer_norm(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"])
        q, k, v = (heads(t) for t in (a @ p[h + "attn.c_attn.weight"] + p[h + "attn.c_attn.bias"]).split(d, dim=-1))
        scores = ((q @ k.transpose(-1, -2)) / (hd ** 0.5)).masked_fill(~causal, float("-inf"))
        y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(nb, S, d)
        attn_output = y @ p[h + "attn.c_proj.weight"] + p[h + "attn.c_proj.bias"]
        key = f"transformer.h.{i}.attention_adapters.adapters.{NAME}"
        x = bottleneck_layer(p, key, cfg, attn_output, residual, None) if cfg["mh_adapter"] else attn_output + residual
        residual = x
        m = G.gelu_new(G.layer_norm(x, p[h + "ln_2.weight"], p[h + "ln_2.bias"]) @ p[h + "mlp.c_fc.weight"] + p[h + "mlp.c_fc.bias"])
        ff = m @ p[h + "mlp.c_proj.weight"] + p[h + "mlp.c_proj.bias"]
        key = f"transformer.h.{i}.output_adapters.adapters.{NAME}"
        x = bottleneck_layer(p, key, cfg, ff, residual, None) if cfg["output_adapter"] else ff + residual
    x = G.layer_norm(x, p["ln_f.weight"], p["ln_f.bias"])
    return x @ p["wte.weight"].T


def bert_forward(p, batch, cfg):
    d, H, L = BE.CFG["hidden_size"], BE.CFG["num_attention_heads"], BE.CFG["num_hidden_layers"]
    hd = d // H
    ids = batch["tokens"]
    nb, S = ids.shape
    x = p["embeddings.word_embeddings.weight"][ids] + p["embeddings.position_embeddings.weight"][torch.arange(S)]
    x = BE.layer_norm(x + p["embeddings.token_type_embeddings.weight"][batch["token_types"]], p["embeddings.LayerNorm.weight"], p["embeddings.LayerNorm.bias"])
    visible = torch.arange(S)[None, :] < batch["lengths"][:, None]
    heads = lambda t: t.view(nb, S, H, hd).transpose(1, 2)  # noqa: E731
    ln = lambda name: (lambda t: BE.layer_norm(t, p[name + ".weight"], p[name + ".bias"]))  # noqa: E731
    for i in range(L):
        h = f"encoder.layer.{i}."
        q, k, v = (heads(BE.lin(p, h + "attention.self." + m, x)) for m in ("query", "key", "value"))
        scores = ((q @ k.transpose(-1, -2)) / (hd ** 0.5)).masked_fill(~visible[:, None, None, :], float("-inf"))
        ctx = (scores.softmax(-1) @ v).transpose(1, 2).reshape(nb, S, d)
        hidden = BE.lin(p, h + "attention.output.dense", ctx)
        norm = ln(h + "attention.output.LayerNorm")
        key = f"bert.encoder.layer.{i}.attention.output.adapters.{NAME}"
        a = bottleneck_layer(p, key, cfg, hidden, x, norm) if cfg["mh_adapter"] else norm(hidden + x)
        hidden = BE.lin(p, h + "output.dense", BE.gelu(BE.lin(p, h + "intermediate.dense", a)))
        norm = ln(h + "output.LayerNorm")
        key = f"bert.encoder.layer.{i}.output.adapters.{NAME}"
        x = bottleneck_layer(p, key, cfg, hidden, a, norm) if cfg["output_adapter"] else norm(hidden + a)
    pooled = torch.tanh(BE.lin(p, "pooler.dense", x[:, 0]))
    return BE.lin(p, "classifier", pooled)


def ours(key):
    """The library's key of an adapter weight → peftc's parameter path."""
    for theirs, mine in ((r"transformer.h.", "h."), ("bert.", "")):
        if key.startswith(theirs):
            key = mine + key[len(theirs):]
    key = key.replace(".attention_adapters.", ".attn.").replace(".output_adapters.", ".mlp.")
    key = key.replace(f".adapters.{NAME}.", ".adapter.").replace("adapter_down.0.", "down.").replace("adapter_up.", "up.")
    return key


def adapter_weights(model, cfg, d, gen):
    L = G.CFG["n_layer"] if model == "gpt2" else BE.CFG["num_hidden_layers"]
    m = max(1, int(d // cfg["reduction_factor"]))
    places = ([("attention_adapters" if model == "gpt2" else "attention.output", cfg["mh_adapter"])]
              + [("output_adapters" if model == "gpt2" else "output", cfg["output_adapter"])])
    out = {}
    for i in range(L):
        for place, on in places:
            if not on:
                continue
            key = (f"transformer.h.{i}." if model == "gpt2" else f"bert.encoder.layer.{i}.") + f"{place}.adapters.{NAME}"
            n = lambda *shape, std: G.f32(torch.randn(*shape, generator=gen, dtype=torch.float64) * std)  # noqa: E731
            out[key + ".adapter_down.0.weight"] = n(m, d, std=0.3)
            out[key + ".adapter_down.0.bias"] = n(m, std=0.1)
            out[key + ".adapter_up.weight"] = n(d, m, std=0.2)
            out[key + ".adapter_up.bias"] = n(d, std=0.05)
    return out


def evaluate(run, base, train, dtype):
    b = {k: v.to(dtype) for k, v in base.items()}
    t = {k: v.detach().to(dtype).requires_grad_(True) for k, v in train.items()}
    logits, loss = run(b, t)
    loss.backward()
    return {"loss": loss.detach().reshape(1), "logits": logits.detach(), **{"grad." + ours(k): v.grad.detach() for k, v in t.items()}}


def self_checks(gbase, tokens, bbase, batch):
    """With zero up-projections every config is the base model (the adapter's residual is h)."""
    for preset in PRESETS:
        cfg = config_of(preset, {"mh_adapter": True, "output_adapter": True})
        w = adapter_weights("gpt2", cfg, G.CFG["n_embd"], torch.Generator().manual_seed(1))
        zero = {k: torch.zeros_like(v) if "adapter_up" in k else v for k, v in w.items()}
        assert torch.allclose(gpt2_forward({**gbase, **zero}, tokens, cfg), G.forward(gbase, gbase["wte.weight"][tokens], torch.arange(G.T)), atol=1e-12, rtol=0)
        wb = adapter_weights("bert", cfg, BE.CFG["hidden_size"], torch.Generator().manual_seed(1))
        zb = {k: torch.zeros_like(v) if "adapter_up" in k else v for k, v in wb.items()}
        plain = BE.forward(bbase, batch["tokens"], batch["token_types"], batch["lengths"])
        assert torch.allclose(bert_forward({**bbase, **zb}, batch, cfg), plain, atol=1e-12, rtol=0)
    print("self-checks passed: zero up-projections give the base model")


def full_config(model, cfg):
    """build_full_config's layout (model_mixin.save_adapter → AdapterLoader.save)."""
    if model == "gpt2":
        head = {"model_type": "gpt2", "hidden_size": G.CFG["n_embd"], "model_name": None, "model_class": "GPT2LMHeadModel"}
    else:
        head = {"model_type": "bert", "hidden_size": BE.CFG["hidden_size"], "model_name": None, "model_class": "BertForSequenceClassification"}
    return {**head, "name": NAME, "config": cfg, "version": VERSION}


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(G.SEED)
    gbase = G.init_base(gen)
    tokens = torch.randint(0, G.CFG["vocab_size"], (G.B, G.T), generator=gen)
    bgen = torch.Generator().manual_seed(BE.SEED)
    bbase = BE.init(bgen)
    ids = torch.randint(0, BE.CFG["vocab_size"], (BE.B, BE.T), generator=bgen)
    batch = {"tokens": ids, "token_types": torch.tensor(BE.TYPES), "lengths": torch.tensor(BE.LENGTHS), "labels": torch.tensor(BE.LABELS)}
    self_checks(gbase, tokens, bbase, batch)
    os.makedirs(FOLDER, exist_ok=True)
    st_io.save(os.path.join(FOLDER, "gpt2-base.safetensors"), {k: v.to(torch.float32) for k, v in gbase.items()}, {"format": "pt", "writer": WRITER})
    st_io.save(os.path.join(FOLDER, "bert-base.safetensors"), {("" if k.startswith("classifier") else "bert.") + k: v.to(torch.float32) for k, v in bbase.items()}, {"format": "pt", "writer": WRITER})
    with open(os.path.join(FOLDER, "gpt2-tokens.json"), "w") as f:
        f.write(json.dumps(tokens.tolist()) + "\n")
    with open(os.path.join(FOLDER, "bert-batch.json"), "w") as f:
        f.write(json.dumps({"tokens": ids.tolist(), "token_types": BE.TYPES, "lengths": BE.LENGTHS, "labels": BE.LABELS}) + "\n")
    rules = {}
    wgen = torch.Generator().manual_seed(20261207)
    for case, model, preset, changes, rule in CASES:
        cfg = config_of(preset, changes)
        if model == "gpt2":
            base, d = gbase, G.CFG["n_embd"]
            run = lambda b, t, cfg=cfg: (lambda lg: (lg, G.lm_loss(lg, tokens[:, 1:], 0)))(gpt2_forward({**b, **t}, tokens, cfg))  # noqa: E731
        else:
            base, d = bbase, BE.CFG["hidden_size"]
            run = lambda b, t, cfg=cfg: (lambda lg: (lg, torch.nn.functional.cross_entropy(lg, batch["labels"])))(bert_forward({**b, **t}, batch, cfg))  # noqa: E731
        train = adapter_weights(model, cfg, d, wgen)
        ref = evaluate(run, base, train, torch.float64)
        # The saved gradients are those of the saved loss (gpt2_lora's central differences; this run takes no tokens).
        G.finite_difference_check(lambda b, t, _tokens, _hf, run=run: run(b, t), base, train, None, {"grad." + k: ref["grad." + ours(k)] for k in train})
        low = evaluate(run, base, train, torch.float32)
        diffs = {k: float((ref[k] - low[k].double()).abs().max()) for k in ref}
        out = os.path.join(FOLDER, case)
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "adapter_config.json"), "w") as f:
            f.write(json.dumps(full_config(model, cfg), indent=2, sort_keys=True) + "\n")  # as save_weights_config
        st_io.save(os.path.join(out, "adapter.safetensors"), {k: v.to(torch.float32) for k, v in train.items()}, {"format": "pt", "writer": WRITER})
        meta = {"format": "pt", "writer": WRITER, "computed_in": "float64 from the float32 weights, saved as float32",
                "f32_vs_f64": json.dumps(diffs, sort_keys=True), "torch": torch.__version__}
        st_io.save(os.path.join(out, "expected.safetensors"), {k: v.to(torch.float32) for k, v in ref.items()}, meta)
        rules[case] = rule
        worst = max(diffs.items(), key=lambda kv: kv[1])
        print(f"{case}: loss {float(ref['loss']):.9f}; float32 run differs by ≤ {worst[1]:.2e} ({worst[0]})")
    with open(os.path.join(FOLDER, "cases.json"), "w") as f:
        f.write(json.dumps(rules, indent=2) + "\n")


if __name__ == "__main__":
    main()
