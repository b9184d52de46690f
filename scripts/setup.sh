#!/usr/bin/env bash
# Installs every Debian package vremote needs to build, test and benchmark. Idempotent: packages
# already present are skipped, so running it twice costs one dpkg query.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libfmt-dev libgtest-dev libgmock-dev googletest libbenchmark-dev
  libtomlplusplus-dev libsodium-dev liburing-dev libfuse3-dev fuse3 zlib1g-dev
  iproute2
  spin
  clang clang-format clang-tidy libclang-rt-14-dev
  python3
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#PACKAGES[@]} packages present"
fi
