#!/usr/bin/env bash
# The GPU check: run from the repository root on a machine with an NVIDIA GPU, nvcc, cmake,
# ninja and the library's dependencies (it installs nothing). Within a time budget (default 290 s,
# GPU_CHECK_BUDGET to change) it
#   1. prints the GPUs, the driver and the CUDA versions;
#   2. configures build-gpu (ONENIP_CUDA=ON, ONENIP_CUDA_TESTS=gpu, benchmarks on, examples off);
#   3. builds the CUDA-labelled tests (target onenip_cuda_tests) and the GPU benchmarks (every
#      target under bench/cuda/, when that folder is in the build);
#   4. runs `ctest -L cuda`, then every build-gpu/bench/cuda/bench_* executable (JSON next to the
#      results file), then compute-sanitizer memcheck and racecheck on each CUDA test executable
#      when compute-sanitizer exists.
# Everything goes to one results file, $OUT/gpu_check_results.txt when OUT is set, else
# build-gpu/gpu_check_results.txt; its path is printed first and last. Exit status: 0 when every
# step passed, 1 when one failed or timed out, 2 when there is no GPU.
set -uo pipefail

BUILD=build-gpu
BUDGET=${GPU_CHECK_BUDGET:-290}
START=$SECONDS
JOBS=${GPU_CHECK_JOBS:-$(nproc)}
OUTDIR=${OUT:-$BUILD}
mkdir -p "$OUTDIR" "$BUILD"
RESULTS=$(cd "$OUTDIR" && pwd)/gpu_check_results.txt
: >"$RESULTS"
echo "gpu_check: results in $RESULTS"

