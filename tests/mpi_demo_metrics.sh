#!/usr/bin/env bash
# 2-rank training of the demo dataset reaches the single-process metrics: the same short run
# (a small model at 64 px; synchronised batch norm; no dropout or jitter, whose streams are per
# rank) trained by one process and by `mpiexec -n 2`, both evaluated; the mean image and pixel
# AUROC must agree to 0.5 points (the weights agree to float rounding).
#   bash tests/mpi_demo_metrics.sh MPIEXEC "FLAGS;..." ONENIP
set -euo pipefail
mpiexec=$1 onenip=$3
IFS=';' read -r -a flags <<<"$2"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$onenip" demo --dataset-only --out "$work" 2>/dev/null
train=(train --data "$work/data" --size 64 --hidden 32 --heads 4 --ff 64 --enc-layers 1 --dec-layers 1 --epochs 2
       --max-steps 6 --batch 8 --lr 1e-3 --sync-bn --dropout 0 --jitter-scale 0 --workers 1)
"$onenip" "${train[@]}" --out "$work/single" 2>"$work/single.log"
"$mpiexec" "${flags[@]}" -n 2 "$onenip" "${train[@]}" --out "$work/parallel" 2>"$work/parallel.log"
grep -q "data parallel: 2 ranks over mpi" "$work/parallel.log" || { cat "$work/parallel.log"; echo "not data parallel" >&2; exit 1; }
for run in single parallel; do "$onenip" eval --checkpoint "$work/$run" --data "$work/data" --out "$work/$run/eval" 2>/dev/null; done
# metrics.csv: class,test_images,anomalous,image_auroc,image_ap,pixel_auroc,...
mean() { awk -F, '$1 == "mean" { print $4, $6 }' "$work/$1/eval/metrics.csv"; }
read -r image1 pixel1 <<<"$(mean single)"
read -r image2 pixel2 <<<"$(mean parallel)"
echo "mean image AUROC: 1 process $image1, 2 ranks $image2; pixel AUROC: $pixel1, $pixel2"
awk -v a="$image1" -v b="$image2" -v c="$pixel1" -v d="$pixel2" \
  'function abs(x) { return x < 0 ? -x : x } BEGIN { exit !(a != "" && c != "" && abs(a - b) <= 0.005 && abs(c - d) <= 0.005) }' ||
  { echo "mpi_demo_metrics: the 2-rank run's metrics differ from the single process's" >&2; exit 1; }
