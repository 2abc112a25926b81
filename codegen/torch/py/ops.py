"""The operations of peftc's Model IR that PyTorch has no single call for.

Each function computes exactly what the op of the same name means in peftc
(compiler/ir/ops.ts); model.py calls them. Plain PyTorch, no dependency on peftc.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def place_params(module, params):
    """Registers each (path, shape, trainable) under its dotted path, so that state_dict keys are
    the paths: numeric parts index an nn.ModuleList (a gap holds an empty nn.Module, as a
    Sequential's activation does) or, last, an nn.ParameterList (a prompt template's numbered
    segments); other parts are nn.Module attributes. Containers already there are kept."""
    for path, shape, trainable in params:
        *parents, leaf = path.split('.')
        m = module
        for k, part in enumerate(parents):
            below = (parents + [leaf])[k + 1]
            kind = (nn.ModuleList if k + 1 < len(parents) else nn.ParameterList) if below.isdigit() else nn.Module
            if part.isdigit():
                while len(m) <= int(part):
                    m.append(kind())
                m = m[int(part)]
            else:
                if not hasattr(m, part):
                    m.add_module(part, kind())
                m = getattr(m, part)
        p = nn.Parameter(torch.zeros(shape), requires_grad=trainable)
        if isinstance(m, nn.ParameterList):
            m.append(p)
        else:
            m.register_parameter(leaf, p)


def linear_in_out(x, w, b=None):
    """GPT-2's Conv1D: w is [in, out], y = x·w + b."""
    y = x @ w
    return y if b is None else y + b


def rmsnorm(x, gamma, eps):
    """LLaMA's RMSNorm: x / sqrt(mean(x²) + eps) · gamma."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * gamma


def positions(x, offset):
    """The sequence positions of x [B, S, …]: offset … offset+S−1 (prefix tokens come first)."""
    return torch.arange(offset, offset + x.shape[1], device=x.device)


def expand_batch(x, like):
    """x [P, D] repeated over the batch of `like` → [B, P, D]."""
    return x.unsqueeze(0).expand(like.shape[0], *x.shape)


def soft_embedding(table, soft, ids):
    """A prompt template's rows: ids < N read the vocabulary table, ids N … N+V−1 the soft tokens."""
    return F.embedding(ids, torch.cat([table, soft], 0))


def rope(x, heads, theta, offset):
    """Rotary position embedding, Hugging Face LLaMA's rotate_half convention."""
    B, S, width = x.shape
    hd = width // heads
    inv = theta ** (-torch.arange(0, hd // 2, dtype=torch.float64, device=x.device) * 2 / hd)
    pos = torch.arange(offset, offset + S, dtype=torch.float64, device=x.device)
    angle = torch.outer(pos, inv)
    cos = torch.cat([angle.cos(), angle.cos()], -1).to(x.dtype)
    sin = torch.cat([angle.sin(), angle.sin()], -1).to(x.dtype)
    h = x.view(B, S, heads, hd)
    rotated = torch.cat([-h[..., hd // 2:], h[..., : hd // 2]], -1)
    out = h * cos[:, None, :] + rotated * sin[:, None, :]
    return out.reshape(B, S, width)


def attention(q, k, v, heads, kv_heads, causal, prefix, lengths=None):
    """Scaled dot-product attention over heads, with grouped key/value heads and prefix keys.

    Key j is seen by query i if j < prefix, or (causal) j − prefix ≤ i, or (not causal) always;
    with lengths (not causal), keys past a row's length are padding and hidden.
    """
    B, S, _ = q.shape
    Sk = k.shape[1]
    hd = q.shape[-1] // heads
    q = q.view(B, S, heads, hd).transpose(1, 2)
    group = [h * kv_heads // heads for h in range(heads)]
    k = k.view(B, Sk, kv_heads, hd).transpose(1, 2)[:, group]
    v = v.view(B, Sk, kv_heads, hd).transpose(1, 2)[:, group]
    scores = q @ k.transpose(-1, -2) / math.sqrt(hd)
    j = torch.arange(Sk, device=q.device)
    i = torch.arange(S, device=q.device)
    seen = (j[None, :] < prefix) | ((j[None, :] - prefix <= i[:, None]) if causal else torch.ones(S, Sk, dtype=torch.bool, device=q.device))
    seen = seen[None, None]
    if lengths is not None and not causal:
        seen = seen & ((j < prefix)[None, :] | ((j - prefix)[None, :] < lengths[:, None]))[:, None, None, :]
    p = torch.softmax(scores.masked_fill(~seen, float('-inf')), -1)
    return (p @ v).transpose(1, 2).reshape(B, S, heads * hd)


def pool(x, mode, lengths=None):
    """x [B, S, D] → [B, D]: the first position, the last real one, or the mean of the real ones."""
    if mode == 'first':
        return x[:, 0]
    S = x.shape[1]
    n = lengths.long() if lengths is not None else torch.full((x.shape[0],), S, device=x.device)
    if mode == 'last':
        return x[torch.arange(x.shape[0], device=x.device), n - 1]
    real = (torch.arange(S, device=x.device)[None, :] < n[:, None]).to(x.dtype)
    return (x * real[..., None]).sum(1) / n[:, None].to(x.dtype)


def cross_entropy(logits, targets, ignore_index):
    """Mean of −log softmax(logits)[target] over the counted positions; 0 when none counts."""
    flat = logits.reshape(-1, logits.shape[-1])
    t = targets.reshape(-1).long()
    total = F.cross_entropy(flat, t, ignore_index=ignore_index, reduction='sum')
    return total / (t != ignore_index).sum().clamp(min=1)


def orthogonality(a):
    """‖a·aᵀ − I‖²_F of a [r, n] (AdaLoRA keeps the rows of A and the columns of B orthonormal)."""
    gram = a @ a.t()
    return (gram - torch.eye(gram.shape[0], dtype=a.dtype, device=a.device)).pow(2).sum()
