#!/usr/bin/env bash
# Set-up for `npm run bench` (not needed by the tests): PyTorch, the CPU peer, on OpenBLAS.
#
# Debian's python3-torch calls the BLAS that the alternatives select for libblas.so.3; with only
# the reference BLAS (libblas3) its matmul runs at a few GFLOP/s, a handicapped peer. Installing
# libopenblas0-pthread switches the same torch to OpenBLAS. python3-threadpoolctl lets the
# benchmark report which OpenBLAS kernel runs. Then this script checks, and prints, what torch
# uses: its build settings, the BLAS library the process actually loads, and a timed matmul.
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/apt-install.sh
apt_install setup-bench python3-torch libopenblas0-pthread python3-threadpoolctl

echo "libblas.so.3 → $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo '(not found)')"
/usr/bin/python3 -c "import torch; print(torch.__config__.show())" | grep -oE 'BLAS_INFO=[^,]*|CPU capability usage: .*' || true
env | grep '^OPENBLAS' || echo "no OPENBLAS_* variables set"
# A timed matmul, checked in float64, with the BLAS the process loaded and OpenBLAS's kernel.
out=$(/usr/bin/python3 bench/torch_blas.py --threads 2)
echo "$out"
echo "$out" | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)
kernel = (r["openblas"] or {}).get("architecture")
where = r["blas"] + (" (%s kernel)" % kernel if kernel else "")
print("PyTorch %s on %s: %.1f GFLOP/s (%d^3 matmul, %d threads)" % (r["torch"], where, r["gflops"]["median"], r["size"], r["threads"]))
if r["blas"] != "OpenBLAS":
    sys.exit("torch does not use OpenBLAS: check update-alternatives --display libblas.so.3-x86_64-linux-gnu")
'
echo "npm run bench measures OpenBLAS's other kernels too and runs PyTorch on the fastest correct one (bench/peers/blas.ts)."
