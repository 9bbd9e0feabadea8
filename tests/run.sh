#!/usr/bin/env bash
# Builds and runs the whole test suite on a fresh Debian machine:
#   bash tests/run.sh          installs missing Debian packages, configures into build/, builds, runs ctest
#   bash tests/run.sh deps     only the install step (likewise: build, test), for CI's timed tiers
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

deps() { bash cmake/install-deps.sh; }
build() {
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DONENIP_BUILD_TESTS=ON -DONENIP_BUILD_EXAMPLES=ON
  cmake --build build -j "$jobs"
}
# ctest runs $jobs test processes at once; one OpenMP thread each keeps them from
# oversubscribing the cores (tests that need several threads set them themselves).
run_tests() { OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" ctest --test-dir build -j "$jobs" --output-on-failure; }

case "${1:-all}" in
  deps) deps ;;
  build) build ;;
  test) run_tests ;;
  all) deps && build && run_tests ;;
  *) echo "usage: bash tests/run.sh [deps|build|test]" >&2; exit 2 ;;
esac
