"""PyTorch peer of bench/generate.ts: GPT-2 small (Hugging Face's GPT2LMHeadModel, dropout off,
random weights) generating greedily with a key/value cache, on the CPU. Milliseconds per token at
each context length: a prefill of the context, then one-token steps (logits of the last position
only, as Hugging Face's generate computes them); wall time and the process's CPU time (all its
threads: with --threads 1 it compares with bench/generate.ts's one thread on a busy machine).
Nothing here is needed by the tests.

    /usr/bin/python3 bench/torch_generate.py [--contexts 16,128,512] [--tokens 8] [--threads 2]
        [--layers 12] [--embd 768] [--heads 12] [--vocab 50257]

Prints one JSON line: {"torch", "threads", "rows": [{"context", "ms_per_token", "cpu_ms_per_token", "prefill_ms"}], "gen_flatness"}.
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


class GPT2:
    def __init__(self, layers, embd, heads, vocab, positions=1024):
        g = torch.Generator().manual_seed(1)
        r = lambda *s: torch.randn(*s, generator=g) * 0.02
        self.heads, self.embd = heads, embd
        self.wte, self.wpe = r(vocab, embd), r(positions, embd)
        self.layers = [
            dict(c_attn=(r(embd, 3 * embd), torch.zeros(3 * embd)), c_proj=(r(embd, embd), torch.zeros(embd)),
                 c_fc=(r(embd, 4 * embd), torch.zeros(4 * embd)), m_proj=(r(4 * embd, embd), torch.zeros(embd)))
            for _ in range(layers)
        ]

    def forward(self, ids, cache):
        """ids [1, S] continuing `cache` (a list of (k, v) per layer, [1, heads, past, hd]); last logits."""
        past = cache[0][0].shape[2] if cache else 0
        S = ids.shape[1]
        x = self.wte[ids] + self.wpe[past:past + S]
        hd = self.embd // self.heads
        new = []
        for i, L in enumerate(self.layers):
            h = F.layer_norm(x, (self.embd,))
            q, k, v = torch.addmm(L['c_attn'][1], h.view(-1, self.embd), L['c_attn'][0]).view(1, S, 3 * self.embd).split(self.embd, dim=2)
            q, k, v = (t.view(1, S, self.heads, hd).transpose(1, 2) for t in (q, k, v))
            if cache:
                k = torch.cat([cache[i][0], k], dim=2)
                v = torch.cat([cache[i][1], v], dim=2)
            new.append((k, v))
            s = q @ k.transpose(-1, -2) / math.sqrt(hd)
            if S > 1:
                mask = torch.ones(S, past + S, dtype=torch.bool).tril(past)
                s = s.masked_fill(~mask, float('-inf'))
            a = (s.softmax(-1) @ v).transpose(1, 2).reshape(S, self.embd)
            x = x + torch.addmm(L['c_proj'][1], a, L['c_proj'][0]).view(1, S, self.embd)
            h = F.layer_norm(x, (self.embd,)).view(S, self.embd)
            x = x + torch.addmm(L['m_proj'][1], gelu_new(torch.addmm(L['c_fc'][1], h, L['c_fc'][0])), L['m_proj'][0]).view(1, S, self.embd)
        last = F.layer_norm(x[:, -1], (self.embd,))
        return last @ self.wte.T, new


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--contexts', default='16,128,512')
    ap.add_argument('--tokens', type=int, default=8)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--layers', type=int, default=12)
    ap.add_argument('--embd', type=int, default=768)
    ap.add_argument('--heads', type=int, default=12)
    ap.add_argument('--vocab', type=int, default=50257)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = GPT2(a.layers, a.embd, a.heads, a.vocab)
    rows = []
    with torch.no_grad():
        for ctx in [int(c) for c in a.contexts.split(',')]:
            ids = torch.randint(0, a.vocab, (1, ctx), generator=torch.Generator().manual_seed(ctx))
            t0 = time.perf_counter()
            logits, cache = m.forward(ids, [])
            prefill = time.perf_counter() - t0
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(a.tokens):
                nxt = logits.argmax(-1).view(1, 1)
                logits, cache = m.forward(nxt, cache)
            cpu = time.process_time() - c0
            rows.append(dict(context=ctx, ms_per_token=round((time.perf_counter() - t0) / a.tokens * 1000, 1),
                             cpu_ms_per_token=round(cpu / a.tokens * 1000, 1), prefill_ms=round(prefill * 1000)))
    print(json.dumps(dict(torch=torch.__version__, threads=a.threads, rows=rows, gen_flatness=round(rows[-1]['ms_per_token'] / rows[0]['ms_per_token'], 3))))


if __name__ == '__main__':
    main()
