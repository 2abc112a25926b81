#!/usr/bin/env bash
# One-time set-up on a fresh Debian/Ubuntu machine: the npm dependencies and the
# software WebGPU adapters (used when no GPU adapter is present), and PyTorch for the tests of
# `peftc build --target torch` (scripts/setup-torch.sh). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
bash scripts/setup-gpu.sh
bash scripts/setup-torch.sh
