"""PyTorch reference for LoRA's PiSSA and OLoRA initialisations, written from Hugging Face PEFT's
LoraLayer.pissa_init and olora_init (peft/tuners/lora/layer.py), in float64:

  pissa   V, S, Uh = torch.linalg.svd(W, full_matrices=False); S_r /= s;
          A = diag(√S_r)·Uh[:r], B = V[:, :r]·diag(√S_r), W_res = W − s·B·A
  olora   Q, R = torch.linalg.qr(W); A = R[:r], B = Q[:, :r], W_res = W − s·B·A

with W as [out, in]. Singular vectors have a sign freedom PEFT leaves to LAPACK; this reference
(and peftc) orients each pair so that the largest-magnitude entry of the row of Uh is positive.
QR keeps LAPACK's Householder signs.

Run:  /usr/bin/python3 scripts/reference/lora_inits.py
It writes test/fixtures/lora-inits/expected.safetensors: for each case `<case>.W` and, for each
method, `<case>.<method>.A`, `.B`, `.residual` (float64).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import st_io  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "test", "fixtures", "lora-inits")
# name: (out, in, r, scale)
CASES = {"tall": (96, 32, 4, 2.0), "wide": (32, 128, 4, 2.0), "square": (32, 32, 8, 0.5)}


def pissa(W, r, s):
    V, S, Uh = torch.linalg.svd(W, full_matrices=False)
    Vr, Sr, Uhr = V[:, :r], S[:r] / s, Uh[:r]
    idx = Uhr.abs().argmax(dim=1)
    sign = torch.sign(Uhr[torch.arange(r), idx])
    Vr, Uhr = Vr * sign, Uhr * sign[:, None]
    A = torch.diag(torch.sqrt(Sr)) @ Uhr
    B = Vr @ torch.diag(torch.sqrt(Sr))
    return A, B


def olora(W, r, s):
    Q, R = torch.linalg.qr(W)
    return R[:r], Q[:, :r]


def main():
    gen = torch.Generator().manual_seed(20)
    tensors = {}
    for name, (fout, fin, r, s) in CASES.items():
        W = torch.randn(fout, fin, generator=gen, dtype=torch.float64) * 0.1
        tensors[f"{name}.W"] = W
        for method, f in (("pissa", pissa), ("olora", olora)):
            A, B = f(W, r, s)
            res = W - s * B @ A
            assert torch.allclose(res + s * B @ A, W, atol=1e-14)
            tensors[f"{name}.{method}.A"] = A.contiguous()
            tensors[f"{name}.{method}.B"] = B.contiguous()
            tensors[f"{name}.{method}.residual"] = res.contiguous()
    os.makedirs(OUT, exist_ok=True)
    st_io.save(os.path.join(OUT, "expected.safetensors"), tensors, {"writer": "scripts/reference/lora_inits.py", "torch": torch.__version__,
                                                                   "cases": repr(CASES)})
    print(f"wrote {os.path.relpath(OUT, ROOT)}/expected.safetensors ({len(tensors)} tensors)")


if __name__ == "__main__":
    main()
