#!/usr/bin/env bash
# Installs the software WebGPU adapters used where no GPU is present (Debian/Ubuntu):
#   - SwiftShader (Vulkan ICD shipped inside Debian's chromium package), core WebGPU;
#   - Mesa llvmpipe through OpenGL ES (compatibility-mode WebGPU).
# Chromium also serves the browser tests (headless, driven by playwright-core).
# Safe to run again: it installs only what is missing.
set -euo pipefail
need=()
for pkg in libvulkan1 chromium libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -eq 0 ]; then
  echo "setup-gpu: software adapters already installed"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "setup-gpu: missing ${need[*]}; install them with your package manager" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "setup-gpu: installing ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "setup-gpu: done"
