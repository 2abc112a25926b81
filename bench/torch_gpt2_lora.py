"""PyTorch reference for `npm run bench`: the benchmark's LoRA training step on the CPU.

Run by bench/run.ts with Debian's Python and PyTorch (`/usr/bin/python3`; python3-torch); when
torch is missing the benchmark skips this part and says so. Nothing here is needed by CI.

    /usr/bin/python3 bench/torch_gpt2_lora.py --weights W.safetensors --batch batch.json \
        [--threads 2] [--method lora|full] (--reps N [--warmup 1] | --serve)

The model is the one of bench/peers/tfjs.ts and scripts/reference/gpt2_lora.py (Hugging Face's
GPT2LMHeadModel with dropout off): Conv1D weights [in, out], pre-LN, causal softmax attention,
gelu_new, tied head; LoRA on c_attn as PEFT computes it, x·W + b + (alpha/r)·(x·Aᵀ)·Bᵀ. The
weights (base and LoRA) come from the file bench/run.ts writes, so the losses can be compared
with this project's step by step. The step: loss, backward, clip_grad_norm_(1.0), Adam (lr 1e-3,
weight decay 0).

With --reps it prints one JSON line: {"torch", "threads", "method", "ms": [...], "losses": [...]}.
With --serve (how bench/train.ts drives it, interleaved with the GPU steps so a change in the
machine's load hits every framework alike) it prints {"torch", "threads", "method"}, then for
each line "step" on stdin one line {"ms", "loss"}; it ends at "quit" or the end of stdin.
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts", "reference"))
import st_io  # noqa: E402


def layer_norm(x, w, b, eps):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def gelu_new(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x.pow(3))))


def forward(p, tokens, cfg):
    B, T = tokens.shape
    d, H, L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
    hd = d // H
    x = p["wte.weight"][tokens] + p["wpe.weight"][:T]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    heads = lambda t: t.view(B, T, H, hd).transpose(1, 2)  # noqa: E731
    scale = cfg["alpha"] / cfg["r"]
    for i in range(L):
        h = f"h.{i}."
        a = layer_norm(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"], cfg["eps"])
        qkv = a @ p[h + "attn.c_attn.weight"] + p[h + "attn.c_attn.bias"]
        if h + "attn.c_attn.lora_A.weight" in p:
            qkv = qkv + scale * (a @ p[h + "attn.c_attn.lora_A.weight"].T) @ p[h + "attn.c_attn.lora_B.weight"].T
        q, k, v = (heads(t) for t in qkv.split(d, dim=-1))
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(~causal, -1e9)
        y = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, d)
        x = x + y @ p[h + "attn.c_proj.weight"] + p[h + "attn.c_proj.bias"]
        m = layer_norm(x, p[h + "ln_2.weight"], p[h + "ln_2.bias"], cfg["eps"])
        m = gelu_new(m @ p[h + "mlp.c_fc.weight"] + p[h + "mlp.c_fc.bias"])
        x = x + m @ p[h + "mlp.c_proj.weight"] + p[h + "mlp.c_proj.bias"]
    x = layer_norm(x, p["ln_f.weight"], p["ln_f.bias"], cfg["eps"])
    return x @ p["wte.weight"].T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--batch", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--method", choices=["lora", "full"], default="lora")
    ap.add_argument("--serve", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    tensors, meta = st_io.load(args.weights)
    cfg = json.loads(meta["config"])
    with open(args.batch) as f:
        batch = json.load(f)
    tokens = torch.tensor(batch["tokens"], dtype=torch.long)
    targets = torch.tensor(batch["targets"], dtype=torch.long)

    p = {}
    trainable = []
    for name, t in tensors.items():
        train = args.method == "full" or ".lora_" in name
        p[name] = torch.nn.Parameter(t.clone().to(torch.float32), requires_grad=train)
        if train:
            trainable.append(p[name])
    opt = torch.optim.Adam(trainable, lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps_adam"])

    def step():
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits = forward(p, tokens, cfg)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1), ignore_index=-100)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, cfg["clip"])
        opt.step()
        value = loss.item()
        return (time.perf_counter() - t0) * 1000, value

    head = {"torch": torch.__version__, "threads": torch.get_num_threads(), "method": args.method}
    if args.serve:
        print(json.dumps(head), flush=True)
        for line in sys.stdin:
            if line.strip() != "step":
                break
            ms, loss = step()
            print(json.dumps({"ms": ms, "loss": loss}), flush=True)
        return
    ms, losses = [], []
    for i in range(args.warmup + args.reps):
        t, loss = step()
        losses.append(loss)
        if i >= args.warmup:
            ms.append(t)
    print(json.dumps({**head, "ms": ms, "losses": losses}))

if __name__ == "__main__":
    main()
