#!/usr/bin/env bash
# Installs PyTorch for the `peftc build --target torch` tests (Debian/Ubuntu): Debian's
# python3-torch, and the threaded OpenBLAS its CPU kernels are fastest with. The tests run
# the generated trainer with the first Python that imports torch (PEFTC_PYTHON, python3,
# /usr/bin/python3). Safe to run again: it installs only what is missing.
set -euo pipefail
need=()
for pkg in python3-torch libopenblas0-pthread; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -eq 0 ]; then
  echo "setup-torch: torch already installed"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "setup-torch: missing ${need[*]}; install them with your package manager" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "setup-torch: installing ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "setup-torch: done"
