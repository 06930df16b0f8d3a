#!/usr/bin/env bash
# Installs what the linux-arm64 build and its emulated tests need on a Debian x64 machine (as root, or with sudo):
#   gcc-aarch64-linux-gnu  cross C compiler and linker (NativeAOT links with it; NativeAot.props selects it)
#   qemu-user              runs arm64 Linux binaries on x64 (qemu-aarch64 -L /usr/aarch64-linux-gnu ...)
set -euo pipefail
if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
  echo "arm64 cross toolchain and qemu-user already installed"
  exit 0
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null
aarch64-linux-gnu-gcc --version | head -1
qemu-aarch64 --version | head -1
