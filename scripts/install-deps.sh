#!/usr/bin/env bash
# Installs the Debian packages kvc builds and tests with (nothing is downloaded at build time).
set -euo pipefail
packages=(
  cmake g++ make pkg-config git
  catch2 libbenchmark-dev libeigen3-dev nlohmann-json3-dev libcli11-dev
  libpcre2-dev libutf8proc-dev libomp-dev
  clang libclang-rt-14-dev   # libFuzzer runs of the parsers
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "kvc build dependencies are installed"
