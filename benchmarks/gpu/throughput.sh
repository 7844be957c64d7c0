#!/usr/bin/env bash
# GPU throughput in one call of at most ten minutes on one H100/H200, side by side in one run:
#
#   bash benchmarks/gpu/throughput.sh [--tiny] [--out DIR]
#
# 1. images/s of the bare training step and of unlearnbench's loop, ResNet-18 (ImageNet and CIFAR stems),
#    batch 512, bf16 + channels-last where native (benchmarks/gpu_throughput.py);
# 2. K = 8 ResNet-18 trained one by one vs as one batched ensemble (torch.func / vmap, BatchNorm statistics
#    per model), converted to models per GPU-hour at the starting kit's recipe (30 epochs of 45,000 retain
#    images) (benchmarks/batched_training.py);
# 3. forgetting quality F of 512 x 512 models on 5,000 forget examples on the GPU (benchmarks/forgetting_quality.py);
# 4. the extrapolated cost of the challenge's protocol for one method (512 retrained + 512 unlearned models and
#    the exact F) and what bounds it (benchmarks/gpu/summary.py).
#
# --out   where the figures go (default benchmarks/results/throughput): one JSON per step, summary.json
# --tiny  a CPU smoke test with tiny sizes (its figures mean nothing)
set -u
out=benchmarks/results/throughput
tiny=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tiny) tiny=1 ;;
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "throughput.sh: unknown argument $1" >&2; exit 4 ;;
  esac
  shift
done
python=${PYTHON:-python}
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
if [ "$tiny" = 1 ]; then
  step=(--device cpu --tiny); batched=(--device cpu --tiny); fq=(--quick --device cpu)
else
  step=(--device cuda); batched=(--device cuda --models resnet18 --k 8 --images 4608 --batch 128)
  fq=(--device cuda --n-models 512 --n-examples 5000)
fi
status=0
run() {  # run NAME ARGS...: the script's output in NAME.txt, its last line (JSON) in NAME.json
  local name=$1; shift
  local start=$(date +%s)
  if "$python" "$@" > "$out/$name.txt" 2>&1; then
    tail -n 1 "$out/$name.txt" > "$out/$name.json"
  else
    echo "throughput.sh: $name failed (see $out/$name.txt)" >&2; status=1
  fi
  echo "$name seconds=$(( $(date +%s) - start ))"
}
run step "$here/gpu_throughput.py" "${step[@]}"
run batched "$here/batched_training.py" "${batched[@]}"
run forgetting_quality "$here/forgetting_quality.py" "${fq[@]}"
"$python" "$here/gpu/summary.py" "$out" || status=1
exit $status
