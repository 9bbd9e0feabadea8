#!/usr/bin/env bash
# Installs the Debian packages the build needs, only those that are missing.
# Used by tests/run.sh, examples/run.sh and .ci/run. Needs root (or sudo) when something is missing.
set -euo pipefail
packages=(cmake ninja-build g++ libeigen3-dev doctest-dev libstb-dev libbenchmark-dev nlohmann-json3-dev libcli11-dev python3)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
