#!/usr/bin/env bash
# Builds and runs the whole test suite on a fresh Debian machine:
#   bash tests/run.sh          installs missing Debian packages, configures into build/, builds, runs ctest
#   bash tests/run.sh deps     only the install step (likewise: build, test), for CI's timed tiers
#   bash tests/run.sh sanitize AddressSanitizer + UndefinedBehaviorSanitizer over a subset (build-asan/)
#   bash tests/run.sh tsan     ThreadSanitizer (clang, LLVM's OpenMP) over the threaded code (build-tsan/)
#   bash tests/run.sh cuda     the CUDA kernels: run by the SIMT emulator (build-cuda/, tests labelled
#                              "cuda"), and, where nvcc exists, the GPU library, benchmarks and the
#                              CUDA tests for the GPU (build-gpu/) compiled and linked
#   bash tests/run.sh mpi      data-parallel training: Open MPI installed if missing, build-mpi/, the
#                              tests labelled "mpi" (2 ranks on this machine); with nvcc, NCCL compiled
#   bash tests/run.sh api      the API reference: doxygen (installed if missing) over include/onenip/
#                              into build/api/html; any doxygen warning fails it
#   bash tests/run.sh avx2     the op tests built for x86-64-v3 (AVX2, no AVX-512: what a distribution
#                              package ships) in build-avx2/: Eigen's float products, 8-lane kernels
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
# The CUDA tier: the op tests and the emulator's tests linked with the emulated CUDA backend, so
# the harness runs every op on "cuda" as well; with nvcc, onenip_cuda (sm_80, sm_90) and the GPU
# benchmarks are compiled and linked too (they run in bench/gpu_check.sh on a GPU).
cuda() {
  local nvcc args=(-DONENIP_CUDA_TESTS=emulated -DONENIP_BUILD_EXAMPLES=OFF) targets=(onenip_cuda_tests)
  nvcc=$(command -v nvcc || { [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc; } || true)
  if [ -n "$nvcc" ]; then
    args+=(-DONENIP_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc")
    targets+=(onenip_cuda cuda_benchmarks)
  else
    echo "tests/run.sh cuda: no nvcc found: only the emulated kernels are built and run"
  fi
  cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release "${args[@]}"
  cmake --build build-cuda -j "$jobs" --target "${targets[@]}"
  OMP_NUM_THREADS=1 ctest --test-dir build-cuda -L cuda -j "$jobs" --output-on-failure
  if [ -n "$nvcc" ]; then  # the CUDA tests as bench/gpu_check.sh builds them (linked with the GPU library): compiled only
    cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DONENIP_CUDA=ON -DONENIP_CUDA_TESTS=gpu \
      -DONENIP_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_COMPILER="$nvcc"
    cmake --build build-gpu -j "$jobs" --target onenip_cuda_tests
  fi
}
# ASan + UBSan (any finding fails) over the tests of the code that handles raw memory and
# untrusted bytes: tensors and views, autograd, the file readers, modules and losses, the SIMT
# emulator and the CUDA runtime on it. A subset, because a sanitized build of every test would
# double CI's build time; the op and model tests exercise the same tensor code at larger sizes.
sanitize() {
  local tests=(test_tensor test_autograd test_io test_nn_core test_simt test_cuda)
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DONENIP_BUILD_EXAMPLES=OFF -DONENIP_CUDA_TESTS=emulated \
    "-DCMAKE_CXX_FLAGS=-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  cmake --build build-asan -j "$jobs" --target "${tests[@]}" fuzz_regressions
  for t in "${tests[@]}"; do
    echo "== $t (ASan + UBSan)"
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 OMP_NUM_THREADS=1 "build-asan/tests/$t" --no-version
  done
  # the inputs that once made the readers fail (fuzz/): some were memory errors that only show here
  for d in fuzz/regressions/*/; do
    echo "== fuzz regressions: $(basename "$d") (ASan + UBSan)"
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 OMP_NUM_THREADS=1 \
      build-asan/fuzz/fuzz_regressions "$(basename "$d")" "$d"
  done
}
# ThreadSanitizer (any report fails) over the multi-threaded code: the data loader's worker
# threads and parallel decoding (test_synthesis, test_data), the OpenMP kernels on 2 threads
# (test_ops_basic, test_ops_nn) and the emulated CUDA kernels (those op tests and test_simt).
# It needs clang with LLVM's OpenMP runtime and its TSan tool, archer (Debian: clang libomp-dev):
# GCC's libgomp synchronises where TSan cannot see it, and reports false races.
tsan() {
  local tests=(test_simt test_ops_basic test_ops_nn test_synthesis test_data) cxx archer
  find_tools() {
    cxx=$(command -v clang++ || command -v clang++-14 || true)
    archer=$(ls /usr/lib/llvm-*/lib/libarcher.so 2>/dev/null | sort -V | tail -1)
  }
  find_tools
  if [ -z "$cxx" ] || [ -z "$archer" ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q clang libomp-dev
    find_tools
  fi
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER="$cxx" -DONENIP_BUILD_EXAMPLES=OFF \
    -DONENIP_CUDA_TESTS=emulated "-DCMAKE_CXX_FLAGS=-O1 -g -fsanitize=thread -fno-omit-frame-pointer"
  cmake --build build-tsan -j "$jobs" --target "${tests[@]}"
  for t in "${tests[@]}"; do
    # test_ops_nn without its long op-harness sweeps (their emulated CUDA runs take half an hour
    # under TSan; test_ops_basic's harness cases and the rest of test_ops_nn run the same kernels)
    local filter=()
    [ "$t" = test_ops_nn ] && filter=("--test-case-exclude=*op?harness*,*head?dims*,*tensor?cores*,*tensor-core*")
    echo "== $t (ThreadSanitizer, 2 threads)"
    OMP_TOOL_LIBRARIES="$archer" TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ignore_noninstrumented_modules=1" OMP_NUM_THREADS=2 \
      "build-tsan/tests/$t" --no-version "${filter[@]}"
  done
}
# Data parallelism (ONENIP_MPI): its own build of only what the MPI tests run (the test program,
# with the emulated CUDA backend for ranks training on cuda; the scaling benchmark; the CLI),
# then the "mpi" tests one at a time (each takes 2 ranks, one OpenMP thread each). With nvcc, the
# NCCL communicator and its check are compiled and linked too (they run in bench/gpu_check.sh on a GPU).
mpi() {
  local nvcc args=(-DONENIP_MPI=ON -DONENIP_BUILD_EXAMPLES=ON -DONENIP_CUDA_TESTS=emulated)
  local targets=(test_distributed bench_distributed onenip-cli)
  dpkg -s libopenmpi-dev openmpi-bin >/dev/null 2>&1 ||
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libopenmpi-dev openmpi-bin; }
  nvcc=$(command -v nvcc || { [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc; } || true)
  if [ -n "$nvcc" ]; then
    args+=(-DONENIP_CUDA=ON -DONENIP_NCCL=ON -DCMAKE_CUDA_COMPILER="$nvcc")
    targets+=(nccl_check)
  fi
  cmake -S . -B build-mpi -G Ninja -DCMAKE_BUILD_TYPE=Release "${args[@]}"
  cmake --build build-mpi -j "$jobs" --target "${targets[@]}"
  OMP_NUM_THREADS=1 ctest --test-dir build-mpi -L mpi --output-on-failure --no-tests=error
}
# The CPU kernels as a distribution package would build them (-march=x86-64-v3 instead of
# -march=native): float products on Eigen instead of the AVX-512 GEMM, attention tiles and the
# vector exp on 8 lanes, Philox 8 at a time, the scalar 8x8 transposes. The op tests (values,
# gradients, bits equal across thread counts) and the convolution tests on those paths;
# skipped on a CPU without AVX2.
avx2() {
  if ! grep -qw avx2 /proc/cpuinfo || ! grep -qw fma /proc/cpuinfo; then
    echo "tests/run.sh avx2: this CPU has no AVX2 + FMA: skipped"
    return 0
  fi
  local tests=(test_ops_basic test_ops_nn test_ops_conv)
  cmake -S . -B build-avx2 -G Ninja -DCMAKE_BUILD_TYPE=Release -DONENIP_BUILD_TESTS=ON -DONENIP_BUILD_EXAMPLES=OFF \
    -DONENIP_NATIVE=OFF -DCMAKE_CXX_FLAGS=-march=x86-64-v3
  cmake --build build-avx2 -j "$jobs" --target "${tests[@]}"
  for t in "${tests[@]}"; do
    echo "== $t (x86-64-v3)"
    OMP_NUM_THREADS=1 "build-avx2/tests/$t" --no-version
  done
}
# The API reference from the headers' comments (docs/api/Doxyfile, front page docs/api/mainpage.md).
# Doxygen fails on any warning itself (WARN_AS_ERROR = FAIL_ON_WARNINGS), after printing them all.
api() {
  command -v doxygen >/dev/null ||
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q doxygen; }
  rm -rf build/api/html && mkdir -p build/api  # no pages left over from headers since removed
  doxygen docs/api/Doxyfile
  echo "API reference: $PWD/build/api/html/index.html"
}
run_tests() { OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" ctest --test-dir build -j "$jobs" --output-on-failure; }

case "${1:-all}" in
  deps) deps ;;
  build) build ;;
  test) run_tests ;;
  cuda) cuda ;;
  sanitize) sanitize ;;
  tsan) tsan ;;
  mpi) mpi ;;
  api) api ;;
  avx2) avx2 ;;
  all) deps && build && run_tests ;;
  *) echo "usage: bash tests/run.sh [deps|build|test|cuda|sanitize|tsan|mpi|api|avx2]" >&2; exit 2 ;;
esac