log() { echo "$*" | tee -a "$RESULTS"; }
left() { echo $((BUDGET - (SECONDS - START))); }
FAILED=()
NOTRUN=()
# step NAME LIMIT CMD...: runs CMD with its output in the results file, at most LIMIT seconds
# (and never past the budget); records PASS, FAIL, TIMEOUT, or NOT RUN once the budget is spent.
step() {
  local name=$1 limit=$2
  shift 2
  local rest
  rest=$(left)
  ((limit > rest)) && limit=$rest
  if ((limit <= 0)); then
    log "==== $name: NOT RUN (time budget of ${BUDGET}s spent)"
    NOTRUN+=("$name")
    return 1
  fi
  log "==== $name (limit ${limit}s): $*"
  local t0=$SECONDS rc
  timeout --kill-after=10 "$limit" "$@" >>"$RESULTS" 2>&1
  rc=$?
  if ((rc == 0)); then
    log "==== $name: PASS ($((SECONDS - t0))s)"
  elif ((rc == 124 || rc == 137)); then
    log "==== $name: TIMEOUT after ${limit}s"
    FAILED+=("$name (timeout)")
  else
    log "==== $name: FAIL (exit $rc, $((SECONDS - t0))s)"
    FAILED+=("$name (exit $rc)")
  fi
  return $rc
}
finish() {
  log "==== elapsed $((SECONDS - START))s of ${BUDGET}s"
  ((${#NOTRUN[@]})) && log "==== not run for lack of time: ${NOTRUN[*]}"
  if ((${#FAILED[@]} == 0)); then
    log "==== gpu_check: ALL PASSED"
  else
    log "==== gpu_check: FAILED: ${FAILED[*]}"
  fi
  echo "gpu_check: results in $RESULTS"
  exit $((${#FAILED[@]} == 0 ? 0 : 1))
}

[[ -f CMakeLists.txt && -d cuda && -f bench/gpu_check.sh ]] || {
  log "gpu_check: run this from the repository root"
  exit 2
}

# ---- the machine ----
log "==== machine: $(hostname), $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1 || [[ -z "$(nvidia-smi -L 2>/dev/null)" ]]; then
  log "gpu_check: FAILED: no NVIDIA GPU here (nvidia-smi is missing or lists no GPU)"
  exit 2
fi
nvidia-smi -L 2>&1 | tee -a "$RESULTS"
nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv 2>&1 | tee -a "$RESULTS"
log "driver's CUDA version: $(nvidia-smi 2>/dev/null | grep -o 'CUDA Version: [0-9.]*' | head -1)"
NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
[[ -x "$NVCC" ]] || {
  log "gpu_check: FAILED: no nvcc on PATH or at /usr/local/cuda/bin/nvcc"
  exit 2
}
log "nvcc: $NVCC, $("$NVCC" --version | grep -i release)"
log "cmake: $(cmake --version | head -1), ninja $(ninja --version), $(c++ --version | head -1)"
SANITIZER=$(command -v compute-sanitizer || ls "$(dirname "$NVCC")/compute-sanitizer" 2>/dev/null || true)

# NCCL's communicator when the toolkit has NCCL; with MPI on the machine, its 2-GPU check too
DISTRIBUTED=()
[[ -f "$(dirname "$NVCC")/../include/nccl.h" ]] && DISTRIBUTED+=(-DONENIP_NCCL=ON)
[[ ${#DISTRIBUTED[@]} -gt 0 ]] && command -v mpicxx >/dev/null && DISTRIBUTED+=(-DONENIP_MPI=ON)

# ---- configure and build ----
step configure 60 cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DONENIP_CUDA=ON \
  -DONENIP_CUDA_TESTS=gpu -DONENIP_BUILD_BENCHMARKS=ON -DONENIP_BUILD_EXAMPLES=OFF -DONENIP_BUILD_TESTS=ON \
  -DCMAKE_CUDA_COMPILER="$NVCC" "${DISTRIBUTED[@]}" || finish
TARGETS=(onenip_cuda_tests)
[[ ${#DISTRIBUTED[@]} -gt 0 ]] && TARGETS+=(nccl_check)
[[ " ${DISTRIBUTED[*]} " == *ONENIP_MPI* ]] && TARGETS+=(test_distributed)
# Every target of bench/cuda (Ninja's per-folder phony target), when that folder is in the build.
if [[ -d "$BUILD/bench/cuda" ]]; then
  TARGETS+=(bench/cuda/all)
else
  log "==== no bench/cuda folder in the build (bench/cuda/CMakeLists.txt, added from bench/): no GPU benchmarks"
fi
step build 200 cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}" || finish

# ---- tests on the GPU ----
# Test cases run as separate processes: a few at a time, each with a share of the cores.
CTEST_JOBS=$(((JOBS + 3) / 4))
OMP_NUM_THREADS=4 step "ctest -L cuda" 120 ctest --test-dir "$BUILD" -L cuda --output-on-failure -j "$CTEST_JOBS"

# ---- NCCL: one rank on one GPU; 2 ranks when 2 GPUs and MPI are here ----
if [[ -x "$BUILD/cuda/nccl_check" ]]; then
  step "nccl_check 1 rank" 60 "$BUILD/cuda/nccl_check"
  if (($(nvidia-smi -L | wc -l) >= 2)) && [[ " ${DISTRIBUTED[*]} " == *ONENIP_MPI* ]]; then
    step "nccl_check 2 ranks" 60 mpiexec --allow-run-as-root -n 2 "$BUILD/cuda/nccl_check"
  else
    log "==== nccl_check 2 ranks: not run (needs 2 GPUs and MPI)"
  fi
else
  log "==== nccl_check: not built (no nccl.h in the CUDA toolkit)"
fi
# 2 ranks training on cuda (both on GPU 0 here), their gradients summed over MPI through the host
if [[ -x "$BUILD/tests/test_distributed" ]]; then
  OMP_NUM_THREADS=2 step "test_distributed on cuda, 2 ranks" 90 mpiexec --allow-run-as-root --oversubscribe -n 2 \
    "$BUILD/tests/test_distributed" --test-case="*on cuda*"
fi

# ---- benchmarks ----
shopt -s nullglob
for b in "$BUILD"/bench/cuda/bench_*; do
  [[ -x "$b" && -f "$b" ]] || continue
  step "$(basename "$b")" 60 "$b" --benchmark_out="$(dirname "$RESULTS")/$(basename "$b").json" \
    --benchmark_out_format=json
done

# ---- a OneNIP training step and inference against PyTorch eager on this GPU (needs ../shared) ----
if python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1 &&
  [[ -x "$BUILD/bench/cuda/bench_cuda_onenip" ]]; then
  step "pytorch onenip (bench/compare_onenip_pytorch.py --device cuda)" 60 python3 bench/compare_onenip_pytorch.py \
    --device cuda --rounds 1 --seconds 1 --only BM_
else
  log "==== pytorch onenip: skipped (no torch with CUDA, or bench_cuda_onenip not built)"
fi

# ---- the attention kernel lab (dev/cuda): every version checked against the CPU and timed ----
[[ -x "$BUILD/bench/cuda/lab_attention_forward" ]] &&
  step "lab_attention_forward (dev/cuda)" 30 "$BUILD/bench/cuda/lab_attention_forward"

# ---- PyTorch's attention at bench_cuda_attention's shapes, when python3 has torch with CUDA ----
if python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
  step "pytorch sdpa (bench/compare_attention_pytorch.py)" 40 python3 bench/compare_attention_pytorch.py
else
  log "==== pytorch sdpa: skipped (python3 has no torch with CUDA)"
fi

# ---- compute-sanitizer on the CUDA test executables (the smallest first) ----
if [[ -n "$SANITIZER" ]]; then
  log "compute-sanitizer: $SANITIZER"
  # The executables behind the "cuda" tests, as CTest knows them.
  mapfile -t TESTS < <(ctest --test-dir "$BUILD" -L cuda -N --show-only=json-v1 2>/dev/null | python3 -c '
import json, sys
exes = {t["command"][0] for t in json.load(sys.stdin).get("tests", []) if t.get("command")}
for e in sorted(exes, key=lambda e: __import__("os").path.getsize(e)): print(e)')
  ((${#TESTS[@]})) || log "==== compute-sanitizer: no CUDA test executables found"
  for t in "${TESTS[@]}"; do
    filter=()
    [[ $(basename "$t") == test_optim ]] && filter=(--test-case='*cuda*')  # its other cases are CPU only
    for tool in memcheck racecheck; do
      step "$tool $(basename "$t")" 60 "$SANITIZER" --tool "$tool" --error-exitcode 1 "$t" "${filter[@]}"
    done
  done
else
  log "==== compute-sanitizer: not found, memcheck and racecheck not run"
fi
finish
