#!/usr/bin/env bash
# Installs PyTorch for the `peftc build --target torch` tests (Debian/Ubuntu): Debian's
# python3-torch, and the threaded OpenBLAS its CPU kernels are fastest with. The tests run
# the generated trainer with the first Python that imports torch (PEFTC_PYTHON, python3,
# /usr/bin/python3). Safe to run again: it installs only what is missing.
set -euo pipefail
source "$(dirname "$0")/apt-install.sh"
apt_install setup-torch python3-torch libopenblas0-pthread
