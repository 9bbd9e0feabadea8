#!/usr/bin/env bash
# A rank of a 2-rank training job dies (SIGKILL) while rank 0 waits for it in a step: the job
# must stop (not hang), the launcher must name the rank, and the checkpoint written before must
# be intact (its bytes unchanged).
#   bash tests/mpi_rank_death.sh MPIEXEC "FLAGS;..." TEST_DISTRIBUTED
set -uo pipefail
mpiexec=$1 exe=$3
IFS=';' read -r -a flags <<<"$2"
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
log=$run/log
ONENIP_RANK_DEATH_DIR=$run timeout 240 "$mpiexec" "${flags[@]}" -n 2 "$exe" --test-case="distributed: rank death" >"$log" 2>&1
rc=$?
cat "$log"
fail() { echo "mpi_rank_death: $*" >&2; exit 1; }
((rc != 124)) || fail "the job hung after a rank died"
((rc != 0)) || fail "the job exited 0 after a rank died"
grep -Eqi "rank 1\b.*(signal 9|killed)|process rank 1" "$log" || fail "no message names rank 1"
[ -f "$run/checkpoint.before" ] || fail "the first run wrote no checkpoint"
cmp "$run/checkpoint.before" "$run/checkpoint.safetensors" || fail "the checkpoint changed"
echo "mpi_rank_death: the job stopped (exit $rc), rank 1 named, checkpoint intact"
