"""PyTorch reference for LoRA's PiSSA with a randomised SVD (`init = pissa(niter = K)`), written
from Hugging Face PEFT's LoraLayer.pissa_init for init_lora_weights "pissa_niter_K"
(peft/tuners/lora/layer.py), in float64:

  U, S, V = torch.svd_lowrank(W, q=r, niter=K);  S_r /= s
  A = diag(√S_r)·Vᵀ,  B = U·diag(√S_r),  W_res = W − s·B·A

torch.svd_lowrank is torch >= 2.1's (torch/_lowrank.py): W turned tall (Wᵀ when it is wide),
Q = get_approximate_basis(W, q, niter) (Halko et al. 2009, Algorithm 4.4: Q from the QR of
W·G, G = randn(n, q), then niter times Q ← qr(Wᵀ·Q), Q ← qr(W·Q)), then the SVD of the small
Qᵀ·W (Algorithm 5.1). The Gaussian test matrix G is drawn here and stored, and torch.randn is
replaced by it while get_approximate_basis runs, so peftc, given the same G, must give the same
factors. Each pair of singular vectors is oriented as in lora_inits.py.

Run:  /usr/bin/python3 scripts/reference/svd_lowrank.py
It writes test/fixtures/lora-inits/lowrank.safetensors: for each case `<case>.W`, `<case>.G`
(the test matrix) and `<case>.A`, `.B`, `.residual` (float64).
"""
import os
import sys

import torch
import torch._lowrank as lowrank

sys.path.insert(0, os.path.dirname(__file__))
import st_io  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "test", "fixtures", "lora-inits")
# name: (out, in, r, scale, niter)
CASES = {"tall": (96, 32, 4, 2.0, 2), "wide": (32, 128, 4, 2.0, 4), "square": (32, 32, 8, 0.5, 0)}


def svd_lowrank(W, q, niter, G):
    """torch >= 2.1's _svd_lowrank (M = None) with torch.randn giving G."""
    wide = W.shape[0] < W.shape[1]
    A = W.mH if wide else W
    real_randn = torch.randn
    torch.randn = lambda *shape, **kw: G.clone()
    try:
        assert G.shape == (A.shape[1], q)
        Q = lowrank.get_approximate_basis(A, q, niter=niter)
    finally:
        torch.randn = real_randn
    U, S, Vh = torch.linalg.svd(Q.mH @ A, full_matrices=False)
    U, V = Q @ U, Vh.mH
    return (V, S, U) if wide else (U, S, V)


def pissa_lowrank(W, r, s, niter, G):
    U, S, V = svd_lowrank(W, r, niter, G)
    Sr, Vh = S / s, V.t()
    idx = Vh.abs().argmax(dim=1)
    sign = torch.sign(Vh[torch.arange(r), idx])
    U, Vh = U * sign, Vh * sign[:, None]
    A = torch.diag(torch.sqrt(Sr)) @ Vh
    B = U @ torch.diag(torch.sqrt(Sr))
    return A, B


def main():
    gen = torch.Generator().manual_seed(21)
    tensors = {}
    for name, (fout, fin, r, s, niter) in CASES.items():
        W = torch.randn(fout, fin, generator=gen, dtype=torch.float64) * 0.1
        G = torch.randn(min(fout, fin), r, generator=gen, dtype=torch.float64)
        A, B = pissa_lowrank(W, r, s, niter, G)
        res = W - s * B @ A
        # A wide W goes the same way through this torch's own svd_lowrank (older versions turn
        # a tall W differently): the reading of torch's algorithm checked against torch itself.
        if fout < fin:
            torch.randn, real = (lambda *shape, **kw: G.clone()), torch.randn
            try:
                U, S, V = torch.svd_lowrank(W, q=r, niter=niter)
            finally:
                torch.randn = real
            assert torch.allclose(U * S @ V.mH, B @ A * s, atol=1e-12)
        tensors.update({f"{name}.W": W, f"{name}.G": G, f"{name}.A": A.contiguous(), f"{name}.B": B.contiguous(), f"{name}.residual": res.contiguous()})
    os.makedirs(OUT, exist_ok=True)
    st_io.save(os.path.join(OUT, "lowrank.safetensors"), tensors, {"writer": "scripts/reference/svd_lowrank.py", "torch": torch.__version__, "cases": repr(CASES)})
    print(f"wrote {os.path.relpath(OUT, ROOT)}/lowrank.safetensors ({len(tensors)} tensors)")


if __name__ == "__main__":
    main()
