#!/usr/bin/env bash
# The main job on its embedded default, on a fresh Debian machine:
#   bash examples/run.sh
# Installs missing Debian packages, builds the examples, and trains the MLP example.
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DONENIP_BUILD_EXAMPLES=ON >/dev/null
cmake --build build -j "$(nproc)" --target onenip-train-mlp
./build/examples/onenip-train-mlp "$@"
