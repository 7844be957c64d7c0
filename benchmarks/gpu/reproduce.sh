#!/usr/bin/env bash
# Reproduce the published GPU tables (unlearnbench list reproductions) on one GPU, in calls of at most
# ten minutes each: every call resumes from the cache, so trained weights carry over between calls.
#
#   bash benchmarks/gpu/reproduce.sh [--tiny] [--data FILE] [--out DIR] [--cache DIR] [NAME ...]
#
# --data   CIFAR-10 as .npz (default .gpu-data/cifar10.npz, a git-ignored folder carried to the machine)
# --out    where the runs and verdicts go (default benchmarks/results/reproduce)
# --cache  the cache carried between calls (default .gpu-data/cache)
# --tiny   a CPU smoke test: 1 epoch of every training, 120 training and 100 held-out images (salun-table1:
#          the file's own split, 14 images forgotten); verdicts are then meaningless
# NAME     the reproductions to run (default: starting-kit; salun-table1, estimated at about 2 GPU-hours, is
#          run by name: a killed training resumes from its last snapshot in the cache, so calls add up)
#
# Each verdict is written to OUT/NAME/verdict.txt and the exit codes to OUT/summary.txt; the script's own
# exit code is 0 when every verdict passed.
set -u
data=.gpu-data/cifar10.npz
out=benchmarks/results/reproduce
cache=.gpu-data/cache
tiny=0
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --tiny) tiny=1 ;;
    --data) data="$2"; shift ;;
    --out) out="$2"; shift ;;
    --cache) cache="$2"; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) names+=("$1") ;;
  esac
  shift
done
[ ${#names[@]} -eq 0 ] && names=(starting-kit)
if [ ! -f "$data" ]; then
  echo "reproduce.sh: no CIFAR-10 file at $data (give --data FILE)" >&2
  exit 4
fi
python=${PYTHON:-python}
# The smoke test's options for reproduction $1 (nothing without --tiny).
tiny_options() {
  [ "$tiny" = 1 ] || return 0
  case "$1" in
    salun-table1) echo --device cpu --epochs 1 --dataset-option forget_count=14 ;;
    *) echo --device cpu --epochs 1 --dataset-option train_size=120 --dataset-option heldout_size=100 ;;
  esac
}
mkdir -p "$out"
: > "$out/summary.txt"
status=0
for name in "${names[@]}"; do
  mkdir -p "$out/$name"
  start=$(date +%s)
  read -r -a extra <<< "$(tiny_options "$name")"
  "$python" -m unlearnbench reproduce "$name" --data-path "$data" --cache-dir "$cache" \
    --output-dir "$out/$name" -q "${extra[@]}" > "$out/$name/verdict.txt" 2>&1
  code=$?
  echo "$name exit=$code seconds=$(( $(date +%s) - start ))" >> "$out/summary.txt"
  [ "$code" -ne 0 ] && status=1
done
cat "$out/summary.txt"
exit $status
