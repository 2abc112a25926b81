"""Which BLAS this PyTorch runs on, and how fast its matmul is, measured now.

Debian's python3-torch is built against the generic BLAS interface (BLAS_INFO=generic), so the
library behind it is whichever libblas.so.3 Debian's alternatives select: the reference BLAS
(libblas3, a few GFLOP/s) or OpenBLAS (libopenblas0-pthread). The build settings cannot tell
which: this script looks at the shared libraries the process has mapped after a matmul, and at
threadpoolctl's view of them where python3-threadpoolctl is installed (OpenBLAS's kernel, i.e.
the core type it picked, and its threads).

    /usr/bin/python3 bench/torch_blas.py [--threads 2] [--size 1024] [--reps 5]

Prints one JSON line: {"torch", "blas", "blas_path", "openblas": {...} | null, "threads", "size",
"gflops": {"median", "min", "max"}, "env": {OPENBLAS_* variables}}.
"""
import argparse
import json
import os
import statistics
import time

import torch


def mapped_blas():
    """The BLAS shared objects this process has mapped (what the dynamic linker actually loaded)."""
    found = []
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            name = os.path.basename(path)
            if ("blas" in name or "mkl_rt" in name) and path not in found:
                found.append(path)
    return found


def describe(paths):
    real = [os.path.realpath(p) for p in paths]
    text = " ".join(real).lower()
    if "openblas" in text:
        return "OpenBLAS"
    if "mkl" in text:
        return "MKL"
    if "blis" in text:
        return "BLIS"
    if "atlas" in text:
        return "ATLAS"
    if real:
        return "reference BLAS (netlib)"
    return "none mapped (torch's own kernels)"


def openblas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    for lib in threadpool_info():
        if lib.get("internal_api") == "openblas":
            return {k: lib.get(k) for k in ("version", "architecture", "threading_layer", "num_threads", "filepath")}
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n = args.size
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g)
    b = torch.randn(n, n, generator=g)
    (a @ b).sum().item()  # loads the BLAS and warms it
    rates = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        c = a @ b
        dt = time.perf_counter() - t0
        rates.append(2 * n**3 / dt / 1e9)
    # A wrong BLAS result makes its speed meaningless (some OpenBLAS kernels miscompute on CPUs
    # newer than the release): check whole rows against float64 sums taken without the BLAS.
    bd = b.double()
    for i in (0, n // 3, n - 1):
        exact = (a[i].double().unsqueeze(1) * bd).sum(0)
        bound = 1e-4 * ((a[i].double().abs().unsqueeze(1) * bd.abs()).sum(0) + 1)
        bad = ((c[i].double() - exact).abs() > bound).nonzero()
        if len(bad):
            j = int(bad[0])
            raise SystemExit(f"the BLAS computed a wrong product: c[{i},{j}] = {float(c[i, j])}, expected {float(exact[j])}")
    paths = mapped_blas()
    print(json.dumps({
        "torch": torch.__version__,
        "blas": describe(paths),
        "blas_path": [os.path.realpath(p) for p in paths],
        "openblas": openblas_info(),
        "threads": torch.get_num_threads(),
        "size": n,
        "gflops": {"median": statistics.median(rates), "min": min(rates), "max": max(rates)},
        "env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")},
    }))


if __name__ == "__main__":
    main()
