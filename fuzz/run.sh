#!/usr/bin/env bash
# Fuzzes the library's readers of untrusted bytes with libFuzzer (clang), under ASan + UBSan:
#   bash fuzz/run.sh [SECONDS [TARGET...]]   each target (default: all) for SECONDS (default 600)
# Targets: safetensors checkpoint image jsonl visa config (fuzz/fuzz_<target>.cpp).
# Builds into build-fuzz/, seeds each corpus (build-fuzz/corpus/<target>/) from small valid
# inputs this script makes plus tests/fixtures and fuzz/regressions/<target>/, then runs the
# targets one after another. A finding stops the run and leaves build-fuzz/<target>-crash-*
# (or -leak-, -timeout-, -oom-); minimise it (build-fuzz/fuzz_<target> -minimize_crash=1 FILE),
# fix the bug, and keep the input in fuzz/regressions/<target>/ (the fuzz_regressions test
# replays it in the normal build). Needs clang and its compiler-rt (Debian: clang libclang-rt-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors checkpoint image jsonl visa config)
CXX=${CXX:-$(command -v clang++ || command -v clang++-14)}
out=build-fuzz
mkdir -p "$out"

# OpenMP off: the readers are single-threaded, and libFuzzer wants one thread per process.
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
  -Wno-unknown-pragmas -Iinclude -I/usr/include/eigen3 -I/usr/include/stb)
for t in "${targets[@]}"; do
  src=fuzz/fuzz_$t.cpp
  [ -f "$src" ] || { echo "fuzz/run.sh: no target '$t' ($src)" >&2; exit 2; }
  if [ ! -x "$out/fuzz_$t" ] || [ -n "$(find "$src" fuzz/*.hpp include -newer "$out/fuzz_$t" -print -quit)" ]; then
    echo "== building fuzz_$t"
    "$CXX" "${flags[@]}" "$src" -o "$out/fuzz_$t"
  fi
done

if [ ! -x "$out/make_seeds" ] || [ -n "$(find fuzz include -newer "$out/make_seeds" -print -quit)" ]; then
  "$CXX" -std=c++20 -O1 -Wno-unknown-pragmas -Iinclude -I/usr/include/eigen3 -I/usr/include/stb \
    -DONENIP_SOURCE_DIR="\"$PWD\"" fuzz/make_seeds.cpp -o "$out/make_seeds"
fi
"$out/make_seeds" "$out/corpus"
for t in "${targets[@]}"; do
  corpus=$out/corpus/$t
  mkdir -p "$corpus"
  [ -d "fuzz/regressions/$t" ] && cp -n fuzz/regressions/"$t"/* "$corpus"/ 2>/dev/null || true
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  echo "== fuzz_$t for ${seconds}s ($(ls "$corpus" | wc -l) seed inputs)"
  start=$(date +%s)
  # 2 GB of memory and 60 s per input at most (a 2.4-megapixel JPEG decodes from 1 KB of
  # truncated data in ~0.6 s under ASan, and in over 10 s on a loaded machine); the final stats
  # give the executions and corpus size.
  status=0
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$out/fuzz_$t" "$corpus" "${dict[@]}" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$out/$t-" >"$out/$t.log" 2>&1 || status=$?
  grep -E '^(#[0-9]+ +DONE|==[0-9]+==|stat::number_of_executed_units|stat::new_units_added|SUMMARY)' "$out/$t.log" || true
  echo "   fuzz_$t: exit $status after $(( $(date +%s) - start ))s"
  [ "$status" -eq 0 ] || { echo "fuzz/run.sh: fuzz_$t found a bug: see $out/$t.log and $out/$t-*" >&2; exit 1; }
done
