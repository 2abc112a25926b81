#!/usr/bin/env bash
# Installs the software WebGPU adapters used where no GPU is present (Debian/Ubuntu):
#   - SwiftShader (Vulkan ICD shipped inside Debian's chromium package), core WebGPU;
#   - Mesa llvmpipe through OpenGL ES (compatibility-mode WebGPU).
# Chromium also serves the browser tests (headless, driven by playwright-core).
# Safe to run again: it installs only what is missing.
set -euo pipefail
source "$(dirname "$0")/apt-install.sh"
apt_install setup-gpu libvulkan1 chromium libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri
