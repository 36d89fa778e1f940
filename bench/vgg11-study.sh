#!/usr/bin/env bash
# Seed 000's VGG11-BN study (docs/experiments.md, "VGG11-BN (seed 000)"): SGD-momentum, Adam and AdaBelief, 20 epochs,
# LR x0.1 at epoch 15, crop + flip, weight decay 5e-4, batch 128, 2 threads. Each run checkpoints every epoch; running
# this script again resumes whatever is unfinished, so the study can be done in parts.
#   bench/vgg11-study.sh [OUT_DIR=runs/vgg11] [DATA_DIR=../shared/data/cifar-10-batches-bin] [FUSEDOPT=...]
set -euo pipefail
out=${1:-runs/vgg11}
data=${2:-../shared/data/cifar-10-batches-bin}
fusedopt=${FUSEDOPT:-"dotnet run -c Release --project src/FusedOpt.Cli --"}
epochs=${EPOCHS:-20}
common=(--model vgg11 --weight-decay 5e-4 --augment --batch 128 --epochs "$epochs"
        --schedule "step:$((epochs * 3 / 4)):0.1" --threads 2 --seed 1 --data "$data")
declare -A extra=(
  [sgdm]="--optimizer sgd --lr 0.1 --set momentum=0.9"
  [adam]="--optimizer adam --lr 1e-3"
  [adabelief]="--optimizer adabelief --lr 1e-3 --set eps=1e-8 --decay decoupled"
)
for run in adam adabelief sgdm; do
  dir="$out/$run"
  if [[ -f "$dir/result.json" ]] && grep -q "\"epoch\": $epochs," "$dir/result.json" 2>/dev/null; then
    echo "$run: done"; continue
  fi
  if [[ -f "$dir/checkpoint.fopt" ]]; then
    $fusedopt train --resume "$dir"
  else
    # shellcheck disable=SC2086
    $fusedopt train "${common[@]}" ${extra[$run]} --out "$dir"
  fi
done
