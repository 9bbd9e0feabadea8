#!/usr/bin/env bash
# The main job on its embedded default, on a fresh Debian machine:
#   bash examples/run.sh
# Installs missing Debian packages, builds the `onenip` command and runs `onenip demo`: a seeded
# dataset is generated, one model is trained for all its classes, evaluated, and a report written.
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DONENIP_BUILD_EXAMPLES=ON >/dev/null
cmake --build build -j "$(nproc)" --target onenip-cli
./build/examples/onenip demo "$@"
