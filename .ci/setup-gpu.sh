#!/usr/bin/env bash
# Installs (as root, on Debian 12) what the gpu.js backends need beyond npm:
#   headlessgl: X dev headers + pkg-config + python3/make/g++ to build the `gl`
#               addon with node-gyp; Xvfb + xauth + Mesa (llvmpipe) to run it.
#   webgpu:     the Vulkan loader (libvulkan1) and Chromium, whose
#               chromium-common ships SwiftShader's Vulkan ICD
#               (/usr/lib/chromium/vk_swiftshader_icd.json) that Dawn runs on.
# Idempotent: does nothing (not even apt-get update) when all are installed.
# Usage: bash .ci/setup-gpu.sh            (then: npm ci)
set -euo pipefail

PACKAGES=(
  xvfb xauth libgl1-mesa-dri libglx-mesa0          # X display + Mesa GL for headlessgl
  libxi-dev libx11-dev libxext-dev pkg-config      # gl's node-gyp build
  python3 make g++                                 # node-gyp toolchain
  libvulkan1 chromium                              # Vulkan loader + SwiftShader ICD for Dawn
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "setup-gpu: installing ${missing[*]}"
  sudo=''
  if [[ $(id -u) -ne 0 ]]; then sudo='sudo'; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq -o DPkg::Lock::Timeout=300
  $sudo apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
else
  echo "setup-gpu: Debian packages already installed"
fi

test -f /usr/lib/chromium/vk_swiftshader_icd.json || {
  echo "setup-gpu: /usr/lib/chromium/vk_swiftshader_icd.json is missing after installing chromium" >&2
  exit 1
}
