#!/usr/bin/env bash
# Builds and runs the whole test suite on a fresh Debian machine:
#   bash tests/run.sh
# Installs missing Debian packages, configures into build/, builds, runs ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/install-deps.sh
jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DONENIP_BUILD_TESTS=ON -DONENIP_BUILD_EXAMPLES=ON
cmake --build build -j "$jobs"
ctest --test-dir build -j "$jobs" --output-on-failure
